"""Soak test: the real daemon (aischoco.compose.app.build, in process) for --minutes under a realistic
chat mix with faults injected on a schedule; a row of resource/turn figures every minute.

    chat mix ──controls.chat──► daemon (app.build + supervisor.run, this process) ──► file: sink
                                   ├─► LLM peer     (tests/peers/openai_server.py, own process)
                                   └─► speech peer  (tests/peers/speech_server.py, own process)

Traffic: chat at 2–5 msgs/s with bursts up to 20/s, donations, skips, pauses (injected through
Controls.chat), while the CHZZK source stays connected to the Node Socket.IO 2.x peer and the
animator to a fake VTube Studio. Faults, in rotation, every --fault-every seconds, each held for
--fault-s seconds: LLM 429, 503 and timeout (answers slower than GROQ_TIMEOUT_S); TTS 503 and a
stall (first byte later than TTS_REMOTE_TIMEOUT_S); CHZZK socket drop, and expired access token
then drop (the daemon refreshes); VTube Studio quits and comes back on its port; audio output
lost (the file player's thread stops: AudioOutput's watch sees it and reopens).
After each fault: recovered = every component that was `running` before is `running` again and a
turn has been answered (outcome ok) since the fault ended, within --recover-s.

Goals (PASS/FAIL at the end): the headline, RSS slope after the warm-up < 1 MB/hour (least squares
over the minute rows; the second half's slope is printed beside it); RSS growth < 10 MB after the
warm-up; no growth in fds / asyncio tasks / threads (settled end sample vs the warm-up sample,
small tolerance); every fault recovered; zero tracebacks (log records with exc_info or a
"Traceback" text) in the log.

Each row also splits the memory: SQLite's own heap, glibc malloc in use / free but kept, Python's
small-object arenas / live bytes. Finding what grows (issue 37): --tracemalloc N compares
snapshots every N minutes (top file:line sites, aischoco modules, object types); --chat-scale and
a short --fault-every get there sooner; --clients keeps an overlay SSE and an avatar websocket
connected as OBS would; --malloc-trim S tells allocator retention from a structure.
--memory-seed N starts from a memory file of three earlier streams (N messages) instead of a new
one: what a streamer's daemon opens, and SQLite's page cache then fills during the warm-up.

Run:  python bench/soak.py [--minutes 30 | --hours 3] [--fault-every 180] [--out soak.json]
      python bench/soak.py --hours 3 --fault-every 180 --warmup-minutes 5 --memory-seed 50000
      python bench/soak.py --minutes 3 --fault-every 25 --warmup-minutes 1   (a quick check)
      python bench/soak.py --minutes 25 --chat-scale 2 --fault-every 40 --tracemalloc 5
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ctypes
import ctypes.util
import gc
import io
import json
import logging
import multiprocessing
import os
import random
import re
import sys
import tempfile
import threading
import time
import tracemalloc
from array import array
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import psutil

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from aischoco.compose import app  # noqa: E402
from aischoco.core.heap import freeze_after_first_starts, limit_malloc_arenas  # noqa: E402
from aischoco.core.messages import ChatMessage, Kind  # noqa: E402
from aischoco.core.metrics import TurnMarks  # noqa: E402
from aischoco.core.status import StatusBoard  # noqa: E402
from aischoco.settings.model import Settings  # noqa: E402
from peers import free_port  # noqa: E402
from peers.openai_server import (Echo, OpenAIServer, RateLimited, Recorded, Reply,  # noqa: E402
                                 ServerError, Slow)
from peers.speech_server import Ok, SpeechServer  # noqa: E402
from peers.speech_server import Status as SpeechStatus  # noqa: E402
from peers.vts_server import FakeVts  # noqa: E402

from aischoco.chat.chzzk_auth import TokenSet, save_tokens  # noqa: E402

GROQ_TIMEOUT_S = 3.0
TTS_TIMEOUT_S = 3.0  # first byte of a sentence; the tts_stall fault answers later than this
CHZZK_CHANNEL = "soak-channel"
LLM_TTFT_S = 0.3
FAULTS = ("llm_429", "chzzk_drop", "llm_5xx", "tts_503", "vts_restart", "llm_timeout",
          "chzzk_expired_token", "tts_stall", "audio_lost")
NOT_COVERED = {
    "llm/tts peer process restart": "those peers keep running; their faults are scripted answers",
}
# Allowed end-vs-warm-up difference for "no growth" (in-flight turns come and go).
TOLERANCE = {"fds": 4, "tasks": 6, "threads": 2}
RSS_LIMIT_MB = 10.0
RSS_SLOPE_LIMIT = 1.0  # MB/hour after the warm-up
USERS = [f"{name}{n}" for name in ("민수", "지현", "하늘", "도윤", "서연", "유진", "태호", "수아")
         for n in range(1, 6)]
LINES = ["안녕 초코야!", "오늘 뭐 해?", "방금 그거 대박", "ㅋㅋㅋㅋ", "노래 불러 줘",
         "저녁 뭐 먹었어?", "게임 언제 해?", "초코야 좋아해", "내일도 방송해?", "이거 어떻게 깼어?"]


# --- peers, each in its own process, with a control pipe for faults --------------------------------

def _llm_behaviour(mode: str) -> Any:
    return {"normal": Slow(LLM_TTFT_S, Echo()),
            "llm_429": RateLimited(retry_after=1.0, try_again_in="1s"),
            "llm_5xx": ServerError(503),
            "llm_timeout": Slow(GROQ_TIMEOUT_S + 2, Echo())}[mode]


def _tts_behaviour(mode: str) -> Any:
    return {"normal": Ok(first_byte_ms=100), "tts_503": SpeechStatus(503, "busy"),
            "tts_stall": Ok(first_byte_ms=(TTS_TIMEOUT_S + 3) * 1000)}[mode]


class SoakLLM(OpenAIServer):
    """Echo-like answers; the memory distiller's fact-extraction requests get a facts list."""

    def _next(self, recorded: Recorded) -> Any:
        behaviour = super()._next(recorded)
        body = recorded.body if isinstance(recorded.body, dict) else {}
        text = " ".join(str(m.get("content", "")) for m in body.get("messages") or []
                        if isinstance(m, dict))
        if behaviour == _llm_behaviour("normal") and '{"facts"' in text:
            return Slow(LLM_TTFT_S, Reply({"facts": []}))
        return behaviour


def _serve(kind: str, conn: Connection) -> None:
    """Child process: serve until "stop"; any other message is a mode (normal or a fault)."""
    server: Any = (SoakLLM(default=_llm_behaviour("normal")) if kind == "llm" else
                   SpeechServer(default=_tts_behaviour("normal"), ms_per_char=40))
    with server:
        conn.send(server.base_url)
        while (mode := conn.recv()) != "stop":
            server.clear()  # the peer's request records: not the daemon's memory, but keep tidy
            server.default = _llm_behaviour(mode) if kind == "llm" else _tts_behaviour(mode)


@dataclass
class Peer:
    url: str
    conn: Connection

    def mode(self, mode: str) -> None:
        self.conn.send(mode)


@contextlib.contextmanager
def _peer(kind: str) -> Iterator[Peer]:
    ctx = multiprocessing.get_context("spawn")
    parent, child = ctx.Pipe()
    proc = ctx.Process(target=_serve, args=(kind, child), daemon=True)
    proc.start()
    try:
        yield Peer(parent.recv(), parent)
    finally:
        parent.send("stop")
        proc.join(timeout=10)



# --- observing the daemon ------------------------------------------------------------------------

class LogCounter(logging.Handler):
    """Counts WARNING+ records by (level, logger) and tracebacks (exc_info or "Traceback" text)."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.by_logger: Counter[str] = Counter()
        self.tracebacks: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.by_logger[f"{record.levelname} {record.name}"] += 1
        text = record.getMessage() if record.args is not None else str(record.msg)
        if record.exc_info or record.exc_text or record.stack_info or "Traceback" in text:
            self.tracebacks.append(f"{record.name}: {text[:200]}")


@dataclass
class Window:
    """What happened since the last sample."""

    chat_to_voice: list[float] = field(default_factory=list)
    outcomes: Counter[str] = field(default_factory=Counter)
    ok_at: list[float] = field(default_factory=list)  # monotonic times of ok turns
    loop_lag_ms: list[float] = field(default_factory=list)  # how late each 50 ms timer woke
    gc2_ms: list[float] = field(default_factory=list)  # each full (generation 2) collection


@dataclass
class Soak:
    controls: Any
    board: StatusBoard
    llm: Peer
    tts: Peer
    args: argparse.Namespace
    chzzk: Any = None  # the Node Socket.IO 2.x CHZZK peer (tests/peers/chzzk_socketio.py)
    vts: Any = None  # the fake VTube Studio (tests/peers/vts_server.py)
    vts_port: int = 0  # where VTube Studio comes back after a restart, with its saved tokens
    vts_tokens: set[str] = field(default_factory=set)
    window: Window = field(default_factory=Window)
    last_ok_at: float = 0.0
    outcomes: Counter[str] = field(default_factory=Counter)
    all_c2v: array[float] = field(default_factory=lambda: array("d"))  # 8 bytes a turn
    sent: Counter[str] = field(default_factory=Counter)
    faults: list[dict[str, Any]] = field(default_factory=list)
    rows: list[dict[str, Any]] = field(default_factory=list)
    traffic_on: bool = True
    seen_down: set[str] = field(default_factory=set)  # components that left `running` (any time)
    heap: Any = None  # Heap under --tracemalloc
    client_counts: Counter[str] = field(default_factory=Counter)  # --clients, since the last row

    def observe(self) -> None:
        stats = self.controls.stats
        record = stats.record

        def record_and_keep(marks: TurnMarks) -> None:
            record(marks)
            self.window.outcomes[marks.outcome] += 1
            self.outcomes[marks.outcome] += 1
            c2v = marks.intervals_ms().get("chat_to_voice")
            if c2v is not None:
                self.window.chat_to_voice.append(c2v)
                self.all_c2v.append(c2v)
            if marks.outcome == "ok":
                self.last_ok_at = time.monotonic()

        stats.record = record_and_keep  # instance attribute only
        # every state change, so a blip shorter than a poll (audio reopening) is still seen
        self.board.subscribe(lambda item: self.seen_down.add(item.name)
                             if getattr(item.state, "value", item.state) != "running" else None)

    def states(self) -> dict[str, str]:
        return {item["name"]: item["state"] for item in self.board.snapshot()}


def _pct(values: Any, q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def _resources() -> dict[str, Any]:
    me = psutil.Process()
    return {"rss_mb": round(me.memory_info().rss / 2**20, 1), "fds": me.num_fds(),
            "tasks": len(asyncio.all_tasks()), "threads": threading.active_count(),
            "sqlite_mb": _sqlite_memory_mb(), **(_malloc_mb() or {}), **_obmalloc_mb()}


def _sqlite_memory_mb() -> float | None:
    """SQLite's own heap (page caches of every connection in the process): tracemalloc does not see
    it, RSS does."""
    try:
        lib = ctypes.CDLL(ctypes.util.find_library("sqlite3") or "libsqlite3.so.0")
        lib.sqlite3_memory_used.restype = ctypes.c_int64
        return round(lib.sqlite3_memory_used() / 2**20, 2)
    except (OSError, AttributeError):
        return None


class _MallInfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in (
        "arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks",
        "fordblks", "keepcost")]


def _malloc_mb() -> dict[str, float] | None:
    """glibc's heap: in use (uordblks + mmapped blocks) and free but kept (fordblks): RSS that
    grows while `in use` stays flat is fragmentation, not a structure."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        libc.mallinfo2.restype = _MallInfo2
        info = libc.mallinfo2()
    except (OSError, AttributeError):
        return None
    return {"malloc_used_mb": round((info.uordblks + info.hblkhd) / 2**20, 1),
            "malloc_free_mb": round(info.fordblks / 2**20, 1)}


def _obmalloc_mb() -> dict[str, float]:
    """Python's small-object allocator (sys._debugmallocstats, which writes to fd 2): its 1 MiB
    arenas (RSS) against the bytes in live blocks. Arenas growing while blocks stay flat is
    fragmentation; both growing is a structure."""
    with tempfile.TemporaryFile("w+", encoding="utf-8") as tmp:
        sys.stderr.flush()
        saved = os.dup(2)
        try:
            os.dup2(tmp.fileno(), 2)
            sys._debugmallocstats()
        finally:
            os.dup2(saved, 2)
            os.close(saved)
        tmp.seek(0)
        text = tmp.read()
    arenas = re.search(r"(\d+) arenas \* (\d+) bytes/arena", text)
    used = re.search(r"# bytes in allocated blocks\s*=\s*([\d,]+)", text)
    out: dict[str, float] = {}
    if arenas:
        out["py_arenas_mb"] = round(int(arenas[1]) * int(arenas[2]) / 2**20, 1)
    if used:
        out["py_used_mb"] = round(int(used[1].replace(",", "")) / 2**20, 1)
    return out


class Heap:
    """--tracemalloc: a snapshot at the end of the warm-up, then every --tracemalloc minutes the
    top allocation sites (file:line) that grew since that baseline and since the previous
    snapshot, plus the object types whose live count grew (gc)."""

    SKIP = (tracemalloc.__file__, "<frozen importlib._bootstrap>",
            "<frozen importlib._bootstrap_external>", "<unknown>")

    def __init__(self, top: int) -> None:
        self.top = top
        self.base: tracemalloc.Snapshot | None = None
        self.prev: tracemalloc.Snapshot | None = None
        self.base_types: Counter[str] = Counter()
        self.prev_types: Counter[str] = Counter()
        self.reports: list[dict[str, Any]] = []

    def _snap(self) -> tracemalloc.Snapshot:
        return tracemalloc.take_snapshot().filter_traces(
            [tracemalloc.Filter(False, f) for f in self.SKIP])

    @staticmethod
    def _types() -> Counter[str]:
        gc.collect()
        return Counter(type(o).__qualname__ for o in gc.get_objects())

    @staticmethod
    def _stat(stat: tracemalloc.StatisticDiff) -> dict[str, Any]:
        frame = stat.traceback[0]
        where = frame.filename.split("/site-packages/")[-1].split("/src/")[-1]
        return {"where": f"{where}:{frame.lineno}", "kb": round(stat.size / 1024, 1),
                "kb_diff": round(stat.size_diff / 1024, 1), "count": stat.count,
                "count_diff": stat.count_diff,
                "stack": [f"{f.filename.split('/')[-1]}:{f.lineno}" for f in stat.traceback][:6]}

    def baseline(self) -> None:
        self.base = self.prev = self._snap()
        self.base_types = self.prev_types = self._types()

    def report(self, minute: float) -> dict[str, Any]:
        snap, types = self._snap(), self._types()
        assert self.base is not None and self.prev is not None
        since_base = snap.compare_to(self.base, "lineno")
        since_prev = snap.compare_to(self.prev, "lineno")
        by_stack = ({str(s.traceback): s for s in snap.compare_to(self.base, "traceback")[:5]}
                    if tracemalloc.get_traceback_limit() > 1 else {})  # slow: minutes at 8 frames
        traced, peak = tracemalloc.get_traced_memory()
        per_module = {self._stat(s)["where"].rsplit(":", 1)[0]: (round(s.size / 1024, 1),
                                                              round(s.size_diff / 1024, 1))
                      for s in snap.compare_to(self.base, "filename")
                      if "/aischoco/" in s.traceback[0].filename}
        rep = {
            "minute": minute, "traced_mb": round(traced / 2**20, 2),
            "traced_peak_mb": round(peak / 2**20, 2),
            "sqlite_mb": _sqlite_memory_mb(),
            "since_warmup": [self._stat(s) for s in since_base[:self.top]],
            "since_previous": [self._stat(s) for s in since_prev[:self.top]],
            "stacks_since_warmup": [self._stat(s) for s in by_stack.values()],
            "types_since_warmup": (types - self.base_types).most_common(self.top),
            "types_since_previous": (types - self.prev_types).most_common(self.top),
            "aischoco_modules_kb": per_module,  # module: (KB now, KB since the warm-up)
        }
        self.prev, self.prev_types = snap, types
        self.reports.append(rep)
        lines = [(f"[heap] minute {minute:g}: traced {rep['traced_mb']} MB "
                  f"(peak {rep['traced_peak_mb']}), sqlite {rep['sqlite_mb']} MB")]
        for label in ("since_warmup", "since_previous"):
            lines.append(f"[heap]   top growth {label.replace('_', ' ')}:")
            lines += [f"[heap]     {s['kb_diff']:+9.1f} KB {s['count_diff']:+7d} blocks  {s['where']}"
                      for s in rep[label]]
        lines.append("[heap]   stacks since warm-up:")
        lines += [f"[heap]     {s['kb_diff']:+9.1f} KB  {' <- '.join(reversed(s['stack']))}"
                  for s in rep["stacks_since_warmup"]]
        lines.append("[heap]   aischoco modules, KB now (since warm-up): " + ", ".join(
            f"{m.removeprefix('aischoco/')} {kb:g} ({d:+g})" for m, (kb, d) in sorted(
                per_module.items(), key=lambda i: -abs(i[1][1]))[:25]))
        lines.append("[heap]   object types since warm-up: " + ", ".join(
            f"{k} +{n}" for k, n in rep["types_since_warmup"]))
        lines.append("[heap]   object types since previous: " + ", ".join(
            f"{k} +{n}" for k, n in rep["types_since_previous"]))
        print("\n".join(lines), file=sys.stderr, flush=True)
        return rep


def _rss_slope(rows: list[dict[str, Any]], warmup: float) -> float | None:
    """Least-squares slope of RSS (MB/hour) over the minute rows after the warm-up."""
    points = [(float(r["minute"]), r["rss_mb"]) for r in rows
              if r["minute"] != "settled" and float(r["minute"]) >= warmup]
    if len(points) < 3:
        return None
    n = len(points)
    mx = sum(x for x, _ in points) / n
    my = sum(y for _, y in points) / n
    sxx = sum((x - mx) ** 2 for x, _ in points)
    return sum((x - mx) * (y - my) for x, y in points) / sxx * 60 if sxx else None


def _forget_peer_records(soak: Soak) -> None:
    """The fake VTube Studio runs in this process and records every request and injected frame
    (30 a second) for the tests; the soak reads none of it, and it would count as the daemon's
    RSS (measured: ~10 MB a minute)."""
    vts = soak.vts
    with vts._lock:
        for records in (vts.frames, vts.errors, vts.lost_control, vts.hotkeys_run,
                        vts.expressions, *(session.received for session in vts.sessions)):
            records.clear()


LAG_TICK_S = 0.05


async def _loop_lag(soak: Soak) -> None:
    """How late a 50 ms timer wakes, minute by minute: does the loop stay as responsive in hour
    three as in minute five (a stall is a held avatar frame, a late lip-sync value)?"""
    loop = asyncio.get_running_loop()
    while True:
        before = loop.time()
        await asyncio.sleep(LAG_TICK_S)
        soak.window.loop_lag_ms.append((loop.time() - before - LAG_TICK_S) * 1000)


def _time_full_collections(soak: Soak) -> Callable[[], None]:
    """Time every generation-2 collection (they stop every thread, the event loop's included).
    Returns what takes the hook off."""
    began = [0.0]

    def on_gc(phase: str, info: dict[str, int]) -> None:
        if info["generation"] != 2:
            return
        if phase == "start":
            began[0] = time.perf_counter()
        else:
            soak.window.gc2_ms.append((time.perf_counter() - began[0]) * 1000)

    gc.callbacks.append(on_gc)
    return lambda: gc.callbacks.remove(on_gc)


async def _tidy_peers(soak: Soak) -> None:
    while True:
        _forget_peer_records(soak)
        await asyncio.sleep(2.0)


def _sample(soak: Soak, minute: float, label: str | None = None) -> dict[str, Any]:
    _forget_peer_records(soak)
    c = soak.controls
    queue = c.director.snapshot()
    w, soak.window = soak.window, Window()
    jobs = getattr(getattr(c.memory, "_thread", None), "_jobs", None)  # memory thread's queue
    row = {
        "minute": label or f"{minute:.0f}", "at": time.strftime("%H:%M:%S"), **_resources(),
        "queue": queue["pending"], "memory_q": jobs.qsize() if jobs is not None else None,
        "answered": sum(w.outcomes.values()), "outcomes": dict(w.outcomes),
        "dropped_overflow": queue["dropped_overflow"], "dropped_expired": queue["dropped_expired"],
        "rejected": dict(c.intake.rejected), "received": c.intake.received,
        "c2v_p50": _pct(w.chat_to_voice, 50), "c2v_p95": _pct(w.chat_to_voice, 95),
        "lag_p99_ms": _pct(w.loop_lag_ms, 99), "lag_max_ms": max(w.loop_lag_ms, default=None),
        "gc2": len(w.gc2_ms), "gc2_max_ms": max(w.gc2_ms, default=None),
        "not_running": sorted(n for n, s in soak.states().items() if s != "running"),
    }
    if soak.args.clients:
        row["clients"], soak.client_counts = dict(soak.client_counts), Counter()
    soak.rows.append(row)
    return row


# --- traffic ---------------------------------------------------------------------------------------

def _chat_line(rng: random.Random) -> str:
    """A viewer's line: some repeats (viewers do), mostly new text."""
    line = rng.choice(LINES)
    return line if rng.random() < 0.3 else f"{line} {rng.choice(LINES)} {rng.randrange(1000)}"


async def _traffic(soak: Soak, rng: random.Random) -> None:
    c = soak.controls
    burst_until = 0.0
    rate = 3.0
    next_change = 0.0
    while True:
        now = time.monotonic()
        if not soak.traffic_on:
            await asyncio.sleep(0.2)
            continue
        if now >= next_change:  # a new base rate every 5–15 s; now and then a burst
            rate = rng.uniform(2, 5)
            next_change = now + rng.uniform(5, 15)
            if rng.random() < 0.25:
                burst_until = now + rng.uniform(2, 5)
        current = (20.0 if now < burst_until else rate) * soak.args.chat_scale
        roll = rng.random()
        user = rng.choice(USERS)
        if roll < 0.03:
            amount = rng.choice([1000, 2000, 5000, 10000])
            c.chat(ChatMessage(user=user, message=f"후원 {amount}원! {rng.choice(LINES)}",
                               kind=Kind.DONATION, amount=amount))
            soak.sent["donation"] += 1
        else:
            c.chat(ChatMessage(user=user, message=_chat_line(rng)))
            soak.sent["chat"] += 1
        if roll > 0.997:
            c.skip()
            soak.sent["skip"] += 1
        elif roll > 0.995 and not c.director.paused:
            soak.sent["pause"] += 1
            c.set_paused(True)
            asyncio.get_running_loop().call_later(rng.uniform(2, 6), c.set_paused, False)
        await asyncio.sleep(rng.expovariate(current))


# --- OBS-like clients (--clients) ---------------------------------------------------------------------

async def _sse_client(soak: Soak, base: str) -> None:
    """The overlay page: /api/events for the whole run (reconnects like an EventSource)."""
    import httpx

    async with httpx.AsyncClient(timeout=httpx.Timeout(30.0, read=None)) as client:
        while True:
            try:
                async with client.stream("GET", f"{base}/api/events") as response:
                    async for line in response.aiter_lines():
                        if line.startswith("event:"):
                            soak.client_counts["sse_events"] += 1
            except (httpx.HTTPError, OSError):
                pass
            soak.client_counts["sse_reconnects"] += 1
            await asyncio.sleep(1.0)


async def _params_client(soak: Soak, base: str) -> None:
    """The built-in avatar page: /ws/params?avatar=1 frames at the animator's rate."""
    from websockets.asyncio.client import connect
    from websockets.exceptions import WebSocketException

    url = base.replace("http://", "ws://") + "/ws/params?avatar=1"
    while True:
        try:
            async with connect(url, max_size=2**20) as ws:
                async for _ in ws:
                    soak.client_counts["params_frames"] += 1
        except (WebSocketException, OSError):
            pass
        soak.client_counts["params_reconnects"] += 1
        await asyncio.sleep(1.0)


async def _malloc_trim(every_s: float) -> None:
    """--malloc-trim: what a daemon housekeeping task could do, glibc's malloc_trim(0) (hands
    free heap pages back to the kernel), to tell allocator retention from a structure."""
    libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
    while True:
        await asyncio.sleep(every_s)
        libc.malloc_trim(0)


# --- faults ----------------------------------------------------------------------------------------

async def _inject(soak: Soak, name: str) -> None:
    if name.startswith("llm_"):
        soak.llm.mode(name)
    elif name.startswith("tts_"):
        soak.tts.mode(name)
    elif name == "chzzk_drop":  # the session socket goes: a fresh session URL, reconnect
        await soak.chzzk.post("/test/drop")
    elif name == "chzzk_expired_token":  # the access token dies, then the socket: refresh
        await soak.chzzk.post("/test/expire-token")
        await soak.chzzk.post("/test/drop")
    elif name == "vts_restart":  # VTube Studio quits; it comes back on the same port at heal
        soak.vts_port, soak.vts_tokens = soak.vts.port, set(soak.vts.tokens)
        await asyncio.to_thread(soak.vts.stop)
    elif name == "audio_lost":
        audio = soak.controls.director.runner.stages.audio
        for player in list(getattr(audio, "_players", [])):
            player._stop.set()  # the writer thread ends; problem() says so; AudioOutput reopens


async def _heal(soak: Soak, name: str) -> None:
    if name.startswith("llm_"):
        soak.llm.mode("normal")
    elif name.startswith("tts_"):
        soak.tts.mode("normal")
    elif name == "vts_restart":
        soak.vts = await asyncio.to_thread(
            lambda: FakeVts(port=soak.vts_port, tokens=soak.vts_tokens).start())


async def _fault(soak: Soak, name: str, started: float) -> None:
    before = {n for n, s in soak.states().items() if s == "running"}
    entry: dict[str, Any] = {"fault": name, "at_s": round(time.monotonic() - started, 1)}
    soak.faults.append(entry)
    await _inject(soak, name)
    soak.seen_down.clear()
    await asyncio.sleep(soak.args.fault_s)
    await _heal(soak, name)
    healed = time.monotonic()
    deadline = healed + soak.args.recover_s
    while time.monotonic() < deadline:
        states = soak.states()
        down = sorted(n for n in before if states.get(n) != "running")
        if not down and soak.last_ok_at > healed:
            entry["affected"] = sorted(soak.seen_down & before)
            entry["recovered"] = True
            entry["recover_s"] = round(time.monotonic() - healed, 1)
            return
        await asyncio.sleep(0.1)
    entry["affected"] = sorted(soak.seen_down & before)
    entry["recovered"] = False
    entry["still_down"] = down
    entry["ok_turn_since"] = soak.last_ok_at > healed


async def _faults(soak: Soak, started: float, end: float) -> None:
    """Fault k starts at (k + 1) × --fault-every s (later if the previous one still recovers)."""
    i = 0
    while True:
        await asyncio.sleep(max(0.0, started + (i + 1) * soak.args.fault_every - time.monotonic()))
        if time.monotonic() + soak.args.fault_s + 5 > end:
            return
        await _fault(soak, soak.args.faults[i % len(soak.args.faults)], started)
        i += 1


# --- the run ---------------------------------------------------------------------------------------

def seed_memory(path: Path, messages: int, rng: random.Random, *, streams: int = 3,
                now: float | None = None) -> dict[str, int]:
    """Fill the memory file with `streams` earlier streams' chat (the soak's viewers and lines,
    answered, a few facts each), one a day before `now`: a streamer's usual start, where the
    SQLite page cache fills while the daemon warms up instead of during the first hour."""
    from aischoco.memory.store import MemoryStore

    now = time.time() if now is None else now
    with MemoryStore(path) as store:
        for i in range(messages):
            stream = i * streams // max(messages, 1)
            at = now - (streams - stream) * 86400 + (i % max(messages // streams, 1)) * 0.3
            text = _chat_line(rng)
            user = rng.choice(USERS)
            said = store.record_message(user, user, text, session=f"earlier-{stream}", at=at)
            store.record_answer([said], f"{user}님 {text}")
        for user in USERS:
            store.add_facts(user, [f"{user}님은 {rng.choice(LINES)}라고 자주 말한다",
                                   f"{user}님은 {rng.randrange(1, 30)}번째 방송부터 봤다"],
                            at=now - 86400)
        return store.stats()


def _settings(tmp: Path, llm: str, tts: str, chzzk: str, vts: str) -> Settings:
    return Settings(
        _env_file=None,  # type: ignore[call-arg]
        chat_source="chzzk", chzzk_client_id="cid-soak", chzzk_client_secret="csecret-soak",
        chzzk_channel_id=CHZZK_CHANNEL, chzzk_openapi_url=chzzk,
        chzzk_token_path=tmp / "chzzk_token.json",
        groq_api_key="gsk_soak", groq_base_url=llm,
        groq_timeout_s=GROQ_TIMEOUT_S, tts_engine="remote", tts_remote_url=tts,
        tts_remote_timeout_s=TTS_TIMEOUT_S,
        audio_output_device=f"file:{tmp / 'soak-ai.wav'}", vts_enabled=True, vts_url=vts,
        vts_token_path=tmp / "vts_token.txt",
        overlay_host="127.0.0.1", overlay_port=free_port(), history_dir=tmp / "history",
        memory_path=tmp / "memory.sqlite3",
        character_path=ROOT / "config" / "character.txt",
        banned_words_path=ROOT / "config" / "banned_words.txt",
        ai_banned_words_path=ROOT / "config" / "banned_words.txt",
    )


async def _wait_running(board: StatusBoard, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        states = {i["name"]: i["state"] for i in board.snapshot()}
        if all(states.get(n) == "running"
               for n in ("llm", "tts", "audio", "director", "chat", "vts", "memory")):
            return
        await asyncio.sleep(0.1)
    raise RuntimeError(f"daemon did not start: {board.snapshot()}")


async def _run(args: argparse.Namespace, tmp: Path, llm: Peer, tts: Peer) -> Soak:
    from peers.chzzk_socketio import NodePeer  # starts `node`; skips if Node is missing

    chzzk = NodePeer()
    vts = FakeVts().start()
    save_tokens(tmp / "chzzk_token.json",
                TokenSet("at-soak", "rt-soak", "Bearer", time.time() + 86400))
    await chzzk.post("/test/tokens", {"access": "at-soak", "refresh": "rt-soak",
                                      "clientId": "cid-soak", "clientSecret": "csecret-soak",
                                      "channelId": CHZZK_CHANNEL})
    board = StatusBoard()
    stdin, sys.stdin = sys.stdin, io.StringIO("")  # the local chat source reads nothing
    settings = _settings(tmp, llm.url, tts.url, chzzk.base_url, vts.url)
    try:
        supervisor, controls, _ = app.build(settings, board)
    finally:
        sys.stdin = stdin
    soak = Soak(controls, board, llm, tts, args, chzzk=chzzk, vts=vts)
    soak.observe()
    heap = soak.heap = Heap(args.tracemalloc_top) if args.tracemalloc else None
    stop = asyncio.Event()
    running = asyncio.create_task(supervisor.run(stop, shutdown_timeout_s=5.0))
    heap_task = asyncio.create_task(freeze_after_first_starts(board))  # as run_daemon does
    untime_gc = _time_full_collections(soak)
    try:
        await _wait_running(board, 60)
        started = time.monotonic()
        end = started + args.minutes * 60
        rng = random.Random(args.seed)
        workers = [asyncio.create_task(_traffic(soak, rng)), asyncio.create_task(_tidy_peers(soak)),
                   asyncio.create_task(_faults(soak, started, end)),
                   asyncio.create_task(_loop_lag(soak))]
        if args.malloc_trim:
            workers.append(asyncio.create_task(_malloc_trim(args.malloc_trim)))
        if args.clients:
            base = f"http://127.0.0.1:{settings.overlay_port}"
            workers += [asyncio.create_task(_sse_client(soak, base)),
                        asyncio.create_task(_params_client(soak, base))]
        minute = 0
        while time.monotonic() < end:
            await asyncio.sleep(min(60.0, end - time.monotonic()))
            minute += 1
            row = _sample(soak, minute)
            print(f"[soak] minute {minute}: {json.dumps(row, ensure_ascii=False)}",
                  file=sys.stderr, flush=True)
            if heap is not None and minute == max(int(args.warmup_minutes), 1):
                heap.baseline()
            elif heap is not None and heap.base is not None and minute % args.tracemalloc == 0:
                heap.report(minute)
        soak.traffic_on = False
        for w in workers:
            w.cancel()
        await asyncio.gather(*workers, return_exceptions=True)
        while soak.faults and "recovered" not in soak.faults[-1]:
            await asyncio.sleep(0.1)
        # settle: the queue drains, turns finish, then one quiet sample
        deadline = time.monotonic() + 60
        while (controls.director.snapshot()["pending"] or controls.director.speaking) \
                and time.monotonic() < deadline:
            await asyncio.sleep(0.2)
        await asyncio.sleep(args.settle_s)
        _sample(soak, minute, label="settled")
    finally:
        untime_gc()
        heap_task.cancel()
        stop.set()
        await running
        soak.chzzk.stop()
        await asyncio.to_thread(soak.vts.stop)
    return soak


def _goals(soak: Soak, args: argparse.Namespace, log: LogCounter) -> list[dict[str, Any]]:
    minutes = [r for r in soak.rows if r["minute"] != "settled"]
    settled = soak.rows[-1]
    warm_index = min(max(int(args.warmup_minutes), 1), len(minutes)) - 1
    base = minutes[warm_index]
    goals = [{"goal": f"RSS growth < {RSS_LIMIT_MB:.0f} MB after {args.warmup_minutes:g} min "
                      f"warm-up (max after warm-up vs minute {base['minute']})",
              "value": round(max(r["rss_mb"] for r in soak.rows[warm_index:]) - base["rss_mb"], 1),
              "limit": RSS_LIMIT_MB}]
    goals[0]["pass"] = goals[0]["value"] < RSS_LIMIT_MB
    slope = _rss_slope(soak.rows, args.warmup_minutes)
    goals.insert(0, {"goal": f"RSS slope after {args.warmup_minutes:g} min warm-up < "
                             f"{RSS_SLOPE_LIMIT:g} MB/hour (least squares over the minute rows)",
                     "value": None if slope is None else round(slope, 2),
                     "limit": RSS_SLOPE_LIMIT,
                     "pass": slope is not None and slope < RSS_SLOPE_LIMIT})
    for key, tol in TOLERANCE.items():
        growth = settled[key] - base[key]
        goals.append({"goal": f"no growth in {key} (settled vs minute {base['minute']}, "
                              f"tolerance {tol})", "value": growth, "limit": tol,
                      "pass": growth <= tol})
    recovered = sum(1 for f in soak.faults if f.get("recovered"))
    goals.append({"goal": "every fault recovered", "value": f"{recovered}/{len(soak.faults)}",
                  "pass": bool(soak.faults) and recovered == len(soak.faults)})
    goals.append({"goal": "zero tracebacks in the log", "value": len(log.tracebacks),
                  "pass": not log.tracebacks})
    return goals


def _fmt(v: Any) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:.0f}"
    if isinstance(v, dict):
        return " ".join(f"{k}:{n}" for k, n in v.items()) or "-"
    if isinstance(v, list):
        return ",".join(v) or "-"
    return str(v)


def _report(soak: Soak, goals: list[dict[str, Any]], log: LogCounter) -> None:
    slope = _rss_slope(soak.rows, soak.args.warmup_minutes)
    minutes = [r for r in soak.rows if r["minute"] != "settled"]
    half = float(minutes[len(minutes) // 2]["minute"]) if minutes else 0.0
    later = _rss_slope(soak.rows, half)
    print(f"RSS slope after {soak.args.warmup_minutes:g} min warm-up: "
          f"{'-' if slope is None else f'{slope:+.2f}'} MB/hour (least squares over "
          f"{sum(1 for r in minutes if float(r['minute']) >= soak.args.warmup_minutes)} minute "
          f"rows); second half (from minute {half:g}, once the bounded caches are full): "
          f"{'-' if later is None else f'{later:+.2f}'} MB/hour")
    print()
    cols = ["minute", "rss_mb", "sqlite_mb", "malloc_used_mb", "malloc_free_mb", "py_arenas_mb",
            "py_used_mb", "fds", "tasks", "threads", "queue", "memory_q", "answered", "outcomes",
            "dropped_overflow", "dropped_expired", "rejected", "c2v_p50", "c2v_p95",
            "lag_p99_ms", "lag_max_ms", "gc2", "gc2_max_ms", "not_running"]
    heads = ["min", "RSS MB", "SQLite MB", "malloc in use MB", "malloc free MB",
             "py arenas MB", "py objects MB", "fds", "tasks", "threads", "reply q", "memory q", "turns", "outcomes",
             "drop overflow Σ", "drop expired Σ", "rejected Σ", "c→voice p50 ms",
             "c→voice p95 ms", "loop lag p99 ms", "loop lag max ms", "full GCs",
             "full GC max ms", "not running"]
    print("| " + " | ".join(heads) + " |")
    print("|" + "|".join("---" for _ in heads) + "|")
    for r in soak.rows:
        print("| " + " | ".join(f"{r[c]:.2f}" if c == "sqlite_mb" and r[c] is not None else
                                f"{r[c]:.1f}" if c.endswith("_mb") and r.get(c) is not None
                                else _fmt(r.get(c)) for c in cols)
              + " |")
    print()
    print(f"sent: {dict(soak.sent)}; turns by outcome: {dict(soak.outcomes)}; chat→voice over "
          f"the run: p50 {_fmt(_pct(soak.all_c2v, 50))} ms, p95 {_fmt(_pct(soak.all_c2v, 95))} ms")
    lag = [r for r in minutes if r.get("lag_p99_ms") is not None]
    if lag:
        def hour(rs: list[dict[str, Any]]) -> str:
            return (f"p99 {_fmt(_pct([r['lag_p99_ms'] for r in rs], 50))} ms (median minute), "
                    f"worst {max(r['lag_max_ms'] for r in rs):.0f} ms")
        print(f"event loop, 50 ms timer lateness: first hour {hour(lag[:60])}; last hour "
              f"{hour(lag[-60:])}; full GCs {sum(r['gc2'] for r in minutes)}, longest "
              f"{_fmt(max((r['gc2_max_ms'] for r in minutes if r['gc2_max_ms']), default=None))} ms")
    print()
    print("| fault | at s | components seen not running | recovered | recover s |")
    print("|---|---|---|---|---|")
    for f in soak.faults:
        print(f"| {f['fault']} | {f['at_s']} | {_fmt(f.get('affected'))} | "
              f"{'yes' if f.get('recovered') else 'NO ' + _fmt(f.get('still_down'))} | "
              f"{_fmt(f.get('recover_s'))} |")
    print()
    print("not covered: " + "; ".join(f"{k} ({v})" for k, v in NOT_COVERED.items()))
    print()
    print("WARNING+ log records by logger: " + (", ".join(
        f"{k}×{n}" for k, n in log.by_logger.most_common()) or "none"))
    for tb in log.tracebacks[:10]:
        print(f"  traceback: {tb}")
    print()
    print("| goal | value | result |")
    print("|---|---|---|")
    for g in goals:
        print(f"| {g['goal']} | {g['value']} | {'PASS' if g['pass'] else 'FAIL'} |")
    overall = all(g["pass"] for g in goals)
    print(f"| **overall** | | **{'PASS' if overall else 'FAIL'}** |")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=30)
    parser.add_argument("--hours", type=float, help="run this many hours (overrides --minutes)")
    parser.add_argument("--chat-scale", type=float, default=1.0,
                        help="multiply the chat rate (2-5/s, bursts 20/s) by this")
    parser.add_argument("--tracemalloc", type=int, default=0, metavar="N",
                        help="trace Python allocations; every N minutes after the warm-up log "
                             "the top growing sites (file:line) and object types")
    parser.add_argument("--tracemalloc-top", type=int, default=15)
    parser.add_argument("--malloc-trim", type=float, default=0, metavar="S",
                        help="call glibc malloc_trim(0) every S seconds (an experiment)")
    parser.add_argument("--clients", action="store_true",
                        help="keep an overlay SSE client (/api/events) and an avatar websocket "
                             "(/ws/params?avatar=1) connected, as OBS would")
    parser.add_argument("--tracemalloc-frames", type=int, default=1,
                        help="frames per allocation; above 1 the report adds the top 5 stacks "
                             "(costly: a report at 8 frames held the loop for minutes)")
    parser.add_argument("--warmup-minutes", type=float, default=2)
    parser.add_argument("--fault-every", type=float, default=180,
                        help="seconds between faults (they rotate through all kinds)")
    parser.add_argument("--faults", type=lambda v: v.split(","), default=list(FAULTS),
                        help=f"comma-separated rotation (default: {','.join(FAULTS)})")
    parser.add_argument("--fault-s", type=float, default=8, help="how long each fault lasts")
    parser.add_argument("--recover-s", type=float, default=45)
    parser.add_argument("--settle-s", type=float, default=5)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--memory-seed", type=int, default=0, metavar="N",
                        help="start from a memory file holding N messages of three earlier "
                             "streams (default: a new, empty file)")
    parser.add_argument("--out", type=Path, help="write the results as JSON here")
    parser.add_argument("--log", type=Path, help="the daemon's log (default: a temp file)")
    args = parser.parse_args()
    if unknown := set(args.faults) - set(FAULTS):
        parser.error(f"unknown faults: {sorted(unknown)}")
    if args.hours is not None:
        args.minutes = args.hours * 60
    if args.tracemalloc:
        tracemalloc.start(args.tracemalloc_frames)
    limit_malloc_arenas()  # as `run` does, before the first thread

    counter = LogCounter()
    root = logging.getLogger()
    root.setLevel(logging.INFO)
    root.addHandler(counter)
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        log_path = args.log or tmp / "soak.log"
        file_handler = logging.FileHandler(log_path, encoding="utf-8")
        file_handler.setFormatter(logging.Formatter(
            "%(asctime)s %(levelname)s %(name)s: %(message)s"))
        root.addHandler(file_handler)
        if args.memory_seed:  # in its own process: the daemon's heap starts as a real one's would
            begun = time.monotonic()
            with multiprocessing.get_context("spawn").Pool(1) as pool:
                stats = pool.apply(seed_memory, (tmp / "memory.sqlite3", args.memory_seed,
                                                 random.Random(args.seed)))
            print(f"[soak] memory seeded in {time.monotonic() - begun:.0f} s: {stats}",
                  file=sys.stderr, flush=True)
        with _peer("llm") as llm, _peer("tts") as tts:
            soak = asyncio.run(_run(args, tmp, llm, tts))
        root.removeHandler(file_handler)
        file_handler.close()
        text = log_path.read_text(encoding="utf-8")
        if "Traceback" in text and not counter.tracebacks:
            counter.tracebacks.append("'Traceback' text in the log file")
    goals = _goals(soak, args, counter)
    _report(soak, goals, counter)
    if args.out:
        args.out.write_text(json.dumps({
            "args": {k: str(v) for k, v in vars(args).items()}, "rows": soak.rows,
            "faults": soak.faults, "sent": soak.sent, "outcomes": soak.outcomes,
            "log_by_logger": counter.by_logger, "tracebacks": counter.tracebacks,
            "not_covered": NOT_COVERED, "goals": goals,
            "heap": soak.heap.reports if soak.heap else None,
            "rss_slope_mb_per_hour": _rss_slope(soak.rows, args.warmup_minutes)}, ensure_ascii=False, indent=2),
            encoding="utf-8")
    return 0 if all(g["pass"] for g in goals) else 1


if __name__ == "__main__":
    sys.exit(main())
