"""Streamed response text → sentences: the same units, cut and masks as the whole-text path."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from aischoco.ai.prompts import OutputFilter, cut_at_sentence
from aischoco.ai.sentence_stream import SentenceStream
from aischoco.core.segmenter import SegmenterConfig, segment

NO_FILTER = OutputFilter([])
_WORDS = st.sampled_from(["안녕하세요", "오늘", "방송", "재밌어요", "hello", "3.5", "ㅋㅋ", "!!",
                          "?", ".", "…", ",", "~", "\n", " ", "  ", "www.x.com", "😀", "**"])
_ANSWER = st.lists(_WORDS, max_size=60).map(lambda w: " ".join(w))


def _run(stream: SentenceStream, text: str, cuts: list[int]) -> list[str]:
    units: list[str] = []
    last = 0
    for cut in sorted(set(cuts)) + [len(text)]:
        units += [s.text for s in stream.push(text[last:cut])]
        last = cut
    return units + [s.text for s in stream.finish()]


def _visible(text: str) -> int:
    return len("".join(text.split()))


@settings(max_examples=300, deadline=None)
@given(text=_ANSWER, data=st.data(), min_chars=st.integers(0, 12))
def test_the_units_are_the_whole_text_units(text: str, data: st.DataObject,
                                            min_chars: int) -> None:
    config = SegmenterConfig(min_chars=min_chars, max_chars=0)
    stream = SentenceStream(config, max_chars=10_000, output_filter=NO_FILTER)
    cuts = data.draw(st.lists(st.integers(0, len(text)), max_size=20))
    units = _run(stream, text, cuts)
    expected = segment(text.strip(), config)
    assert stream.shown == text.strip() and not stream.cut
    if units != expected:
        # The one difference allowed: the first unit left early, and the rest was too short to
        # stand alone, so segment() merged it into the first.
        first, rest = units
        assert expected == [stream.shown] and _visible(rest) < min_chars
        assert stream.shown.startswith(first)


@settings(max_examples=200, deadline=None)
@given(text=_ANSWER, data=st.data(), min_chars=st.integers(0, 12))
def test_long_units_are_split_and_nothing_is_lost(text: str, data: st.DataObject,
                                                  min_chars: int) -> None:
    config = SegmenterConfig(min_chars=min_chars, max_chars=40)
    stream = SentenceStream(config, max_chars=10_000, output_filter=NO_FILTER)
    cuts = data.draw(st.lists(st.integers(0, len(text)), max_size=20))
    units = _run(stream, text, cuts)
    assert "".join("".join(units).split()) == "".join(text.split())
    assert stream.shown == text.strip()


@settings(max_examples=200, deadline=None)
@given(text=_ANSWER, data=st.data(), max_chars=st.integers(20, 120))
def test_a_long_answer_is_cut_where_the_whole_text_path_cuts(text: str, data: st.DataObject,
                                                             max_chars: int) -> None:
    config = SegmenterConfig(min_chars=4, max_chars=0)  # sentence boundaries only
    stream = SentenceStream(config, max_chars=max_chars, output_filter=NO_FILTER)
    cuts = data.draw(st.lists(st.integers(0, len(text)), max_size=20))
    units = _run(stream, text, cuts)
    expected, cut = cut_at_sentence(text.strip(), max_chars)
    assert stream.shown == expected and stream.cut == cut
    # The same text; a short last fragment released before the cut cannot merge back any more.
    assert "".join("".join(units).split()) == "".join(expected.split())


def test_the_first_sentence_leaves_as_soon_as_its_end_is_certain() -> None:
    stream = SentenceStream(SegmenterConfig(min_chars=4), max_chars=300, output_filter=NO_FILTER)
    assert stream.push("  네! 안녕하세요!") == []  # "!!" could still follow
    got = stream.push(" 오")  # now it is certain; "네!" is too short alone and joins it
    assert [(s.text, s.spoken, s.shown) for s in got] == [("네! 안녕하세요!",) * 3]
    assert stream.push("늘도 와 줘서") == []  # later units wait for min_chars after them
    got = stream.push(" 고마워요.\n**굵게** ㅋㅋ")
    assert [s.text for s in got] == ["오늘도 와 줘서 고마워요."]
    got = stream.finish()
    assert [(s.text, s.spoken) for s in got] == [("**굵게** ㅋㅋ", "굵게")]
    assert stream.shown == "네! 안녕하세요! 오늘도 와 줘서 고마워요.\n**굵게** ㅋㅋ"
    assert stream.spoken == "네! 안녕하세요! 오늘도 와 줘서 고마워요. 굵게"


def test_banned_words_are_masked_and_not_spoken() -> None:
    stream = SentenceStream(SegmenterConfig(min_chars=0), max_chars=300,
                            output_filter=OutputFilter(["바보"]))
    got = stream.push("너 바보야? 아니") + stream.finish()
    assert [(s.text, s.spoken) for s in got] == [("너 **야?", "너 야?"), ("아니", "아니")]
    assert stream.masked


def test_text_after_the_cut_is_ignored_and_released_units_stay() -> None:
    stream = SentenceStream(SegmenterConfig(min_chars=0), max_chars=20, output_filter=NO_FILTER)
    got = stream.push("첫 문장이에요. 두 번째 문장은 아주 길어서 넘쳐요. 세 번째.")
    assert [s.text for s in got] == ["첫 문장이에요."] and stream.cut and stream.closed
    assert stream.push("더 많은 글") == [] and stream.finish() == []
    assert stream.shown == "첫 문장이에요."


def test_split_surrogates_are_joined_and_lone_ones_replaced() -> None:
    stream = SentenceStream(SegmenterConfig(min_chars=0), max_chars=300, output_filter=NO_FILTER)
    got = stream.push("웃음 \ud83d") + stream.push("\ude00 끝 \udc00") + stream.finish()
    assert stream.shown == "웃음 😀 끝 \ufffd"
    assert all(s.shown.encode("utf-8") for s in got)
