"""Benchmark: vision capture cost and what it does to the event loop.

1. Per 1080p frame: scale to 1280 wide + JPEG encode + signature (`frames.prepare`), and — with
   `--xvfb` — an mss grab of a real 1920×1080 X display (Xvfb) before it.
2. Event-loop stall: the real `Vision` component takes a frame every 0.2 s (50× the default rate)
   from the OBS WebSocket v5 peer (in a process of its own, a 1080p picture with detail), with its
   decode + scale + encode in the component's worker process, while a 30 fps ticker, like the VTube
   Studio animator's, records how late each tick fires. Target: no tick late by more than 5 ms.
   The describer is a local stub that answers at once (the network is not what this measures).

Run:  python bench/bench_vision.py [--frames 40] [--seconds 10] [--xvfb]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import random
import shutil
import statistics
import subprocess
import sys
import time

from PIL import Image

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests"))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from turn_rig import peer_process  # noqa: E402

from aischoco.core.status import StatusBoard  # noqa: E402
from aischoco.vision.component import Vision  # noqa: E402
from aischoco.vision.frames import prepare  # noqa: E402
from aischoco.vision.sources import ObsSource  # noqa: E402

TICK_S = 1 / 30


def _frame(seed: int) -> Image.Image:
    """A 1080p picture with detail (noise bands): JPEG work like a game frame, not a flat colour."""
    rng = random.Random(seed)
    small = Image.frombytes("RGB", (192, 108), bytes(rng.randrange(256) for _ in range(192 * 108 * 3)))
    return small.resize((1920, 1080), Image.Resampling.BICUBIC)


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q / 100 * len(ordered)))]


def measure_prepare(frames: int) -> list[float]:
    pictures = [_frame(i) for i in range(4)]
    took = []
    for i in range(frames):
        started = time.perf_counter()
        prepare(pictures[i % 4])
        took.append((time.perf_counter() - started) * 1000)
    return took


def measure_mss(frames: int) -> list[float] | None:
    xvfb = shutil.which("Xvfb")
    if xvfb is None:
        return None
    import mss

    display = ":%d" % (80 + os.getpid() % 9)
    server = subprocess.Popen([xvfb, display, "-screen", "0", "1920x1080x24", "-nolisten", "tcp"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        time.sleep(0.5)
        os.environ["DISPLAY"] = display
        took = []
        for _ in range(frames):
            started = time.perf_counter()
            with mss.MSS() as sct:
                shot = sct.grab(sct.monitors[1])
                image = Image.frombytes("RGB", shot.size, shot.bgra, "raw", "BGRX")
            prepare(image)
            took.append((time.perf_counter() - started) * 1000)
        return took
    finally:
        os.environ.pop("DISPLAY", None)
        server.terminate()
        server.wait(5)


def _serve_obs(conn) -> None:  # type: ignore[no-untyped-def]
    from peers.obs_ws_server import ObsServer

    with ObsServer(password="bench") as obs:
        obs.scenes[obs.program] = _frame(7)
        conn.send(obs.url)
        conn.recv()


def _obs_peer():  # type: ignore[no-untyped-def]
    return peer_process(_serve_obs)


class InstantDescriber:
    usage: dict[str, int] = {}

    async def describe(self, frame: bytes) -> str:
        return f"메모 {len(frame)}"

    async def aclose(self) -> None:
        return None


async def measure_stall(seconds: float, obs_url: str, *,
                        capture: bool = True) -> tuple[list[float], dict]:
    vision = Vision(ObsSource(obs_url, "bench"), InstantDescriber(),  # type: ignore[arg-type]
                    interval_s=0.2)
    task = asyncio.create_task(vision.run(StatusBoard().register("vision", "vision")) if capture
                               else asyncio.sleep(seconds + 1))
    late: list[float] = []
    loop = asyncio.get_running_loop()
    due = loop.time() + TICK_S
    end = loop.time() + seconds
    while loop.time() < end:
        await asyncio.sleep(max(0.0, due - loop.time()))
        late.append(max(0.0, loop.time() - due) * 1000)
        due += TICK_S
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    await vision.source.aclose()
    return late, dict(vision.stats)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--frames", type=int, default=40)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--xvfb", action="store_true", help="also grab a real X display with mss")
    args = parser.parse_args()
    print(f"vision capture on Python {platform.python_version()} ({platform.machine()}, "
          f"{os.cpu_count()} CPUs)")
    prep = measure_prepare(args.frames)
    print(f"scale 1920x1080 → 1280x720 + JPEG q75 + signature: p50 {statistics.median(prep):.1f} ms, "
          f"p95 {_pct(prep, 95):.1f} ms ({args.frames} frames, off the loop in the daemon)")
    if args.xvfb:
        grabbed = measure_mss(args.frames)
        if grabbed is None:
            print("mss on Xvfb: Xvfb not installed (apt-get install xvfb)")
        else:
            print(f"mss grab of a 1920x1080 X display + the above: p50 {statistics.median(grabbed):.1f} ms, "
                  f"p95 {_pct(grabbed, 95):.1f} ms")
    with _obs_peer() as obs_url:
        idle, _ = asyncio.run(measure_stall(args.seconds, obs_url, capture=False))
        late, stats = asyncio.run(measure_stall(args.seconds, obs_url))
    worst = max(late)
    for label, values in (("alone (this machine's own jitter)", idle),
                          ("while capturing every 0.2 s", late)):
        print(f"30 fps ticker {label}: {len(values)} ticks, late p50 "
              f"{statistics.median(values):.2f} ms, p99 {_pct(values, 99):.2f} ms, "
              f"max {max(values):.2f} ms")
    print(f"frames captured {stats['captured']}, last capture+prepare {stats['capture_ms']} ms")
    print(f"target: no tick late by more than 5 ms → {'PASS' if worst <= 5 else 'FAIL'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
