from __future__ import annotations

import json
from dataclasses import dataclass

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aischoco.ai.history import (
    SUMMARY_PREFIX,
    HistoryFormatError,
    HistoryWindow,
    summary_prompt,
    validate_recent_doc,
)
from aischoco.ai.tokens import MESSAGE_OVERHEAD_TOKENS, load_counter, message_tokens

OVERHEAD = MESSAGE_OVERHEAD_TOKENS
LIMITS = {"keep_tokens": 500, "summarize_at": 700, "limit_tokens": 800}


@dataclass
class CharCounter:
    """One token per character, and a record of every call."""

    name: str = "chars"
    calls: int = 0

    def count(self, text: str) -> int:
        self.calls += 1
        return len(text)


def window(counter: CharCounter | None = None, **limits: int) -> HistoryWindow:
    return HistoryWindow(counter or CharCounter(), **(LIMITS | limits))


def msg(tokens: int, ch: str = "가") -> str:
    """A message costing exactly `tokens` with CharCounter, framing included."""
    return ch * (tokens - OVERHEAD)


def context_tokens(w: HistoryWindow, messages: list[dict[str, str]]) -> int:
    return sum(message_tokens(m["role"], m["content"], w.counter) for m in messages)


def test_limits_are_checked() -> None:
    with pytest.raises(ValueError, match="keep < summarize_at <= limit"):
        window(keep_tokens=700)


def test_add_counts_only_the_new_message() -> None:
    counter = CharCounter()
    w = window(counter)
    for i in range(200):
        calls = counter.calls
        entry = w.add("user" if i % 2 == 0 else "assistant", msg(10 + i % 7))
        assert counter.calls == calls + 1
        assert entry.tokens == 10 + i % 7
        if w.needs_summary():
            consumed = w.begin_summary()
            calls = counter.calls
            w.finish_summary("요약", consumed)
            assert counter.calls == calls + 1  # the new summary, nothing else
    calls = counter.calls
    w.context_messages()
    w.context_messages(reserve_tokens=100)
    assert counter.calls == calls  # building a request never re-tokenises
    assert w.total_tokens == sum(e.tokens for e in w.entries)


def test_add_rejects_other_roles() -> None:
    with pytest.raises(ValueError):
        window().add("system", "hi")  # type: ignore[arg-type]


def test_crossing_summarize_at_asks_once_until_finished() -> None:
    w = window()
    for _ in range(7):
        w.add("user", msg(100))
    assert w.total_tokens == 700 and not w.needs_summary()  # "reaches" means passes
    w.add("assistant", msg(50))
    assert w.needs_summary()
    consumed = w.begin_summary()
    assert consumed and w.summary_in_flight
    assert not w.needs_summary() and w.begin_summary() == []
    w.add("user", msg(100))
    assert not w.needs_summary()  # still in flight
    assert w.finish_summary("첫 요약", consumed)
    assert not w.summary_in_flight
    assert w.summary == "첫 요약" and w.summarized_messages == len(consumed)


def test_abort_retries_only_after_the_window_grows() -> None:
    w = window()
    for _ in range(8):
        w.add("user", msg(100))
    consumed = w.begin_summary()
    w.abort_summary()
    assert not w.summary_in_flight and not w.needs_summary()
    w.add("assistant", msg(10))
    assert w.needs_summary()
    retry = w.begin_summary()  # a fresh attempt from the same oldest entries
    assert retry[:len(consumed)] == consumed
    assert w.finish_summary("  ", retry) is False  # blank answer = failure
    assert not w.summary_in_flight and w.summary == ""


def test_begin_leaves_at_most_keep_tokens_and_keeps_pairs() -> None:
    w = window()
    for i in range(10):
        w.add("user", msg(40))
        w.add("assistant", msg(45 if i != 5 else 60))
    consumed = w.begin_summary()
    remaining = w.entries[len(consumed):]
    assert sum(e.tokens for e in remaining) <= LIMITS["keep_tokens"]
    assert remaining[0].role == "user"
    assert consumed[-1].role == "assistant"
    assert list(w.entries[:len(consumed)]) == consumed


def test_begin_with_nothing_beyond_keep_returns_nothing() -> None:
    w = window()
    w.add("user", msg(100))
    assert w.begin_summary() == [] and not w.summary_in_flight


def test_finish_keeps_entries_added_meanwhile() -> None:
    w = window()
    for i in range(16):
        w.add("user" if i % 2 == 0 else "assistant", msg(50))
    consumed = w.begin_summary()
    late = [w.add("user", msg(20, "나")), w.add("assistant", msg(30, "다"))]
    before = w.entries
    assert w.finish_summary("요약", consumed)
    assert w.entries == before[len(consumed):]
    assert list(w.entries[-2:]) == late
    assert w.total_tokens == sum(e.tokens for e in w.entries)
    assert w.summary_tokens == len(SUMMARY_PREFIX + "요약") + OVERHEAD


def test_stale_finish_after_reset_changes_nothing() -> None:
    w = window()
    for _ in range(8):
        w.add("user", msg(100))
    old = w.begin_summary()
    w.reset()
    assert not w.summary_in_flight and w.total_tokens == 0 and w.entries == ()
    for _ in range(8):
        w.add("user", msg(100))
    new = w.begin_summary()
    assert w.finish_summary("old summary", old) is False
    w.abort_summary(old)  # stale abort is ignored too
    assert w.summary_in_flight and w.summary == ""
    assert w.finish_summary("new summary", new)


def test_context_has_summary_first_then_recent_in_order() -> None:
    w = window()
    w.add("user", "안녕")
    w.add("assistant", "반가워요")
    assert w.context_messages() == [{"role": "user", "content": "안녕"},
                                    {"role": "assistant", "content": "반가워요"}]
    for _ in range(8):
        w.add("user", msg(100))
    consumed = w.begin_summary()
    w.finish_summary("인사를 나눴다", consumed)
    ctx = w.context_messages()
    assert ctx[0] == {"role": "system", "content": SUMMARY_PREFIX + "인사를 나눴다"}
    assert [m["content"] for m in ctx[1:]] == [e.content for e in w.entries]
    assert w.last_dropped == 0


def test_context_drops_oldest_when_over_the_limit() -> None:
    w = window()
    for _ in range(12):  # summaries "failed": 1200 tokens in the window
        w.add("user", msg(100))
    ctx = w.context_messages(reserve_tokens=150)
    assert len(ctx) == 6 and w.last_dropped == 6
    assert context_tokens(w, ctx) <= 800 - 150
    assert w.total_tokens == 1200 and len(w) == 12  # nothing removed from the window


def test_context_leaves_out_an_oversized_summary() -> None:
    w = window()
    for _ in range(8):
        w.add("user", msg(100))
    w.finish_summary("요" * 900, w.begin_summary())
    ctx = w.context_messages()
    assert all(m["role"] != "system" for m in ctx)
    assert w.last_dropped == 1
    assert context_tokens(w, ctx) <= 800


def test_round_trip_keeps_counts_without_recounting() -> None:
    counter = CharCounter()
    w = window(counter)
    for i in range(9):
        w.add("user" if i % 2 == 0 else "assistant", msg(90 + i),
              timestamp=f"2025-01-0{i + 1}T00:00:00+09:00")
    w.finish_summary("요약입니다", w.begin_summary())
    data = json.loads(json.dumps(w.to_dict(), ensure_ascii=False))
    assert set(data["summary"]) == {"summary", "timestamp", "message_count"}
    calls = counter.calls
    back = HistoryWindow.from_dict(data, counter, **LIMITS)
    assert counter.calls == calls + 1  # the summary only
    assert back.entries == w.entries
    for name in ("summary", "summary_timestamp", "summarized_messages", "summary_tokens"):
        assert getattr(back, name) == getattr(w, name)
    assert back.total_tokens == w.total_tokens
    assert back.to_dict() == data


def test_from_dict_recounts_for_another_encoding_or_missing_counts() -> None:
    counter = CharCounter()
    w = window(counter)
    w.add("user", msg(50))
    w.add("assistant", msg(60))
    data = w.to_dict()
    data["encoding"] = "cl100k_base"
    other = CharCounter(name="chars")
    back = HistoryWindow.from_dict(data, other, **LIMITS)
    assert other.calls == 2 and back.total_tokens == 110
    data = w.to_dict()
    del data["entries"][0]["tokens"]
    other = CharCounter(name="chars")
    HistoryWindow.from_dict(data, other, **LIMITS)
    assert other.calls == 1


@pytest.mark.parametrize("mutate", [
    lambda d: d.update(version=99),
    lambda d: d.update(entries="nope"),
    lambda d: d["entries"][0].update(role="system"),
    lambda d: d["entries"][0].update(tokens=-1),
    lambda d: d["entries"][0].update(content=None),
    lambda d: d.update(summary={"summary": "x", "timestamp": "t"}),
    lambda d: d.update(summary={"summary": "x", "timestamp": "t", "message_count": True}),
])
def test_from_dict_rejects_invalid_documents(mutate) -> None:  # type: ignore[no-untyped-def]
    w = window()
    w.add("user", msg(50))
    data = w.to_dict()
    mutate(data)
    with pytest.raises(ValueError):
        HistoryWindow.from_dict(data, CharCounter(), **LIMITS)


def test_summary_prompt_merges_previous_summary_and_new_lines() -> None:
    w = window()
    entries = [w.add("user", "그 게임 재밌었어"), w.add("assistant", "저도 좋아해요!")]
    first = summary_prompt("", entries)
    assert first[0]["role"] == "system" and "800" in first[0]["content"]
    assert "간결하게 요약해주세요" in first[1]["content"]
    merged = summary_prompt("사용자가 게임 이야기를 했다", entries)
    body = merged[1]["content"]
    assert body.startswith("다음 이전 요약과 새로운 대화를 합쳐서 하나의 간결한 요약으로 "
                           "만들어주세요. 중요한 맥락과 주제는 유지하세요.")
    assert "[이전 요약]\n사용자가 게임 이야기를 했다" in body
    assert "시청자: 그 게임 재밌었어" in body and "버튜버: 저도 좋아해요!" in body


def test_real_counter_window() -> None:
    w = HistoryWindow(load_counter(), keep_tokens=5000, summarize_at=7000, limit_tokens=8000)
    while not w.needs_summary():
        w.add("user", "오늘 방송 너무 재밌어요! 다음에 무슨 게임 해요?")
        w.add("assistant", "고마워요~ 다음엔 공포 게임 해볼까 생각 중이에요!")
    consumed = w.begin_summary()
    assert w.finish_summary("시청자들과 게임 이야기를 했다", consumed)
    assert w.total_tokens <= 5000
    assert context_tokens(w, w.context_messages()) <= 8000


# --- the limit invariant, under random traffic and random summary outcomes -------------------
ops = st.lists(
    st.one_of(
        st.tuples(st.just("add"), st.sampled_from(["user", "assistant"]),
                  st.integers(min_value=0, max_value=400)),
        st.tuples(st.just("begin"), st.none(), st.none()),
        st.tuples(st.just("finish"), st.none(), st.integers(min_value=0, max_value=1200)),
        st.tuples(st.just("abort"), st.none(), st.none()),
        st.tuples(st.just("context"), st.none(), st.integers(min_value=0, max_value=900)),
    ),
    max_size=120,
)


@settings(max_examples=300, deadline=None)
@given(ops=ops)
def test_context_never_exceeds_the_limit(ops: list[tuple[str, object, object]]) -> None:
    counter = CharCounter()
    w = window(counter)
    pending: list = []  # type: ignore[type-arg]
    for op, role, n in ops:
        if op == "add":
            w.add(role, "가" * n)  # type: ignore[arg-type]
        elif op == "begin":
            got = w.begin_summary()
            pending = got or pending
        elif op == "finish" and pending:
            w.finish_summary("요" * n, pending)  # type: ignore[operator]
            pending = []
        elif op == "abort":
            w.abort_summary()
            pending = []
        elif op == "context":
            reserve = int(n)  # type: ignore[call-overload]
            ctx = w.context_messages(reserve_tokens=reserve)
            assert context_tokens(w, ctx) <= max(0, 800 - reserve)
            # what is included is the newest entries, contiguous and in order
            recent = [m for m in ctx if m["role"] != "system"]
            tail = list(w.entries)[len(w.entries) - len(recent):] if recent else []
            assert recent == [{"role": e.role, "content": e.content} for e in tail]
        assert w.total_tokens == sum(e.tokens for e in w.entries)
        assert w.needs_summary() <= (w.total_tokens > 700 and not w.summary_in_flight)
    assert context_tokens(w, w.context_messages()) <= 800


def test_forget_viewer_drops_their_exchanges_and_keeps_the_rest() -> None:
    w = window()
    w.add("user", "고양이 나비", viewers=("u-cat",))
    w.add("assistant", "나비 귀여워요", viewers=("u-cat",))
    w.add("user", "떡볶이", viewers=("u-other",))
    w.add("assistant", "맛있죠", viewers=("u-other",))
    w.add("user", "둘이 같이", viewers=("u-cat", "u-other"))  # a shared batch goes whole
    w.add("assistant", "둘 다 안녕", viewers=("u-cat", "u-other"))
    w.add("assistant", "혼잣말")  # an idle line belongs to no one
    assert w.forget_viewer("u-cat") == 4
    assert [e.content for e in w.entries] == ["떡볶이", "맛있죠", "혼잣말"]
    assert w.total_tokens == sum(e.tokens for e in w.entries)
    assert w.forget_viewer("u-cat") == 0
    again = HistoryWindow.from_dict(json.loads(json.dumps(w.to_dict())), CharCounter(), **LIMITS)
    assert [(e.content, e.viewers) for e in again.entries] == [
        ("떡볶이", ("u-other",)), ("맛있죠", ("u-other",)), ("혼잣말", ())]
    assert "viewers" not in w.to_dict()["entries"][2]  # old files and idle lines look the same


def test_forget_viewer_refuses_a_summary_in_flight_that_holds_their_lines() -> None:
    w = window(keep_tokens=10, summarize_at=20, limit_tokens=200)
    w.add("user", "고양이 이름은 나비" * 3, viewers=("u-cat",))
    w.add("assistant", "나비 예뻐요" * 3, viewers=("u-cat",))
    w.add("user", "안녕", viewers=("u-other",))
    consumed = w.begin_summary()
    assert consumed and consumed[0].viewers == ("u-cat",)
    w.forget_viewer("u-cat")
    assert not w.finish_summary("나비라는 고양이를 키우는 시청자", consumed)
    assert w.summary == "" and [e.content for e in w.entries] == ["안녕"]


def test_recent_json_viewers_must_be_a_list_of_strings() -> None:
    doc = window().to_dict()
    doc["entries"] = [{"role": "user", "content": "x", "timestamp": "t", "viewers": "u-1"}]
    with pytest.raises(HistoryFormatError, match="viewers"):
        validate_recent_doc(doc)
