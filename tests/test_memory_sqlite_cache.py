"""SQLite's own heap (the page cache of the memory file's one connection) stays bounded while the
file grows many times past it (issue 37: it grew 0.46 → 0.92 MB in a soak's first 9 minutes;
tracemalloc cannot see it, RSS does)."""

from __future__ import annotations

import ctypes
import ctypes.util
import random
from pathlib import Path

import pytest

from aischoco.memory.store import MemoryStore

PAGE_CACHE_MB = 2.0  # SQLite's default cache_size -2000 (KiB)
CAP_MB = 4.0  # the page cache plus schema, statements and FTS5's pending terms


def _sqlite_heap() -> int:
    try:
        lib = ctypes.CDLL(ctypes.util.find_library("sqlite3") or "libsqlite3.so.0")
        lib.sqlite3_memory_used.restype = ctypes.c_int64
        return int(lib.sqlite3_memory_used())
    except (OSError, AttributeError):
        pytest.skip("this Python's sqlite3 is not the shared libsqlite3")


def test_the_page_cache_stays_bounded_while_the_file_grows_past_it(tmp_path: Path) -> None:
    rng = random.Random(37)
    words = ["고양이", "나비", "라면", "게임", "노래", "방송", "저녁", "내일", "대박", "초코"]
    before = _sqlite_heap()
    peak = 0
    with MemoryStore(tmp_path / "memory.sqlite3", clock=lambda: 1_800_000_000.0) as store:
        for i in range(12_000):
            user = f"u{rng.randrange(3000)}"
            text = " ".join(rng.choice(words) + str(rng.randrange(10_000)) for _ in range(12))
            row = store.record_message(user, f"시청자{user}", text, session="s")
            if i % 40 == 0:
                store.record_answer([row], "초코가 대답했어요 " * 4)
                store.search(rng.choice(words), user_id=user)
                store.recent(user)
            if i % 500 == 0:
                peak = max(peak, _sqlite_heap() - before)
        peak = max(peak, _sqlite_heap() - before)
        size = sum(p.stat().st_size for p in tmp_path.glob("memory.sqlite3*"))
    assert size > 4 * PAGE_CACHE_MB * 2**20, f"the file ({size / 2**20:.1f} MB) must outgrow the cache"
    assert peak < CAP_MB * 2**20, f"SQLite heap grew {peak / 2**20:.2f} MB"
    assert _sqlite_heap() - before < 0.5 * 2**20  # closing gives it back
