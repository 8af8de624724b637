"""What TTS may speak: one example per rule, then properties and a linear-time check."""

from __future__ import annotations

import re
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aischoco.ai.speech_text import spoken_text

URL_RE = re.compile(r"https?://|www\.\S", re.IGNORECASE)
MARKUP_CHARS = set("*_#`[]{}<>|\\^@※★☆♥♡→←↑↓■□●○◆◇▶◀♪♬✨")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # markdown
        ("**굵게** 그리고 *기울임* __밑줄__", "굵게 그리고 기울임 밑줄"),
        ("`print` 함수예요", "print 함수예요"),
        ("# 제목\n## 부제목 이에요", "제목 부제목 이에요"),
        ("- 하나\n+ 둘\n* 셋\n• 넷", "하나 둘 셋 넷"),
        ("> 인용문이에요\n>> 또 인용", "인용문이에요 또 인용"),
        ("[공지사항](https://chzzk.naver.com/notice) 확인해 주세요", "공지사항 확인해 주세요"),
        ("![고양이](http://x.y/cat.png) 귀엽다", "고양이 귀엽다"),
        ("3 - 1 = 2 예요", "3 - 1 = 2 예요"),  # a dash inside a line is not a bullet
        ("1. 첫째\n2. 둘째", "1. 첫째 2. 둘째"),  # numbered lists keep their numbers
        # URLs
        ("여기 https://example.com/a?b=c 봐요", "여기 봐요"),
        ("WWW.NAVER.COM 에 있어요", "에 있어요"),
        ("링크는http://glued.example.com", "링크는"),
        # emoji and symbols
        ("좋아요😊👍 고마워요🙏", "좋아요 고마워요"),
        ("👨‍👩‍👧 가족 🇰🇷 최고", "가족 최고"),
        ("1️⃣ 번이에요", "1 번이에요"),
        ("※ 주의 ★ 사랑해요 ♥ → 다음", "주의 사랑해요 다음"),
        # punctuation runs
        ("정말!!!!", "정말!"),
        ("진짜?!?!", "진짜?!"),
        ("뭐???", "뭐?"),
        ("음.....", "음…"),
        ("그래……", "그래…"),
        ("안녕~~~~", "안녕~"),
        ("아,,, 그렇구나", "아, 그렇구나"),
        ("좋아요 !", "좋아요!"),
        # jamo laughter / crying is removed
        ("ㅋㅋㅋㅋ 진짜 웃기다ㅎㅎ", "진짜 웃기다"),
        ("ㅠㅠ 슬퍼요 ㅜㅜ", "슬퍼요"),
        # kept as is
        (
            "안녕하세요, 초코예요. 오늘은 3시에 방송해요!",
            "안녕하세요, 초코예요. 오늘은 3시에 방송해요!",
        ),
        ("GPT랑 Python 얘기 해볼까요?", "GPT랑 Python 얘기 해볼까요?"),
        ("1,000치즈 후원 감사합니다 (진심)", "1,000치즈 후원 감사합니다 (진심)"),
        ("\"따옴표\" 와 '작은따옴표' 그리고 “둥근”", "\"따옴표\" 와 '작은따옴표' 그리고 “둥근”"),
        ("50% 할인", "50% 할인"),
        # whitespace
        ("  여러\n\n줄에\t걸친   문장  ", "여러 줄에 걸친 문장"),
        # nothing pronounceable
        ("😊", ""),
        ("ㅋㅋㅋㅋㅋ", ""),
        ("!!! ... ???", ""),
        ("", ""),
        ("(😊) 좋아", "좋아"),
    ],
)
def test_rules(text: str, expected: str) -> None:
    assert spoken_text(text) == expected


def test_decomposed_hangul_is_composed_first() -> None:
    nfd = "\u1112\u1161\u11ab\u1100\u1173\u11af"  # "한글" as conjoining jamo
    assert spoken_text(nfd) == "한글"


def test_masked_banned_words_are_silent() -> None:
    assert spoken_text("너 ** 야") == "너 야"


@settings(max_examples=400, deadline=None)
@given(st.text(max_size=300))
def test_output_is_clean_and_stable(text: str) -> None:
    out = spoken_text(text)
    assert URL_RE.search(out) is None
    assert not MARKUP_CHARS & set(out)
    assert out == out.strip() and "  " not in out and "\n" not in out
    assert not re.search(r"[ㄱ-ㆎ]", out)
    assert not re.search(r"[!?.…]{3,}|!!|\?\?", out)
    assert spoken_text(out) == out  # idempotent: cleaning twice changes nothing


markup = st.sampled_from(
    [
        "**",
        "*",
        "`",
        "# ",
        "\n- ",
        "\n> ",
        "[",
        "](",
        ")",
        "http://",
        "https://",
        "www.",
        "ㅋㅋ",
        "😊",
        "!!",
        "?!",
        "...",
        " ",
        "\n",
        "~~",
        "※",
        "♥",
        "\u200d",
    ]
)


@settings(max_examples=400, deadline=None)
@given(st.lists(st.one_of(markup, st.text(alphabet="가나다abc.:/ 1", max_size=6)), max_size=60))
def test_markup_heavy_input_is_clean(parts: list[str]) -> None:
    out = spoken_text("".join(parts))
    assert URL_RE.search(out) is None
    assert not MARKUP_CHARS & set(out)
    assert spoken_text(out) == out


@pytest.mark.parametrize(
    "unit",
    [
        "[",
        "[a](",
        "](",
        "http://",
        "www.",
        "ㅋ",
        "😊",
        "!?",
        ".",
        "**",
        "\n- ",
        "가나다 ",
        " ",
        "\u200d",
        "(",
        "ab_",
        "~,",
        " .",
        "! ",
        "[](",
        "a" + "\u0301" * 3,
    ],
)
def test_linear_time_on_10kb(unit: str) -> None:
    def timed(size: int) -> float:
        text = unit * (size // len(unit))
        best = float("inf")
        for _ in range(3):
            started = time.perf_counter()
            spoken_text(text)
            best = min(best, time.perf_counter() - started)
        return best

    small, large = timed(10_000), timed(40_000)
    assert small < 0.1
    assert large < 0.4 and large < 10 * small + 0.01  # 4x input: far from 16x (quadratic)
