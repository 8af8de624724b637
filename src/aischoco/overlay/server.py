"""The overlay + control panel HTTP app (FastAPI). Pages are static; data comes from the API."""

from __future__ import annotations

import asyncio
import contextlib
import html
import json
import logging
import secrets
from collections.abc import AsyncIterator
from importlib import resources
from typing import Any, Literal
from urllib.parse import unquote, urlsplit

from fastapi import FastAPI, Request, WebSocket, WebSocketDisconnect
from fastapi.responses import HTMLResponse, JSONResponse, Response
from pydantic import BaseModel, Field, field_validator
from sse_starlette.sse import EventSourceResponse
from starlette.datastructures import Headers
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.types import ASGIApp, Receive, Scope, Send

from ..core.messages import ChatMessage, Kind, Role
from ..vtuber.params_feed import ParamsFeed
from .panel_api import PanelApi
from ..voice_studio.routes import add_voice_routes

log = logging.getLogger(__name__)

LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "[::1]", "::1")
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
TOKEN_HEADER = "x-aischoco-token"
TOKEN_PLACEHOLDER = "{{AISCHOCO_TOKEN}}"
MAX_MESSAGE_CHARS = 20_000  # hostile 10 KB messages are accepted (and truncated for the LLM)


class ChatIn(BaseModel):
    user: str = Field("로컬", min_length=1, max_length=100)
    user_id: str | None = Field(None, max_length=200)  # the viewer's stable id; default: the nickname
    message: str = Field(..., max_length=MAX_MESSAGE_CHARS)
    kind: Literal["chat", "donation", "subscription"] = "chat"
    role: Literal["viewer", "streamer", "manager"] = "viewer"
    amount: int | None = Field(None, ge=0, le=100_000_000)
    # CHZZK-style emoji: `{:name:}` in message → image URL (http/https only).
    emoticons: dict[str, str] = Field(default_factory=dict, max_length=40)

    @field_validator("emoticons")
    @classmethod
    def _emoji_urls(cls, value: dict[str, str]) -> dict[str, str]:
        for name, url in value.items():
            if not 0 < len(name) <= 50 or len(url) > 2000:
                raise ValueError("emoticon names are 1-50 chars, URLs at most 2000")
            if urlsplit(url).scheme not in ("http", "https"):
                raise ValueError("emoticon URLs must be http(s)")
        return value

    @field_validator("user")
    @classmethod
    def _strip_user(cls, value: str) -> str:
        value = value.strip()
        if not value:
            raise ValueError("user must not be blank")
        return value


class ForgetIn(BaseModel):
    user: str = Field(..., min_length=1, max_length=200)  # a user id or any nickname they used


class FactIn(BaseModel):
    id: int


class PauseIn(BaseModel):
    paused: bool | None = None  # omitted: toggle


class TestIn(BaseModel):
    what: Literal["groq", "tts", "vts", "vts_allow", "audio", "chat", "speak"]


class SettingsIn(BaseModel):
    values: dict[str, Any] = Field(..., max_length=300)


class IdleTalkIn(BaseModel):  # also the vision switch
    enabled: bool


class CrossOriginGuard:
    """State-changing requests must come from our own pages or from non-browser clients.

    Browsers always send Origin (and Sec-Fetch-Site) on cross-origin POSTs, so a web page the
    streamer visits cannot clear the overlay, inject chat or skip speech. Tools like curl send
    neither and are allowed: they already run on the streamer's machine. A plain ASGI middleware
    (not BaseHTTPMiddleware) because it sits in front of every chat POST during a flood.
    """

    def __init__(self, app: ASGIApp, token: str) -> None:
        self.app = app
        self.token = token

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] in UNSAFE_METHODS:
            headers = Headers(scope=scope)
            if not _allowed(headers, self.token):
                log.warning("rejected cross-origin %s %s (Origin=%r)", scope["method"],
                            scope["path"], headers.get("origin"))
                response = JSONResponse({"error": {"message": "cross-origin request rejected"}},
                                        status_code=403)
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)


def _allowed(headers: Headers, token: str) -> bool:
    """Non-browser clients (no Origin, no Sec-Fetch-*) pass. A browser request must be
    same-origin AND carry this run's token, which only our own pages know (it is embedded in
    them and changes at every start), so neither a foreign page nor a stale tab can act."""
    origin = headers.get("origin")
    fetch_site = headers.get("sec-fetch-site")
    if origin is None and fetch_site is None:
        return True
    if fetch_site not in (None, "same-origin"):
        return False
    if origin is not None:
        parts = urlsplit(origin)
        if parts.scheme not in ("http", "https") or parts.netloc != headers.get("host"):
            return False
    return secrets.compare_digest(headers.get(TOKEN_HEADER, ""), token)


def allowed_hosts(bind_host: str) -> list[str]:
    """Host headers we answer (a guard against DNS rebinding). Binding everywhere allows any."""
    if bind_host in ("0.0.0.0", "::", ""):
        return ["*"]
    return sorted({*LOOPBACK_HOSTS, bind_host})


def _result_page(title: str, text: str, *, ok: bool) -> str:
    colour = "#1a7f37" if ok else "#cf222e"
    return ("<!doctype html><html lang=ko><head><meta charset=utf-8>"
            f"<title>{html.escape(title)}</title></head><body style='font-family:sans-serif;"
            f"text-align:center;margin-top:15vh'><h1 style='color:{colour}'>{html.escape(title)}</h1>"
            f"<p>{html.escape(text)}</p><p><a href='/settings'>설정으로 돌아가기</a></p></body></html>")


def _page(name: str) -> str:
    return resources.files("aischoco.overlay").joinpath("static", name).read_text("utf-8")


def create_app(controls: PanelApi, *, bind_host: str = "127.0.0.1",
               token: str | None = None, params_feed: ParamsFeed | None = None,
               panel_password: str | None = None) -> FastAPI:
    """`token`: the per-run secret our pages send with state changes (random if not given).
    `params_feed`: the animator's parameter frames, streamed on WS /ws/params.
    `panel_password`: required (header X-Panel-Password) by the settings endpoints."""
    token = token or secrets.token_urlsafe(24)
    app = FastAPI(title="aischoco", docs_url=None, redoc_url=None, openapi_url=None)
    app.add_middleware(CrossOriginGuard, token=token)
    app.add_middleware(TrustedHostMiddleware, allowed_hosts=allowed_hosts(bind_host))
    pages = {name: _page(name).replace(TOKEN_PLACEHOLDER, token)
             for name in ("overlay.html", "panel.html", "settings.html", "voice.html")}
    no_store = {"Cache-Control": "no-store"}

    @app.get("/", response_class=HTMLResponse)
    async def panel() -> HTMLResponse:
        return HTMLResponse(pages["panel.html"], headers=no_store)

    @app.get("/overlay", response_class=HTMLResponse)
    async def overlay() -> HTMLResponse:
        return HTMLResponse(pages["overlay.html"], headers=no_store)

    def password_ok(request: Request) -> bool:
        if panel_password is None:
            return True
        # Our pages percent-encode it (a header cannot carry 한글); curl may send it raw.
        given = request.headers.get("x-panel-password", "")
        expected = panel_password.encode()
        return (secrets.compare_digest(given.encode(), expected)
                | secrets.compare_digest(unquote(given).encode(), expected))

    @app.get("/settings", response_class=HTMLResponse)
    async def settings_page() -> HTMLResponse:
        return HTMLResponse(pages["settings.html"], headers=no_store)

    add_voice_routes(app, controls, pages["voice.html"], password_ok)  # /voice, /api/voice/*

    @app.get("/api/settings")
    async def settings_view(request: Request) -> JSONResponse:
        if not password_ok(request):
            return JSONResponse({"error": "PANEL_PASSWORD가 필요합니다"}, 401, headers=no_store)
        view = controls.settings_view()
        if view is None:
            return JSONResponse({"error": "설정 파일 없이 실행 중입니다"}, 404, headers=no_store)
        return JSONResponse({**view, "password_required": panel_password is not None},
                            headers=no_store)

    @app.post("/api/settings")
    async def settings_save(request: Request, body: SettingsIn) -> JSONResponse:
        if not password_ok(request):
            return JSONResponse({"error": "PANEL_PASSWORD가 필요합니다"}, 401, headers=no_store)
        status, result = controls.save_settings(body.values)
        return JSONResponse(result, status, headers=no_store)

    @app.post("/api/settings/test")
    async def settings_test(request: Request, body: TestIn) -> JSONResponse:
        if not password_ok(request):
            return JSONResponse({"error": "PANEL_PASSWORD가 필요합니다"}, 401, headers=no_store)
        return JSONResponse(await controls.test_setting(body.what), headers=no_store)

    @app.get("/auth/chzzk/login")
    async def chzzk_login() -> Response:
        url, why = controls.chzzk_login_start()
        if url is None:
            return HTMLResponse(_result_page("치지직 로그인", why, ok=False), 400, headers=no_store)
        return Response(status_code=302, headers={"Location": url, **no_store})

    @app.get("/auth/chzzk/callback")
    async def chzzk_callback(request: Request) -> HTMLResponse:
        ok, text = await controls.chzzk_login_complete(dict(request.query_params))
        return HTMLResponse(_result_page("치지직 로그인 완료" if ok else "치지직 로그인 실패", text, ok=ok),
                            200 if ok else 400, headers=no_store)

    @app.post("/api/chzzk/logout")
    async def chzzk_logout(request: Request) -> JSONResponse:
        if not password_ok(request):
            return JSONResponse({"error": "PANEL_PASSWORD가 필요합니다"}, 401, headers=no_store)
        return JSONResponse({"logged_out": controls.chzzk_logout()}, headers=no_store)

    @app.get("/api/devices")
    async def devices() -> JSONResponse:
        return JSONResponse(await controls.devices(), headers=no_store)

    @app.get("/api/state")
    async def state() -> JSONResponse:
        return JSONResponse(controls.state(), headers=no_store)

    @app.get("/api/status")
    async def status() -> JSONResponse:
        return JSONResponse(controls.status_view(), headers=no_store)

    @app.get("/api/metrics")
    async def metrics() -> JSONResponse:
        return JSONResponse(controls.metrics(), headers=no_store)

    @app.get("/api/events")
    async def events(request: Request) -> EventSourceResponse:
        return EventSourceResponse(_event_stream(controls, request), ping=15,
                                   headers=no_store)

    @app.websocket("/ws/params")
    async def ws_params(websocket: WebSocket) -> None:
        # Read-only avatar data, but a foreign web page still must not read it: same rule as
        # CrossOriginGuard (no Origin = a local non-browser client such as Unity; else same-origin).
        # TrustedHostMiddleware already checked the Host header of the handshake.
        if not _same_origin_or_none(websocket.headers):
            log.warning("rejected cross-origin /ws/params (Origin=%r)",
                        websocket.headers.get("origin"))
            await websocket.close(code=1008)
            return
        await websocket.accept()
        if params_feed is None:
            await websocket.close(code=1013, reason="no animator")
            return
        await _stream_params(websocket, params_feed)

    @app.post("/api/chat")
    async def chat(body: ChatIn) -> dict[str, Any]:
        role = Role(body.role)
        msg = ChatMessage(user=body.user, message=body.message, user_id=body.user_id or body.user,
                          role=role, kind=Kind(body.kind), amount=body.amount,
                          emoticons=body.emoticons, source="api")
        return controls.chat(msg)

    @app.post("/api/clear")
    async def clear() -> dict[str, Any]:
        controls.clear()
        return {"ok": True}

    @app.post("/api/toggle_streamer_chat")
    async def toggle_streamer_chat() -> dict[str, Any]:
        return {"ignore_streamer_chat": controls.toggle_streamer_chat()}

    @app.post("/api/vision")
    async def vision_switch(body: IdleTalkIn) -> dict[str, Any]:
        return {"enabled": controls.set_vision(body.enabled)}

    @app.get("/api/vision/frame")
    async def vision_frame() -> Response:
        frame = controls.vision_frame()
        if frame is None:
            return Response(status_code=204, headers={"Cache-Control": "no-store"})
        return Response(frame, media_type="image/jpeg", headers={"Cache-Control": "no-store"})

    @app.post("/api/idle_talk")
    async def idle_talk(body: IdleTalkIn) -> dict[str, Any]:
        return {"enabled": controls.set_idle_talk(body.enabled)}

    @app.post("/api/pause")
    async def pause(body: PauseIn | None = None) -> dict[str, Any]:
        return {"paused": controls.set_paused(body.paused if body else None)}

    @app.post("/api/resume")
    async def resume() -> dict[str, Any]:
        return {"paused": controls.set_paused(False)}

    @app.post("/api/skip")
    async def skip() -> dict[str, Any]:
        return {"skipped": controls.skip()}

    @app.get("/api/memory")
    async def memory(user: str | None = None) -> JSONResponse:
        """One viewer (user id or any nickname they used; all who match), or the regulars."""
        return JSONResponse(await controls.memory_lookup(user), headers=no_store)

    @app.post("/api/memory/forget")
    async def memory_forget(body: ForgetIn) -> dict[str, Any]:
        return {"forgotten": await controls.memory_forget(body.user)}

    @app.post("/api/memory/delete_fact")
    async def memory_delete_fact(body: FactIn) -> dict[str, Any]:
        return {"deleted": await controls.memory_delete_fact(body.id)}

    return app


def _same_origin_or_none(headers: Headers) -> bool:
    origin = headers.get("origin")
    if origin is None:
        return True
    parts = urlsplit(origin)
    return parts.scheme in ("http", "https") and parts.netloc == headers.get("host")


async def _stream_params(websocket: WebSocket, feed: ParamsFeed) -> None:
    """Newest frame only: a slow client skips frames rather than lagging behind the avatar."""
    slot = feed.subscribe()

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
