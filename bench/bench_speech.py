"""Benchmark: the speech path's own overhead, with a remote TTS server of known latency.

    SpeechPipeline ─► RemoteEngine (httpx stream) ─► speech peer (tests/peers/speech_server.py:
    first byte after --first-byte-ms, then 80 ms of audio every --gap-ms) ─► AudioOutput ─► player

The player is the `file:` sink paced in real time (what the daemon does with AUDIO_OUTPUT_DEVICE=
file:…); a sound device adds its own output latency (PortAudio "low", ~10–30 ms) on top.
Figures per answer of three sentences:
  * request → first chunk   minus the server's first-byte delay = HTTP + decode overhead
  * first chunk → heard      our queueing before the first sample is played
  * sentence gap            silence added between consecutive sentences (target 0)
  * skip → silence          stop_all() to the playing sentence ending (target < 100 ms)

Run:  python bench/bench_speech.py [--answers 30] [--first-byte-ms 100] [--gap-ms 25]
"""

from __future__ import annotations

import argparse
import asyncio
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from aischoco.audio.output import AudioOutput  # noqa: E402
from aischoco.core.metrics import TurnMarks  # noqa: E402
from aischoco.show.speech import SpeechLog, SpeechPipeline  # noqa: E402
from aischoco.core.status import StatusBoard  # noqa: E402
from aischoco.tts.remote_engine import RemoteEngine  # noqa: E402
from peers.speech_server import Ok, SpeechServer  # noqa: E402

SENTENCES = ["안녕하세요, 오늘도 와 주셔서 고마워요.", "채팅 하나하나 다 읽고 있어요!", "재밌게 놀다 가세요."]


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


async def _run(args: argparse.Namespace) -> dict[str, list[float]]:
    figures: dict[str, list[float]] = {"request → first chunk (overhead)": [],
                                       "first chunk → heard": [], "sentence gap": [],
                                       "skip → silence": []}
    server = SpeechServer(default=Ok(first_byte_ms=args.first_byte_ms, chunk_ms=80,
                                     gap_ms=args.gap_ms))
    with server, tempfile.TemporaryDirectory() as tmp:
        engine = RemoteEngine(server.base_url)
        audio = AudioOutput(f"file:{Path(tmp) / 'bench.wav'}")
        board = StatusBoard()
        task = asyncio.create_task(audio.run(board.register("audio", "audio")))
        while not audio.available:
            await asyncio.sleep(0.01)
        pipeline = SpeechPipeline(engine, audio)
        for _ in range(args.answers):
            marks, record, heard = TurnMarks(1), SpeechLog(), []
            await pipeline.speak(SENTENCES, record, marks=marks,
                                 on_playing=lambda s: heard.append(time.perf_counter()))
            t = marks.times
            figures["request → first chunk (overhead)"].append(
                (t["tts_first_chunk"] - t["tts_request"]) * 1000 - args.first_byte_ms)
            figures["first chunk → heard"].append((t["playback_start"] - t["tts_first_chunk"]) * 1000)
            durations = [len(s) * server.ms_per_char for s in SENTENCES]
            for (a, b), length in zip(zip(heard, heard[1:]), durations):
                figures["sentence gap"].append(max(0.0, (b - a) * 1000 - length))
            # skip: start an answer, stop it 200 ms into the first sentence
            playing = asyncio.Event()
            speak = asyncio.create_task(pipeline.speak(SENTENCES, SpeechLog(),
                                                       on_playing=lambda s: playing.set()))
            await playing.wait()
            await asyncio.sleep(0.2)
            segment = next(iter(audio._segments.values()))
            stopped = time.perf_counter()
            speak.cancel()
            await asyncio.gather(speak, return_exceptions=True)
            await asyncio.wait({segment.ended})
            figures["skip → silence"].append((time.perf_counter() - stopped) * 1000)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await audio.aclose()
        await engine.aclose()
    return figures


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--answers", type=int, default=30)
    parser.add_argument("--first-byte-ms", type=float, default=100)
    parser.add_argument("--gap-ms", type=float, default=25, help="between 80 ms audio pieces")
    args = parser.parse_args()
    figures = asyncio.run(_run(args))
    print(f"speech path, {args.answers} answers × {len(SENTENCES)} sentences; server first byte "
          f"{args.first_byte_ms:.0f} ms, 80 ms pieces every {args.gap_ms:.0f} ms; "
          f"{platform.python_version()} on {platform.machine()}")
    print(f"| {'figure':<34} | p50 ms | p95 ms | max ms |")
    print(f"|{'-' * 36}|--------|--------|--------|")
    for name, values in figures.items():
        print(f"| {name:<34} | {statistics.median(values):6.1f} | {_pct(values, 0.95):6.1f} | "
              f"{max(values):6.1f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
