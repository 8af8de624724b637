"""A uvicorn app in a daemon thread on a socket bound at construction — the shape every Python
test peer here shares (the port is known and reserved before start; connections queue at once).
`ScriptedServer` adds what the HTTP API peers share: a queue of scripted behaviours, one per
request, and a record of every request."""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
from collections import deque
from collections.abc import Iterable
from typing import Any, Generic, Self, TypeVar

import uvicorn
from starlette.requests import Request
from starlette.types import ASGIApp

BehaviourT = TypeVar("BehaviourT")
RecordT = TypeVar("RecordT")


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


class ScriptedServer(ThreadedServer, Generic[BehaviourT, RecordT]):
    """Each request consumes the next scripted behaviour (`default` once the script is empty);
    every request is recorded. Thread-safe: tests script and inspect from their own thread."""

    def _init_script(self, default: BehaviourT) -> None:
        self.default = default
        self._lock = threading.Lock()
        self._script: deque[BehaviourT] = deque()
        self._records: list[RecordT] = []

    def script(self, behaviours: Iterable[BehaviourT]) -> None:
        """Queue behaviours, one per request, after any still queued."""
        with self._lock:
            self._script.extend(behaviours)

    @property
    def pending(self) -> int:
        with self._lock:
            return len(self._script)

    @property
    def requests(self) -> list[RecordT]:
        with self._lock:
            return list(self._records)

    def clear(self) -> None:
        with self._lock:
            self._script.clear()
            self._records.clear()

    def _take(self, record: RecordT, *, consume: bool = True) -> BehaviourT:
        """Record the request; the next scripted behaviour (or `default` when not consuming)."""
        with self._lock:
            self._records.append(record)
            if consume and self._script:
                return self._script.popleft()
            return self.default


async def read_request(request: Request) -> tuple[dict[str, str], Any]:
    """Lower-cased headers and the body: parsed JSON, or the text when it is not JSON."""
    raw = await request.body()
    try:
        body: Any = json.loads(raw)
    except ValueError:
        body = raw.decode("utf-8", "replace")
    return {k.lower(): v for k, v in request.headers.items()}, body
