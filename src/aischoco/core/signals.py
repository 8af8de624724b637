"""Ctrl-C / SIGTERM (and Ctrl-Break on Windows) ask the daemon to stop; a second one forces it."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
from collections.abc import Iterator
from types import FrameType

log = logging.getLogger(__name__)

STOP_SIGNALS = tuple(getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGBREAK")
                     if hasattr(signal, name))


@contextlib.contextmanager
def stop_on_signals(stop: asyncio.Event) -> Iterator[None]:
    loop = asyncio.get_running_loop()

    def request_stop(name: str) -> None:
        # A second Ctrl-C is a person who does not want to wait; a repeated SIGTERM is usually
        # a service manager that will escalate on its own.
        if stop.is_set() and name != "SIGTERM":
            log.warning("%s again: exiting immediately", name)
            os._exit(130)
        log.info("%s received: stopping", name)
        stop.set()

    restore: list[tuple[int, object]] = []
    for sig in STOP_SIGNALS:
        name = signal.Signals(sig).name
        try:
            loop.add_signal_handler(sig, request_stop, name)
            restore.append((sig, None))
        except (NotImplementedError, RuntimeError):
            # Windows' event loops have no add_signal_handler: use the plain handler and hop
            # onto the loop thread-safely (the handler runs between bytecodes of the main thread).
            def handler(signum: int, frame: FrameType | None, name: str = name) -> None:
                loop.call_soon_threadsafe(request_stop, name)

            restore.append((sig, signal.signal(sig, handler)))
    try:
        yield
    finally:
        for sig, previous in restore:
            with contextlib.suppress(Exception):
                if previous is None:
                    loop.remove_signal_handler(sig)
                else:
                    signal.signal(sig, previous)  # type: ignore[arg-type]
