"""Keep Python's full garbage collections short for a whole stream.

A full (generation-2) collection walks every container object the process holds, and it stops
every thread while it does — the event loop too, so the VTube Studio parameters and the avatar's
frames stall with it. Almost all of those objects are made at start-up (module code, settings,
the components, a local model's Python side) and live until exit: ~110,000 in a soak, where a
full collection took 60–85 ms. Once the parts have started they are moved out of the collector's
way (`gc.freeze`); what the stream makes afterwards is collected as before, and a full collection
then walks ~2,000 objects (1 ms).

The cost, and its bound: an object frozen here that later becomes part of an unreachable cycle is
never collected. Only what is alive at a freeze can be, and a freeze follows only a part's first
start (at most once per part), so a component rebuilt from the settings page leaks at most its
first instance's cycles, once; plain reference counting still frees everything else.

And, on Linux (glibc), fewer malloc arenas: glibc gives each thread that allocates its own arena
(up to 8 per core), and each keeps its own free holes. Two (the main thread's and one the others
share) held ~1.3 MB fewer free bytes and ~2 MB less RSS from the start in a soak (README, "장시간
소크"); the holes still fill a little in the first half hour, then stay. Windows' and macOS's
allocators are not affected (nor touched)."""

from __future__ import annotations

import asyncio
import ctypes
import gc
import logging
import os
import sys
import time
from collections.abc import Callable

from .status import State, StatusBoard

log = logging.getLogger(__name__)

QUIET_S = 5.0  # no part newly running for this long: start-up (or a late first start) is over
MALLOC_ARENAS = 2
_M_ARENA_MAX = -8  # glibc's malloc.h


def limit_malloc_arenas(count: int = MALLOC_ARENAS) -> bool:
    """Before any thread starts: cap glibc's malloc arenas at `count`. Not on other platforms or
    C libraries, and not when the person running it chose (MALLOC_ARENA_MAX / GLIBC_TUNABLES).
    True when the cap is set."""
    if not sys.platform.startswith("linux") or "MALLOC_ARENA_MAX" in os.environ \
            or "arena_max" in os.environ.get("GLIBC_TUNABLES", ""):
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt  # glibc (musl has none)
    except (OSError, AttributeError):
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    return mallopt(_M_ARENA_MAX, count) == 1


def freeze_survivors() -> int:
    """Collect what is garbage now, then freeze the rest. Returns how many objects are frozen."""
    gc.collect()
    gc.freeze()
    return gc.get_freeze_count()


async def freeze_after_first_starts(board: StatusBoard, *, quiet_s: float = QUIET_S,
                                    poll_s: float = 1.0,
                                    freeze: Callable[[], int] = freeze_survivors) -> None:
    """Beside the supervisor for the daemon's life: whenever parts reach `running` for the first
    time (start-up; a TTS model that loads later; an LLM whose key is saved mid-stream), wait
    until none has for `quiet_s`, then freeze. A part that restarts is not new: no freeze."""
    seen: set[str] = set()
    newest: float | None = None  # when the last first start was seen, until it is frozen
    while True:
        await asyncio.sleep(poll_s)
        running = {item["name"] for item in board.snapshot() if item["state"] == State.RUNNING.value}
        if running - seen:
            seen |= running
            newest = time.monotonic()
        elif newest is not None and time.monotonic() - newest >= quiet_s:
            newest = None
            frozen = freeze()
            log.info("start-up objects set aside from garbage collection: %d (parts running: %s)",
                     frozen, ", ".join(sorted(seen)))
