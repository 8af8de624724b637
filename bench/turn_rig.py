"""The daemon's real reply path in one asyncio loop, for the benchmarks (as app.build() wires it):
responder (GroqClient → an LLM peer URL) → turn runner → RemoteEngine (a speech peer URL) → the
`file:` audio output, paced like a sound device. The caller adds the director it needs."""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aischoco.ai.character import CharacterPrompt
from aischoco.ai.groq_client import GroqClient
from aischoco.ai.conversation import ConversationMemory
from aischoco.ai.prompts import OutputFilter
from aischoco.ai.responder import GroqResponder
from aischoco.audio.output import AudioOutput
from aischoco.core.metrics import LatencyStats
from aischoco.core.segmenter import DEFAULT_CONFIG
from aischoco.core.stages import StillAnimator
from aischoco.core.status import StatusBoard
from aischoco.show.turn import Stages, TurnRunner
from aischoco.show.turn_events import TurnEvents
from aischoco.tts.remote_engine import RemoteEngine


@dataclass
class TurnRig:
    responder: GroqResponder
    runner: TurnRunner
    board: StatusBoard

    def fresh_stats(self) -> LatencyStats:
        """Start counting anew (after the warm-up turns)."""
        self.runner._stats = LatencyStats()
        return self.runner._stats


@contextlib.asynccontextmanager
async def turn_rig(llm_url: str, tts_url: str, tmp: Path, *, stream: bool = True,
                   name: str = "bench") -> AsyncIterator[TurnRig]:
    client = GroqClient(api_key="bench", base_url=llm_url, model="openai/gpt-oss-120b",
                        timeout_s=10)
    responder = GroqResponder(client, CharacterPrompt(tmp / "character.txt"), OutputFilter(()),
                              max_answer_chars=300, stream=stream)
    responder.memory = await ConversationMemory.open(
        tmp / f"history-{name}", responder.summarize, keep_tokens=5000, summarize_at=7000,
        limit_tokens=8000)
    engine = RemoteEngine(tts_url)
    audio = AudioOutput(f"file:{tmp / f'{name}.wav'}")
    board = StatusBoard()
    audio_task = asyncio.create_task(audio.run(board.register("audio", "audio")))
    while not audio.available:
        await asyncio.sleep(0.01)
    runner = TurnRunner(Stages(responder, engine, audio, StillAnimator()), LatencyStats(),
                        segmenter=DEFAULT_CONFIG, events=TurnEvents())
    try:
        yield TurnRig(responder, runner, board)
    finally:
        audio_task.cancel()
        await asyncio.gather(audio_task, return_exceptions=True)
        await audio.aclose()
        await engine.aclose()
        await client.aclose()
        await responder.memory.aclose()


@contextlib.contextmanager
def peer_process(serve: Callable[..., None], *args: Any) -> Iterator[Any]:
    """Run `serve(*args, conn)` in a spawned process (a test peer with its own GIL): yields what
    it sends first (its URL); when done, sends it "stop" and waits for it."""
    ctx = multiprocessing.get_context("spawn")
    parent, child = ctx.Pipe()
    proc = ctx.Process(target=serve, args=(*args, child), daemon=True)
    proc.start()
    try:
        yield parent.recv()
    finally:
        parent.send("stop")
        proc.join(timeout=10)
