"""A whole stream on Groq's free plan (issue 36): the responder against a peer that enforces
per-model RPM/RPD/TPM/TPD with Groq's own 429/413 bodies and headers, on a virtual clock.

A spent day hands the answers to the next model of the chain and comes back once Groq's wait is
over; a 413 drops history and asks again at once; the AI row says which model answers and why;
/api/state's `llm.budget` says what is left; the history is sized from the TPM read."""

from __future__ import annotations

import signal
import sys
import time
from pathlib import Path

import httpx
import pytest

from aischoco.ai.budget import ModelChain
from aischoco.ai.character import CharacterPrompt
from aischoco.ai.conversation import ConversationMemory
from aischoco.ai.groq_client import GroqClient
from aischoco.ai.prompts import OutputFilter
from aischoco.ai.responder import GroqResponder
from aischoco.core.messages import ChatMessage
from aischoco.core.segmenter import SegmenterConfig
from aischoco.core.status import State, StatusBoard
from browser_helpers import require_browser
from daemon import run_daemon, wait_until
from peers.groq_limits import FREE_PLAN, GroqLimitsServer, Limits
from test_groq_client import FakeSleep

PRIMARY, FALLBACK = "openai/gpt-oss-120b", "llama-3.1-8b-instant"


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


async def _responder(peer: GroqLimitsServer, tmp_path: Path, clock: Clock, *, stream: bool,
                     models: list[str] | None) -> GroqResponder:
    client = GroqClient(api_key="gsk_free_plan_test", base_url=peer.base_url, model=PRIMARY,
                        sleep=FakeSleep())
    responder = GroqResponder(client, CharacterPrompt(tmp_path / "character.txt"),
                              OutputFilter(()), max_answer_chars=300, stream=stream)
    responder.memory = await ConversationMemory.open(tmp_path / "history", responder.summarize,
                                                     keep_tokens=5000, summarize_at=7000,
                                                     limit_tokens=8000)
    if models is not None:
        responder.chain = ModelChain(models)
    responder.clock = clock
    board = StatusBoard()
    responder.status = board.register("llm", "AI 답변")
    responder.status.set(State.RUNNING, f"{PRIMARY} 준비됨")
    return responder


async def _turn(responder: GroqResponder, text: str) -> str:
    batch = [ChatMessage(user="민수", message=text)]
    if responder.streaming:
        said = []
        async for event in responder.reply_stream(batch, SegmenterConfig(min_chars=2)):
            said.append(getattr(event, "shown", ""))
        answer = "".join(said)
    else:
        answer = (await responder.reply(batch)).response
    assert responder.memory is not None
    await responder.memory.record_turn(text, answer)
    return answer


@pytest.mark.parametrize("stream", [True, False])
async def test_a_spent_day_hands_over_to_the_next_model_and_comes_back(
        tmp_path: Path, stream: bool) -> None:
    clock = Clock()
    limits = {PRIMARY: Limits(30, 1000, 8000, 4000), FALLBACK: FREE_PLAN[FALLBACK]}
    with GroqLimitsServer(limits) as peer:
        peer.clock = clock
        responder = await _responder(peer, tmp_path, clock, stream=stream,
                                     models=[PRIMARY, FALLBACK])
        row = responder.status
        assert row is not None
        try:
            for i in range(12):  # every chat answered, whatever the limits
                clock.t += 15
                assert f"질문 {i}" in await _turn(responder, f"질문 {i}")
                if peer.refused:
                    break
            assert [r[1:] for r in peer.refused] == [(429, "TPD")]
            assert peer.served_by[-1] == FALLBACK  # the same turn, answered by the next model
            assert row.current.state is State.RUNNING
            assert f"{FALLBACK}이(가) 답합니다" in row.current.detail
            assert f"{PRIMARY} 오늘 토큰 한도 소진" in row.current.detail
            assert "GROQ_FALLBACK_MODELS" in row.current.hint
            snap = responder.snapshot()
            assert snap["answering"] == FALLBACK and snap["budget"]["model"] == FALLBACK
            assert snap["budget"]["models"][0]["spent"] == "TPD"
            # the next chat goes straight to the fallback: no second 429
            clock.t += 15
            await _turn(responder, "또 질문")
            assert peer.served_by[-1] == FALLBACK and len(peer.refused) == 1
            # Groq's wait is over: the first model answers again, and the row says so
            # (a day later: Groq's limits refill evenly, so right at its wait a larger request
            # may still not fit, and would go to the fallback again)
            assert responder.chain is not None
            assert responder.chain.budget(PRIMARY).blocked_until is not None
            clock.t += 86_400
            await _turn(responder, "돌아왔어?")
            assert peer.served_by[-1] == PRIMARY
            assert row.current.detail.startswith(f"{PRIMARY} 준비됨")
        finally:
            await responder.client.aclose()


@pytest.mark.parametrize("stream", [True, False])
@pytest.mark.parametrize("chain", [True, False])
async def test_a_413_drops_history_and_answers_at_once(tmp_path: Path, stream: bool,
                                                       chain: bool) -> None:
    clock = Clock()
    model = "peer/small-tpm"  # not in the free-plan table: the window is not pre-sized
    with GroqLimitsServer({model: Limits(30, 1000, 3000, 500_000)}) as peer:
        peer.clock = clock
        responder = await _responder(peer, tmp_path, clock, stream=stream,
                                     models=[model] if chain else None)
        responder.client._model = model  # noqa: SLF001 - the client's model for this test
        assert responder.memory is not None
        for i in range(40):
            responder.memory.window.add("user" if i % 2 == 0 else "assistant",
                                        f"오래된 이야기 {i}: " + "방송 재밌다 " * 20)
        try:
            answer = await _turn(responder, "지금 질문")
            assert "지금 질문" in answer
            assert [r[1] for r in peer.refused] == [413]
            assert peer.served_by == [model]
            sent = peer.requests[-1].body["messages"]
            assert sent[0]["role"] == "system" and "지금 질문" in sent[-1]["content"]
            assert len(sent) < 42  # the oldest history left out
        finally:
            await responder.client.aclose()


async def test_the_window_is_sized_from_the_tpm_and_grows_append_only(tmp_path: Path) -> None:
    clock = Clock()
    with GroqLimitsServer() as peer:
        peer.clock = clock
        responder = await _responder(peer, tmp_path, clock, stream=True, models=[PRIMARY])
        try:
            prompts, cached = [], []
            for i in range(30):
                clock.t += 15
                await _turn(responder, f"{i}번째 이야기: 오늘 방송에서 고양이 게임을 했는데 정말 재밌었어")
                usage = peer.answers[-1]["usage"]
                prompts.append(usage["prompt_tokens"])
                cached.append(usage["prompt_tokens_details"]["cached_tokens"])
            cap = int(8000 * 0.2)
            assert max(prompts) <= cap + 150, prompts  # within a fifth of TPM (+ this chat)
            # most turns reuse the previous request's leading messages (prompt cache)
            assert sum(c > 0 for c in cached[1:]) >= 20, cached
            assert sum(cached) / sum(prompts) > 0.5
            assert responder.usage.get("cached_tokens", 0) == sum(cached)
            budget = responder.snapshot()["budget"]
            assert budget["answers_left"] > 0 and budget["cached_share"] > 0.5
        finally:
            await responder.client.aclose()


async def test_background_summaries_wait_while_the_reserve_is_reached(tmp_path: Path) -> None:
    clock = Clock()
    with GroqLimitsServer() as peer:
        peer.clock = clock
        responder = await _responder(peer, tmp_path, clock, stream=True,
                                     models=[PRIMARY, FALLBACK])
        try:
            assert await responder.summarize([{"role": "user", "content": "요약해"}])
            assert peer.served_by == [PRIMARY]
            assert responder.chain is not None
            responder.chain.budget(PRIMARY).record({"total_tokens": 160_000}, clock.t)
            await responder.summarize([{"role": "user", "content": "요약해"}])
            assert peer.served_by[-1] == FALLBACK  # the primary's last quarter is the answers'
            responder.chain.budget(FALLBACK).record({"total_tokens": 400_000}, clock.t)
            with pytest.raises(Exception, match="kept for answers"):
                await responder.summarize([{"role": "user", "content": "요약해"}])
            assert len(peer.served_by) == 2
        finally:
            await responder.client.aclose()


# --------------------------------------------------------------------------------------------
# the daemon
# --------------------------------------------------------------------------------------------


def _row(state: dict, name: str) -> dict:
    return next(c for c in state["components"] if c["name"] == name)


@pytest.mark.integration
@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
def test_daemon_answers_through_a_spent_day_and_goes_back(tmp_path: Path, browser) -> None:  # type: ignore[no-untyped-def]
    limits = {PRIMARY: Limits(30, 1000, 8000, 2500), FALLBACK: FREE_PLAN[FALLBACK]}
    # a peer "day" of 40 s: the primary's 2,500 tokens refill at ~62 tokens a second
    with GroqLimitsServer(limits, speed=86_400 / 40) as peer:
        env = {"GROQ_API_KEY": "gsk_free_plan_daemon", "GROQ_BASE_URL": peer.base_url,
               "GROQ_MODEL": PRIMARY, "GROQ_FALLBACK_MODELS": FALLBACK, "GROQ_TIMEOUT_S": "3",
               "TOOLS": "off", "MEMORY_ENABLED": "false"}
        with run_daemon(tmp_path, **env) as daemon:
            def state() -> dict:
                return httpx.get(f"{daemon.url}/api/state", timeout=5).json()

            wait_until(lambda: _row(state(), "llm")["state"] == "running", what="llm running")
            answered = 0
            for i in range(8):
                httpx.post(f"{daemon.url}/api/chat", json={"user": f"v{i}", "message": f"질문 {i}"})
                answered += 1
                wait_until(lambda: len(state()["assistant_messages"]) >= answered,
                           what=f"answer {i}")
                if peer.refused:
                    break
            assert [r[1:] for r in peer.refused] == [(429, "TPD")], peer.refused
            assert peer.served_by[-1] == FALLBACK
            s = state()
            row = _row(s, "llm")
            assert f"{FALLBACK}이(가) 답합니다" in row["detail"], row
            assert s["llm"]["answering"] == FALLBACK
            assert s["llm"]["budget"]["models"][0]["spent"] == "TPD"
            assert s["llm"]["budget"]["answers_left"] is not None
            # the panel says it as a streamer reads it
            require_browser()
            panel = browser.new_page()
            panel.goto(f"{daemon.url}/")
            panel.wait_for_function(
                "(t => t.includes('오늘 남은 답변 약') && t.includes(%r))"
                "(document.getElementById('llm').textContent)" % FALLBACK)
            panel.close()
            # once Groq's wait is over, the first model answers again
            until = s["llm"]["budget"]["models"][0]["until_s"]
            time.sleep(max(until, 0) + 5)  # the bucket refills a little more
            httpx.post(f"{daemon.url}/api/chat", json={"user": "z", "message": "돌아왔어?"})
            answered += 1
            wait_until(lambda: len(state()["assistant_messages"]) >= answered, what="back")
            assert peer.served_by[-1] == PRIMARY
            wait_until(lambda: _row(state(), "llm")["detail"].startswith(f"{PRIMARY} 준비됨"),
                       what="row back")
            code, _, out = daemon.stop(signal.SIGTERM)
            assert code == 0, out
            assert "Traceback" not in out
