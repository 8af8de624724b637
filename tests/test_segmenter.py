"""Tests for the sentence segmenter: rule examples plus hypothesis properties."""

from __future__ import annotations

from itertools import pairwise

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aischoco.core.segmenter import (
    DEFAULT_CONFIG,
    SegmenterConfig,
    SentenceSegmenter,
    segment,
    split_spans,
)

# min_chars=1 shows the raw boundary rules without short-fragment merging.
RAW = SegmenterConfig(min_chars=1, max_chars=0)
COMMAS = ",、，"
QUOTE_CHARS = '"“”「」『』‘’'


# --- boundary rules ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "안녕하세요! 오늘 방송 와줘서 고마워요. 뭐 할까요?",
            ["안녕하세요!", "오늘 방송 와줘서 고마워요.", "뭐 할까요?"],
        ),
        (
            "Hello there! 오늘 날씨 좋네요. Let's go?",
            ["Hello there!", "오늘 날씨 좋네요.", "Let's go?"],
        ),
        ("가격은 3.5달러예요. 싸죠?", ["가격은 3.5달러예요.", "싸죠?"]),
        ("총 1,000.5원이에요. 비싸요!", ["총 1,000.5원이에요.", "비싸요!"]),
        (
            "버전은 v1.2.3 이고 file.txt 랑 a.b 예요. 끝",
            ["버전은 v1.2.3 이고 file.txt 랑 a.b 예요.", "끝"],
        ),
        ("음... 글쎄요. 생각해볼게요!", ["음...", "글쎄요.", "생각해볼게요!"]),
        ("음..... 네", ["음.....", "네"]),
        (
            "헐…… 진짜?! 대박!!! 와~~ 좋다。 好！ 끝？ 네",
            ["헐……", "진짜?!", "대박!!!", "와~~", "좋다。", "好！", "끝？", "네"],
        ),
        (
            '그가 "안녕! 반가워!" 라고 했어요. 진짜로요.',
            ['그가 "안녕! 반가워!" 라고 했어요.', "진짜로요."],
        ),
        ("그는 “가자. 빨리!” 했다. 응.", ["그는 “가자. 빨리!” 했다.", "응."]),
        ("「좋아. 가자.」 그래서 갔다. 끝.", ["「좋아. 가자.」 그래서 갔다.", "끝."]),
        ("『하나. 둘.』 셋. 넷.", ["『하나. 둘.』 셋.", "넷."]),
        ("‘정말? 응.’ 그랬어. 응.", ["‘정말? 응.’ 그랬어.", "응."]),
        ("(정말요?) 네 맞아요.", ["(정말요?)", "네 맞아요."]),
        ('그랬대요." 그래서 왔어요.', ['그랬대요."', "그래서 왔어요."]),  # unpaired quote
        ("I don't know. It's fine.", ["I don't know.", "It's fine."]),
        ("'안녕. 반가워.'", ["'안녕.", "반가워.'"]),  # the apostrophe is no quote
        (
            "여기 https://example.com/a.b?c=1 참고하세요. 좋아요!",
            ["여기 https://example.com/a.b?c=1 참고하세요.", "좋아요!"],
        ),
        (
            "링크는 https://example.com. 확인해 주세요.",
            ["링크는 https://example.com.", "확인해 주세요."],
        ),
        ("www.naver.com/a?b 보세요! 네", ["www.naver.com/a?b 보세요!", "네"]),
        ('주소 https://x.kr/"a. b" 입니다. 네', ['주소 https://x.kr/"a.', 'b" 입니다.', "네"]),
        (
            "메일은 help.me@example.co.kr 로 주세요. 감사합니다!",
            ["메일은 help.me@example.co.kr 로 주세요.", "감사합니다!"],
        ),
        (
            "재밌다ㅋㅋㅋ 근데 배고파ㅠㅠ 밥 먹을래",
            ["재밌다ㅋㅋㅋ", "근데 배고파ㅠㅠ", "밥 먹을래"],
        ),
        ("ㅎㅎ 좋아ㅜㅜ 응ㅋ 그래", ["ㅎㅎ", "좋아ㅜㅜ", "응ㅋ 그래"]),  # a single ㅋ is no end
        ("좋아ㅋㅋ! 응", ["좋아ㅋㅋ!", "응"]),
        ("좋아요^^ 또 봐요 T_T 안녕:) 끝", ["좋아요^^", "또 봐요 T_T", "안녕:)", "끝"]),
        ("헤헤^_^ 앗>_< 음>< 흑:( 하:D 끝", ["헤헤^_^", "앗>_<", "음><", "흑:(", "하:D", "끝"]),
        ("첫 줄\n둘째 줄\r\n셋째 줄", ["첫 줄", "둘째 줄", "셋째 줄"]),
        ("\n\n  첫 줄\n\n\n둘째 줄\n\n", ["첫 줄", "둘째 줄"]),
        ('"첫 줄\n둘째 줄" 끝', ['"첫 줄\n둘째 줄" 끝']),  # no line break inside quotes
    ],
)
def test_boundary_rules(text: str, expected: list[str]) -> None:
    assert segment(text, RAW) == expected


def test_example_needs_lower_min_chars() -> None:
    text = "안녕하세요! 오늘 방송 와줘서 고마워요. 뭐 할까요?"
    assert segment(text) == [text]  # 6 + 13 + 5 visible chars: the defaults merge them
    assert segment(text, SegmenterConfig(min_chars=5)) == [
        "안녕하세요!",
        "오늘 방송 와줘서 고마워요.",
        "뭐 할까요?",
    ]


@pytest.mark.parametrize("text", ["", " ", "\n", " \t\r\n  \n"])
def test_empty_or_whitespace_gives_nothing(text: str) -> None:
    assert split_spans(text) == []
    assert segment(text) == []
    streamer = SentenceSegmenter()
    assert streamer.push(text) == []
    assert streamer.flush() == []


def test_spans_keep_whitespace() -> None:
    text = "  안녕!  \n 네. "
    assert split_spans(text, RAW) == [(0, 9), (9, 12)]
    assert [text[s:e] for s, e in split_spans(text, RAW)] == ["  안녕!  \n ", "네. "]


def test_long_quotation_is_not_protected() -> None:
    body = "가" * 120 + ". " + "나" * 100
    assert segment(f'"{body}" 끝.', RAW) == [f'"{"가" * 120}.', f'{"나" * 100}" 끝.']
    short = "가" * 10 + ". " + "나" * 10
    assert segment(f'"{short}" 끝.', RAW) == [f'"{short}" 끝.']


def test_stray_quote_does_not_shift_later_pairs() -> None:
    text = '앗" ' + "가" * 210 + '. 그가 "좋아. 가자." 했다. 끝.'
    assert segment(text, RAW)[-2:] == ['그가 "좋아. 가자." 했다.', "끝."]


# --- min_chars / max_chars ----------------------------------------------------------------------


def test_short_fragment_merges_into_next() -> None:
    assert segment("네! 오늘은 노래를 불러볼게요. 다들 준비는 잘 되셨나요?") == [
        "네! 오늘은 노래를 불러볼게요.",
        "다들 준비는 잘 되셨나요?",
    ]


def test_short_last_fragment_merges_into_previous() -> None:
    assert segment("오늘은 노래를 불러볼게요. 네!") == ["오늘은 노래를 불러볼게요. 네!"]


def test_min_chars_zero_keeps_every_fragment() -> None:
    assert segment("네! 응. 그래?", SegmenterConfig(min_chars=0)) == ["네!", "응.", "그래?"]


def test_max_chars_splits_at_last_comma() -> None:
    config = SegmenterConfig(min_chars=1, max_chars=20)
    text = "오늘은 날씨가 좋고, 바람도 불고, 기분도 좋아서 산책을 가요."
    assert segment(text, config) == [
        "오늘은 날씨가 좋고, 바람도 불고,",
        "기분도 좋아서 산책을 가요.",
    ]
    assert segment("하나、둘，셋 넷 다섯 여섯", SegmenterConfig(1, 8)) == [
        "하나、둘，",
        "셋 넷 다섯",
        "여섯",
    ]


def test_max_chars_falls_back_to_whitespace() -> None:
    config = SegmenterConfig(min_chars=1, max_chars=10)
    assert segment("가나다 라마바 사아자 차카타 파하", config) == [
        "가나다 라마바",
        "사아자 차카타 파하",
    ]


def test_max_chars_respects_protected_spans() -> None:
    config = SegmenterConfig(min_chars=1, max_chars=8)
    assert segment("가격 1,000,000원", config) == ["가격", "1,000,000원"]
    # Spaces inside the quotation are no split points; the one after it lies past max_chars.
    assert segment('그가 "가 나 다 라 마" 했다', config) == ["그가", '"가 나 다 라 마" 했다']
    assert segment("가나다라마바사아자차카", config) == ["가나다라마바사아자차카"]  # no split point


def test_max_chars_zero_disables() -> None:
    text = "가, " * 100
    assert segment(text, SegmenterConfig(min_chars=1, max_chars=0)) == [text.strip()]


def test_config_rejects_negative_values() -> None:
    with pytest.raises(ValueError, match=">= 0"):
        SegmenterConfig(min_chars=-1)
    with pytest.raises(ValueError, match=">= 0"):
        SegmenterConfig(max_chars=-1)


# --- streaming ----------------------------------------------------------------------------------


def test_streaming_releases_sentences_early() -> None:
    streamer = SentenceSegmenter(SegmenterConfig(min_chars=1))
    assert streamer.push("안녕하세요! ") == []  # what follows may still be a short tail
    assert streamer.push("오늘") == ["안녕하세요!"]
    assert streamer.push(" 방송 와줘서 고마워요.") == []
    assert streamer.push(" 뭐") == ["오늘 방송 와줘서 고마워요."]
    assert streamer.push(" 할까요?") == []
    assert streamer.flush() == ["뭐 할까요?"]
    assert streamer.flush() == []


def test_streaming_holds_back_open_quote() -> None:
    streamer = SentenceSegmenter(SegmenterConfig(min_chars=1))
    assert streamer.push('그가 "안녕! 반가') == []
    assert streamer.push('워!" 라고 했어요. 진짜') == ['그가 "안녕! 반가워!" 라고 했어요.']
    assert streamer.flush() == ["진짜"]


def test_streaming_token_by_token_matches_segment() -> None:
    text = "재밌다ㅋㅋㅋ 근데 배고파ㅠㅠ\n밥 먹을래? 음... 3.5초만 기다려~ https://a.kr/b.c 봐요!"
    for config in (DEFAULT_CONFIG, RAW, SegmenterConfig(min_chars=3, max_chars=12)):
        streamer = SentenceSegmenter(config)
        out = [unit for char in text for unit in streamer.push(char)]
        assert out + streamer.flush() == segment(text, config)


def test_streaming_long_run_on_sentences() -> None:
    # Buffers past 512 chars are re-analysed less often; units must still match exactly.
    text = ("가나 다라, " * 150 + "끝. ") * 3 + "마지막 문장이에요."
    for config in (DEFAULT_CONFIG, SegmenterConfig(min_chars=1, max_chars=0)):
        streamer = SentenceSegmenter(config)
        out = [unit for i in range(0, len(text), 3) for unit in streamer.push(text[i : i + 3])]
        assert out  # released before flush
        assert out + streamer.flush() == segment(text, config)


# --- speed --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        (
            "안녕하세요! 오늘 방송 와줘서 고마워요, 정말로요. 3.5초 뒤에 https://a.kr/x 봐요ㅋㅋ "
            * 200
        )[:10_000],
        "가" * 10_000,
        "\n" * 10_000,
        '"' * 10_000,
        "“" * 10_000,
        "1" * 10_000,
        "ㅋ" * 10_000,
        "a." * 5_000,
        ", " * 5_000,
        ". " * 5_000,
    ],
)
def test_large_inputs_complete(text: str) -> None:
    # Sanity only, no timing assertion: pathological 10 KB inputs must finish (linear algorithm).
    spans = split_spans(text)
    assert "".join(text[s:e] for s, e in spans) == ("" if text.isspace() else text)


# --- properties ---------------------------------------------------------------------------------

_KOREAN_WORDS = [
    "안녕",
    "하세요",
    "오늘",
    "방송",
    "고마워요",
    "뭐",
    "할까요",
    "재밌다",
    "근데",
    "가",
    "요",
]
_PIECES = [
    " ", "  ", "\n", "\r\n", "\t", ".", "!", "?", "…", "~", "。", "！", "？", "...", "?!", "……",
    ",", "、", "，", '"', "“", "”", "「", "」", "『", "』", "‘", "’", "'", ")", "]", "(",
    "ㅋㅋ", "ㅋ", "ㅎ", "ㅠㅠ", "ㅜ", "^^", "^_^", "><", ">_<", "T_T", ":)", ":(", ":D",
    "3.5", "1,000", "7", "https://a.b/c.d?e=1", "www.x.kr", "a@b.co", "hi", "don't", "x",
    "가나다라마바사아자차" * 9,  # long runs push quotations past the 200-char limit
]  # fmt: skip
# sampled_from keeps generation cheap, so 200-300 examples per property run in well under a second.
MIXED_TEXT = st.lists(st.sampled_from(_KOREAN_WORDS + _PIECES), max_size=60).map("".join)
# No quotes, digits, URLs or e-mails: nothing is protected, so split points are easy to check.
_PLAIN_PIECES = [" ", "  ", "\n", ".", "!", "?", "…", ",", "、", "，", "ㅋㅋ", "abc"]
PLAIN_TEXT = st.lists(st.sampled_from(_KOREAN_WORDS + _PLAIN_PIECES), max_size=60).map("".join)
CONFIGS = st.builds(
    SegmenterConfig,
    min_chars=st.integers(0, 12),
    max_chars=st.one_of(st.just(0), st.integers(1, 40)),
)
LIMITED_CONFIGS = st.builds(
    SegmenterConfig, min_chars=st.integers(0, 12), max_chars=st.integers(1, 40)
)


def _long_unit_has_no_split_point(unit: str, max_chars: int) -> bool:
    """True when none of the split points that max_chars splitting may use exists in unit.

    Those are a comma at index i <= max_chars - 1 that is not the last character (the first piece
    keeps the comma), or whitespace at index 1 <= i <= max_chars (the first piece ends before it).
    """
    last = len(unit) - 1
    has_comma = any(unit[i] in COMMAS for i in range(min(max_chars, last)))
    has_space = any(unit[i].isspace() for i in range(1, min(max_chars, last) + 1))
    return not (has_comma or has_space)


@settings(max_examples=250, deadline=None)
@given(text=MIXED_TEXT, config=CONFIGS)
def test_spans_cover_text_exactly(text: str, config: SegmenterConfig) -> None:
    spans = split_spans(text, config)
    if text.isspace() or not text:
        assert spans == []
        return
    assert spans[0][0] == 0
    assert spans[-1][1] == len(text)
    assert all(prev[1] == cur[0] for prev, cur in pairwise(spans))
    assert all(start < end for start, end in spans)
    assert "".join(text[s:e] for s, e in spans) == text


@settings(max_examples=250, deadline=None)
@given(text=MIXED_TEXT, config=CONFIGS)
def test_units_keep_all_visible_chars_in_order(text: str, config: SegmenterConfig) -> None:
    units = segment(text, config)
    assert "".join("".join(units).split()) == "".join(text.split())
    assert all(unit and unit == unit.strip() for unit in units)


@settings(max_examples=250, deadline=None)
@given(text=PLAIN_TEXT, config=LIMITED_CONFIGS)
def test_long_units_have_no_split_point(text: str, config: SegmenterConfig) -> None:
    for unit in segment(text, config):
        if len(unit) > config.max_chars:
            assert _long_unit_has_no_split_point(unit, config.max_chars), unit


@settings(max_examples=250, deadline=None)
@given(text=MIXED_TEXT, config=LIMITED_CONFIGS)
def test_long_units_without_protected_spans_have_no_split_point(
    text: str, config: SegmenterConfig
) -> None:
    # A quotation never spans two units, so a unit without quote characters, digits, URL or
    # e-mail contains no protected span and every comma/whitespace in it is allowed.
    for unit in segment(text, config):
        protected = any(c in QUOTE_CHARS or c.isdigit() or c == "@" for c in unit)
        protected = protected or "://" in unit or "www." in unit
        if len(unit) > config.max_chars and not protected:
            assert _long_unit_has_no_split_point(unit, config.max_chars), unit


@settings(max_examples=250, deadline=None)
@given(text=MIXED_TEXT, config=CONFIGS, data=st.data())
def test_streaming_equals_segment_for_any_cuts(
    text: str, config: SegmenterConfig, data: st.DataObject
) -> None:
    cuts = sorted(data.draw(st.lists(st.integers(0, len(text)), max_size=12)))
    streamer = SentenceSegmenter(config)
    out: list[str] = []
    for start, end in pairwise([0, *cuts, len(text)]):
        out += streamer.push(text[start:end])
    assert out + streamer.flush() == segment(text, config)


@settings(max_examples=200, deadline=None)
@given(text=MIXED_TEXT, config=CONFIGS)
def test_streaming_char_by_char_equals_segment(text: str, config: SegmenterConfig) -> None:
    streamer = SentenceSegmenter(config)
    out = [unit for char in text for unit in streamer.push(char)]
    assert out + streamer.flush() == segment(text, config)
