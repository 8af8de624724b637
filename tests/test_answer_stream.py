"""The incremental answer parser: any chunking of a valid answer reads as json.loads reads it."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aischoco.ai.answer_stream import AnswerParser
from aischoco.ai.prompts import AnswerError

# Text with everything JSON must escape, Hangul, astral emoji and lone surrogates.
_TEXT = st.text(
    alphabet=st.one_of(
        st.characters(codec="utf-8"),
        st.sampled_from('"\\/\n\r\t\b\f\x00\x1f안녕하세요😀🎉'),
        st.characters(categories=["Cs"]),
    ),
    max_size=60,
)
_SCALARS = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), _TEXT)
_VALUES = st.recursive(_SCALARS, lambda inner: st.one_of(
    st.lists(inner, max_size=3), st.dictionaries(_TEXT, inner, max_size=3)), max_leaves=6)


def _feed_all(parser: AnswerParser, text: str, cuts: list[int]) -> str:
    pieces, last = [], 0
    for cut in sorted(set(cuts)) + [len(text)]:
        pieces.append(text[last:cut])
        last = cut
    return "".join(parser.feed(piece).text for piece in pieces)


@st.composite
def answers(draw: st.DrawFn) -> tuple[str, dict[str, Any]]:
    obj: dict[str, Any] = {"emotion": draw(_TEXT), "response": draw(_TEXT)}
    extra = draw(st.dictionaries(_TEXT.filter(lambda k: k not in obj), _VALUES, max_size=3))
    keys = draw(st.permutations([*obj, *extra]))
    ordered = {k: obj.get(k, extra.get(k)) for k in keys}
    text = json.dumps(ordered, ensure_ascii=draw(st.booleans()),
                      indent=draw(st.sampled_from([None, 0, 2])),
                      separators=draw(st.sampled_from([None, (",", ":"), (" ,  ", " : ")])))
    return text, ordered


@settings(max_examples=250, deadline=None)
@given(data=answers(), cuts=st.data())
def test_any_chunking_reads_like_json_loads(data: tuple[str, dict[str, Any]],
                                            cuts: st.DataObject) -> None:
    text, _ = data
    expected = json.loads(text)
    positions = cuts.draw(st.lists(st.integers(0, len(text)), max_size=len(text)))
    parser = AnswerParser()
    streamed = _feed_all(parser, text, positions)
    parser.close()
    assert streamed == expected["response"] == parser.response
    assert parser.emotion == expected["emotion"]
    assert parser.complete


@settings(max_examples=100, deadline=None)
@given(data=answers())
def test_one_character_at_a_time(data: tuple[str, dict[str, Any]]) -> None:
    text, _ = data
    expected = json.loads(text)  # not the source object: it may hold two adjacent lone halves
    parser = AnswerParser()
    assert "".join(parser.feed(ch).text for ch in text) == expected["response"]
    parser.close()


def test_emotion_is_known_the_moment_its_string_closes() -> None:
    parser = AnswerParser()
    assert parser.feed('{"emo').emotion is None
    assert parser.feed('tion": "hap').emotion is None
    fed = parser.feed('py", "resp')
    assert fed.emotion == "happy" and fed.text == ""
    assert parser.feed('onse": "안녕').text == "안녕"
    fed = parser.feed('하세요!"}')
    assert fed.text == "하세요!" and fed.response_done
    parser.close()


@pytest.mark.parametrize("pieces,expected", [
    (['{"emotion":"sad","response":"줄\\', 'n바꿈"}'], "줄\n바꿈"),
    (['{"emotion":"sad","response":"따옴표 \\', '"인용\\"', '"}'], '따옴표 "인용"'),
    (['{"emotion":"sad","response":"\\u', 'D55', 'c글"}'], "한글"),
    (['{"emotion":"sad","response":"\\ud83d', '\\ude00 웃음"}'], "😀 웃음"),
    (['{"emotion":"sad","response":"\\ud83d\\', 'ude00"}'], "😀"),
    (['{"emotion":"sad","response":"\\ud83d', '"}'], "\ud83d"),  # lone half, as json.loads
    (['{"emotion":"sad","response":"\\ud83d\\u0041"}'], "\ud83dA"),
    (['{"emotion":"sad","re', 'sponse":"키 안에서 잘림"}'], "키 안에서 잘림"),
    (['{"emotion":"sad","response":"백슬래시 \\', '\\ 끝"}'], "백슬래시 \\ 끝"),
])
def test_escapes_and_keys_cut_across_deltas(pieces: list[str], expected: str) -> None:
    parser = AnswerParser()
    assert "".join(parser.feed(p).text for p in pieces) == expected
    parser.close()
    assert json.loads("".join(pieces))["response"] == expected


def test_wrapping_and_extra_keys_are_tolerated() -> None:
    parser = AnswerParser()
    text = ('```json\n{ "note": {"a": [1, "}", {"b": null}]}, "response" : "네!",\n'
            ' "emotion": 3 }\n```')
    assert parser.feed(text).text == "네!"
    parser.close()
    assert parser.emotion == ""  # not a string: the responder reads it as neutral


def test_raw_newlines_inside_the_response_are_kept() -> None:
    parser = AnswerParser()
    assert parser.feed('{"response": "한 줄\n두 줄"}').text == "한 줄\n두 줄"
    parser.close()


@pytest.mark.parametrize("text,where", [
    ('{"emotion": "happy", "response": "안녕', "close"),  # cut inside the response
    ('{"emotion": "happy", "response": "안녕"', "close"),  # object never closed
    ('{"emotion": "happy"}', "close"),  # no response
    ("안녕하세요", "close"),  # no object at all
    ('{"emotion": "happy" "response": "x"}', "feed"),  # missing comma
    ('{"response": "a\\x"}', "feed"),  # invalid escape
    ('{"response": "\\u12G4"}', "feed"),  # broken \u escape
    ('{"response": 5}', "feed"),  # not a string
    ('{"response": "a", "response": "b"}', "feed"),  # two responses
    ('{"extra": [1, 2}, "response": "a"}', "feed"),  # broken extra value
    ('{"extra": tru, "response": "a"}', "feed"),  # broken literal
    ("{response: 'a'}", "feed"),  # not JSON
])
def test_invalid_json_is_detected(text: str, where: str) -> None:
    parser = AnswerParser()
    if where == "feed":
        with pytest.raises(AnswerError):
            parser.feed(text)
        return
    parser.feed(text)
    with pytest.raises(AnswerError):
        parser.close()


def test_text_after_the_object_is_ignored() -> None:
    parser = AnswerParser()
    parser.feed('{"emotion": "happy", "response": "끝"} 그리고 {"response": "무시"}')
    parser.close()
    assert parser.response == "끝"
