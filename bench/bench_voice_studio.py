"""Benchmark: the voice studio's cost per clip, and what it does to the event loop.

1. A 10 s clip of espeak-ng speech at 48 kHz in each upload format: decode (`audio_decode`),
   analysis (`sample_analysis.analyze`), reference preparation and the saved WAV's encoding. The
   page waits for decode + analysis before it shows the verdict. Target: < 300 ms for every format.
2. Event-loop stall: the real `VoiceStudio.add_clip` (decode and analysis in threads) runs on
   clips of every format back to back for `--seconds` while a 30 fps ticker, like the VTube Studio
   animator's, records how late each tick fires. Target: no tick late by more than 5 ms.

Run:  python bench/bench_voice_studio.py [--rounds 10] [--seconds 5]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests"))

from voice_fixtures.studio import MIC_RATE, encode, espeak_clip  # noqa: E402

from aischoco.settings.model import Settings  # noqa: E402
from aischoco.tts.audio_decode import decode_audio  # noqa: E402
from aischoco.tts.sample_analysis import analyze  # noqa: E402
from aischoco.tts.voice_sample import prepare_reference  # noqa: E402
from aischoco.tts.pcm import wav_bytes  # noqa: E402
from aischoco.voice_studio.studio import VoiceStudio  # noqa: E402

TICK_S = 1 / 30
FORMATS = ("wav", "mp3", "ogg", "flac", "m4a")


def ten_seconds() -> np.ndarray:
    speech = espeak_clip("안녕하세요, 여러분! 오늘도 제 방송에 와 주셔서 정말 고마워요. 같이 재밌게 놀아 봐요!")
    gap = np.zeros(MIC_RATE // 4, np.float32)
    clip = np.concatenate([speech, gap, speech])[:10 * MIC_RATE]
    return np.ascontiguousarray(clip, dtype=np.float32)


def measure_stages(clip: np.ndarray, rounds: int) -> None:
    print(f"{'format':<7}{'size KB':>9}{'decode p50':>12}{'analyze p50':>13}{'prepare p50':>13}"
          f"{'wav p50':>9}{'total p95':>11}")
    worst = 0.0
    for fmt in FORMATS:
        data = encode(clip, MIC_RATE, fmt)
        decode_ms, analyze_ms, prepare_ms, wav_ms, total = [], [], [], [], []
        for _ in range(rounds):
            t0 = time.perf_counter()
            samples, rate = decode_audio(data)
            t1 = time.perf_counter()
            analyze(samples, rate)
            t2 = time.perf_counter()
            prepare_reference(samples, rate, "대본")
            t3 = time.perf_counter()
            wav_bytes(samples, rate)
            t4 = time.perf_counter()
            decode_ms.append((t1 - t0) * 1000)
            analyze_ms.append((t2 - t1) * 1000)
            prepare_ms.append((t3 - t2) * 1000)
            wav_ms.append((t4 - t3) * 1000)
            total.append((t2 - t0) * 1000)
        worst = max(worst, float(np.percentile(total, 95)))
        print(f"{fmt:<7}{len(data) / 1024:>9.0f}{statistics.median(decode_ms):>12.1f}"
              f"{statistics.median(analyze_ms):>13.1f}{statistics.median(prepare_ms):>13.1f}"
              f"{statistics.median(wav_ms):>9.1f}{np.percentile(total, 95):>11.1f}")
    print(f"{'PASS' if worst < 300 else 'FAIL'}: decode + analysis p95 {worst:.1f} ms "
          f"(target < 300 ms, every format)")


async def measure_stall(clip: np.ndarray, seconds: float) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(_env_file=None, voice_sample=Path(tmp) / "ref.wav",  # type: ignore[call-arg]
                            voice_sample_text=Path(tmp) / "ref_text.txt")
        studio = VoiceStudio(lambda: settings, lambda: None)
        files = [encode(clip, MIC_RATE, fmt) for fmt in FORMATS]
        late: list[float] = []
        done = asyncio.Event()

        async def ticker() -> None:
            loop = asyncio.get_running_loop()
            due = loop.time() + TICK_S
            while not done.is_set():
                await asyncio.sleep(max(0.0, due - loop.time()))
                late.append((loop.time() - due) * 1000)
                due += TICK_S

        async def work() -> list[float]:
            took: list[float] = []
            end = time.perf_counter() + seconds
            while time.perf_counter() < end:
                started = time.perf_counter()
                await studio.add_clip(files[len(took) % len(files)])
                took.append((time.perf_counter() - started) * 1000)
            done.set()
            return took

        alone: list[float] = []
        quiet = asyncio.Event()

        async def baseline() -> None:
            await asyncio.sleep(2)
            quiet.set()

        loop = asyncio.get_running_loop()
        due = loop.time() + TICK_S
        waiter = asyncio.create_task(baseline())
        while not quiet.is_set():
            await asyncio.sleep(max(0.0, due - loop.time()))
            alone.append((loop.time() - due) * 1000)
            due += TICK_S
        await waiter
        _, took = await asyncio.gather(ticker(), work())
    print(f"add_clip (decode + analysis in threads): p50 {statistics.median(took):.1f} / "
          f"p95 {np.percentile(took, 95):.1f} ms over {len(took)} clips (every format in turn)")
    print(f"30 fps tick lateness alone: p99 {np.percentile(alone, 99):.1f} / "
          f"max {max(alone):.1f} ms; during add_clip: p99 {np.percentile(late, 99):.1f} / "
          f"max {max(late):.1f} ms ({len(late)} ticks)")
    print(f"{'PASS' if max(late) < 5 else 'FAIL'}: max tick lateness {max(late):.1f} ms "
          "(target < 5 ms)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--seconds", type=float, default=5.0)
    args = parser.parse_args()
    print(f"python {platform.python_version()} · {os.cpu_count()} CPUs · 10 s clip, 48 kHz mono")
    clip = ten_seconds()
    measure_stages(clip, args.rounds)
    asyncio.run(measure_stall(clip, args.seconds))


if __name__ == "__main__":
    main()
