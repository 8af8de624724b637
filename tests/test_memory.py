"""Memory + responder against the local OpenAI-compatible server: summaries in the background,
request size bounded, persistence across a restart."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from aischoco.ai.character import CharacterPrompt
from aischoco.ai.groq_client import GroqClient
from aischoco.ai.conversation import ConversationMemory
from aischoco.ai.prompts import OutputFilter
from aischoco.ai.responder import GroqResponder
from aischoco.ai.tokens import load_counter, message_tokens
from aischoco.core.messages import ChatMessage
from peers.openai_server import Behaviour, OpenAIServer, Recorded, Reply, ServerError, Slow

LIMITS = {"keep_tokens": 5000, "summarize_at": 7000, "limit_tokens": 8000}


class SlowSummaries(OpenAIServer):
    """Answers summary requests (plain, non-JSON mode) only after a delay."""

    def _next(self, recorded: Recorded) -> Behaviour:
        behaviour = super()._next(recorded)  # records the request
        if not recorded.json_mode:
            return Slow(0.8, then=Reply("요약: 시청자들과 긴 이야기를 나눴다."))
        return behaviour


async def _responder(server: OpenAIServer, history: Path, tmp: Path,
                     max_retries: int = 3) -> GroqResponder:
    client = GroqClient(api_key="k", base_url=server.base_url, model="openai/gpt-oss-20b",
                        timeout_s=5, max_retries=max_retries)
    responder = GroqResponder(client, CharacterPrompt(tmp / "character.txt"), OutputFilter(()),
                              max_answer_chars=5000)
    responder.memory = await ConversationMemory.open(history, responder.summarize, **LIMITS)
    return responder


async def _turn(responder: GroqResponder, batch: list[ChatMessage]) -> None:
    """A whole turn as the turn runner does it: answer, then remember what was heard (all)."""
    answer = await responder.reply(batch)
    await responder.remember(batch, answer, answer.response)


def _history_tokens(body: dict) -> int:
    counter = load_counter()
    messages = body["messages"][1:-1]  # without the system prompt and the new chat
    return sum(message_tokens(m["role"], m["content"], counter) for m in messages)


async def test_crossing_the_threshold_summarises_once_in_the_background(tmp_path: Path) -> None:
    history = tmp_path / "history"
    long_line = "오늘 방송에서 있었던 재미있는 이야기를 아주 길게 해 볼게요 " * 25  # ~500 tokens
    with SlowSummaries() as server:
        responder = await _responder(server, history, tmp_path)
        memory = responder.memory
        assert memory is not None
        turn = 0
        while memory.window.total_tokens <= LIMITS["summarize_at"]:
            turn += 1
            await _turn(responder, [ChatMessage(user=f"u{turn}", message=f"{turn}번째 {long_line}")])
        # The turn that crossed 7K returned while its summary is still being written.
        summary_requests = [r for r in server.requests if not r.json_mode]
        assert memory._summary_task is not None and not memory._summary_task.done()
        assert len(summary_requests) <= 1
        # More turns while the summary is in flight start no second summary.
        for extra in range(2):
            await _turn(responder, [ChatMessage(user="x", message=f"추가 {extra} {long_line}")])
        await asyncio.wait_for(memory._summary_task, 5) if memory._summary_task else None
        summary_requests = [r for r in server.requests if not r.json_mode]
        assert len(summary_requests) == 1
        assert memory.window.summary.startswith("요약:")
        assert memory.window.total_tokens <= LIMITS["summarize_at"]
        await _turn(responder, [ChatMessage(user="y", message="요약 뒤 첫 질문")])
        for request in server.requests:
            if request.json_mode:
                assert _history_tokens(request.body) <= LIMITS["limit_tokens"]
        last = server.requests[-1].body["messages"]
        assert last[1]["content"].startswith("[이전 대화 요약] 요약:")
        await responder.client.aclose()
    saved = json.loads((history / "summary.json").read_text(encoding="utf-8"))
    assert set(saved) == {"summary", "timestamp", "message_count"}
    assert saved["message_count"] > 0
    assert len(list((history / "summaries").iterdir())) == 1


async def test_failing_summaries_still_keep_requests_under_the_limit(tmp_path: Path) -> None:
    class NoSummaries(OpenAIServer):
        def _next(self, recorded: Recorded) -> Behaviour:
            behaviour = super()._next(recorded)
            return behaviour if recorded.json_mode else ServerError(500)

    long_line = "길게 말하는 시청자의 채팅입니다 " * 60
    with NoSummaries() as server:
        responder = await _responder(server, tmp_path / "history", tmp_path, max_retries=0)
        memory = responder.memory
        assert memory is not None
        for turn in range(20):
            await _turn(responder, [ChatMessage(user="u", message=f"{turn} {long_line}")])
            if memory._summary_task is not None:
                await memory._summary_task
        assert memory.window.total_tokens > LIMITS["limit_tokens"]  # nothing could be summarised
        for request in server.requests:
            if request.json_mode:
                assert _history_tokens(request.body) <= LIMITS["limit_tokens"]
        await responder.client.aclose()


async def test_restart_restores_the_context(tmp_path: Path) -> None:
    history = tmp_path / "history"
    with OpenAIServer() as server:
        responder = await _responder(server, history, tmp_path)
        await _turn(responder, [ChatMessage(user="민수", message="나는 고양이를 키워")])
        assert responder.memory is not None
        await responder.memory.aclose()
        await responder.client.aclose()

        again = await _responder(server, history, tmp_path)
        await _turn(again, [ChatMessage(user="민수", message="내가 뭘 키운다고 했지?")])
        contents = [m["content"] for m in server.requests[-1].body["messages"]]
        assert any("나는 고양이를 키워" in c for c in contents[1:-1])
        await again.client.aclose()


async def test_character_file_is_reloaded_when_edited(tmp_path: Path) -> None:
    import os

    path = tmp_path / "character.txt"
    prompt = CharacterPrompt(path)
    from aischoco.ai.prompts import DEFAULT_PERSONA

    assert await prompt.get() == DEFAULT_PERSONA  # no file yet
    path.write_text("# 주석은 빠집니다\n이름: 딸기\n", encoding="utf-8")
    first = await prompt.get()
    assert "이름: 딸기" in first and "주석은 빠집니다" not in first
    path.write_text("이름: 바닐라\n", encoding="utf-8")
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000))
    second = await prompt.get()
    assert "이름: 바닐라" in second and "딸기" not in second


async def test_rate_limit_shows_in_the_status_and_clears_after_success(tmp_path: Path) -> None:
    from aischoco.core.status import State, StatusBoard
    from peers.openai_server import RateLimited

    board = StatusBoard()
    seen: list[tuple[str, str]] = []
    board.subscribe(lambda item: seen.append((item.state.value, item.detail)))
    with OpenAIServer() as server:
        server.script([RateLimited(retry_after=0.3)])
        responder = await _responder(server, tmp_path / "history", tmp_path)
        client = responder.client
        client._on_status = responder.report_rate_limit  # as wiring binds it
        responder.status = board.register("llm", "AI 답변")
        answer = await responder.reply([ChatMessage(user="a", message="안녕!")])
        assert answer.response
        assert any(state == "degraded" and "rate limited until" in detail for state, detail in seen)
        assert board.get("llm").state is State.RUNNING
        snapshot = responder.snapshot()
        assert snapshot["remaining_requests"] is not None and snapshot["usage"]
        await client.aclose()
