"""Benchmark: idle line latency — the director deciding to speak first → the first audio.

Same rig as bench_stream.py (the daemon's real director, idle talk, responder, GroqClient,
RemoteEngine and `file:` audio output in one asyncio loop; the LLM and speech peers each in a
process of their own): LLM time to first token 300 ms then 500 tokens/s, TTS first byte 100 ms.
Chat stays quiet; IDLE_TALK_AFTER_S / IDLE_TALK_MIN_GAP_S are short so lines come back to back.
The topics file is read (in a worker thread) and the cue chosen on every line, as in the daemon.

"idle → playback start" is the daemon's own `idle_to_voice` interval (the director's decision →
the first sample of the first sentence handed to the player); "cue" is decision → LLM request
(choosing the cue, reading the topics, recalling nothing: no viewer memory here).
Target: p50 <= TTFT + first sentence tokens + TTS first byte + 30 ms, as for a chat.

Run:  python bench/bench_idle.py [--lines 30] [--ttft-ms 300] [--tokens-per-s 500]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import platform
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from bench_stream import _peer, token_pieces  # noqa: E402
from turn_rig import turn_rig  # noqa: E402

from aischoco.core.segmenter import DEFAULT_CONFIG, segment  # noqa: E402
from aischoco.show.director import Director  # noqa: E402
from aischoco.show.idle_talk import IdleTalk, IdleTalkConfig  # noqa: E402
from aischoco.show.reply_queue import ReplyQueue  # noqa: E402

LINE = "다들 오늘 하루 어땠어요? 저는 방금 새 노래를 듣다가 완전히 빠져 버렸어요."
FIGURES = ("idle_to_voice", "llm_first_token", "first_sentence", "tts_first_chunk", "audio_start")
WARMUP = 3


async def _measure(llm_url: str, tts_url: str, lines: int, tmp: Path) -> dict[str, Any]:
    topics = tmp / "topics.txt"
    topics.write_text("\n".join(f"이야깃거리 {i}" for i in range(50)), encoding="utf-8")
    async with turn_rig(llm_url, tts_url, tmp, name="idle") as rig:
        runner = rig.runner
        idle = IdleTalk(IdleTalkConfig(after_s=0.05, min_gap_s=0.05, topics_path=topics))
        director = Director(ReplyQueue(50, 60), runner, batch_size=3, idle=idle)
        cue_ms: list[float] = []
        original = runner.run

        async def timed_run(batch, marks):  # type: ignore[no-untyped-def]
            result = await original(batch, marks)
            if "idle_decided" in marks.times and "llm_request" in marks.times:
                cue_ms.append((marks.times["llm_request"] - marks.times["idle_decided"]) * 1000)
            return result

        runner.run = timed_run  # type: ignore[method-assign]
        task = asyncio.create_task(director.run(rig.board.register("director", "director")))
        try:
            while runner._stats.turns < WARMUP:
                await asyncio.sleep(0.005)
            stats = rig.fresh_stats()  # keep only the measured lines
            cue_ms.clear()
            while stats.turns < lines:
                await asyncio.sleep(0.005)
            return {"summary": stats.summary(), "outcomes": dict(stats.outcomes),
                    "cue_ms": sorted(cue_ms)}
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--lines", type=int, default=30)
    parser.add_argument("--ttft-ms", type=float, default=300)
    parser.add_argument("--tokens-per-s", type=float, default=500)
    parser.add_argument("--tts-first-byte-ms", type=float, default=100)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    answer = {"emotion": "happy", "response": LINE}
    content = json.dumps(answer, ensure_ascii=False)
    pieces = token_pieces(content)
    first = segment(LINE, DEFAULT_CONFIG)[0]
    upto = content.index(first) + len(first)
    first_tokens = next(i + 1 for i in range(len(pieces)) if len("".join(pieces[: i + 1])) >= upto)
    with _peer("llm", answer=answer, pieces=pieces, ttft_ms=args.ttft_ms,
               tokens_per_s=args.tokens_per_s) as llm_url, \
            _peer("tts", first_byte_ms=args.tts_first_byte_ms, ms_per_char=2) as tts_url, \
            tempfile.TemporaryDirectory() as tmp:
        r = asyncio.run(_measure(llm_url, tts_url, args.lines, Path(tmp)))
    first_ms = first_tokens / args.tokens_per_s * 1000
    target = args.ttft_ms + first_ms + args.tts_first_byte_ms + 30
    print(f"idle line: decision → playback start, {args.lines} lines (+{WARMUP} warm-up); LLM TTFT "
          f"{args.ttft_ms:.0f} ms at {args.tokens_per_s:.0f} tokens/s; TTS first byte "
          f"{args.tts_first_byte_ms:.0f} ms; Python {platform.python_version()} on "
          f"{platform.machine()}")
    print(f"| {'figure (ms)':<20} | p50 | p95 |")
    print(f"|{'-' * 22}|-----|-----|")
    for name in FIGURES:
        s = r["summary"][name]
        print(f"| {name:<20} | {s['p50_ms']:.1f} | {s['p95_ms']:.1f} |")
    cues = r["cue_ms"]
    print(f"| {'cue (decision→LLM)':<20} | {cues[len(cues) // 2]:.1f} | "
          f"{cues[int(len(cues) * 0.95) - 1]:.1f} |")
    p50 = r["summary"]["idle_to_voice"]["p50_ms"]
    print(f"outcomes: {r['outcomes']}")
    print(f"target: p50 <= {args.ttft_ms:.0f} + {first_ms:.0f} + {args.tts_first_byte_ms:.0f} + 30 "
          f"= {target:.0f} ms → {p50:.1f} ms: {'PASS' if p50 <= target else 'FAIL'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
