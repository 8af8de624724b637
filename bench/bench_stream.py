"""Benchmark: chat → first audio (playback start), streamed answers vs whole (JSON-mode) answers.

    Director ─► TurnRunner ─► GroqResponder ─► GroqClient ─► LLM peer (tests/peers/openai_server.py)
                                  └─► SpeechPipeline ─► RemoteEngine ─► speech peer ─► AudioOutput

Everything is the daemon's real code in one asyncio loop (as app.build() wires it), against the
two loopback test peers, each in a process of its own (so their timing does not share our GIL):
  * LLM: time to first token 300 ms, then 500 tokens/s; the answer is cut into real o200k tokens
    (the vocabulary shipped in aischoco/ai/data). Streamed: SSE deltas on that schedule. Whole:
    the JSON-mode reply arrives when the last token would have (300 ms + tokens / 500).
  * TTS: first audio byte 100 ms after the request (speech peer `Ok(first_byte_ms=100)`).
  * Audio out: the `file:` sink, paced in real time like a sound device.
"chat → playback start" is the daemon's own `chat_to_voice` interval (ChatMessage.received_at →
the first sample of the first sentence handed to the player). The issue's target for the streamed
p50: 300 ms + the first sentence's tokens at 500/s + 100 ms + 30 ms daemon overhead.

Run:  python bench/bench_stream.py [--turns 50] [--answer short|long] [--ttft-ms 300]
                                   [--tokens-per-s 500] [--tts-first-byte-ms 100]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import platform
import sys
import tempfile
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from aischoco.ai.tokens import build_encoding  # noqa: E402
from aischoco.core.messages import ChatMessage  # noqa: E402
from aischoco.show.director import Director  # noqa: E402
from aischoco.show.reply_queue import ReplyQueue  # noqa: E402
from aischoco.core.segmenter import DEFAULT_CONFIG, segment  # noqa: E402
from peers.openai_server import (Behaviour, OpenAIServer, Recorded, Reply, Slow,  # noqa: E402
                                 Stream)
from peers.speech_server import Ok, SpeechServer  # noqa: E402
from turn_rig import peer_process, turn_rig  # noqa: E402

ANSWERS = {
    # A typical answer: 3 short sentences (PERSONA asks for 1-3).
    "short": ("민수님 안녕하세요, 오늘도 와 줘서 정말 고마워요! 방금 그 장면은 저도 깜짝 놀랐어요. "
              "채팅 하나하나 다 읽고 있으니까 편하게 이야기해 주세요."),
    # Close to GROQ_MAX_ANSWER_CHARS (300): where waiting for the whole answer hurts most.
    "long": ("민수님 안녕하세요, 오늘도 와 줘서 정말 고마워요! 방금 그 장면은 저도 깜짝 놀랐어요. "
             "보스가 마지막에 체력을 다 채우고 다시 일어날 줄은 아무도 몰랐을 거예요. "
             "그래도 우리 채팅방 분들이 응원해 주셔서 끝까지 버틸 수 있었던 것 같아요. "
             "다음 판에서는 방어구를 먼저 맞추고, 물약도 넉넉하게 챙겨서 다시 도전해 볼게요. "
             "채팅 하나하나 다 읽고 있으니까 편하게 이야기해 주세요."),
}
FIGURES = ("chat_to_voice", "llm_first_token", "first_sentence", "tts_first_chunk", "audio_start",
           "llm")
WARMUP_TURNS = 3


def token_pieces(text: str) -> list[str]:
    """``text`` as the model would stream it: one delta per o200k token (a token that ends inside
    a UTF-8 character is held until the character is whole, as servers do)."""
    encoding = build_encoding()
    pieces: list[str] = []
    pending = b""
    for token in encoding.encode_ordinary(text):
        pending += encoding.decode_single_token_bytes(token)
        try:
            pieces.append(pending.decode("utf-8"))
        except UnicodeDecodeError:
            continue
        pending = b""
    return pieces


class BenchLLM(OpenAIServer):
    """Streamed requests get the SSE schedule, JSON-mode ones the whole answer when it would be
    done, summaries a short text."""

    def __init__(self, answer: dict[str, str], pieces: list[str], ttft_ms: float,
                 tokens_per_s: float) -> None:
        self.answer = answer
        self.stream = Stream(pieces=pieces, ttft_ms=ttft_ms, tokens_per_s=tokens_per_s)
        self.whole_after_s = ttft_ms / 1000 + (len(pieces) - 1) / tokens_per_s
        super().__init__()

    def _next(self, recorded: Recorded) -> Behaviour:
        super()._next(recorded)  # records the request
        body = recorded.body if isinstance(recorded.body, dict) else {}
        if body.get("stream"):
            return self.stream
        if recorded.json_mode:
            return Slow(self.whole_after_s, Reply(self.answer))
        return Reply("요약: 시청자와 인사를 나눴다.")


def _peer(kind: str, **options: Any):  # type: ignore[no-untyped-def]
    """The LLM or speech peer in a process of its own (its timing does not share our GIL)."""
    return peer_process(_serve, kind, options)


def _serve(kind: str, options: dict[str, Any], conn: Connection) -> None:
    """Child process: run one peer until the parent says stop."""
    server = (BenchLLM(**options) if kind == "llm" else
              SpeechServer(default=Ok(first_byte_ms=options["first_byte_ms"]),
                           ms_per_char=options["ms_per_char"]))
    with server:
        conn.send(server.base_url)
        conn.recv()


async def _run_mode(stream: bool, llm_url: str, tts_url: str, turns: int,
                    tmp: Path) -> dict[str, Any]:
    async with turn_rig(llm_url, tts_url, tmp, stream=stream, name=f"stream-{stream}") as rig:
        director = Director(ReplyQueue(50, 60), rig.runner, batch_size=3)
        task = asyncio.create_task(director.run(rig.board.register("director", "director")))
        stats = rig.runner._stats
        try:
            for i in range(WARMUP_TURNS + turns):
                if i == WARMUP_TURNS:
                    stats = rig.fresh_stats()  # keep only the measured turns
                done = stats.turns + 1
                director.submit(ChatMessage(user="민수", message=f"안녕! {i}번째 인사예요"))
                # Until the turn is over, history saved: the next chat finds the AI free.
                while stats.turns < done or director.speaking:
                    await asyncio.sleep(0.005)
            return {"summary": stats.summary(), "outcomes": dict(stats.outcomes)}
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)


async def _run(args: argparse.Namespace) -> dict[str, Any]:
    answer = {"emotion": "happy", "response": ANSWERS[args.answer]}
    content = json.dumps(answer, ensure_ascii=False)
    pieces = token_pieces(content)
    first = segment(answer["response"], DEFAULT_CONFIG)[0]
    upto = content.index(first) + len(first)
    first_tokens = next(i + 1 for i in range(len(pieces))
                        if len("".join(pieces[: i + 1])) >= upto)
    results: dict[str, Any] = {"tokens": len(pieces), "first_sentence": first,
                               "first_sentence_tokens": first_tokens}
    with _peer("llm", answer=answer, pieces=pieces, ttft_ms=args.ttft_ms,
               tokens_per_s=args.tokens_per_s) as llm_url, \
            _peer("tts", first_byte_ms=args.tts_first_byte_ms,
                  ms_per_char=args.ms_per_char) as tts_url, \
            tempfile.TemporaryDirectory() as tmp:
        for stream in (True, False):
            results["streamed" if stream else "whole"] = await _run_mode(
                stream, llm_url, tts_url, args.turns, Path(tmp))
    return results


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--turns", type=int, default=50)
    parser.add_argument("--answer", choices=sorted(ANSWERS), default="short")
    parser.add_argument("--ttft-ms", type=float, default=300)
    parser.add_argument("--tokens-per-s", type=float, default=500)
    parser.add_argument("--tts-first-byte-ms", type=float, default=100)
    parser.add_argument("--ms-per-char", type=int, default=2,
                        help="speech peer audio per character (short, to keep the run brief)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    r = asyncio.run(_run(args))
    first_tokens_ms = r["first_sentence_tokens"] / args.tokens_per_s * 1000
    target = args.ttft_ms + first_tokens_ms + args.tts_first_byte_ms + 30
    print(f"chat → playback start, {args.turns} turns per column (+{WARMUP_TURNS} warm-up); "
          f"LLM TTFT {args.ttft_ms:.0f} ms at {args.tokens_per_s:.0f} tokens/s, {args.answer} "
          f"answer of {r['tokens']} tokens; TTS first byte {args.tts_first_byte_ms:.0f} ms; "
          f"Python {platform.python_version()} on {platform.machine()}")
    print(f"first sentence: {r['first_sentence']!r} = {r['first_sentence_tokens']} tokens "
          f"(JSON prefix included) = {first_tokens_ms:.0f} ms")
    print(f"| {'figure (ms)':<36} | streamed p50 | streamed p95 | whole p50 | whole p95 |")
    print(f"|{'-' * 38}|--------------|--------------|-----------|-----------|")
    for name in FIGURES:
        s, w = r["streamed"]["summary"][name], r["whole"]["summary"][name]

        def cell(v: float | None, width: int) -> str:
            return f"{v:{width}.1f}" if v is not None else " " * (width - 1) + "-"

        print(f"| {name:<36} | {cell(s['p50_ms'], 12)} | {cell(s['p95_ms'], 12)} | "
              f"{cell(w['p50_ms'], 9)} | {cell(w['p95_ms'], 9)} |")
    streamed = r["streamed"]["summary"]["chat_to_voice"]["p50_ms"]
    print(f"outcomes: streamed {r['streamed']['outcomes']}, whole {r['whole']['outcomes']}")
    print(f"target: streamed p50 <= {args.ttft_ms:.0f} + {first_tokens_ms:.0f} + "
          f"{args.tts_first_byte_ms:.0f} + 30 = {target:.0f} ms → {streamed:.1f} ms: "
          f"{'PASS' if streamed <= target else 'FAIL'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
