"""Benchmark: the built-in avatar (/avatar) — render FPS, audio → mouth delay, frame bytes, daemon CPU.

The daemon is the real one, as a streamer runs it: `python -m aischoco run` as a subprocess in a
temporary working folder holding copies of the repository's config/ and assets/ (no .env, no
GROQ_API_KEY, CHAT_SOURCE=local with an empty stdin, VTS_ENABLED=false, TTS_ENGINE=remote, the audio
output AUDIO_OUTPUT_DEVICE=file:out.wav, which writes every block in real time). The voice is a TTS
peer (tests/peers/speech_server.py `SpeechServer`, in a process of its own) whose audio, for any
sentence, is a pulse train: 6 speech-like bursts (200–320 ms of a 140–220 Hz voiced tone with six
harmonics, 15 ms attack, 40 ms release, RMS -18 dBFS while voiced (--level-db), about a TTS voice's
loudness), each followed by 480–780 ms of silence, every length a whole 20 ms audio block, so each
burst starts on the first sample of a block. The bench makes the daemon speak through the set-up page's own
"말해 보기" endpoint (POST /api/avatar/try {"say": true}: TTS → the audio output, whose taps feed the
animator's lip-sync). Chromium (/usr/bin/chromium, headless, playwright; no browser is downloaded)
shows http://127.0.0.1:PORT/avatar at 1920×1080, device scale 1. There is no GPU here: every figure
is a software-rendering figure. Two launch configurations:
  "swiftshader": --enable-unsafe-swiftshader --use-angle=swiftshader (Chromium's GPU process and
                 WebGL emulated on the CPU by SwiftShader; the shape of OBS's GPU-accelerated CEF)
  "software":    the same plus --disable-gpu (software compositing; WebGL still via SwiftShader)

1. Render FPS — requestAnimationFrame callbacks of the page's own loop (`__avatarDebug.frames`) per
   second of `performance.now()` over --window s (5 s; --quick 2 s), idle and while the avatar
   talks; also the 95th percentile of the frame interval and the frames that took > 25 ms.
   AVATAR=png (the shipped set in assets/avatar/) and AVATAR=vrm (tests/vrm_fixture.make_vrm(…,
   "1.0"), the generated box figure). Headless Chromium's frame clock is 60 Hz: 60 is the ceiling.
2. Audio → mouth on screen. Both ends on one clock, CLOCK_MONOTONIC:
   - the daemon end: the daemon is started through this file (`--probe-daemon FILE`, which adds one
     block tap to the AudioOutput — after the animator's own — and then runs the unchanged
     `aischoco.cli.main(["run"])`). The tap gets every block with `heard_at` (time.monotonic(), the
     time the file sink writes the block: "the block reaches the output"); for the first block of
     each burst (audible after >= 150 ms of silence) it writes heard_at to FILE. Both processes read
     the same system-wide monotonic clock.
   - the page end: an init script wraps `requestAnimationFrame`; after each of the page's frames it
     reads `__avatarDebug.shown` (PNG: "<emotion>/<slot>") and records every switch between a
     closed and an open slot at `__avatarDebug.changedAt` (the performance.now() at which the
     renderer switched the image, inside the frame that draws it); for VRM it reads
     `__vrmDebug.expressionWeights().aa` after the frame rendered and records it crossing 0.30
     (the PNG page's open threshold; back below 0.15) at that performance.now().
     Page time → monotonic: 40 round trips `page.evaluate(performance.now())` from this process,
     keeping the one with the shortest round trip (offset error <= half of it, printed); the
     wall-clock mapping (performance.timeOrigin + now vs time.time()) is printed as a check.
   Delay = the page's switch to open − heard_at of the burst's first block; counted only when the
   mouth was shown closed at the burst's start, matched to the first open before the next burst.
   It includes, in order: the lip-sync's attack on a real-level voice (a level counts once the
   animator's tick reaches the end of its 10 ms window; with config/pose_mapping.json's gain 5 and
   attack 30 ms the mouth passes 0.30 after 40 ms of a -18 dBFS burst, 20 ms at -12 dBFS), waiting
   for the next tick (VTS_FPS), JSON + the WebSocket, waiting for the page's next frame, the page's
   thresholds. The table splits it at the feed: the page also notes each frame whose pose.mouth
   rises above 0.30, with the frame's `t` (the daemon's time.time() at the tick, ms resolution) and
   when it arrived. "+ next frame" adds the time to the start of the following frame (by then the
   switched frame has been composited): an upper bound for "on the screen" of a display; a real
   monitor and OBS add their own scan-out. Target (issue 31): p95 < 100 ms. The other processes'
   CPU while it ran is printed: on a busy machine the page's frames and the tick come late.
3. Bytes per parameter frame — Python WebSocket clients on WS /ws/params and /ws/params?avatar=1
   during the idle and the talking windows: the JSON text's UTF-8 length (the payload; with
   permessage-deflate the wire carries less). The contract's budget is < 5 KB a frame.
4. Daemon CPU the avatar feed adds — CPU seconds (user + system, psutil) of the daemon process per
   wall second over --cpu-window s (12 s; --quick 3 s) after 2 s of warm-up, idle (nobody talks),
   at VTS_FPS=30 and 60, each in a fresh daemon: AVATAR=off (no ticker: VTube Studio is off);
   AVATAR=png with nobody on /avatar (the ticker runs, no JSON); AVATAR=png with one /avatar page
   ("software" Chromium) connected. The difference with AVATAR=off is what the avatar adds; the
   page's own CPU (all Chromium processes) and the other processes' CPU (the machine's busy time
   minus this bench's process tree) are printed alongside (all share the same 2 cores here).

Run:  python bench/bench_avatar.py [--quick] [--pulses 40] [--vrm-pulses 16] [--window 5]
                                   [--cpu-window 12] [--level-db -18] [--show-log]
--quick (< 60 s): VTS_FPS=30 only for the page figures, "swiftshader" only, 6 PNG / 4 VRM bursts,
2 s FPS windows, 3 s CPU windows (psutil counts 10 ms ticks: ±0.3 % of a core), AVATAR=off once
(it runs no ticker), "AVATAR=png + page" at 30 from the PNG daemon, no "AVATAR=png, no page" row.
Needs /usr/bin/chromium and playwright-python. Only 127.0.0.1 is contacted. Exits 0.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import math
import os
import platform
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
TESTS = str(ROOT / "tests")  # the speech peer and the VRM generator (not on the daemon's path)

CHROMIUM = "/usr/bin/chromium"
BASE_ARGS = ["--no-sandbox", "--disable-quic", "--no-first-run", "--disable-background-networking",
             "--disable-component-update", "--disable-sync"]
GL_ARGS = ["--enable-unsafe-swiftshader", "--use-angle=swiftshader"]
BROWSERS = {"swiftshader": BASE_ARGS + GL_ARGS, "software": BASE_ARGS + GL_ARGS + ["--disable-gpu"]}
VIEWPORT = {"width": 1920, "height": 1080}

RATE = 24_000
BLOCK = RATE // 50  # AUDIO_BLOCK_MS=20: the file sink's block
BURSTS = 6  # per sentence
LEVEL_DB = -18.0  # RMS while voiced (0.126), about a TTS voice's loudness
ONSET_GAP_S = 0.15  # an audible block after this much silence starts a burst
OPEN_ABOVE, CLOSE_BELOW = 0.30, 0.15  # avatar-png.js's thresholds, used for VRM's `aa` too
TARGET_P95_MS = 100.0
TARGET_FPS = 60
FRAME_BUDGET_BYTES = 5 * 1024
LONG_FRAME_MS = 25.0


# --- the voice: a pulse train for every sentence --------------------------------------------------

def pulse_train(seed: int = 31, level_db: float = LEVEL_DB) -> np.ndarray:
    """BURSTS speech-like bursts with silence between, every part a whole number of blocks."""
    rng = np.random.default_rng(seed)
    parts = [np.zeros(5 * BLOCK, dtype=np.float32)]  # 100 ms lead
    for _ in range(BURSTS):
        n = BLOCK * int(rng.integers(10, 17))  # 200..320 ms
        t = np.arange(n) / RATE
        f0 = float(rng.uniform(140, 220))
        voiced = sum(np.sin(2 * np.pi * f0 * k * t + k) / k for k in range(1, 7))
        voiced /= np.sqrt(np.mean(np.square(voiced)))
        env = np.ones(n)
        attack, release = int(0.015 * RATE), int(0.040 * RATE)
        env[:attack] = 0.5 - 0.5 * np.cos(np.pi * np.arange(attack) / attack)
        env[-release:] = 0.5 + 0.5 * np.cos(np.pi * np.arange(release) / release)
        parts.append((voiced * env * 10 ** (level_db / 20)).astype(np.float32))
        parts.append(np.zeros(BLOCK * int(rng.integers(24, 40)), dtype=np.float32))  # 480..780 ms
    return np.concatenate(parts)


def serve_speech(level_db: float) -> int:
    """`--serve-speech`: the TTS peer, its voice replaced by the pulse train (this process only)."""
    sys.path.insert(0, TESTS)
    import peers.speech_server as speech

    pcm = (np.clip(pulse_train(level_db=level_db), -1, 1) * 32767).round().astype("<i2").tobytes()
    speech.speech_pcm = lambda text, sample_rate=RATE, ms_per_char=0: pcm  # type: ignore[assignment]
    stop = False

    def on_signal(*_: object) -> None:
        nonlocal stop
        stop = True

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    with speech.SpeechServer(default=speech.Ok(first_byte_ms=0, chunk_ms=40)) as server:
        print(f"listening on {server.base_url}", flush=True)
        while not stop:
            time.sleep(0.1)
    return 0


# --- the daemon end of the delay: one more audio tap -----------------------------------------------

def probe_daemon(path: str) -> int:
    """`--probe-daemon FILE`: the real daemon, plus a tap writing each burst's first block's
    heard_at (time.monotonic()) to FILE; then `aischoco run`, unchanged."""
    from aischoco.audio.output import AudioOutput
    from aischoco.cli.main import main as cli_main

    out = open(path, "a", buffering=1, encoding="utf-8")  # noqa: SIM115 - lives as long as the daemon
    last_loud = -math.inf

    def tap(block: np.ndarray, rate: int, heard_at: float) -> None:
        nonlocal last_loud
        samples = block.reshape(-1) if block.ndim == 1 else block.mean(axis=1)
        loud = np.flatnonzero(np.abs(samples) > 1e-3)
        if loud.size == 0:
            return
        first = heard_at + loud[0] / rate
        if first - last_loud > ONSET_GAP_S:
            out.write(f"{heard_at!r} {int(loud[0])} {rate}\n")
        last_loud = heard_at + loud[-1] / rate

    add_tap = AudioOutput.add_tap
    added: set[int] = set()

    def add_tap_then_probe(self: AudioOutput, t: Any) -> None:
        add_tap(self, t)  # the animator's lip-sync first: the probe never delays it
        if id(self) not in added:
            added.add(id(self))
            add_tap(self, tap)

    AudioOutput.add_tap = add_tap_then_probe  # type: ignore[method-assign]
    return cli_main(["run"])


# --- the daemon, as a subprocess ------------------------------------------------------------------

def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Daemon:
    url: str
    pid: int
    workdir: Path
    onsets_path: Path | None

    def onsets(self) -> list[tuple[float, int, int]]:
        """(heard_at of the burst's first block, offset of its first audible sample, rate)."""
        if self.onsets_path is None or not self.onsets_path.exists():
            return []
        rows = []
        for line in self.onsets_path.read_text(encoding="utf-8").splitlines():
            parts = line.split()
            if len(parts) == 3:
                rows.append((float(parts[0]), int(parts[1]), int(parts[2])))
        return rows


@contextlib.contextmanager
def daemon(root: Path, name: str, *, avatar: str, fps: int, tts_url: str, probe: bool,
           avatar_path: str | None = None, show_log: bool = False) -> Iterator[Daemon]:
    from aischoco.settings.model import Settings

    workdir = root / name
    workdir.mkdir()
    for folder in ("config", "assets"):
        shutil.copytree(ROOT / folder, workdir / folder)
    port = free_port()
    keys = {n.upper() for n in Settings.model_fields}
    env = {k: v for k, v in os.environ.items() if k not in keys}
    env.update(CHAT_SOURCE="local", VTS_ENABLED="false", VTS_FPS=str(fps), AVATAR=avatar,
               TTS_ENGINE="remote", TTS_REMOTE_URL=tts_url, AUDIO_OUTPUT_DEVICE="file:out.wav",
               OVERLAY_HOST="127.0.0.1", OVERLAY_PORT=str(port), PYTHONUNBUFFERED="1")
    if avatar_path is not None:
        env["AVATAR_PATH"] = avatar_path
    onsets = workdir / "onsets.txt" if probe else None
    cmd = ([sys.executable, str(Path(__file__).resolve()), "--probe-daemon", str(onsets)] if probe
           else [sys.executable, "-m", "aischoco", "run"])
    log = open(workdir / "daemon.log", "wb")  # noqa: SIM115 - a file, never a pipe nobody reads
    proc = subprocess.Popen(cmd, cwd=workdir, env=env, stdin=subprocess.DEVNULL,
                            stdout=None if show_log else log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        import httpx

        deadline = time.monotonic() + 30
        states: dict[str, str] = {}
        while True:
            if proc.poll() is not None:
                raise SystemExit(f"daemon exited early (code {proc.returncode}); see --show-log")
            with contextlib.suppress(httpx.HTTPError, ValueError):
                status = httpx.get(f"{url}/api/status", timeout=1).json()
                rows = (status if isinstance(status, list)
                        else status.get("components", status.get("items", [])))
                states = {r.get("name"): r.get("state") for r in rows}
                want = ["avatar", "overlay", "tts", "audio"]
                if all(states.get(n) in ("running", "off") for n in want):
                    break
            if time.monotonic() > deadline:
                raise SystemExit(f"daemon not ready within 30 s: {states!r}")
            time.sleep(0.1)
        yield Daemon(url, proc.pid, workdir, onsets)
    finally:
        _stop(proc)
        log.close()


def _stop(proc: subprocess.Popen[str] | subprocess.Popen[bytes]) -> None:
    """SIGTERM, 10 s for a clean exit, then kill."""
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


@contextlib.contextmanager
def speech_peer(level_db: float) -> Iterator[str]:
    proc = subprocess.Popen([sys.executable, str(Path(__file__).resolve()), "--serve-speech",
                             "--level-db", str(level_db)],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                            encoding="utf-8")
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        if not line.startswith("listening on "):
            raise SystemExit(f"speech peer did not start: {line!r}")
        yield line.split()[-1]
    finally:
        _stop(proc)


# --- the page -----------------------------------------------------------------------------------

# Runs before the page's scripts: wraps requestAnimationFrame to look after each of the page's
# frames, and WebSocket to note which feed the page reads.
INIT_JS = """(() => {
  const B = window.__bench = {timing: false, intervals: [], lastTs: 0, trans: [], pending: [],
                              mouth: null, aaOpen: null, ws: [], wsKeys: null};
  const raf = window.requestAnimationFrame.bind(window);
  window.requestAnimationFrame = (cb) => raf((ts) => { cb(ts); after(ts); });
  function after(ts) {
    for (const t of B.pending) t.next = ts;  // the frame after the switch has begun
    B.pending.length = 0;
    if (B.timing) { if (B.lastTs) B.intervals.push(ts - B.lastTs); B.lastTs = ts; }
    const d = window.__avatarDebug;
    if (d && d.mode === 'png' && d.shown) {
      const open = (d.shown.split('/')[1] || '').startsWith('open');
      if (open !== B.mouth) {
        const t = {open, at: d.changedAt, raf: ts, next: null, shown: d.shown};
        B.trans.push(t); B.pending.push(t); B.mouth = open;
      }
    }
    const v = window.__vrmDebug;
    if (d && d.mode === 'vrm' && v) {
      const aa = v.expressionWeights().aa;
      const open = B.aaOpen ? aa >= CLOSE_BELOW : aa > OPEN_ABOVE;
      if (open !== B.aaOpen) {
        const t = {open, at: performance.now(), raf: ts, next: null, shown: 'aa=' + aa.toFixed(3)};
        B.trans.push(t); B.pending.push(t); B.aaOpen = open;
      }
    }
  }
  // The feed as the page gets it: each frame whose pose.mouth rises above the open threshold,
  // with the daemon's publish time t (time.time()) and when the page received it.
  B.rises = []; B.lastMouth = null;
  const WS = window.WebSocket;
  window.WebSocket = class extends WS {
    constructor(...args) {
      super(...args);
      B.ws.push(String(args[0]));
      this.addEventListener('message', (e) => {
        const recv = performance.now();
        let f;
        try { f = JSON.parse(e.data); } catch (_) { return; }
        if (B.wsKeys === null && f) B.wsKeys = Object.keys(f);
        const m = f && f.pose ? f.pose.mouth : undefined;
        if (typeof m !== 'number') return;
        if (B.lastMouth !== null && B.lastMouth <= OPEN_ABOVE && m > OPEN_ABOVE) {
          B.rises.push({recv, t: f.t, mouth: m});
        }
        B.lastMouth = m;
      });
    }
  };
})();""".replace("OPEN_ABOVE", str(OPEN_ABOVE)).replace("CLOSE_BELOW", str(CLOSE_BELOW))


@dataclass
class Page:
    page: Any
    context: Any
    mode: str
    errors: list[str] = field(default_factory=list)


async def open_page(browser: Any, url: str, mode: str) -> Page:
    context = await browser.new_context(viewport=VIEWPORT, device_scale_factor=1)
    await context.add_init_script(INIT_JS)
    page = await context.new_page()
    result = Page(page, context, mode)
    page.on("console", lambda m: result.errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: result.errors.append(str(e)))
    await page.goto(f"{url}/avatar")
    drawn = "__avatarDebug.shown !== ''" if mode == "png" else "!!window.__vrmDebug"
    await page.wait_for_function(
        f"window.__avatarDebug && __avatarDebug.mode === '{mode}' && ({drawn}) "
        "&& __avatarDebug.socket === 'open' && __avatarDebug.framesIn > 0", timeout=60_000)
    return result


async def clock_offset(page: Any, rounds: int = 40) -> tuple[float, float, float]:
    """(page performance.now() ms → monotonic s offset, its error bound ms, the wall-clock
    mapping's difference from it ms)."""
    best: tuple[float, float, float] | None = None
    for _ in range(rounds):
        t1 = time.monotonic()
        now_ms, origin_ms = await page.evaluate("[performance.now(), performance.timeOrigin]")
        t2 = time.monotonic()
        wall_minus_mono = time.time() - time.monotonic()
        rtt = t2 - t1
        offset = (t1 + t2) / 2 - now_ms / 1000
        wall_offset = origin_ms / 1000 - wall_minus_mono  # timeOrigin + now → wall → monotonic
        if best is None or rtt < best[1]:
            best = (offset, rtt, wall_offset)
    assert best is not None
    offset, rtt, wall_offset = best
    return offset, rtt / 2 * 1000, (wall_offset - offset) * 1000


def wall_minus_mono(rounds: int = 20) -> float:
    """time.time() − time.monotonic(), from the tightest of a few reads (the daemon's frame `t`
    is time.time(); both processes read the same system clocks)."""
    best = (math.inf, 0.0)
    for _ in range(rounds):
        m1 = time.monotonic()
        w = time.time()
        m2 = time.monotonic()
        best = min(best, (m2 - m1, w - (m1 + m2) / 2))
    return best[1]


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return math.nan
    rank = (len(ordered) - 1) * q / 100
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


class Load:
    """CPU of everything else on the machine over a window: all cores' busy time minus this
    bench's process tree (the daemon, Chromium, the speech peer, playwright's driver)."""

    def __init__(self) -> None:
        self.m0, self.o0, self.w0 = self._machine(), self._ours(), time.monotonic()

    @staticmethod
    def _machine() -> float:
        import psutil

        m = psutil.cpu_times()
        return sum(m) - m.idle - getattr(m, "iowait", 0.0) - getattr(m, "steal", 0.0)

    @staticmethod
    def _ours() -> float:
        import psutil

        me = psutil.Process()
        return cpu_seconds([me, *me.children(recursive=True)])

    def others(self) -> float:
        """Other processes' CPU seconds per wall second (1.0 = one core)."""
        wall = time.monotonic() - self.w0
        return max(0.0, (self._machine() - self.m0) - (self._ours() - self.o0)) / wall


@dataclass
class Fps:
    fps: float
    p95_interval_ms: float
    long_frames: int
    frames: int
    others: float  # other processes' CPU meanwhile, cores


async def measure_fps(page: Any, seconds: float) -> Fps:
    await page.evaluate("() => { __bench.intervals = []; __bench.lastTs = 0; __bench.timing = true; }")
    load = Load()
    f0, t0 = await page.evaluate("[__avatarDebug.frames, performance.now()]")
    await asyncio.sleep(seconds)
    f1, t1, intervals = await page.evaluate(
        "[__avatarDebug.frames, performance.now(), __bench.intervals]")
    others = load.others()
    await page.evaluate("() => { __bench.timing = false; }")
    frames = int(f1 - f0)
    return Fps(frames * 1000 / (t1 - t0), pct(intervals, 95),
               sum(1 for i in intervals if i > LONG_FRAME_MS), frames, others)


# --- talking ------------------------------------------------------------------------------------

class Talker:
    """POST /api/avatar/try {"say": true} again and again: each is one pulse-train sentence
    through TTS and the audio output (returns once it was heard)."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.stop = False
        self.sentences = 0
        self.problems: list[str] = []
        self.task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self.stop = False
        self.task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        import httpx

        async with httpx.AsyncClient(timeout=60) as client:
            while not self.stop:
                res = await client.post(f"{self.url}/api/avatar/try", json={"say": True})
                body = res.json() if res.headers.get("content-type", "").startswith(
                    "application/json") else {}
                if res.status_code != 200 or not body.get("spoken"):
                    self.problems.append(f"{res.status_code} {body}")
                    await asyncio.sleep(0.5)
                self.sentences += 1

    async def finish(self) -> None:
        self.stop = True
        if self.task is not None:
            await self.task
            self.task = None


async def wait_onsets(d: Daemon, count: int, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while len(d.onsets()) < count and time.monotonic() < deadline:
        await asyncio.sleep(0.05)


# --- frame bytes ----------------------------------------------------------------------------------

@dataclass
class FrameBytes:
    sizes: dict[str, list[int]] = field(default_factory=lambda: {"plain": [], "avatar": []})
    seconds: float = 0.0


@contextlib.asynccontextmanager
async def collect_frames(url: str) -> AsyncIterator[FrameBytes]:
    """Both feeds, read by plain WebSocket clients (no Origin: a local renderer)."""
    from websockets.asyncio.client import connect

    result = FrameBytes()
    ws_url = url.replace("http://", "ws://")

    async def read(kind: str, path: str) -> None:
        async with connect(ws_url + path, compression=None, max_size=None) as ws:
            async for message in ws:
                data = message.encode("utf-8") if isinstance(message, str) else message
                result.sizes[kind].append(len(data))

    tasks = [asyncio.create_task(read("plain", "/ws/params")),
             asyncio.create_task(read("avatar", "/ws/params?avatar=1"))]
    started = time.monotonic()
    try:
        yield result
    finally:
        result.seconds = time.monotonic() - started
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task


# --- the delay ------------------------------------------------------------------------------------

@dataclass
class Delay:
    delays_ms: list[float] = field(default_factory=list)
    next_ms: list[float] = field(default_factory=list)
    bursts: int = 0
    not_closed: int = 0
    missed: int = 0
    stray_opens: int = 0
    offsets_ms: list[float] = field(default_factory=list)
    # the same delay in three parts, from the frame that first carried mouth > 0.30:
    parts_ms: dict[str, list[float]] = field(default_factory=lambda: {
        "heard → frame published": [], "published → page got it": [], "page got it → switched": []})
    clock_error_ms: float = 0.0
    wall_check_ms: float = 0.0
    drift_ms: float = 0.0
    others: float = 0.0  # other processes' CPU while it ran, cores


def match_delays(onsets: list[tuple[float, int, int]], trans: list[dict[str, Any]],
                 rises: list[dict[str, Any]], offset_s: float, wall_minus_mono: float,
                 after: float, bursts: int) -> Delay:
    """The first `bursts` bursts after `after`: each one's heard_at → the page's first switch to
    open before the next burst. Stray: other switches to open among them (none expected)."""
    result = Delay()
    feed = sorted((r["t"] - wall_minus_mono, r["recv"] / 1000 + offset_s) for r in rises)
    events = sorted((t["at"] / 1000 + offset_s, bool(t["open"]),
                     (t["next"] / 1000 + offset_s) if t["next"] is not None else None)
                    for t in trans)
    everything = [o for o in onsets if o[0] > after]
    starts = everything[:bursts]
    end = everything[bursts][0] if len(everything) > bursts else math.inf
    used: set[int] = set()
    for i, (heard_at, first_sample, rate) in enumerate(starts):
        result.bursts += 1
        result.offsets_ms.append(1000 * first_sample / rate)
        until = everything[i + 1][0] if i + 1 < len(everything) else math.inf
        before = [e for e in events if e[0] <= heard_at]
        if before and before[-1][1]:
            result.not_closed += 1
            continue
        hit = next(((j, e) for j, e in enumerate(events) if e[1] and heard_at < e[0] < until),
                   None)
        if hit is None:
            result.missed += 1
            continue
        j, (at, _, nxt) = hit
        used.add(j)
        result.delays_ms.append(1000 * (at - heard_at))
        if nxt is not None:
            result.next_ms.append(1000 * (nxt - heard_at))
        rise = next(((sent, got) for sent, got in feed if heard_at < sent < until), None)
        if rise is not None:
            sent, got = rise
            for name, value in zip(result.parts_ms, (sent - heard_at, got - sent, at - got),
                                   strict=True):
                result.parts_ms[name].append(1000 * value)
    first = starts[0][0] if starts else math.inf
    result.stray_opens = sum(1 for j, e in enumerate(events)
                             if e[1] and first < e[0] < end and j not in used)
    return result


async def measure_delay(page: Page, d: Daemon, talker: Talker, bursts: int,
                        since: float, offset: tuple[float, float, float]) -> Delay:
    """Keep talking until `bursts` bursts after `since` were heard, then match them."""
    load = Load()
    before = len([o for o in d.onsets() if o[0] <= since])
    await wait_onsets(d, before + bursts, timeout_s=bursts * 2.0 + 20)
    await talker.finish()
    await asyncio.sleep(0.8)  # the last burst's mouth lands on the page
    trans, rises = await page.page.evaluate("[__bench.trans, __bench.rises]")
    after = await clock_offset(page.page)
    result = match_delays(d.onsets(), trans, rises, offset[0], wall_minus_mono(), since, bursts)
    result.clock_error_ms = max(offset[1], after[1])
    result.wall_check_ms = offset[2]
    result.drift_ms = (after[0] - offset[0]) * 1000
    result.others = load.others()
    return result


# --- CPU ------------------------------------------------------------------------------------------

def chromium_processes() -> list[Any]:
    import psutil

    found = []
    for child in psutil.Process().children(recursive=True):
        with contextlib.suppress(psutil.Error):
            if "chrom" in child.name().lower():
                found.append(child)
    return found


def cpu_seconds(procs: list[Any]) -> float:
    import psutil

    total = 0.0
    for p in procs:
        with contextlib.suppress(psutil.Error):
            t = p.cpu_times()
            total += t.user + t.system
    return total


@dataclass
class Cpu:
    daemon: float  # CPU s per wall s
    chromium: float | None
    others: float  # other processes, cores
    steal: float


async def measure_cpu(pid: int, seconds: float, with_page: bool) -> Cpu:
    import psutil

    daemon_proc = psutil.Process(pid)
    chrome = chromium_processes() if with_page else []
    m0 = psutil.cpu_times()
    load = Load()
    d0, c0, w0 = cpu_seconds([daemon_proc]), cpu_seconds(chrome), time.monotonic()
    await asyncio.sleep(seconds)
    d1, c1, w1 = cpu_seconds([daemon_proc]), cpu_seconds(chrome), time.monotonic()
    others = load.others()
    m1 = psutil.cpu_times()
    wall = w1 - w0
    total = sum(m1) - sum(m0)
    steal = getattr(m1, "steal", 0.0) - getattr(m0, "steal", 0.0)
    return Cpu((d1 - d0) / wall, (c1 - c0) / wall if with_page else None, others,
               steal / total if total else 0.0)


# --- the run --------------------------------------------------------------------------------------

@dataclass
class Results:
    fps: list[tuple[str, str, int, str, Fps]] = field(default_factory=list)  # mode, browser, vts fps, state
    delays: list[tuple[str, int, Delay]] = field(default_factory=list)
    frame_bytes: list[tuple[str, int, str, FrameBytes]] = field(default_factory=list)
    cpu: list[tuple[int, str, Cpu]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)


async def page_run(results: Results, browsers: dict[str, Any], d: Daemon, mode: str, fps: int,
                   *, window: float, bursts: int, fps_browsers: list[str],
                   cpu_window: float | None = None) -> None:
    """FPS idle/talking in every `fps_browsers` config, frame bytes, the delay (first config)."""
    for n, name in enumerate(fps_browsers):
        page = await open_page(browsers[name], d.url, mode)
        if n == 0:
            ws, keys = await page.page.evaluate("[__bench.ws, __bench.wsKeys]")
            results.notes.append(f"{mode} page reads {', '.join(u.split('127.0.0.1')[-1] for u in ws)}"
                                 f" (frame keys {keys})")
        await asyncio.sleep(0.5)  # settle after load
        offset = await clock_offset(page.page)
        since = time.monotonic()
        if n == 0:
            async with collect_frames(d.url) as idle_bytes:
                results.fps.append((mode, name, fps, "idle", await measure_fps(page.page, window)))
            results.frame_bytes.append((mode, fps, "idle", idle_bytes))
        else:
            results.fps.append((mode, name, fps, "idle", await measure_fps(page.page, window)))
        talker = Talker(d.url)
        talker.start()
        await wait_onsets(d, len(d.onsets()) + 1, timeout_s=20)
        await asyncio.sleep(0.2)
        if n == 0:
            async with collect_frames(d.url) as talk_bytes:
                results.fps.append((mode, name, fps, "talking",
                                    await measure_fps(page.page, window)))
                delay = await measure_delay(page, d, talker, bursts, since, offset)
            results.frame_bytes.append((mode, fps, "talking", talk_bytes))
            results.delays.append((mode, fps, delay))
        else:
            results.fps.append((mode, name, fps, "talking", await measure_fps(page.page, window)))
            await talker.finish()
        results.notes += [f"talk: {p}" for p in talker.problems]
        if n == 0 and cpu_window is not None:  # --quick: the "png + page" CPU row from this daemon
            await asyncio.sleep(1.0)
            results.cpu.append((fps, "AVATAR=png + /avatar page (swiftshader)",
                                await measure_cpu(d.pid, cpu_window, with_page=True)))
        results.page_errors += [f"{mode}/{name}: {e}" for e in page.errors]
        await page.context.close()


async def run(args: argparse.Namespace, root: Path) -> Results:
    from playwright.async_api import async_playwright

    sys.path.insert(0, TESTS)
    from vrm_fixture import make_vrm

    results = Results()
    quick = args.quick
    window = args.window if args.window else (2.0 if quick else 5.0)
    cpu_window = args.cpu_window if args.cpu_window else (3.0 if quick else 12.0)
    bursts = args.pulses if args.pulses else (BURSTS if quick else 40)
    vrm_bursts = args.vrm_pulses if args.vrm_pulses else (4 if quick else 16)
    configs = ["swiftshader"] if quick else ["swiftshader", "software"]
    make_vrm(root / "model.vrm", "1.0")
    with speech_peer(args.level_db) as tts_url:
        async with async_playwright() as pw:
            browsers = {name: await pw.chromium.launch(executable_path=CHROMIUM, headless=True,
                                                       args=BROWSERS[name]) for name in configs}
            # 1-3: the page figures
            for fps in ([30] if quick else [30, 60]):
                with daemon(root, f"png-{fps}", avatar="png", fps=fps, tts_url=tts_url, probe=True,
                            show_log=args.show_log) as d:
                    await page_run(results, browsers, d, "png", fps, window=window, bursts=bursts,
                                   fps_browsers=configs, cpu_window=cpu_window if quick else None)
            with daemon(root, "vrm-30", avatar="vrm", fps=30, tts_url=tts_url, probe=True,
                        avatar_path=str(root / "model.vrm"), show_log=args.show_log) as d:
                await page_run(results, browsers, d, "vrm", 30, window=window, bursts=vrm_bursts,
                               fps_browsers=configs)
            # 4: daemon CPU, idle
            cpu_browser = browsers["software" if "software" in browsers else "swiftshader"]
            cpu_name = "software" if "software" in browsers else "swiftshader"
            for fps in (30, 60):
                runs = [("off", False), ("png", False), ("png", True)]
                if quick:  # AVATAR=off runs no ticker: once; png + page at 30 came from above
                    runs = [("off", False)] if fps == 30 else [("png", True)]
                for avatar, with_page in runs:
                    with daemon(root, f"cpu-{avatar}-{with_page}-{fps}", avatar=avatar, fps=fps,
                                tts_url=tts_url, probe=False, show_log=args.show_log) as d:
                        page = await open_page(cpu_browser, d.url, "png") if with_page else None
                        await asyncio.sleep(1.0 if quick else 2.0)
                        label = (f"AVATAR={avatar}" + (f" + /avatar page ({cpu_name})" if with_page
                                                       else (", no page" if avatar != "off" else "")))
                        results.cpu.append((fps, label, await measure_cpu(d.pid, cpu_window,
                                                                          with_page)))
                        if page is not None:
                            results.page_errors += [f"cpu/{e}" for e in page.errors]
                            await page.context.close()
            for browser in browsers.values():
                await browser.close()
    return results


# --- the report -----------------------------------------------------------------------------------

def machine() -> str:
    model = ""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return (f"{platform.platform()}, {os.cpu_count()} cores{f' ({model})' if model else ''}, "
            f"Python {platform.python_version()}, Chromium via {CHROMIUM} (headless, no GPU: "
            "SwiftShader)")


def report(results: Results, args: argparse.Namespace, wall_s: float) -> None:
    print(f"machine: {machine()}")
    print()
    print("## 1. Render FPS of /avatar at 1920×1080 (requestAnimationFrame of the page's loop)")
    print("| mode | Chromium    | VTS_FPS | state   |   FPS | frame p95 ms | frames > 25 ms "
          "| other procs | verdict |")
    print("|------|-------------|---------|---------|-------|--------------|----------------"
          "|-------------|---------|")
    for mode, browser, fps, state, f in results.fps:
        verdict = ("PASS" if f.fps >= TARGET_FPS - 1 else "FAIL") if mode == "png" else "info"
        print(f"| {mode:<4} | {browser:<11} | {fps:7d} | {state:<7} | {f.fps:5.1f} | "
              f"{f.p95_interval_ms:12.1f} | {f.long_frames:5d} of {f.frames:<5d} | "
              f"{100 * f.others:9.0f} % | {verdict:<7} |")
    print(f"(target: >= {TARGET_FPS} FPS in the page; headless Chromium's frame clock is 60 Hz. "
          "VRM draws WebGL through SwiftShader on the CPU: its figure says nothing about a GPU, "
          "info only. other procs: CPU of processes that are not this bench's, % of one core)")
    print()
    print("## 2. Audio block reaches the output → mouth change on the page (ms)")
    print("| mode (switch)         | VTS_FPS | bursts |   p50 |   p95 |   max "
          "| + next frame p50 / p95 | not closed / missed / stray | other procs | verdict |")
    print("|-----------------------|---------|--------|-------|-------|-------"
          "|------------------------|-----------------------------|-------------|---------|")
    for mode, fps, dl in results.delays:
        name = "png (open slot shown)" if mode == "png" else "vrm (aa > 0.30 drawn)"
        n = len(dl.delays_ms)
        p95 = pct(dl.delays_ms, 95)
        ok = n > 0 and p95 < TARGET_P95_MS and dl.missed == 0
        verdict = ("PASS" if ok else "FAIL") if mode == "png" else "info"
        print(f"| {name:<21} | {fps:7d} | {n:2d}/{dl.bursts:<3d} | {pct(dl.delays_ms, 50):5.1f} | "
              f"{p95:5.1f} | {max(dl.delays_ms, default=math.nan):5.1f} | "
              f"{pct(dl.next_ms, 50):9.1f} / {pct(dl.next_ms, 95):6.1f}   | "
              f"{dl.not_closed:9d} / {dl.missed} / {dl.stray_opens:<9d} | "
              f"{100 * dl.others:9.0f} % | {verdict:<7} |")
    print()
    print("| the same delay in parts (p50 / p95 ms)  | "
          + " | ".join(f"{m}@{f}" for m, f, _ in results.delays) + " |")
    print("|-----------------------------------------|" + "|".join(
        "-" * 15 for _ in results.delays) + "|")
    for part in Delay().parts_ms:
        cells = [f"{pct(dl.parts_ms[part], 50):5.1f} / {pct(dl.parts_ms[part], 95):5.1f}"
                 for _, _, dl in results.delays]
        print(f"| {part:<39} | " + " | ".join(f"{c:<13}" for c in cells) + " |")
    print("(heard → frame published: the lip-sync's attack + waiting for the animator's tick; "
          "published → page got it: JSON, the WebSocket, the page's main thread; page got it → "
          "switched: waiting for the page's next frame + its thresholds)")
    for mode, fps, dl in results.delays:
        print(f"  {mode}@{fps}: clock offset error <= {dl.clock_error_ms:.2f} ms (half the "
              f"shortest round trip), drift over the run {dl.drift_ms:+.2f} ms, the wall-clock "
              f"mapping differs by {dl.wall_check_ms:+.2f} ms; first audible sample "
              f"{max(dl.offsets_ms, default=0):.2f} ms into its block at most")
    print(f"(bursts: RMS {args.level_db:.0f} dBFS while voiced, 15 ms attack; target: "
          f"png p95 < {TARGET_P95_MS:.0f} ms; VRM at SwiftShader's frame rate: info only)")
    print()
    print("## 3. Bytes per parameter frame (JSON payload, UTF-8)")
    print("| daemon | VTS_FPS | state   | feed                | frames | frames/s | mean B | max B "
          "| verdict |")
    print("|--------|---------|---------|---------------------|--------|----------|--------|-------"
          "|---------|")
    for mode, fps, state, fb in results.frame_bytes:
        for kind, path in (("plain", "/ws/params"), ("avatar", "/ws/params?avatar=1")):
            sizes = fb.sizes[kind]
            if not sizes:
                print(f"| {mode:<6} | {fps:7d} | {state:<7} | {path:<19} | {0:6d} |        - |      - "
                      "|     - | FAIL    |")
                continue
            ok = max(sizes) < FRAME_BUDGET_BYTES
            print(f"| {mode:<6} | {fps:7d} | {state:<7} | {path:<19} | {len(sizes):6d} | "
                  f"{len(sizes) / fb.seconds:8.1f} | {statistics.fmean(sizes):6.0f} | "
                  f"{max(sizes):5d} | {'PASS' if ok else 'FAIL':<7} |")
    print(f"(budget < {FRAME_BUDGET_BYTES} B a frame; with permessage-deflate the wire carries less)")
    print()
    cpu_window = args.cpu_window or (3.0 if args.quick else 12.0)
    print(f"## 4. Daemon CPU, idle, {cpu_window:.0f} s each (daemon process CPU s per wall s = "
          "% of one core)")
    print("| VTS_FPS | daemon                                   | daemon CPU | added vs off "
          "| Chromium CPU | other procs | steal |")
    print("|---------|------------------------------------------|------------|--------------"
          "|--------------|-------------|-------|")
    base = {fps: c.daemon for fps, label, c in results.cpu if label == "AVATAR=off"}
    for fps, label, c in sorted(results.cpu, key=lambda r: (r[0], r[1] != "AVATAR=off")):
        off = base.get(fps, next(iter(base.values()), None))  # --quick: one AVATAR=off run
        added = (f"{100 * (c.daemon - off):+10.2f} %" if off is not None and label != "AVATAR=off"
                 else f"{'-':>12}")
        chrome = f"{100 * c.chromium:10.1f} %" if c.chromium is not None else f"{'-':>12}"
        print(f"| {fps:7d} | {label:<40} | {100 * c.daemon:8.2f} % | {added} | {chrome} | "
              f"{100 * c.others:9.0f} % | {100 * c.steal:3.0f} % |")
    print("(other procs: CPU of processes that are not this bench's, % of one core; steal: of all "
          "cores' time. AVATAR=off runs no ticker, so VTS_FPS does not matter to it: --quick "
          "measures it once)")
    print()
    for note in results.notes:
        print(f"note: {note}")
    if results.page_errors:
        print(f"page console errors ({len(results.page_errors)}):")
        for e in results.page_errors[:10]:
            print(f"  {e}")
    else:
        print("page console errors: none")
    print(f"(bench wall time {wall_s:.0f} s)")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="a shorter run (< 60 s)")
    parser.add_argument("--pulses", type=int, default=0, help="PNG bursts per VTS_FPS (40)")
    parser.add_argument("--vrm-pulses", type=int, default=0, help="VRM bursts (16)")
    parser.add_argument("--window", type=float, default=0, help="FPS window, s (5)")
    parser.add_argument("--cpu-window", type=float, default=0, help="CPU window, s (12)")
    parser.add_argument("--level-db", type=float, default=LEVEL_DB,
                        help="the bursts' RMS while voiced, dBFS (-18)")
    parser.add_argument("--show-log", action="store_true", help="show the daemons' logs")
    parser.add_argument("--probe-daemon", metavar="FILE", help=argparse.SUPPRESS)
    parser.add_argument("--serve-speech", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.probe_daemon:
        return probe_daemon(args.probe_daemon)
    if args.serve_speech:
        return serve_speech(args.level_db)
    if importlib_missing := [m for m in ("playwright", "psutil", "websockets", "httpx")
                             if not _importable(m)]:
        print(f"skipped: not installed: {', '.join(importlib_missing)} "
              "(pip install -r requirements-dev.txt)")
        return 0
    if not Path(CHROMIUM).exists():
        print(f"skipped: {CHROMIUM} is missing (apt-get install chromium); no browser is downloaded")
        return 0
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="bench-avatar-") as tmp:
        results = asyncio.run(run(args, Path(tmp)))
    report(results, args, time.monotonic() - started)
    return 0


def _importable(name: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(name) is not None


if __name__ == "__main__":
    sys.exit(main())
