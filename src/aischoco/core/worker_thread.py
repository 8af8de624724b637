"""One daemon thread that runs blocking jobs in order (model loading, inference) for an async
owner. Daemon, so a model download still running at shutdown cannot keep the process alive."""

from __future__ import annotations

import asyncio
import concurrent.futures
import queue
import threading
from collections.abc import Callable
from typing import Any


class WorkerThread:
    def __init__(self, name: str, closed_error: Callable[[], Exception]) -> None:
        """`closed_error` builds the exception for jobs submitted after stop()."""
        self._jobs: queue.SimpleQueue[tuple[concurrent.futures.Future[Any], Callable[..., Any],
                                            tuple[Any, ...]] | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._serve, name=name, daemon=True)
        self._closed_error = closed_error
        self._stopped = False

    def submit(self, fn: Callable[..., Any], *args: Any) -> concurrent.futures.Future[Any]:
        if self._stopped:
            raise self._closed_error()
        if not self._thread.is_alive():
            self._thread.start()
        future: concurrent.futures.Future[Any] = concurrent.futures.Future()
        self._jobs.put((future, fn, args))
        return future

    async def run(self, fn: Callable[..., Any], *args: Any) -> Any:
        return await asyncio.wrap_future(self.submit(fn, *args))

    def stop(self) -> None:
        """No new jobs; the thread ends after the ones already queued."""
        self._stopped = True
        self._jobs.put(None)

    async def join(self, timeout_s: float) -> bool:
        """Wait (off the loop) for the thread to end. A thread that touched torch must not still
        be running when the process exits: torch's C++ teardown then aborts the process."""
        if self._thread.is_alive():
            await asyncio.to_thread(self._thread.join, timeout_s)
        return not self._thread.is_alive()

    def _serve(self) -> None:
        while (job := self._jobs.get()) is not None:
            future, fn, args = job
            if not future.set_running_or_notify_cancel():
                continue
            try:
                future.set_result(fn(*args))
            except BaseException as exc:  # noqa: BLE001 - handed to the awaiting side
                future.set_exception(exc)
