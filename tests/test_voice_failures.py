"""A TTS server that cannot speak at all (HTTP 503 for every sentence): the real remote engine,
turn runner and file audio output against a loopback speech server. The engine says so in the
server's words at the first failed attempt, later sentences are not retried into the same
error, and the turn ends text-only with its reason at WARNING."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from aischoco.core.messages import ChatMessage
from aischoco.core.metrics import LatencyStats, TurnMarks
from aischoco.core.segmenter import SegmenterConfig
from aischoco.core.stages import StillAnimator
from aischoco.core.status import State, StatusBoard
from aischoco.show.turn import Stages, TurnRunner
from aischoco.show.turn_events import TurnEvents, VoiceWait
from aischoco.tts.remote_engine import RemoteEngine
from audio_helpers import file_output
from peers.speech_server import SpeechServer, Status
from test_director import ScriptedLLM

ANSWER = "첫 번째 문장입니다. 두 번째 문장입니다. 세 번째 문장입니다."


async def test_an_always_503_server_costs_one_retry_per_turn_and_ends_text_only(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    with SpeechServer(default=Status(503, "no voice configured for model qwen3-tts")) as server:
        engine = RemoteEngine(server.base_url, retry_delay_s=0.01)
        board = StatusBoard()
        row = board.register("tts", "음성 합성")
        states: list[tuple[State, str]] = []
        board.subscribe(lambda item: states.append((item.state, item.detail))
                        if item.name == "tts" else None)
        engine._status = row  # as run() leaves it once the server answered its probe
        try:
            async with file_output(tmp_path / "out.wav") as audio:
                stats = LatencyStats()
                runner = TurnRunner(Stages(ScriptedLLM(ANSWER), engine, audio, StillAnimator()),
                                    stats, segmenter=SegmenterConfig(min_chars=2),
                                    events=TurnEvents())
                caplog.set_level("INFO")
                await runner.run([ChatMessage(user="민수", message="안녕")], TurnMarks(1))
                await asyncio.sleep(0)
        finally:
            await engine.aclose()
        texts = [r.body["input"] for r in server.speech_requests]
    # the first sentence: a request and its one retry; then one request each, no retries
    assert texts == ["첫 번째 문장입니다.", "첫 번째 문장입니다.", "두 번째 문장입니다.",
                     "세 번째 문장입니다."]
    degraded = [detail for state, detail in states if state is State.DEGRADED]
    assert degraded and "no voice configured" in degraded[0]  # at the first failed attempt
    assert stats.outcomes == {"text_only": 1}
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"
                and "answered as text only" in r.getMessage()]
    assert len(warnings) == 1 and "no voice configured" in warnings[0]
    assert row.current.state is State.DEGRADED


async def test_a_healthy_server_still_gets_its_retry_and_recovers_the_row(
        tmp_path: Path) -> None:
    from peers.speech_server import Ok

    with SpeechServer(default=Ok()) as server:
        server.script([Status(503, "warming up")])
        engine = RemoteEngine(server.base_url, retry_delay_s=0.01)
        board = StatusBoard()
        row = engine._status = board.register("tts", "음성 합성")
        try:
            chunks = [c async for c in engine.synthesize("안녕하세요 반가워요")]
        finally:
            await engine.aclose()
    assert chunks and len(server.speech_requests) == 2  # the blip was retried
    assert row.current.state is State.RUNNING


class StartingTTS:
    """A TTS engine that is loading: unavailable until `ready` is set."""

    def __init__(self) -> None:
        self.available = False
        self.sentences: list[str] = []

    async def synthesize(self, text: str):  # type: ignore[no-untyped-def]
        from aischoco.core.stages import AudioChunk

        self.sentences.append(text)
        yield AudioChunk(b"\x01\x00" * 2400, 24000)


def _runner(tts: StartingTTS, audio: object, stats: LatencyStats, *, starting: list[bool],
            wait_s: float) -> TurnRunner:
    return TurnRunner(Stages(ScriptedLLM(ANSWER), tts, audio, StillAnimator()),  # type: ignore[arg-type]
                      stats, segmenter=SegmenterConfig(min_chars=2),
                      events=TurnEvents(),
                      voice_starting=lambda: starting[0], voice_wait_s=wait_s)


async def test_a_turn_waits_for_a_starting_voice_and_speaks_every_sentence(
        tmp_path: Path) -> None:
    tts, stats, starting = StartingTTS(), LatencyStats(), [True]
    waits: list[bool] = []
    async with file_output(tmp_path / "out.wav") as audio:
        runner = _runner(tts, audio, stats, starting=starting, wait_s=10)
        runner.events.listen(lambda e: waits.append(e.waiting) if isinstance(e, VoiceWait) else None)

        async def finish_loading() -> None:
            await asyncio.sleep(0.3)
            tts.available, starting[0] = True, False

        loading = asyncio.create_task(finish_loading())
        await runner.run([ChatMessage(user="민수", message="안녕")], TurnMarks(1))
        await loading
    assert tts.sentences == ["첫 번째 문장입니다.", "두 번째 문장입니다.", "세 번째 문장입니다."]
    assert stats.outcomes == {"ok": 1} and waits == [True, False]


async def test_a_voice_that_does_not_come_in_time_ends_text_only_with_the_reason(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    tts, stats = StartingTTS(), LatencyStats()
    async with file_output(tmp_path / "out.wav") as audio:
        runner = _runner(tts, audio, stats, starting=[True], wait_s=0.2)
        caplog.set_level("INFO")
        started = asyncio.get_running_loop().time()
        await runner.run([ChatMessage(user="민수", message="안녕")], TurnMarks(1))
        waited = asyncio.get_running_loop().time() - started
    assert 0.2 <= waited < 2.0 and tts.sentences == []
    assert stats.outcomes == {"text_only": 1}
    (warning,) = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert "answered as text only: voice not available (TTS: not ready)" in warning
