"""glibc's moving mmap threshold, and the fixed one the daemon sets (issue 37).

The pattern a stream makes: one large block freed (a long sentence's audio) raises glibc's
threshold; from then on blocks of that size come from the heap, and each one freed under something
still in use stays with the process as "free" heap bytes. Each way runs in a fresh interpreter."""

from __future__ import annotations

import platform
import subprocess
import sys
from pathlib import Path

import pytest

from daemon import run_daemon

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux") or platform.libc_ver()[0] != "glibc",
    reason="glibc's allocator behaviour")

SCRIPT = """
import ctypes, sys
import numpy as np
from aischoco.core.allocator import fix_mmap_threshold

class MallInfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in
                "arena ordblks smblks hblks hblkhd usmblks fsmblks uordblks fordblks keepcost".split()]

libc = ctypes.CDLL(None)
libc.mallinfo2.restype = MallInfo2
if sys.argv[1] == "fixed":
    assert fix_mmap_threshold()
before = libc.mallinfo2().fordblks
first = np.ones(4_000_000 // 8)  # a long sentence's audio, mapped on its own
del first  # glibc (unfixed) now raises its threshold to 4 MB
kept = []
for _ in range(20):
    big = np.ones(3_700_000 // 8)  # a later large block
    kept.append(np.ones(200_000 // 8))  # something allocated after it that stays
    del big
print(libc.mallinfo2().fordblks - before)
"""


def _free_bytes_grown(way: str) -> int:
    done = subprocess.run([sys.executable, "-c", SCRIPT, way], capture_output=True, text=True,
                          encoding="utf-8", timeout=60)
    assert done.returncode == 0, done.stderr[-2000:]
    return int(done.stdout)


def test_a_fixed_threshold_sends_large_freed_blocks_back() -> None:
    assert _free_bytes_grown("fixed") < 1_000_000


def test_glibcs_own_threshold_keeps_them_in_the_heap() -> None:
    """The control: without the fix the same pattern strands a 3.7 MB block, as the soak saw."""
    assert _free_bytes_grown("glibc") > 3_000_000


def test_a_streamers_own_malloc_setting_is_left_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    from aischoco.core.allocator import fix_mmap_threshold

    monkeypatch.setenv("MALLOC_MMAP_THRESHOLD_", "1048576")
    assert fix_mmap_threshold() is False


def test_the_daemon_fixes_it_at_start(tmp_path: Path) -> None:
    with run_daemon(tmp_path) as daemon:
        _, _, out = daemon.stop()
    assert "glibc mmap threshold fixed at 256 KiB" in out
