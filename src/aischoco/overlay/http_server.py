"""Runs the overlay app with uvicorn inside our event loop, as a supervised component."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import Callable, Iterator

import uvicorn
from fastapi import FastAPI

from ..core.status import State, StatusHandle
from ..core.supervisor import ComponentError

log = logging.getLogger(__name__)


class _EmbeddedServer(uvicorn.Server):
    """uvicorn without its own signal handling: the daemon owns Ctrl-C and SIGTERM."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def bind_socket(host: str, port: int) -> socket.socket:
    """Bind before serving so "port in use" is a clear error instead of uvicorn's sys.exit."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP explicitly: asyncio sets TCP_NODELAY on accepted connections only when the
    # listening socket says TCP; without it small responses wait ~40 ms for delayed ACKs.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    if hasattr(socket, "SO_EXCLUSIVEADDRUSE"):  # Windows: never share a port with another app
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_EXCLUSIVEADDRUSE, 1)
    else:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise ComponentError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    sock.listen(128)
    sock.setblocking(False)
    return sock


class OverlayServer:
    name = "overlay"

    def __init__(self, app: FastAPI, host: str, port: int, *, public_url: str,
                 on_stop: Callable[[], None] = lambda: None) -> None:
        self._app = app
        self._host = host
        self._port = port
        self._public_url = public_url
        self._on_stop = on_stop

    async def run(self, status: StatusHandle) -> None:
        sock = bind_socket(self._host, self._port)
        config = uvicorn.Config(self._app, log_level="warning", access_log=False,
                                timeout_graceful_shutdown=1, lifespan="off")
        server = _EmbeddedServer(config)
        url = self._public_url
        serving = asyncio.create_task(server.serve(sockets=[sock]), name="uvicorn")
        status.set(State.RUNNING, f"{url}/overlay · 컨트롤 패널 {url}/")
        try:
            await asyncio.shield(serving)
            raise ComponentError("overlay server stopped unexpectedly")
        finally:
            self._on_stop()  # end SSE streams so uvicorn's graceful shutdown is quick
            server.should_exit = True
            with contextlib.suppress(BaseException):
                await asyncio.wait_for(serving, 2.5)
            sock.close()
