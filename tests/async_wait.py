"""Inside an async test (the chat sources' tests share these): polling for a condition, and a
loopback peer whose start/stop block, run off the event loop."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable
from typing import Any, TypeVar

Peer = TypeVar("Peer", bound=Any)


async def until(predicate: Callable[[], object], timeout: float = 5.0, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what or predicate}")
        await asyncio.sleep(0.01)


@contextlib.asynccontextmanager
async def serving(server: Peer) -> AsyncIterator[Peer]:
    """`server.start()` … `server.stop()` in a worker thread (they block), around the test."""
    await asyncio.to_thread(server.start)
    try:
        yield server
    finally:
        await asyncio.to_thread(server.stop)
