"""A uvicorn app in a daemon thread on a socket bound at construction — the shape every Python
test peer here shares (the port is known and reserved before start; connections queue at once)."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from typing import Any, Self

import uvicorn
from starlette.types import ASGIApp


class ThreadedServer:
    thread_name = "test-peer"

    def _bind_and_serve(self, app: ASGIApp, *, host: str = "127.0.0.1", port: int = 0,
                        **config: Any) -> None:
        """Call at the end of the subclass's __init__, once the app can be built."""
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind((host, port))
        self._sock.listen(128)
        self.host, self.port = self._sock.getsockname()[:2]
        self._server = uvicorn.Server(uvicorn.Config(
            app, log_level="warning", access_log=False, lifespan="off",
            timeout_graceful_shutdown=1, **config))
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None

    async def _serve(self) -> None:
        self._loop = asyncio.get_running_loop()
        await self._server.serve(sockets=[self._sock])

    def call_soon(self, coro: Any, timeout: float = 5) -> Any:
        """Run a coroutine on the server's loop from the test thread and wait for it."""
        assert self._loop is not None, "server not started"
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout=timeout)

    def start(self) -> Self:
        self._thread = threading.Thread(target=asyncio.run, args=(self._serve(),),
                                        name=self.thread_name, daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"{type(self).__name__} did not start")
            time.sleep(0.005)
        return self

    def _before_stop(self) -> None:
        """Hook: e.g. close websockets politely."""

    def stop(self) -> None:
        if self._thread is not None and self._thread.is_alive():
            self._before_stop()
        self._server.should_exit = True
        self._server.force_exit = True  # don't wait for slow handlers nobody listens to
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._sock.close()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
