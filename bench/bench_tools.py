"""Benchmark: what one tool round adds to a reply, with zero-latency peers.

Same rig as bench_stream.py (the daemon's real director, turn runner, responder, GroqClient,
RemoteEngine and `file:` audio output in one asyncio loop; the LLM and speech peers each in a
process of their own), but the LLM peer answers at once: a request that offers tools and holds no
tool result yet gets a streamed tool call (`korea_time`, the built-in), any other request the
streamed answer. TTS first byte 0 ms. Turns alternate: TOOLS off (no tools offered) and TOOLS on.

"added" = chat → playback start with a tool round, minus the same without one (p50 of each). It
holds the tool call's parse, the tool itself (korea_time: microseconds), the second LLM request
over loopback and the stream handling around it. Target: < 30 ms.

Run:  python bench/bench_tools.py [--turns 40]
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import platform
import sys
import tempfile
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

import httpx  # noqa: E402

from aischoco.core.messages import ChatMessage  # noqa: E402
from aischoco.core.metrics import LatencyStats  # noqa: E402
from aischoco.show.director import Director  # noqa: E402
from aischoco.show.reply_queue import ReplyQueue  # noqa: E402
from aischoco.tools.builtin import builtin_tools  # noqa: E402
from aischoco.tools.registry import ToolRegistry  # noqa: E402
from peers.openai_server import (Behaviour, OpenAIServer, Recorded, Stream,  # noqa: E402
                                 ToolCalls)
from peers.speech_server import Ok, SpeechServer  # noqa: E402
from turn_rig import peer_process, turn_rig  # noqa: E402

ANSWER = {"emotion": "happy", "response": "지금은 밤 10시예요. 오늘도 와 줘서 고마워요!"}
WARMUP = 4


class ToolLLM(OpenAIServer):
    def _next(self, recorded: Recorded) -> Behaviour:
        super()._next(recorded)
        body = recorded.body if isinstance(recorded.body, dict) else {}
        has_result = any(m.get("role") == "tool" for m in body.get("messages", []))
        if body.get("tools") and not has_result:
            return ToolCalls([("korea_time", "{}")])
        return Stream(ANSWER, token_chars=8)


def _peer(kind: str):  # type: ignore[no-untyped-def]
    return peer_process(_serve, kind)


def _serve(kind: str, conn: Connection) -> None:
    server = ToolLLM() if kind == "llm" else SpeechServer(default=Ok(first_byte_ms=0),
                                                          ms_per_char=1)
    with server:
        conn.send(server.base_url)
        conn.recv()


async def _measure(llm_url: str, tts_url: str, turns: int, tmp: Path) -> dict[str, Any]:
    async with turn_rig(llm_url, tts_url, tmp, name="tools") as rig, httpx.AsyncClient() as http:
        registry = ToolRegistry(viewer_allowed=["korea_time"], timeout_s=5, max_rounds=3)
        for tool in builtin_tools(channel_id=None, api_url="http://127.0.0.1:9", http=http,
                                  memory_lookup=None):
            registry.add(tool)
        director = Director(ReplyQueue(50, 60), rig.runner, batch_size=3)
        task = asyncio.create_task(director.run(rig.board.register("director", "director")))
        stats = {False: LatencyStats(), True: LatencyStats()}
        try:
            for i in range(2 * (WARMUP + turns)):
                with_tools = bool(i % 2)
                rig.responder.tools = registry if with_tools else None
                target = stats[with_tools] if i >= 2 * WARMUP else LatencyStats()
                rig.runner._stats = target
                done = target.turns + 1
                director.submit(ChatMessage(user="민수", message=f"지금 몇 시야? {i}"))
                while target.turns < done or director.speaking:
                    await asyncio.sleep(0.002)
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
    return {"plain": stats[False].summary(), "tools": stats[True].summary(),
            "outcomes": [dict(stats[False].outcomes), dict(stats[True].outcomes)]}


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--turns", type=int, default=40)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    with _peer("llm") as llm_url, _peer("tts") as tts_url, tempfile.TemporaryDirectory() as tmp:
        r = asyncio.run(_measure(llm_url, tts_url, args.turns, Path(tmp)))
    plain, tools = r["plain"], r["tools"]
    print(f"one tool round (korea_time) with zero-latency peers, {args.turns} turns each "
          f"(+{WARMUP} warm-up); Python {platform.python_version()} on {platform.machine()}")
    print("| figure (ms)                  | no tools p50 | no tools p95 | tools p50 | tools p95 |")
    print("|------------------------------|--------------|--------------|-----------|-----------|")
    for name in ("chat_to_voice", "llm_first_token", "tools", "tts_first_chunk"):
        a, b = plain[name], tools[name]

        def cell(v: float | None, width: int) -> str:
            return f"{v:{width}.1f}" if v is not None else " " * (width - 1) + "-"

        print(f"| {name:<28} | {cell(a['p50_ms'], 12)} | {cell(a['p95_ms'], 12)} | "
              f"{cell(b['p50_ms'], 9)} | {cell(b['p95_ms'], 9)} |")
    added = tools["chat_to_voice"]["p50_ms"] - plain["chat_to_voice"]["p50_ms"]
    print(f"outcomes: no tools {r['outcomes'][0]}, tools {r['outcomes'][1]}")
    print(f"added by one tool round (p50): {added:.1f} ms (the tool itself p50 "
          f"{tools['tools']['p50_ms']:.2f} ms) → target < 30 ms: {'PASS' if added < 30 else 'FAIL'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
