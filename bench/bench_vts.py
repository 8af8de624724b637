"""Benchmark: the VTube Studio animator's tick rate, jitter, CPU and lip-sync offset.

    AudioOutput (file: sink, paced in real time) ─tap─► LipSync ─► VtsAnimator ─► fake VTS
                                                                              (tests/peers/vts_server.py)
Per fps (30, 60) and load (idle / CPU inference stand-in in the same process):
  * achieved tick rate and tick-interval jitter p50/p99 (|interval − 1/fps|)
  * the animator's CPU: event-loop thread CPU time / wall time
  * lip-sync offset: tone onset heard (playback clock) → mouth value ≥ 50 % of its steady level
    (includes the tick quantisation, up to one tick)
The load is a thread running float32 matrix products (what a CPU TTS forward pass does: BLAS,
GIL released) plus a share of pure-Python work (tokenising, sampling loops: GIL held).

`--load tts` replaces the stand-in with real Qwen3-TTS inference: a tiny random checkpoint built at
start, generating sentence after sentence on a thread of this process (needs qwen-tts installed).

Run:  python bench/bench_vts.py [--seconds 8] [--load tts]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import platform
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from peers.vts_server import FakeVts

from aischoco.audio.output import AudioOutput
from aischoco.core.stages import AudioChunk
from aischoco.core.status import StatusBoard
from aischoco.vtuber.animator import VtsAnimator

RATE = 24000
LOAD = "stand-in"  # or "tts": the tiny Qwen3-TTS model generating (set by --load)
BURST_S, GAP_S = 0.3, 0.5


def _tts_load(stop: threading.Event, ready: threading.Event) -> None:
    """Real Qwen3-TTS inference in this process: a tiny random checkpoint (built here) generating
    sentence after sentence on CPU, as the local engine does on its own thread."""
    from aischoco.tts.torchaudio_shim import ensure_torchaudio_importable

    ensure_torchaudio_importable()
    import torch
    from qwen_tts import Qwen3TTSModel
    from tts_fixtures.tiny_qwen import build_tiny_checkpoint, write_reference_voice

    with tempfile.TemporaryDirectory() as tmp:
        model_dir = build_tiny_checkpoint(Path(tmp) / "model", max_new_tokens=64)
        wav, text = write_reference_voice(Path(tmp) / "voice")
        tts = Qwen3TTSModel.from_pretrained(str(model_dir), device_map="cpu", dtype=torch.float32,
                                            attn_implementation="sdpa")
        prompt = tts.create_voice_clone_prompt(ref_audio=str(wav),
                                               ref_text=text.read_text("utf-8").strip())
        while not stop.is_set():
            ready.set()  # measuring starts once the model generates (loading is not the load)
            tts.generate_voice_clone(text="오늘 방송도 재밌게 놀아요!", language="Korean",
                                     voice_clone_prompt=prompt, max_new_tokens=64)


def _load(stop: threading.Event, ready: threading.Event) -> None:
    if LOAD == "tts":
        _tts_load(stop, ready)
        return
    ready.set()
    a = np.random.default_rng(0).random((384, 384), dtype=np.float32)
    while not stop.is_set():
        for _ in range(20):
            a = np.tanh(a @ a * 0.01)
        sum(i * i for i in range(20_000))  # the GIL-holding part


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def run_case(fps: int, loaded: bool, seconds: float, tmp: Path) -> dict[str, float]:
    mapping = json.loads((ROOT / "config" / "pose_mapping.json").read_text("utf-8"))
    mapping["idle"]["enabled"] = False
    path = tmp / f"map{fps}{loaded}.json"
    path.write_text(json.dumps(mapping), encoding="utf-8")
    stop = threading.Event()
    ready = threading.Event()
    loader = threading.Thread(target=_load, args=(stop, ready), daemon=True)
    with FakeVts() as vts:
        animator = VtsAnimator(url=vts.url, token_path=tmp / f"tok{fps}{loaded}", mapping_path=path,
                               fps=fps, reconnect_max_s=0.5)
        audio = AudioOutput(f"file:{tmp / 'out.wav'}", file_rate=RATE)
        audio.add_tap(animator.audio_tap)
        board = StatusBoard()
        mouth: list[tuple[float, float]] = []
        tick = animator.tick

        def recording_tick(now: float) -> dict[str, float] | None:
            frame = tick(now)
            if frame is not None:
                mouth.append((now, frame["MouthOpen"]))
            return frame

        animator.tick = recording_tick  # type: ignore[method-assign]
        tasks = [asyncio.create_task(animator.run(board.register("vts", "vts"))),
                 asyncio.create_task(audio.run(board.register("audio", "audio")))]
        while board.get("vts").state.value != "running" or not audio.available:
            await asyncio.sleep(0.02)
        if loaded:
            loader.start()
            await asyncio.to_thread(ready.wait)
        await asyncio.sleep(0.5)
        animator.intervals.clear()
        cpu0, wall0 = time.thread_time(), time.monotonic()
        animator.set_speaking(True)
        bursts = int(seconds / (BURST_S + GAP_S))
        t = np.arange(int(BURST_S * RATE)) / RATE
        tone = (0.3 * np.sin(2 * np.pi * 220 * t) * 32767).astype(np.int16).tobytes()
        silence = bytes(int(GAP_S * RATE) * 2)
        segment = audio.open_segment()
        for _ in range(bursts):
            segment.write(AudioChunk(tone, RATE))
            segment.write(AudioChunk(silence, RATE))
        segment.finish()
        started = await segment.started
        await segment.ended
        cpu, wall = time.thread_time() - cpu0, time.monotonic() - wall0
        stop.set()
        if loaded:  # a torch thread still running at exit aborts the interpreter
            await asyncio.to_thread(loader.join, 30)
        intervals = list(animator.intervals)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await animator.aclose()
        await audio.aclose()
    steady = max(v for _, v in mouth)
    offsets = []
    for k in range(bursts):
        onset = started + k * (BURST_S + GAP_S)
        crossing = next((ts for ts, v in mouth if ts >= onset and v >= 0.5 * steady), None)
        if crossing is not None:
            offsets.append((crossing - onset) * 1000)
    jitter = [abs(i - 1 / fps) * 1000 for i in intervals]
    return {"fps": fps, "loaded": loaded, "rate": len(intervals) / sum(intervals),
            "jitter_p50_ms": _pct(jitter, 0.5), "jitter_p99_ms": _pct(jitter, 0.99),
            "cpu_pct": 100 * cpu / wall, "lip_p50_ms": statistics.median(offsets),
            "lip_max_ms": max(offsets), "sent": animator.sent, "replaced": animator.replaced}


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--load", choices=["stand-in", "tts"], default="stand-in",
                        help="tts: real Qwen3-TTS inference (tiny random checkpoint, needs qwen-tts)")
    args = parser.parse_args()
    global LOAD
    LOAD = args.load
    print(f"# {platform.python_version()} {platform.machine()} — {args.seconds:.0f} s per case")
    print("fps  load   ticks/s  jitter p50/p99 ms  loop CPU %  lip-sync p50/max ms  sent/replaced")
    with tempfile.TemporaryDirectory() as tmp:
        for fps in (30, 60):
            for loaded in (False, True):
                r = await run_case(fps, loaded, args.seconds, Path(tmp))
                print(f"{fps:>3}  {'cpu' if loaded else 'idle':<5} {r['rate']:>8.2f}  "
                      f"{r['jitter_p50_ms']:>7.2f} / {r['jitter_p99_ms']:<7.2f}  "
                      f"{r['cpu_pct']:>9.1f}  {r['lip_p50_ms']:>9.1f} / {r['lip_max_ms']:<7.1f}  "
                      f"{r['sent']}/{r['replaced']}")


if __name__ == "__main__":
    asyncio.run(main())
