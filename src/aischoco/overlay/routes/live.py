"""What the pages read, live: the state and status, latency metrics, the event stream (SSE
/api/events: a reconnect always starts with the full state) and the animator's parameter frames
(WS /ws/params: newest frame only)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator

from fastapi import APIRouter, Request, WebSocket, WebSocketDisconnect
from fastapi.responses import JSONResponse
from sse_starlette.sse import EventSourceResponse

from ...vtuber.params_feed import ParamsFeed
from ..guard import NO_STORE, same_origin_or_none
from ..panel_api import PanelApi

log = logging.getLogger(__name__)


def live_router(controls: PanelApi, params_feed: ParamsFeed | None) -> APIRouter:
    router = APIRouter()

    @router.get("/api/state")
    async def state() -> JSONResponse:
        return JSONResponse(controls.state(), headers=NO_STORE)

    @router.get("/api/status")
    async def status() -> JSONResponse:
        return JSONResponse(controls.status_view(), headers=NO_STORE)

    @router.get("/api/metrics")
    async def metrics() -> JSONResponse:
        return JSONResponse(controls.metrics(), headers=NO_STORE)

    @router.get("/api/events")
    async def events(request: Request) -> EventSourceResponse:
        return EventSourceResponse(_event_stream(controls, request), ping=15, headers=NO_STORE)

    @router.websocket("/ws/params")
    async def ws_params(websocket: WebSocket) -> None:
        # Read-only avatar data, but a foreign web page still must not read it: same rule as
        # CrossOriginGuard (no Origin = a local non-browser client such as Unity; else same-origin).
        # TrustedHostMiddleware already checked the Host header of the handshake.
        if not same_origin_or_none(websocket.headers):
            log.warning("rejected cross-origin /ws/params (Origin=%r)",
                        websocket.headers.get("origin"))
            await websocket.close(code=1008)
            return
        await websocket.accept()
        if params_feed is None:
            await websocket.close(code=1013, reason="no animator")
            return
        avatar = websocket.query_params.get("avatar") == "1"
        await _stream_params(websocket, params_feed, avatar=avatar)

    return router


async def _stream_params(websocket: WebSocket, feed: ParamsFeed, *, avatar: bool) -> None:
    """Newest frame only: a slow client skips frames rather than lagging behind the avatar."""
    slot = feed.subscribe(avatar=avatar)

    async def until_disconnect() -> None:
        with contextlib.suppress(WebSocketDisconnect, RuntimeError, OSError):
            while (await websocket.receive())["type"] != "websocket.disconnect":
                pass  # clients have nothing to say; ignore what they send
        slot.close()

    watcher = asyncio.create_task(until_disconnect())
    try:
        while (frame := await slot.next()) is not None:
            await websocket.send_text(frame)
    except (WebSocketDisconnect, RuntimeError, OSError):
        pass  # the client went away
    finally:
        feed.unsubscribe(slot)
        watcher.cancel()


async def _event_stream(controls: PanelApi, request: Request) -> AsyncIterator[dict[str, str]]:
    sub = controls.subscribe()
    try:
        # A (re)connecting client first gets the full state: a reconnect is always a resync.
        yield {"event": "snapshot", "data": json.dumps(controls.state(), ensure_ascii=False)}
        while not sub.overflowed:
            event = await sub.queue.get()
            if event is None or await request.is_disconnected():
                break
            yield {"event": str(event.get("type", "message")),
                   "data": json.dumps(event, ensure_ascii=False)}
    finally:
        controls.unsubscribe(sub)
