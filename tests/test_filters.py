from __future__ import annotations

import time
import unicodedata
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aischoco.chat.filters import (
    ChatFilter,
    FilterConfig,
    RejectReason,
    Verdict,
    clean_for_llm,
    contains_banned,
    load_banned_words,
    mask_banned,
    truncate,
)
from aischoco.core.messages import ChatMessage, Kind, Role

RLO = "\u202e"  # right-to-left override
ZWSP = "\u200b"
ZWJ = "\u200d"
HANGUL_FILLER = "\u3164"


def chat(text: str, user: str = "viewer", **kw: object) -> ChatMessage:
    return ChatMessage(user=user, message=text, **kw)  # type: ignore[arg-type]


def donation(text: str, user: str = "donor", amount: int = 1000) -> ChatMessage:
    return chat(text, user=user, kind=Kind.DONATION, amount=amount)


def make(**kw: object) -> ChatFilter:
    return ChatFilter(FilterConfig(**kw))  # type: ignore[arg-type]


def rejected(reason: RejectReason) -> Verdict:
    return Verdict(False, reason, "")


# --------------------------------------------------------------------------------------------
# FilterConfig / enums
# --------------------------------------------------------------------------------------------


def test_config_defaults_and_reason_values() -> None:
    cfg = FilterConfig()
    assert (cfg.min_length, cfg.max_length, cfg.duplicate_window_s) == (2, 200, 30.0)
    assert (cfg.max_char_run, cfg.user_max_messages, cfg.user_window_s) == (20, 3, 10.0)
    assert cfg.banned_words == () and cfg.hide_streamer_chat is False
    assert {r.value for r in RejectReason} == {
        "too_short",
        "duplicate",
        "char_run",
        "rate_limited",
        "banned_word",
        "streamer_hidden",
    }
    assert RejectReason("too_short") is RejectReason.TOO_SHORT
    assert isinstance(RejectReason.TOO_SHORT, str)


def test_config_coerces_banned_words_to_tuple_and_rejects_a_bare_string() -> None:
    cfg = FilterConfig(banned_words=["바보", "bad"])  # type: ignore[arg-type]
    assert cfg.banned_words == ("바보", "bad")
    hash(cfg)  # frozen and hashable
    with pytest.raises(TypeError):
        FilterConfig(banned_words="바보")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "kw",
    [
        {"min_length": -1},
        {"max_length": 0},
        {"duplicate_window_s": -1.0},
        {"duplicate_window_s": float("nan")},
        {"max_char_run": -1},
        {"user_max_messages": -1},
        {"user_window_s": -0.5},
    ],
)
def test_config_rejects_invalid_values(kw: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        FilterConfig(**kw)  # type: ignore[arg-type]


def test_filter_rejects_invalid_user_cap() -> None:
    with pytest.raises(ValueError):
        ChatFilter(FilterConfig(), max_tracked_users=0)


# --------------------------------------------------------------------------------------------
# clean_for_llm
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "안녕하세요! 반가워요 ㅋㅋㅋ",
        "좋아요 😀👍🏻 (진짜?) ~!@#$%^&*",
        "가족 👨‍👩‍👧 개발자 👩🏽‍💻 무지개 🏳️‍🌈 불하트 ❤️‍🔥",
        "국기 🇰🇷🇯🇵 키캡 1️⃣",
        "<script>alert(1)</script>",  # HTML escaping is the overlay's job, not ours
        "café naïve Ελληνικά",
    ],
)
def test_clean_keeps_normal_text_intact(text: str) -> None:
    assert clean_for_llm(text) == text


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("  hi \n\t  there  ", "hi there"),
        ("a\x00b\x07c\x7fd", "abcd"),
        ("\x1b[31mred", "[31mred"),
        ("line1\r\nline2", "line1 line2"),
        (f"abc{RLO}fed", "abcfed"),
        ("\u2066x\u2069 \u202ay\u202c", "x y"),
        (f"바{ZWSP}보\ufeff\u2060\u200e", "바보"),
        (f"a{ZWJ}b", "ab"),  # a ZWJ outside an emoji sequence is just an invisible char
        (f"😀{ZWJ} 😀", "😀 😀"),
        (f"ㅋㅋ{HANGUL_FILLER}{HANGUL_FILLER}ㅋㅋ", "ㅋㅋ ㅋㅋ"),
        (f"{HANGUL_FILLER}\u2800 \u00a0\u3000", ""),
        ("a\ud800b", "ab"),  # lone surrogate (bad decode) would break UTF-8 encoding later
        ("", ""),
    ],
)
def test_clean_removes_controls_format_chars_and_collapses_whitespace(
    raw: str, expected: str
) -> None:
    assert clean_for_llm(raw) == expected


def test_clean_limits_zalgo_marks_to_two_per_base() -> None:
    assert clean_for_llm("a" + "\u0301" * 500) == "a\u0301\u0301"
    zalgo = "".join(ch + "\u0336\u0301\u0489\u20dd" for ch in "hello")
    assert clean_for_llm(zalgo) == "".join(ch + "\u0336\u0301" for ch in "hello")
    # zero-width chars cannot be used to split a flood into "separate" short runs
    assert clean_for_llm("a" + ("\u0301\u0301" + ZWSP) * 100) == "a\u0301\u0301"
    # two marks are fine (e.g. Vietnamese/Thai, keycaps)
    assert clean_for_llm("ệ ạ̀") == "ệ ạ̀"


def test_clean_output_is_utf8_encodable() -> None:
    clean_for_llm("x\udcff\ud83dy").encode("utf-8")


@pytest.mark.parametrize("size", [10_000, 100_000])
def test_clean_is_fast_on_huge_hostile_text(size: int) -> None:
    unit = f"바보{ZWSP}{RLO}a\u0301\u0301\u0301\u0301\x00 😀{ZWJ}💻 {HANGUL_FILLER}<b>ㅋ"
    text = (unit * (size // len(unit) + 1))[:size]
    start = time.perf_counter()
    cleaned = clean_for_llm(text)
    assert time.perf_counter() - start < 1.0  # linear: ~10 ms per 100 KB here
    assert RLO not in cleaned and ZWSP not in cleaned and "\x00" not in cleaned


_MARKS = ["\u0301", "\u0489", "\ufe0f", "\U0001f3fd"]
_hostile_chars = st.sampled_from(
    [*"ab 바보ㅋ😀💻👩🇰🇷<>&\n\t\x00\x1b", ZWSP, ZWJ, RLO, HANGUL_FILLER, *_MARKS, "\ud800"]
)
_hostile_text = st.one_of(st.text(), st.lists(_hostile_chars, max_size=60).map("".join))


@given(_hostile_text)
def test_clean_is_idempotent_and_leaves_no_invisible_junk(text: str) -> None:
    cleaned = clean_for_llm(text)
    assert clean_for_llm(cleaned) == cleaned
    assert cleaned == cleaned.strip() and "  " not in cleaned
    marks_in_a_row = 0
    for ch in cleaned:
        category = unicodedata.category(ch)
        assert category not in ("Cc", "Cs")
        assert category != "Cf" or ch == ZWJ
        assert not ch.isspace() or ch == " "
        marks_in_a_row = marks_in_a_row + 1 if category in ("Mn", "Me") else 0
        assert marks_in_a_row <= 2


# --------------------------------------------------------------------------------------------
# truncate
# --------------------------------------------------------------------------------------------


def test_truncate_leaves_short_text_alone() -> None:
    assert truncate("hello", 5) == ("hello", False)
    assert truncate("", 1) == ("", False)


def test_truncate_prefers_a_word_boundary_in_the_last_fifth() -> None:
    text = "word " * 100
    out, cut = truncate(text, 52)
    assert cut and out.endswith("…") and len(out) <= 52
    assert out == "word " * 9 + "word…"


def test_truncate_cuts_hard_when_no_nearby_whitespace() -> None:
    out, cut = truncate("x" * 10 + " " + "y" * 300, 200)
    assert cut and out == "x" * 10 + " " + "y" * 188 + "…" and len(out) == 200


def test_truncate_tiny_limits() -> None:
    assert truncate("abc", 1) == ("…", True)
    assert truncate("abc", 2) == ("a…", True)
    with pytest.raises(ValueError):
        truncate("abc", 0)


@pytest.mark.parametrize(
    ("unit", "limit"),
    [
        ("e\u0301", 10),  # base + combining mark
        ("👩‍💻", 10),  # ZWJ sequence
        ("👍🏽", 10),  # skin tone modifier
        ("🇰🇷", 10),  # flag = regional indicator pair
        ("\ud83d\ude00", 10),  # surrogate pair left unjoined by a bad decoder
        ("\u1107\u1161\u11a8", 10),  # conjoining Hangul jamo (박)
    ],
)
def test_truncate_never_splits_a_cluster(unit: str, limit: int) -> None:
    out, cut = truncate(unit * 50, limit)
    head = out.removesuffix("…")
    assert cut and len(out) <= limit
    assert head == unit * (len(head) // len(unit))
    assert head  # there is room for at least one whole cluster


def test_truncate_a_cluster_bigger_than_the_budget_gives_just_the_ellipsis() -> None:
    assert truncate("a" + "\u0301" * 50, 10) == ("…", True)


@given(_hostile_text, st.integers(min_value=1, max_value=40))
def test_truncate_properties(text: str, limit: int) -> None:
    out, cut = truncate(text, limit)
    assert len(out) <= limit
    assert cut is (len(text) > limit)
    if not cut:
        assert out == text
    else:
        head = out.removesuffix("…")
        assert out.endswith("…") and text.startswith(head)
        # the char after the cut never belongs to the last kept char
        nxt = text[len(head)]
        assert not head or nxt.isspace() or unicodedata.category(nxt)[0] != "M"


# --------------------------------------------------------------------------------------------
# banned words
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "너 바보야",
        "너 바 보 야",
        f"바{ZWSP}보",
        f"바{RLO}보",
        f"바{HANGUL_FILLER}보",
        "바\x01보",
        "ㅂㅏ보",  # compatibility jamo compose to 바 under NFKC
        "this is BAD",
        "ＢＡＤ",
        "b\u00a0a\td",
        "Ｂ a Ｄ",
    ],
)
def test_contains_banned_catches_evasions(text: str) -> None:
    assert contains_banned(text, ["바보", "bad"])


@pytest.mark.parametrize("text", ["바나나 보트", "b-a-d", "bead", "안녕하세요", ""])
def test_contains_banned_no_false_positives(text: str) -> None:
    assert not contains_banned(text, ["바보", "bad"])


def test_contains_banned_normalises_the_word_list_too() -> None:
    assert contains_banned("bad", ["ＢＡＤ"])
    assert contains_banned("바보", [f"바 {ZWSP}보"])


def test_blank_banned_words_never_match_everything() -> None:
    assert not contains_banned("hello", ["", " ", ZWSP, HANGUL_FILLER])
    assert not contains_banned("hello", [])
    assert mask_banned("hello", ["", " "]) == "hello"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("너 바보야", "너 **야"),
        ("너 바 보야", "너 * *야"),
        (f"바{ZWSP}보!", f"*{ZWSP}*!"),
        ("ＢＡＤ idea, Bad idea", "*** idea, *** idea"),
        ("바보 바보", "** **"),
        ("ㅂㅏ보", "***"),
        ("clean text", "clean text"),
        ("", ""),
    ],
)
def test_mask_banned_masks_only_the_matching_chars(text: str, expected: str) -> None:
    assert mask_banned(text, ["바보", "bad"]) == expected


def test_mask_banned_handles_overlaps_and_several_words() -> None:
    assert mask_banned("aaa b", ["aa"]) == "*** b"
    assert mask_banned("foo bar baz", ["bar", "foo"]) == "*** *** baz"


def test_mask_banned_masks_a_combining_sequence_whole() -> None:
    assert mask_banned("cafe\u0301!", ["café"]) == "*****!"  # decomposed é matches composed
    assert mask_banned("ﬁne", ["i"]) == "*ne"  # a match inside a ligature masks the ligature


_banned_alphabet = st.lists(
    st.sampled_from([*"바보ㅂㅏab AB.", ZWSP, HANGUL_FILLER, "\u0301", "Ａ", "ß", "ﬁ"]),
    max_size=30,
).map("".join)


@given(_banned_alphabet | st.text(), st.lists(st.sampled_from(["바보", "ab", "ss", "fi", "a"])))
@settings(max_examples=300)
def test_mask_and_contains_agree(text: str, words: list[str]) -> None:
    text = text.replace("*", "")
    masked = mask_banned(text, words)
    assert len(masked) == len(text)
    assert all(m == "*" or m == t for m, t in zip(masked, text, strict=True))
    assert (masked != text) == contains_banned(text, words)
    assert not contains_banned(masked, words)


def test_load_banned_words(tmp_path: Path) -> None:
    path = tmp_path / "banned.txt"
    path.write_text(
        "\ufeff# 욕설 목록\n바보\n\n  멍청이  \n\t# indented comment\nbad\n바보\nbad word\r\n",
        encoding="utf-8",
    )
    assert load_banned_words(path) == ("바보", "멍청이", "bad", "bad word")
    assert load_banned_words(str(path)) == ("바보", "멍청이", "bad", "bad word")


def test_load_banned_words_missing_or_empty_file(tmp_path: Path) -> None:
    assert load_banned_words(tmp_path / "nope.txt") == ()
    empty = tmp_path / "empty.txt"
    empty.write_text("# only comments\n\n", encoding="utf-8")
    assert load_banned_words(empty) == ()


# --------------------------------------------------------------------------------------------
# ChatFilter: single checks
# --------------------------------------------------------------------------------------------


def test_plain_message_is_accepted_and_msg_is_not_modified() -> None:
    msg = chat("  안녕하세요   여러분 ")
    verdict = make().check(msg, 0.0)
    assert verdict == Verdict(True, None, "안녕하세요 여러분", False)
    assert msg.llm_text is None and msg.message == "  안녕하세요   여러분 "


def test_hostile_text_is_kept_as_text_and_cleaned() -> None:
    f = make()
    assert f.check(chat("<script>alert(1)</script>"), 0).llm_text == "<script>alert(1)</script>"
    assert f.check(chat(f"hello {RLO}dlrow"), 1).llm_text == "hello dlrow"
    zalgo = f.check(chat("z" + "\u0301" * 500 + "algo"), 2)
    assert zalgo.accepted and zalgo.llm_text == "z\u0301\u0301algo"


def test_long_message_is_truncated_for_the_llm_only() -> None:
    text = "가나다라 " * 2500  # ~12 KB
    msg = chat(text)
    verdict = ChatFilter(FilterConfig(max_length=200)).check(msg, 0)
    assert verdict.accepted and verdict.truncated
    assert len(verdict.llm_text) <= 200 and verdict.llm_text.endswith("…")
    assert msg.message == text


def test_check_is_fast_on_100kb_messages() -> None:
    f = make(banned_words=("바보", "bad"))
    unit = f"가나다 😀{ZWJ}💻 a\u0301\u0301\u0301 {ZWSP}ㅋ"
    start = time.perf_counter()
    for i in range(5):
        text = f"{i} " + unit * (100_000 // len(unit))
        assert f.check(chat(text, user=f"u{i}"), float(i)).truncated
    assert time.perf_counter() - start < 5.0  # ~0.1 s each here; quadratic would take minutes


def test_streamer_hidden() -> None:
    f = make(hide_streamer_chat=True)
    assert f.check(chat("방송 시작!", role=Role.STREAMER), 0) == rejected(
        RejectReason.STREAMER_HIDDEN
    )
    assert f.check(chat("방송 시작!", role=Role.MANAGER), 0).accepted
    assert make().check(chat("방송 시작!", role=Role.STREAMER), 0).accepted


def test_banned_word_rejects_chat() -> None:
    f = make(banned_words=("바보",))
    assert f.check(chat("너 바 보"), 0) == rejected(RejectReason.BANNED_WORD)
    assert f.check(chat("너 천재"), 0).accepted


@pytest.mark.parametrize("kind", [Kind.DONATION, Kind.SUBSCRIPTION])
def test_donation_with_banned_word_is_accepted_but_not_read(kind: Kind) -> None:
    f = make(banned_words=("바보",))
    verdict = f.check(chat("바보야 고마워", kind=kind, amount=1000), 0)
    assert verdict == Verdict(True, RejectReason.BANNED_WORD, "", False)


@pytest.mark.parametrize(
    "text", ["", " ", "a", "ㅤ", "\u200b\u200b", "a\u0301\u0301", "👍🏻", f"{HANGUL_FILLER}a"]
)
def test_too_short(text: str) -> None:
    assert make().check(chat(text), 0) == rejected(RejectReason.TOO_SHORT)


@pytest.mark.parametrize("text", ["ㅋㅋ", "hi", "👍👍", "a b"])
def test_two_visible_chars_are_enough(text: str) -> None:
    assert make().check(chat(text), 0).accepted


def test_min_length_zero_accepts_empty_chat() -> None:
    assert make(min_length=0).check(chat(""), 0) == Verdict(True, None, "", False)


def test_char_run() -> None:
    f = make()
    assert f.check(chat("ㅋ" * 21), 0) == rejected(RejectReason.CHAR_RUN)
    assert f.check(chat("ㅋ" * 20), 1).accepted
    # invisible chars between the repeats do not hide the run
    assert f.check(chat(f"ㅋ{ZWSP}" * 30, user="other"), 2) == rejected(RejectReason.CHAR_RUN)
    assert make(max_char_run=0).check(chat("ㅋ" * 500), 0).accepted
    assert make(max_char_run=1).check(chat("abab"), 0).accepted
    assert make(max_char_run=1).check(chat("abba"), 0) == rejected(RejectReason.CHAR_RUN)


def test_char_run_with_a_large_limit() -> None:
    f = make(max_char_run=1000, max_length=2000)
    assert f.check(chat("a" * 1000 + "b" * 999), 0).accepted
    assert f.check(chat("x" * 1001), 0) == rejected(RejectReason.CHAR_RUN)


# --------------------------------------------------------------------------------------------
# ChatFilter: duplicates, rate limit, windows
# --------------------------------------------------------------------------------------------


def test_duplicate_within_window_then_expires() -> None:
    f = make()
    assert f.check(chat("hello world"), 0).accepted
    assert f.check(chat("Hello  World"), 5) == rejected(RejectReason.DUPLICATE)
    assert f.check(chat(f"ＨＥＬＬＯ{ZWSP} ＷＯＲＬＤ"), 29.9) == rejected(RejectReason.DUPLICATE)
    assert f.check(chat("hello world"), 30.0).accepted  # window is [now - 30, now)


def test_duplicates_are_per_user() -> None:
    f = make()
    assert f.check(chat("안녕", user="a"), 0).accepted
    assert f.check(chat("안녕", user="b"), 0).accepted
    # the key is user_id when present, so a nickname change does not reset it
    assert f.check(chat("반가워", user="old", user_id="id1"), 1).accepted
    assert f.check(chat("반가워", user="new", user_id="id1"), 2) == rejected(RejectReason.DUPLICATE)
    assert f.check(chat("반가워", user="old", user_id="id2"), 3).accepted


def test_duplicate_window_zero_disables() -> None:
    f = make(duplicate_window_s=0)
    assert f.check(chat("same"), 0).accepted
    assert f.check(chat("same"), 0).accepted


def test_rate_limit_sliding_window() -> None:
    f = make()
    for i, t in enumerate((0.0, 1.0, 2.0)):
        assert f.check(chat(f"msg {i}"), t).accepted
    assert f.check(chat("msg 3"), 9.9) == rejected(RejectReason.RATE_LIMITED)
    assert f.check(chat("msg 4"), 10.0).accepted  # the t=0 message left the window
    assert f.check(chat("msg 5"), 10.5) == rejected(RejectReason.RATE_LIMITED)
    assert f.check(chat("msg 6"), 11.0).accepted
    assert f.check(chat("msg 7"), 11.0).reason is RejectReason.RATE_LIMITED
    assert f.check(chat("msg 7", user="someone else"), 11.0).accepted


def test_rejected_messages_do_not_count() -> None:
    f = make(banned_words=("바보",))
    for t in range(10):  # rejected for various reasons; none of them uses up the quota
        f.check(chat("a"), t)
        f.check(chat("ㅋ" * 50), t)
        f.check(chat("바보"), t)
    assert f.check(chat("first"), 10).accepted
    for t in (11, 12, 13):  # duplicates and rate-limited attempts do not extend the window
        f.check(chat("first"), t)
    assert f.check(chat("second"), 14).accepted
    assert f.check(chat("third"), 15).accepted
    assert f.check(chat("fourth"), 16).reason is RejectReason.RATE_LIMITED
    assert f.check(chat("fifth"), 17).reason is RejectReason.RATE_LIMITED
    assert f.check(chat("sixth"), 20).accepted  # 10 s after "first", not after the rejects


@pytest.mark.parametrize("kw", [{"user_window_s": 0}, {"user_max_messages": 0}])
def test_rate_limit_can_be_disabled(kw: dict[str, float]) -> None:
    f = make(**kw)
    assert all(f.check(chat(f"msg {i}"), 0).accepted for i in range(20))


def test_streamer_skips_rate_limit_but_not_other_checks() -> None:
    f = make()
    assert all(f.check(chat(f"공지 {i}", role=Role.STREAMER), 0).accepted for i in range(20))
    assert f.check(chat("공지 0", role=Role.STREAMER), 1) == rejected(RejectReason.DUPLICATE)
    assert f.check(chat("a", role=Role.STREAMER), 1) == rejected(RejectReason.TOO_SHORT)
    manager = [f.check(chat(f"m {i}", "mod", role=Role.MANAGER), 0).accepted for i in range(4)]
    assert manager == [True, True, True, False]


@pytest.mark.parametrize("kind", [Kind.DONATION, Kind.SUBSCRIPTION])
def test_donations_skip_spam_checks_and_do_not_use_the_quota(kind: Kind) -> None:
    f = make()
    for text in ["", "a", "ㅋ" * 100, "고마워요", "고마워요", "고마워요", "고마워요"]:
        verdict = f.check(chat(text, user="fan", kind=kind, amount=1000), 0)
        assert verdict.accepted and verdict.reason is None
        assert verdict.llm_text == clean_for_llm(text)
    assert [f.check(chat(f"chat {i}", user="fan"), 0).accepted for i in range(4)] == [
        True,
        True,
        True,
        False,
    ]


def test_long_donation_is_truncated() -> None:
    verdict = make(max_length=50).check(donation("감사합니다 " * 100), 0)
    assert verdict.accepted and verdict.truncated and len(verdict.llm_text) <= 50


# --------------------------------------------------------------------------------------------
# ChatFilter: order of checks
# --------------------------------------------------------------------------------------------


def test_streamer_hidden_comes_before_banned_word() -> None:
    f = make(hide_streamer_chat=True, banned_words=("바보",))
    verdict = f.check(chat("바보", role=Role.STREAMER), 0)
    assert verdict.reason is RejectReason.STREAMER_HIDDEN


def test_banned_word_comes_before_too_short() -> None:
    f = make(banned_words=("바",), min_length=5)
    assert f.check(chat("바"), 0).reason is RejectReason.BANNED_WORD


def test_too_short_comes_before_char_run() -> None:
    assert make(min_length=30).check(chat("ㅋ" * 25), 0).reason is RejectReason.TOO_SHORT


def test_char_run_comes_before_duplicate() -> None:
    f = make(max_char_run=0)
    assert f.check(chat("ㅋ" * 25), 0).accepted
    f.replace_config(FilterConfig(max_char_run=20))
    assert f.check(chat("ㅋ" * 25), 1).reason is RejectReason.CHAR_RUN


def test_duplicate_comes_before_rate_limit() -> None:
    f = make(user_max_messages=1)
    assert f.check(chat("hello"), 0).accepted
    assert f.check(chat("hello"), 1).reason is RejectReason.DUPLICATE
    assert f.check(chat("world"), 1).reason is RejectReason.RATE_LIMITED


# --------------------------------------------------------------------------------------------
# ChatFilter: config changes and bounded state
# --------------------------------------------------------------------------------------------


def test_replace_config_applies_immediately_and_keeps_user_state() -> None:
    f = make()
    for i in range(3):
        assert f.check(chat(f"msg {i}"), 0).accepted
    f.replace_config(FilterConfig(hide_streamer_chat=True, banned_words=("시발",)))
    assert f.config.hide_streamer_chat
    assert f.check(chat("hi", role=Role.STREAMER), 1).reason is RejectReason.STREAMER_HIDDEN
    assert f.check(chat("msg 9"), 1).reason is RejectReason.RATE_LIMITED  # state survived
    assert f.check(chat("시 발", user="x"), 1).reason is RejectReason.BANNED_WORD
    f.replace_config(FilterConfig())
    assert f.check(chat("hi", role=Role.STREAMER), 2).accepted


def test_user_state_is_capped_least_recently_seen_first() -> None:
    f = ChatFilter(FilterConfig(), max_tracked_users=2)
    assert f.check(chat("hello", user="a"), 0).accepted
    assert f.check(chat("hello", user="b"), 1).accepted
    assert f.check(chat("hello", user="a"), 2).reason is RejectReason.DUPLICATE  # a still tracked
    assert f.check(chat("hello", user="c"), 3).accepted  # evicts a (oldest accepted message)
    assert f.tracked_users == 2
    assert f.check(chat("hello", user="b"), 4).reason is RejectReason.DUPLICATE
    assert f.check(chat("hello", user="a"), 5).accepted  # a was forgotten


def test_flood_of_distinct_users_stays_bounded() -> None:
    f = ChatFilter(FilterConfig(), max_tracked_users=1000)
    for i in range(100_000):
        assert f.check(chat("첫 채팅이에요", user=f"user{i}"), i * 1e-4).accepted
        if i % 10_000 == 0:
            assert f.tracked_users <= 1000
    assert f.tracked_users == 1000


def test_expired_users_are_pruned() -> None:
    f = make()
    for i in range(500):
        f.check(chat("hello", user=f"u{i}"), 0)
    assert f.tracked_users == 500
    f.check(chat("later", user="late"), 31)  # both windows (30 s, 10 s) have passed
    assert f.tracked_users == 1


def test_nothing_is_tracked_when_both_windows_are_off() -> None:
    f = make(duplicate_window_s=0, user_window_s=0)
    for i in range(100):
        assert f.check(chat(f"msg {i % 3}", user="u"), 0).accepted
    assert f.tracked_users == 0


def test_one_user_flooding_distinct_messages_is_bounded() -> None:
    # The streamer is exempt from the rate limit, so only the per-user cap bounds its history.
    f = make()
    for i in range(5000):
        assert f.check(chat(f"공지 {i}", role=Role.STREAMER, user="me"), 0).accepted
    assert f.tracked_users == 1


@given(
    st.lists(
        st.tuples(st.floats(min_value=0, max_value=3, allow_nan=False), st.booleans()),
        max_size=40,
    ),
    st.integers(min_value=1, max_value=4),
    st.sampled_from([0.5, 1.0, 2.5]),
)
def test_rate_limit_property(steps: list[tuple[float, bool]], limit: int, window: float) -> None:
    """However messages arrive, no window ever holds more than `limit` accepted messages."""
    f = make(user_max_messages=limit, user_window_s=window, duplicate_window_s=0)
    now = 0.0
    accepted: list[float] = []
    for i, (gap, same_user) in enumerate(steps):
        now += gap
        verdict = f.check(chat(f"msg {i}", user="u" if same_user else f"x{i}"), now)
        if verdict.accepted and same_user:
            accepted.append(now)
    for t in accepted:
        # the window as the filter states it (`now - t < window`): the same boundary in one float form
        assert sum(1 for s in accepted if 0 <= t - s < window) <= limit
