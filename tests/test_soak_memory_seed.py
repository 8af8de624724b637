"""The soak's --memory-seed (issue 37): the memory file it starts from looks like three earlier
streams of the soak's own viewers — answered messages, a few facts each, dated inside the
retention the daemon keeps — so the daemon opens a streamer's usual file, not a toy one."""
from __future__ import annotations

import functools
import importlib.util
import math
import random
import sys
from pathlib import Path

from aischoco.memory.store import MemoryStore
from aischoco.settings.model import Settings

ROOT = Path(__file__).resolve().parent.parent
NOW = 1_800_000_000.0


@functools.cache  # bench/soak.py puts tests/ on sys.path when it runs: once
def _soak():
    spec = importlib.util.spec_from_file_location("soak_bench", ROOT / "bench" / "soak.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["soak_bench"] = module
    spec.loader.exec_module(module)
    return module


def test_seed_is_three_answered_earlier_streams_of_the_soak_viewers(tmp_path: Path) -> None:
    soak = _soak()
    path = tmp_path / "memory.sqlite3"
    stats = soak.seed_memory(path, 600, random.Random(3), now=NOW)
    assert stats["messages"] == 600
    assert stats["viewers"] == len(soak.USERS)  # 600 picks from 40 viewers: all of them seen
    assert stats["facts"] == 2 * len(soak.USERS)
    with MemoryStore(path, clock=lambda: NOW) as store:
        viewers = store.export()["viewers"]
        said = [s for v in viewers for s in v["said"]]
        assert {v["user_id"] for v in viewers} == set(soak.USERS)
        assert all(s["answer"] for s in said)
        days = sorted({math.ceil((NOW - s["at"]) / 86400) for s in said})
        assert days == [1, 2, 3]  # streams began 3, 2 and 1 days ago
        assert max(s["at"] for s in said) < NOW
        assert max(v["visits"] for v in viewers) == 3  # a regular came to every stream
        # the daemon's retention (Settings' default) keeps all of it
        retention_s = Settings(_env_file=None).memory_retention_days * 86400  # type: ignore[call-arg]
        assert store.prune(NOW - retention_s) == 0
        # and recall finds the earlier streams' lines
        assert store.search(soak.LINES[0].rstrip("!"), limit=3)


def test_an_empty_seed_learns_no_facts(tmp_path: Path) -> None:
    soak = _soak()
    stats = soak.seed_memory(tmp_path / "memory.sqlite3", 0, random.Random(1), now=NOW)
    assert stats["messages"] == 0 and stats["facts"] == 0  # viewers without messages have no facts
