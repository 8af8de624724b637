"""Start-up objects leave the garbage collector's way once the parts have started (core/heap.py):
when that happens (a part's first start, then quiet), what a full collection still walks, and
the daemon doing it."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import pytest

from aischoco.core.heap import freeze_after_first_starts
from aischoco.core.status import State, StatusBoard
from daemon import run_daemon, wait_until

QUIET_S = 0.15
POLL_S = 0.02


async def _settle() -> None:
    await asyncio.sleep(QUIET_S + 6 * POLL_S)


async def test_a_freeze_follows_each_first_start_once_quiet() -> None:
    board = StatusBoard()
    tts, llm = board.register("tts", "TTS"), board.register("llm", "LLM")
    frozen: list[float] = []
    task = asyncio.create_task(freeze_after_first_starts(
        board, quiet_s=QUIET_S, poll_s=POLL_S, freeze=lambda: frozen.append(1) or len(frozen)))
    try:
        tts.set(State.STARTING, "모델 불러오는 중")
        await _settle()
        assert frozen == []  # nothing running yet: nothing to set aside
        tts.set(State.RUNNING)
        await asyncio.sleep(QUIET_S / 3)
        assert frozen == []  # not before it has been quiet
        await _settle()
        assert len(frozen) == 1
        tts.set(State.DEGRADED, "느림")
        tts.set(State.RUNNING)  # a restart is not a first start
        tts.set(State.RUNNING, "다른 설명")
        await _settle()
        assert len(frozen) == 1
        llm.set(State.RUNNING)  # its key saved mid-stream: its objects are new
        await _settle()
        assert len(frozen) == 2
    finally:
        task.cancel()


async def test_parts_starting_together_make_one_freeze() -> None:
    board = StatusBoard()
    handles = [board.register(name, name) for name in ("chat", "overlay", "audio")]
    frozen: list[int] = []
    task = asyncio.create_task(freeze_after_first_starts(
        board, quiet_s=QUIET_S, poll_s=POLL_S, freeze=lambda: frozen.append(1) or 1))
    try:
        for handle in handles:
            handle.set(State.RUNNING)
            await asyncio.sleep(QUIET_S / 3)  # each within the quiet time of the one before
        await _settle()
        assert frozen == [1]
    finally:
        task.cancel()


# A fresh interpreter, so the test process's own collector is left as it was.
SCRIPT = """
import gc
from aischoco.core.heap import freeze_survivors

class Part:  # start-up objects: containers that point at each other
    def __init__(self, i): self.me, self.data = self, {"i": i, "tags": [i]}

parts = [Part(i) for i in range(30_000)]
garbage = [Part(-1) for _ in range(500)]
del garbage  # unreachable cycles at the moment of the freeze: collected, not frozen
before = len(gc.get_objects())
frozen = freeze_survivors()
after = len(gc.get_objects())  # what a full collection walks from now on
later = [Part(-2) for _ in range(200)]
del later  # cycles made during the stream: still collected
found = gc.collect()
print(before, frozen, after, found)
"""


def test_a_full_collection_then_walks_only_what_the_stream_made() -> None:
    done = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True,
                          encoding="utf-8", timeout=60)
    assert done.returncode == 0, done.stderr[-2000:]
    before, frozen, after, found = (int(v) for v in done.stdout.split())
    assert before > 90_000 and frozen > 90_000  # 3 containers a part, and the modules
    assert after < 1_000
    assert found >= 200 * 3  # the 200 later cycles (each a Part, its dict and its list) collected


def test_the_daemon_sets_its_start_up_objects_aside(tmp_path: Path) -> None:
    with run_daemon(tmp_path) as daemon:
        line = wait_until(lambda: next((l for l in daemon.output().splitlines()
                                        if "set aside from garbage collection" in l), None),
                          timeout=30, what="the freeze after start-up")
        assert "overlay" in line  # the parts that were running when it happened
        frozen = int(line.split("collection: ")[1].split()[0])
        assert frozen > 50_000


# glibc's own account of its arenas (malloc_info's XML has one <heap> per arena), in a fresh
# interpreter whose threads all allocate at once, with and without the daemon's cap.
ARENAS = """
import ctypes, sys, tempfile, threading
from aischoco.core.heap import limit_malloc_arenas

capped = limit_malloc_arenas() if sys.argv[1] == "cap" else False
ready = threading.Barrier(7)
def work():
    blocks = [bytearray(200_000) for _ in range(4)]  # past pymalloc: glibc malloc, this thread's arena
    ready.wait()
    ready.wait()
threads = [threading.Thread(target=work) for _ in range(6)]
for t in threads: t.start()
ready.wait()  # all six alive, each has allocated
libc = ctypes.CDLL(None)
libc.fopen.restype = ctypes.c_void_p
libc.malloc_info.argtypes = [ctypes.c_int, ctypes.c_void_p]
libc.fclose.argtypes = [ctypes.c_void_p]
with tempfile.NamedTemporaryFile(suffix=".xml") as out:
    fp = libc.fopen(out.name.encode(), b"w")
    libc.malloc_info(0, fp)
    libc.fclose(fp)
    heaps = open(out.name).read().count("<heap nr=")
ready.wait()
for t in threads: t.join()
print(capped, heaps)
"""


def _arenas(mode: str, **env: str) -> tuple[str, int]:
    done = subprocess.run([sys.executable, "-c", ARENAS, mode], capture_output=True, text=True,
                          encoding="utf-8", timeout=60,
                          env={k: v for k, v in os.environ.items()
                               if k not in ("MALLOC_ARENA_MAX", "GLIBC_TUNABLES")} | env)
    assert done.returncode == 0, done.stderr[-2000:]
    capped, heaps = done.stdout.split()
    return capped, int(heaps)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's arenas: Linux only")
def test_threads_share_two_malloc_arenas() -> None:
    assert _arenas("cap") == ("True", 2)  # the main thread's and one the six share
    capped, heaps = _arenas("none")
    assert capped == "False" and heaps >= 7  # the control: an arena per allocating thread


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's arenas: Linux only")
def test_a_person_s_own_arena_setting_wins() -> None:
    assert _arenas("cap", MALLOC_ARENA_MAX="4") == ("False", 4)
