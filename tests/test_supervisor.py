from __future__ import annotations

import asyncio

import pytest

from aischoco.core import supervisor as supervisor_mod
from aischoco.core.backoff import backoff_delay
from aischoco.core.status import State, StatusBoard, StatusHandle
from aischoco.core.supervisor import ComponentError, Supervisor


class Flaky:
    """Fails `failures` times, then runs until cancelled."""

    def __init__(self, name: str, failures: int) -> None:
        self.name = name
        self.failures = failures
        self.starts = 0
        self.cancelled = False

    async def run(self, status: StatusHandle) -> None:
        self.starts += 1
        if self.starts <= self.failures:
            raise ComponentError(f"boom {self.starts}")
        status.set(State.RUNNING, "ok")
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            self.cancelled = True
            raise


class Stubborn:
    """Swallows the first cancellation (as some libraries do) and keeps going."""

    name = "stubborn"

    async def run(self, status: StatusHandle) -> None:
        status.set(State.RUNNING)
        try:
            await asyncio.sleep(10)
        except asyncio.CancelledError:
            pass
        await asyncio.sleep(10)  # a second cancel (test teardown) ends it


def test_backoff_grows_caps_and_jitters() -> None:
    import random

    rng = random.Random(1)
    delays = [backoff_delay(n, base_s=0.5, cap_s=30, rng=rng) for n in range(12)]
    assert 0.25 <= delays[0] <= 0.5
    assert 2.0 <= delays[3] <= 4.0
    assert all(15.0 <= d <= 30.0 for d in delays[7:])


async def test_failed_component_restarts_with_backoff_and_others_keep_running(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(supervisor_mod, "backoff_delay", lambda attempt, **kw: 0.01 * (attempt + 1))
    board = StatusBoard()
    changes: list[tuple[str, str]] = []
    board.subscribe(lambda item: changes.append((item.name, item.state.value)))
    sup = Supervisor(board)
    flaky, steady = Flaky("flaky", failures=3), Flaky("steady", failures=0)
    sup.add(flaky, "flaky")
    sup.add(steady, "steady")
    stop = asyncio.Event()
    runner = asyncio.create_task(sup.run(stop))
    for _ in range(200):
        await asyncio.sleep(0.01)
        if board.get("flaky").state is State.RUNNING:
            break
    item = board.get("flaky")
    assert item.state is State.RUNNING and item.restarts == 3 and item.last_error == "boom 3"
    assert ("flaky", "restarting") in changes
    assert steady.starts == 1 and board.get("steady").state is State.RUNNING
    stop.set()
    await asyncio.wait_for(runner, 2)
    assert flaky.cancelled and steady.cancelled
    assert board.get("flaky").state is State.STOPPED


async def test_shutdown_has_a_deadline_and_flushes() -> None:
    board = StatusBoard()
    sup = Supervisor(board)
    sup.add(Stubborn(), "stubborn")
    flushed: list[str] = []

    async def flush() -> None:
        flushed.append("history")

    sup.on_shutdown("history", flush)
    stop = asyncio.Event()
    runner = asyncio.create_task(sup.run(stop, shutdown_timeout_s=0.3))
    await asyncio.sleep(0.05)
    loop = asyncio.get_running_loop()
    started = loop.time()
    stop.set()
    await asyncio.wait_for(runner, 2)
    assert loop.time() - started < 1.0
    assert flushed == ["history"]
