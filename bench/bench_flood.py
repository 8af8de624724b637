"""Benchmark: a chat flood through POST /api/chat of a real daemon subprocess.

Starts `python -m aischoco run` (CHAT_SOURCE=local TTS_ENGINE=off VTS_ENABLED=false, no
GROQ_API_KEY, an empty temporary working directory so no .env is read) on a free 127.0.0.1 port,
then sends --rate requests/s for --seconds seconds on a fixed timeline and checks that the daemon
stays bounded: memory, reply queue, overlay list, and a clean SIGTERM shutdown afterwards.

Without GROQ_API_KEY the daemon does not answer: the director leaves accepted chat queued (bounded
by REPLY_QUEUE_SIZE, oldest dropped) — that is expected and is what this benchmark exercises.

The load generator shares the CPU with the daemon. Requests are paced on a fixed schedule
(request i is due at t0 + i/rate) and spread over --senders concurrent tasks, one keep-alive
connection each, on several httpx.AsyncClients with small bounded pools (--conns-per-client; one
big httpx pool costs the client O(connections) CPU per request). A request whose due time has
passed is sent at once, so when the client or the daemon cannot keep up the achieved rate is lower,
and it is reported as is, with latency measured both from the send and from the due time.

Run:  python bench/bench_flood.py [--rate 1000] [--seconds 10] [--senders 64]
                                  [--conns-per-client 4] [--timeout 10] [--sse] [--show-log]
Only 127.0.0.1 is ever contacted.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import psutil

from aischoco.settings.model import Settings

HOST = "127.0.0.1"
MB = 1024 * 1024
RSS_GROWTH_TARGET_MB = 30.0
SHUTDOWN_TARGET_S = 5.0
REPLY_QUEUE_SIZE = int(Settings.model_fields["reply_queue_size"].default)
OVERLAY_MAX_MESSAGES = int(Settings.model_fields["overlay_max_messages"].default)
SETTING_KEYS = {name.upper() for name in Settings.model_fields}
BASE_ENV = {"CHAT_SOURCE": "local", "TTS_ENGINE": "off", "VTS_ENABLED": "false"}

PHRASES = (
    "초코야 안녕!", "ㅋㅋㅋㅋㅋㅋ", "오늘 방송 재밌다", "노래 불러줘", "점심 뭐 먹었어?",
    "ㄹㅇ 개웃기네", "하이하이", "초코 귀여워", "이거 무슨 게임이야?", "첫 방송부터 봤어요",
    "Hello from abroad!", "🍫🍫🍫", "?", "ㅎㅇ",
)


# ----------------------------------------------------------------------------------- daemon
@dataclass
class Daemon:
    proc: subprocess.Popen[bytes]
    url: str
    log_path: Path

    def output(self) -> str:
        return self.log_path.read_text("utf-8", errors="replace")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def start_daemon(workdir: Path) -> Daemon:
    """Like tests/daemon.py, but output goes to a file: under a flood nobody drains a pipe."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k not in SETTING_KEYS}
    env.update(BASE_ENV, OVERLAY_HOST=HOST, OVERLAY_PORT=str(port), PYTHONUNBUFFERED="1")
    log_path = workdir / "daemon.log"
    with open(log_path, "wb") as log_file:
        proc = subprocess.Popen([sys.executable, "-m", "aischoco", "run"], cwd=workdir, env=env,
                                stdin=subprocess.DEVNULL, stdout=log_file,
                                stderr=subprocess.STDOUT)
    daemon = Daemon(proc, f"http://{HOST}:{port}", log_path)
    deadline = time.monotonic() + 20
    while True:
        if proc.poll() is not None:
            raise SystemExit(f"daemon exited early:\n{daemon.output()}")
        try:
            if httpx.get(f"{daemon.url}/api/state", timeout=1).status_code == 200:
                return daemon
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            proc.kill()
            raise SystemExit("daemon did not start serving within 20 s")
        time.sleep(0.1)


def stop_daemon(daemon: Daemon, timeout: float = 10.0) -> tuple[int | None, float]:
    started = time.monotonic()
    daemon.proc.send_signal(signal.SIGTERM)
    try:
        code = daemon.proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        daemon.proc.kill()
        daemon.proc.wait(timeout=5)
        return None, time.monotonic() - started
    return code, time.monotonic() - started


# ------------------------------------------------------------------------------------- load
def chat_body(i: int) -> dict[str, object]:
    """A flood that looks like a busy chat: 300 viewers, short repeated phrases, some unique
    lines, every 200th a 2,000-char wall of text and every 500th a donation."""
    user = f"시청자{i % 300:03d}"
    if i % 500 == 0:
        return {"user": user, "message": f"후원 감사해요 {i}", "kind": "donation", "amount": 1000}
    if i % 200 == 0:
        return {"user": user, "message": "초코" * 1000}
    if i % 3 == 0:
        return {"user": user, "message": f"{PHRASES[i % len(PHRASES)]} {i}"}
    return {"user": user, "message": PHRASES[i % len(PHRASES)]}


@dataclass
class LoadResult:
    latencies_ms: list[float] = field(default_factory=list)  # send → reply
    from_due_ms: list[float] = field(default_factory=list)  # due time → reply (schedule lag too)
    failures: Counter[str] = field(default_factory=Counter)
    queued: int = 0
    not_queued: Counter[str] = field(default_factory=Counter)
    late_starts: int = 0  # sent more than 50 ms after their due time
    first_send: float = 0.0
    last_done: float = 0.0


async def sender(client: httpx.AsyncClient, w: int, senders: int, total: int, rate: float,
                 t0: float, result: LoadResult) -> None:
    for i in range(w, total, senders):
        due = t0 + i / rate
        delay = due - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        elif delay < -0.05:
            result.late_starts += 1
        start = time.perf_counter()
        try:
            reply = await client.post("/api/chat", json=chat_body(i))
        except httpx.TimeoutException:
            result.failures["timeout"] += 1
            continue
        except httpx.HTTPError as exc:
            result.failures[type(exc).__name__] += 1
            continue
        done = time.perf_counter()
        result.last_done = max(result.last_done, done)
        if reply.status_code != 200:
            result.failures[f"HTTP {reply.status_code}"] += 1
            continue
        result.latencies_ms.append((done - start) * 1000.0)
        result.from_due_ms.append((done - due) * 1000.0)
        data = reply.json()
        if data.get("queued"):
            result.queued += 1
        else:
            result.not_queued[str(data.get("reason"))] += 1


@dataclass
class Samples:
    rss: list[int] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)
    load_cpu: list[float] = field(default_factory=list)  # this process: the load generator
    other_cpu: list[float] = field(default_factory=list)  # all other processes
    state_ms: list[float] = field(default_factory=list)
    state_errors: int = 0


async def sampler(proc: psutil.Process, client: httpx.AsyncClient, samples: Samples,
                  stop: asyncio.Event) -> None:
    """Every 0.5 s: daemon RSS and CPU, and how long GET /api/state takes under the flood."""
    proc.cpu_percent(None)
    me = psutil.Process()
    me.cpu_percent(None)
    psutil.cpu_percent(None)
    while not stop.is_set():
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(stop.wait(), 0.5)
        with contextlib.suppress(psutil.Error):
            samples.rss.append(proc.memory_info().rss)
            samples.cpu.append(proc.cpu_percent(None))
            samples.load_cpu.append(me.cpu_percent(None))
            # Everything else on the machine (other programs compete for the same cores).
            total = psutil.cpu_percent(None) * (psutil.cpu_count() or 1)
            samples.other_cpu.append(max(0.0, total - samples.cpu[-1] - samples.load_cpu[-1]))
        if stop.is_set():
            break
        start = time.perf_counter()
        try:
            reply = await client.get("/api/state")
            reply.raise_for_status()
            samples.state_ms.append((time.perf_counter() - start) * 1000.0)
        except httpx.HTTPError:
            samples.state_errors += 1


def sse_reader_main(url: str) -> int:
    """--sse: an overlay-like client in its own process (as OBS is). Reads /api/events; when the
    daemon cuts the stream off (a too-slow subscriber), reconnects after 3 s like EventSource.
    On SIGTERM prints one JSON line: events read, connections made, streams cut off."""
    counts = {"events": 0, "connects": 0, "cutoffs": 0, "errors": 0}

    def finish(signum: int, frame: object) -> None:
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, finish)
    try:
        with httpx.Client(base_url=url, timeout=httpx.Timeout(5.0, read=None)) as client:
            while True:
                try:
                    with client.stream("GET", "/api/events") as resp:
                        counts["connects"] += 1
                        for text in resp.iter_lines():
                            if text.startswith("event:"):
                                counts["events"] += 1
                    counts["cutoffs"] += 1
                except httpx.HTTPError:
                    counts["errors"] += 1
                time.sleep(3.0)
    except SystemExit:
        pass
    finally:
        print(json.dumps(counts), flush=True)
    return 0


def start_sse_reader(url: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, __file__, "--sse-reader-url", url],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, encoding="utf-8")


def stop_sse_reader(reader: subprocess.Popen[str] | None) -> dict[str, int]:
    if reader is None:
        return {}
    reader.send_signal(signal.SIGTERM)
    try:
        out, _ = reader.communicate(timeout=5)
    except subprocess.TimeoutExpired:
        reader.kill()
        reader.communicate()
        return {}
    try:
        return dict(json.loads(out.strip().splitlines()[-1]))
    except (ValueError, IndexError):
        return {}


# ------------------------------------------------------------------------------------ report
def pct(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    rank = (len(ordered) - 1) * q / 100.0
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def line(label: str, value: object, *, header: bool = False) -> None:
    print(f"{label:<40}{value!s:>26}")
    if header:
        print("-" * 66)


def verdict(ok: bool, text: str) -> str:
    return f"{'PASS' if ok else 'FAIL'}: {text}"


async def run(args: argparse.Namespace) -> int:
    total = int(args.rate * args.seconds)
    load_before = " ".join(f"{x:.2f}" for x in os.getloadavg())
    with tempfile.TemporaryDirectory(prefix="aischoco-bench-") as tmp:
        daemon = start_daemon(Path(tmp))
        proc = psutil.Process(daemon.proc.pid)
        # httpcore's pool rescans every connection on every request (O(connections) CPU per
        # request, retried under contention), so one big pool makes the *client* the bottleneck on
        # a 2-core machine. Several small bounded pools, each shared by a few senders, avoid that.
        per_client = max(1, args.conns_per_client)
        limits = httpx.Limits(max_connections=per_client, max_keepalive_connections=per_client)
        timeout = httpx.Timeout(args.timeout)
        sse: dict[str, int] = {}
        reader: subprocess.Popen[str] | None = None
        stop = asyncio.Event()
        try:
            async with contextlib.AsyncExitStack() as stack:
                clients = [await stack.enter_async_context(
                    httpx.AsyncClient(base_url=daemon.url, limits=limits, timeout=timeout))
                    for _ in range(-(-args.senders // per_client))]
                probe = await stack.enter_async_context(
                    httpx.AsyncClient(base_url=daemon.url, timeout=timeout))
                # Warm-up: open connections, import lazily loaded code paths, settle memory.
                warm = LoadResult()
                await asyncio.gather(*(sender(clients[w // per_client], w, args.senders, 4 * args.senders,
                                              1e9, time.perf_counter(), warm)
                                       for w in range(args.senders)))
                await probe.get("/api/state")
                await asyncio.sleep(1.0)
                rss_before = proc.memory_info().rss
                if args.sse:
                    reader = start_sse_reader(daemon.url)
                    await asyncio.sleep(1.0)
                samples = Samples(rss=[rss_before])
                sampling = asyncio.create_task(sampler(proc, probe, samples, stop))
                result = LoadResult()
                t0 = time.perf_counter() + 0.05
                result.first_send = t0
                await asyncio.gather(*(sender(clients[w // per_client], w, args.senders, total,
                                              args.rate, t0, result)
                                       for w in range(args.senders)))
                flood_s = max(result.last_done, t0) - t0
                stop.set()
                await sampling
                await asyncio.sleep(0.5)  # let the director's coalesced queue event etc. settle
                alive = daemon.proc.poll() is None
                try:
                    rss_after = proc.memory_info().rss
                except psutil.Error:
                    rss_after = max(samples.rss)
                state_status, state, metrics = "no answer", {}, {}
                try:
                    state_reply = await probe.get("/api/state")
                    state_status = f"HTTP {state_reply.status_code}"
                    if state_reply.status_code == 200:
                        state = state_reply.json()
                    metrics = (await probe.get("/api/metrics")).json()
                except httpx.HTTPError as exc:
                    state_status = f"{type(exc).__name__}: {exc}"
                sse = stop_sse_reader(reader)
        finally:
            if reader is not None and reader.poll() is None:
                reader.kill()
                reader.communicate()
            code, took = stop_daemon(daemon) if daemon.proc.poll() is None else (
                daemon.proc.returncode, 0.0)
            output = daemon.output()

    peak = max(samples.rss + [rss_after])
    growth_mb = (rss_after - rss_before) / MB
    peak_growth_mb = (peak - rss_before) / MB
    sent = len(result.latencies_ms) + sum(result.failures.values())
    ok_count = len(result.latencies_ms)
    achieved = ok_count / flood_s if flood_s > 0 else 0.0
    queue = state.get("queue", {})
    filters = state.get("filters", {})
    viewer = len(state.get("viewer_messages", []))

    print("aischoco bench_flood — POST /api/chat flood against a real daemon subprocess")
    print(f"python {platform.python_version()} · {platform.platform()} · cpus={_cpus()} · "
          f"load generator and daemon share these CPUs · loadavg before {load_before}")
    print("note: no GROQ_API_KEY → the daemon does not answer; accepted chat stays queued, "
          f"bounded at REPLY_QUEUE_SIZE={REPLY_QUEUE_SIZE} (expected)")
    print()
    nan = float("nan")
    line("load", "value", header=True)
    line("requested", f"{args.rate:.0f}/s x {args.seconds:g} s = {total}")
    line("senders = connections (clients x pool)",
         f"{args.senders} ({-(-args.senders // args.conns_per_client)} x {args.conns_per_client})")
    line("sent / ok / failed", f"{sent} / {ok_count} / {sum(result.failures.values())}")
    line("failures by kind", json.dumps(dict(result.failures)))
    line("flood duration (first due → last reply)", f"{flood_s:.2f} s")
    line("achieved rate (ok responses)", f"{achieved:.0f}/s")
    line("sent >50 ms behind schedule", result.late_starts)
    line("POST latency p50 / p95 / max",
         f"{pct(result.latencies_ms, 50):.1f} / {pct(result.latencies_ms, 95):.1f} / "
         f"{max(result.latencies_ms, default=nan):.1f} ms")
    line("  same, from due time p50 / p95",
         f"{pct(result.from_due_ms, 50):.1f} / {pct(result.from_due_ms, 95):.1f} ms")
    line("GET /api/state during flood p50 / max",
         f"{pct(samples.state_ms, 50):.1f} / {max(samples.state_ms, default=nan):.1f} ms"
         + (f" ({samples.state_errors} errors)" if samples.state_errors else ""))
    line("daemon CPU during flood mean / max",
         f"{_mean(samples.cpu):.0f}% / {max(samples.cpu, default=0):.0f}%")
    line("load generator CPU mean / max",
         f"{_mean(samples.load_cpu):.0f}% / {max(samples.load_cpu, default=0):.0f}%")
    line("other processes CPU mean / max",
         f"{_mean(samples.other_cpu):.0f}% / {max(samples.other_cpu, default=0):.0f}%")
    print()
    line("daemon memory (RSS)", "MB", header=True)
    line("before (after warm-up)", f"{rss_before / MB:.1f}")
    line("peak (sampled every 0.5 s)", f"{peak / MB:.1f}")
    line("after", f"{rss_after / MB:.1f}")
    line("growth after - before", f"{growth_mb:+.1f}")
    line("growth peak - before", f"{peak_growth_mb:+.1f}")
    print()
    line("daemon state after the flood", "value", header=True)
    line("responses queued / not queued",
         f"{result.queued} / {sum(result.not_queued.values())}")
    line("filters.received", filters.get("received", "?"))
    for reason, n in sorted(filters.get("rejected", {}).items()):
        line(f"filters.rejected.{reason}", n)
    for key in ("pending", "accepted", "answered", "dropped_overflow", "dropped_expired"):
        line(f"queue.{key}", queue.get(key, "?"))
    line("viewer_messages shown", viewer)
    line("turns (no LLM: none expected)", metrics.get("turns", "?"))
    if args.sse:
        line("SSE reader: events / connects / cut-offs",
             f"{sse.get('events', '?')} / {sse.get('connects', '?')} / {sse.get('cutoffs', '?')}")
    line("SIGTERM -> exit code / time", f"{code} / {took:.2f} s")
    print()
    print(verdict(achieved >= 0.95 * args.rate,
                  f"load reached {achieved:.0f}/s of the requested {args.rate:.0f}/s "
                  "(a FAIL here is the load generator or daemon throughput, see report)"))
    print(verdict(not result.failures, f"{sum(result.failures.values())} requests failed or "
                                       f"timed out (timeout {args.timeout:g} s)"))
    print(verdict(alive and bool(state),
                  f"daemon alive after the flood ({'running' if alive else 'exited'}) and "
                  f"/api/state answers ({state_status})"))
    print(verdict(bool(queue) and queue.get("pending", 10**9) <= REPLY_QUEUE_SIZE,
                  f"queue.pending {queue.get('pending')} <= REPLY_QUEUE_SIZE {REPLY_QUEUE_SIZE}"))
    print(verdict(bool(state) and viewer <= OVERLAY_MAX_MESSAGES,
                  f"viewer_messages {viewer} <= OVERLAY_MAX_MESSAGES {OVERLAY_MAX_MESSAGES}"))
    print(verdict(growth_mb < RSS_GROWTH_TARGET_MB,
                  f"RSS growth {growth_mb:+.1f} MB < {RSS_GROWTH_TARGET_MB:.0f} MB "
                  f"(peak {peak_growth_mb:+.1f} MB)"))
    print(verdict(code == 0 and took < SHUTDOWN_TARGET_S,
                  f"SIGTERM: exit code {code} in {took:.2f} s (target 0 within "
                  f"{SHUTDOWN_TARGET_S:.0f} s)"))
    print(verdict("Traceback" not in output and "aischoco stopped" in output,
                  "daemon log has no traceback and ends with 'aischoco stopped'"))
    if args.show_log or "Traceback" in output or not alive or not state:
        print("\n--- daemon log (last 40 lines) ---")
        print("\n".join(output.splitlines()[-40:]))
    return 0


def _mean(values: Sequence[float]) -> float:
    return sum(values) / len(values) if values else 0.0


def _cpus() -> str:
    try:
        return str(len(os.sched_getaffinity(0)))
    except AttributeError:
        return str(os.cpu_count())


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=1000.0, help="requests per second")
    parser.add_argument("--seconds", type=float, default=10.0, help="flood duration")
    parser.add_argument("--senders", type=int, default=64,
                        help="concurrent sender tasks = max pool connections (default 64)")
    parser.add_argument("--conns-per-client", type=int, default=4,
                        help="connections per httpx.AsyncClient pool (default 4)")
    parser.add_argument("--timeout", type=float, default=10.0, help="per-request timeout, s")
    parser.add_argument("--sse", action="store_true",
                        help="also run an overlay-like SSE client (/api/events) in its own process")
    parser.add_argument("--sse-reader-url", help=argparse.SUPPRESS)
    parser.add_argument("--show-log", action="store_true", help="print the daemon log tail")
    args = parser.parse_args(argv)
    if args.sse_reader_url:
        return sse_reader_main(args.sse_reader_url)
    return asyncio.run(run(args))


if __name__ == "__main__":
    sys.exit(main())
