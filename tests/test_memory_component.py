"""The memory component in process, over a real SQLite file: writes off the loop and in order,
recall on the reply path (bounded), answers kept, the streamer not remembered, distilling."""

from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from aischoco.ai.tokens import load_counter
from aischoco.core.messages import ChatMessage, Kind, Role
from aischoco.core.status import StatusBoard
from aischoco.memory import component as component_mod
from aischoco.memory.component import ViewerMemory
from aischoco.memory.distill import DistillPacer


def _memory(tmp_path: Path, **kw: Any) -> ViewerMemory:
    return ViewerMemory(tmp_path / "memory.sqlite3", prompt_tokens=kw.pop("prompt_tokens", 400),
                        retention_days=kw.pop("retention_days", 365), facts_per_viewer=20,
                        count_tokens=load_counter().count, **kw)


async def _running(memory: ViewerMemory) -> asyncio.Task[None]:
    board = StatusBoard()
    task = asyncio.create_task(memory.run(board.register("memory", "시청자 기억")))
    for _ in range(400):
        if board.get("memory").state.value == "running":
            return task
        await asyncio.sleep(0.01)
    raise AssertionError(board.get("memory").detail)


async def _stop(memory: ViewerMemory, task: asyncio.Task[None]) -> None:
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    await memory.aclose()


def _msg(user: str, text: str, uid: str, **kw: Any) -> ChatMessage:
    return ChatMessage(user=user, message=text, user_id=uid, llm_text=text, **kw)


async def test_recall_sees_what_was_noted_just_before_and_never_the_message_itself(
        tmp_path: Path) -> None:
    memory = _memory(tmp_path)
    task = await _running(memory)
    try:
        memory.note(_msg("민수", "우리 고양이 나비는 세 살이에요", "u1"))
        now = _msg("민수", "나비 보고 싶다", "u1")
        memory.note(now)  # queued: recall runs after it, on the same thread
        cards = await memory.recall([now])
        assert "[시청자 「민수」]" in cards and "우리 고양이 나비는 세 살이에요" in cards
        assert "나비 보고 싶다" not in cards
        memory.note_answer([now], "나비 너무 귀여워요!")
        found = await memory.lookup("민수")
        assert [s["answer"] for s in found[0]["said"]][0] == "나비 너무 귀여워요!"
    finally:
        await _stop(memory, task)


async def test_the_streamer_and_voice_turns_are_not_remembered_as_viewers(tmp_path: Path) -> None:
    memory = _memory(tmp_path)
    task = await _running(memory)
    try:
        memory.note(_msg("방장", "오늘 방송 시작!", "s1", role=Role.STREAMER))
        memory.note(_msg("방장", "마이크 테스트", "", role=Role.STREAMER, kind=Kind.VOICE,
                         source="voice"))
        memory.note(_msg("후원자", "응원해요", "d1", kind=Kind.DONATION, amount=5000))
        assert await memory.recall([_msg("방장", "안녕", "s1", role=Role.STREAMER)]) == ""
        assert await memory.lookup("방장") == []
        donor = (await memory.lookup("d1"))[0]
        assert donor["donated"] == 5000 and donor["visits"] == 1
    finally:
        await _stop(memory, task)


async def test_a_slow_disk_never_holds_a_reply(tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    memory = _memory(tmp_path)
    task = await _running(memory)
    gate = threading.Event()
    try:
        memory.note(_msg("민수", "라면 좋아해요", "u1"))
        memory._submit(lambda store: gate.wait(2))  # the memory thread is stuck for a while
        started = time.perf_counter()
        assert await memory.recall([_msg("민수", "라면", "u1")]) == ""
        assert time.perf_counter() - started < component_mod.RECALL_TIMEOUT_S + 0.2
        assert memory.stats["recall_timeouts"] == 1
    finally:
        gate.set()
        await _stop(memory, task)


async def test_writes_never_run_on_the_event_loop(tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    from aischoco.memory.store import MemoryStore

    loop_thread = threading.get_ident()
    threads: set[int] = set()
    original = MemoryStore.record_message

    def spy(self: MemoryStore, *args: Any, **kw: Any) -> int:
        threads.add(threading.get_ident())
        return original(self, *args, **kw)

    monkeypatch.setattr(MemoryStore, "record_message", spy)
    memory = _memory(tmp_path)
    task = await _running(memory)
    try:
        for n in range(20):
            memory.note(_msg(f"v{n}", f"메시지 {n}", f"u{n}"))
        assert len(await memory.top(50)) == 20
        assert threads and loop_thread not in threads
    finally:
        await _stop(memory, task)


async def test_distilling_learns_facts_once_per_text_and_backs_off_on_failure(
        tmp_path: Path) -> None:
    calls: list[list[dict[str, str]]] = []
    answers: list[Any] = [RuntimeError("Groq rate limit reached (429)"),
                          '{"facts": ["고양이를 키운다"]}']

    async def distill(messages: list[dict[str, str]]) -> str:
        calls.append(messages)
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    clock = [0.0]
    pacer = DistillPacer(10.0, clock=lambda: clock[0])
    memory = _memory(tmp_path, distill=distill, distill_pacer=pacer)
    task = await _running(memory)
    try:
        for text in ("고양이 키워요", "이름은 나비", "세 살이에요"):
            memory.note(_msg("민수", text, "u1"))
        for step in (10.0, 30.0):  # first try fails (429) → waits 2×10 s → second try works
            clock[0] = step
            for _ in range(100):
                await asyncio.sleep(0.02)
                if len(calls) == (1 if step == 10.0 else 2) and memory.stats["distill_calls"]:
                    break
        for _ in range(100):
            if memory.stats["facts_learned"]:
                break
            await asyncio.sleep(0.02)
        assert memory.stats["distill_failures"] == 1 and memory.stats["facts_learned"] == 1
        assert calls[0] == calls[1]  # the failed text is asked again, whole
        clock[0] = 100.0
        await asyncio.sleep(0.8)
        assert len(calls) == 2  # already distilled: never sent again
        facts = (await memory.lookup("u1"))[0]["facts"]
        assert [f["text"] for f in facts] == ["고양이를 키운다"]
    finally:
        await _stop(memory, task)


async def test_a_message_the_platform_hid_is_not_remembered(tmp_path: Path) -> None:
    memory = _memory(tmp_path)
    task = await _running(memory)
    try:
        kept = _msg("민수", "고양이 나비 이야기", "u1")
        hidden = _msg("민수", "고양이 욕설 가득한 말", "u1")
        memory.note(kept)
        memory.note(hidden)
        memory.unnote(hidden.message_id)
        memory.unnote("never-seen")  # unknown ids are nothing
        found = await memory.lookup("u1")
        assert [s["text"] for s in found[0]["said"]] == ["고양이 나비 이야기"]
        cards = await memory.recall([_msg("민수", "고양이", "u1")])
        assert "욕설" not in cards and "나비" in cards
    finally:
        await _stop(memory, task)


async def test_regulars_are_viewers_seen_on_two_streams(tmp_path: Path) -> None:
    first = _memory(tmp_path)
    task = await _running(first)
    try:
        first.note(_msg("단골", "첫 방송", "r1"))
        await first.lookup("r1")  # written
    finally:
        await _stop(first, task)
    second = _memory(tmp_path)  # a new daemon run: a new visit
    task = await _running(second)
    try:
        second.note(_msg("단골", "또 왔어요", "r1"))
        second.note(_msg("처음", "안녕하세요", "n1"))
        assert await second.regulars(["r1", "n1", "unknown"]) == ["r1"]
    finally:
        await _stop(second, task)


async def test_the_platform_of_each_message_is_remembered_with_the_viewer(tmp_path: Path) -> None:
    memory = _memory(tmp_path)
    task = await _running(memory)
    try:
        memory.note(_msg("민수", "유튜브에서 왔어요 고양이", "youtube:UC1", source="youtube"))
        memory.note(_msg("민수", "치지직에서 왔어요 고양이", "0" * 32, source="chzzk"))
        memory.note(_msg("손님", "터미널 시험", "손님", source="terminal"))
        found = {v["user_id"]: v["platform"] for v in await memory.lookup("민수")}
        assert found == {"youtube:UC1": "youtube", "0" * 32: "chzzk"}  # two viewers
        assert (await memory.lookup("손님"))[0]["platform"] == "local"
        cards = await memory.recall([_msg("민수", "고양이 또 봐요", "youtube:UC1",
                                          source="youtube")])
        assert "[YouTube 시청자 「민수」]" in cards
    finally:
        await _stop(memory, task)
