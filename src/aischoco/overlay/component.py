"""Runs the overlay app with uvicorn inside our event loop, as a supervised component."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable

import uvicorn
from fastapi import FastAPI

from ..core.embedded_server import EmbeddedServer, ListenError, bind_socket
from ..core.status import State, StatusHandle
from ..core.supervisor import ComponentError


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
        try:
            sock = bind_socket(self._host, self._port)
        except ListenError as exc:  # Korean first, with the setting to change
            todo = listen_todo(exc)
            status.set(State.DEGRADED, str(exc), todo)
            raise ListenError(f"{exc} → {todo}", exc.errno) from None
        config = uvicorn.Config(self._app, log_level="warning", access_log=False,
                                timeout_graceful_shutdown=1, lifespan="off")
        server = EmbeddedServer(config)
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


def listen_todo(exc: ListenError) -> str:
    """What the streamer changes when the overlay server cannot listen."""
    if exc.port_in_use:
        return ("OVERLAY_PORT를 다른 번호로 바꾸거나(예: 8010), 그 포트를 쓰는 프로그램을 끄세요 — "
                "aischoco가 이미 실행 중이면 그 창을 쓰세요")
    return "OVERLAY_HOST를 이 PC의 주소(보통 127.0.0.1)로, OVERLAY_PORT를 1024 이상의 빈 번호로 바꾸세요"
