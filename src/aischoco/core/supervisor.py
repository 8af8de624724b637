"""Runs every component as one named task, restarts the ones that fail, and stops them all in time.

Why not a bare ``asyncio.TaskGroup``: a TaskGroup cancels everything when one child fails (we want the
others to keep running) and waits without a deadline on exit (a library that swallows cancellation
would hang shutdown past the 5 s promise). The supervisor keeps one task per component, restarts with
backoff, and on stop cancels with a deadline.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol

from .backoff import backoff_delay
from .status import State, StatusBoard, StatusHandle

log = logging.getLogger(__name__)

# A component that ran this long before failing is considered healthy again: backoff starts over.
STABLE_AFTER_S = 60.0


class Component(Protocol):
    name: str

    async def run(self, status: StatusHandle) -> None:
        """Run until cancelled. Raising means "failed, restart me"; returning means "done"."""


class ClosableComponent(Component, Protocol):
    """A component holding clients or devices that shutdown (or a restart) must release."""

    async def aclose(self) -> None: ...


class ComponentError(Exception):
    """A failure with a message meant for the streamer (no traceback needed)."""


@dataclass(slots=True)
class _Entry:
    component: Component
    status: StatusHandle
    task: asyncio.Task[None] | None = None


class Supervisor:
    def __init__(self, board: StatusBoard, *, max_backoff_s: float = 30.0) -> None:
        self._board = board
        self._entries: list[_Entry] = []
        self._flushers: list[tuple[str, Callable[[], Awaitable[None]]]] = []
        self._max_backoff_s = max_backoff_s

    def add(self, component: Component, label: str) -> StatusHandle:
        handle = self._board.register(component.name, label)
        self._entries.append(_Entry(component, handle))
        return handle

    def on_shutdown(self, name: str, flush: Callable[[], Awaitable[None]]) -> None:
        """Register work that must finish before exit (saving history, closing files)."""
        self._flushers.append((name, flush))

    async def replace(self, component: Component, label: str, *,
                      closers: list[Callable[[], Awaitable[None]]] | None = None,
                      stop_timeout_s: float = 3.0) -> None:
        """Swap in a rebuilt component (new settings from the panel) under the same name: the
        old one is stopped and closed, the new one runs under supervision in its place (its
        status row shows it coming back). A name not running yet is added."""
        name = component.name
        entry = next((e for e in self._entries if e.component.name == name), None)
        if entry is None:
            entry = _Entry(component, self._board.register(name, label))
            self._entries.append(entry)
        else:
            old, task = entry.component, entry.task
            if task is not None and not task.done():
                task.cancel()
                await asyncio.wait({task}, timeout=stop_timeout_s)
            for flush_name, flush in [f for f in self._flushers if f[0] == name]:
                self._flushers.remove((flush_name, flush))
                try:
                    await asyncio.wait_for(flush(), timeout=stop_timeout_s)
                except Exception:  # noqa: BLE001 - the old one's close failing must not block
                    log.exception("closing the old %s failed", name)
            del old
            entry.component = component
        for close in closers or ():
            self._flushers.append((name, close))
        log.info("%s restarted with new settings", name)
        entry.task = asyncio.create_task(self._supervise(entry), name=name)

    async def run(self, stop: asyncio.Event, *, shutdown_timeout_s: float = 4.0) -> None:
        for entry in self._entries:
            entry.task = asyncio.create_task(self._supervise(entry), name=entry.component.name)
        await stop.wait()
        await self._shutdown(shutdown_timeout_s)

    async def _supervise(self, entry: _Entry) -> None:
        attempt = 0
        status = entry.status
        while True:
            status.set(State.STARTING)
            started = time.monotonic()
            try:
                await entry.component.run(status)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - a component failure must never end the daemon
                if time.monotonic() - started > STABLE_AFTER_S:
                    attempt = 0
                delay = backoff_delay(attempt, cap_s=self._max_backoff_s)
                attempt += 1
                message = str(exc) or type(exc).__name__
                if isinstance(exc, ComponentError):
                    log.error("%s failed: %s", entry.component.name, message)
                else:
                    log.exception("%s crashed", entry.component.name)
                board_item = status.current
                self._board.update(entry.component.name, restarts=board_item.restarts + 1,
                                   last_error=message)
                status.set(State.RESTARTING, f"{delay:.1f}초 후 재시작: {message}",
                           board_item.hint)
                await asyncio.sleep(delay)
                continue
            status.set(State.STOPPED)
            return

    async def _shutdown(self, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        tasks = [e.task for e in self._entries if e.task is not None]
        for task in tasks:
            task.cancel()
        if tasks:
            _, pending = await asyncio.wait(tasks, timeout=max(0.1, deadline - time.monotonic()))
            for task in pending:
                log.warning("component %s did not stop in time; leaving it", task.get_name())
        for entry in self._entries:
            if entry.status.current.state not in (State.OFF, State.NOT_CONFIGURED,
                                                  State.UNAVAILABLE):
                entry.status.set(State.STOPPED)
        for name, flush in self._flushers:
            try:
                await asyncio.wait_for(flush(), timeout=max(0.1, deadline - time.monotonic() + 0.5))
            except Exception:  # noqa: BLE001 - one failed flush must not skip the others
                log.exception("flushing %s on shutdown failed", name)
