"""A fake VTube Studio plugin API that follows the rules in shared/research/vts.md: the envelope,
authentication before anything else, the token popup (accept/deny/already open), error ids, the
1-second rule (a parameter not re-sent within 1 s loses control: recorded), the hotkey queue
(32 entries, one executed per 5 frames) and restarts (tokens survive, like VTS's own file)."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import math
import re
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.routing import WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

from .threaded_server import ThreadedServer

DEFAULT_INPUTS: dict[str, tuple[float, float, float]] = {  # name: (min, max, default)
    "FaceAngleX": (-30, 30, 0), "FaceAngleY": (-30, 30, 0), "FaceAngleZ": (-30, 30, 0),
    "FacePositionX": (-15, 15, 0), "FacePositionY": (-15, 15, 0), "FacePositionZ": (-10, 10, 0),
    "MouthSmile": (0, 1, 0), "MouthOpen": (0, 1, 0), "Brows": (0, 1, 0.5),
    "EyeOpenLeft": (0, 1, 1), "EyeOpenRight": (0, 1, 1), "EyeLeftX": (-1, 1, 0),
    "EyeLeftY": (-1, 1, 0), "EyeRightX": (-1, 1, 0), "EyeRightY": (-1, 1, 0),
    "MousePositionX": (-1, 1, 0), "MousePositionY": (-1, 1, 0), "VoiceVolume": (0, 1, 0),
    "VoiceFrequency": (0, 1, 0), "VoiceVolumePlusMouthOpen": (0, 1, 0),
}
OPEN_REQUESTS = {"APIStateRequest", "AuthenticationTokenRequest", "AuthenticationRequest"}
CONTROL_S = 1.0
HOTKEY_FRAME_S = 1 / 60
HOTKEYS = ("Smile", "Angry", "Surprise")


@dataclass
class Session:
    ws: WebSocket
    authenticated: bool = False
    plugin: str = ""
    revoked: bool = False
    received: list[dict[str, Any]] = field(default_factory=list)
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)


class FakeVts(ThreadedServer):
    thread_name = "fake-vts"

    def __init__(self, *, port: int = 0, tokens: set[str] | None = None, popup: str = "accept",
                 popup_delay_s: float = 0.05) -> None:
        self.popup = popup  # accept | deny | wait (never answered)
        self.popup_delay_s = popup_delay_s
        self.tokens: set[str] = tokens if tokens is not None else set()
        self.inject_delay_s = 0.0
        self.foreign: set[str] = set()  # parameters another plugin holds in "set" mode
        self.custom: dict[str, tuple[float, float, float]] = {}
        self.frames: list[tuple[float, dict[str, float]]] = []  # (monotonic, values) per injection
        self.errors: list[tuple[str, int]] = []  # (messageType, errorID) answered
        self.lost_control: list[tuple[float, str]] = []  # 1-second rule violations
        self.hotkeys_run: list[tuple[float, str]] = []
        self.expressions: list[dict[str, Any]] = []
        self.token_requests = 0
        self.sessions: list[Session] = []
        self._controlled: dict[str, float] = {}  # parameter → last injection time
        self._hotkey_queue: list[str] = []
        self._popup_open = False
        self._lock = threading.Lock()
        self._tokens = itertools.count(1)
        app = Starlette(routes=[WebSocketRoute("/", self._endpoint)])
        self._bind_and_serve(app, port=port, ws="websockets-sansio", ws_ping_interval=None)

    # --- test controls --------------------------------------------------------------------------
    @property
    def url(self) -> str:
        return f"ws://{self.host}:{self.port}"

    def snapshot(self) -> list[tuple[float, dict[str, float]]]:
        with self._lock:
            return list(self.frames)

    def revoke(self) -> None:
        """The streamer revokes the plugin in VTS: tokens die, custom parameters are deleted,
        every request of an authenticated session answers error 50."""
        with self._lock:
            self.tokens.clear()
            self.custom.clear()
            for session in self.sessions:
                if session.authenticated:
                    session.revoked = True

    def wait_until(self, predicate: Any, timeout: float = 5.0) -> None:
        deadline = time.monotonic() + timeout
        while not predicate():
            if time.monotonic() > deadline:
                raise AssertionError("condition not met in time")
            time.sleep(0.01)

    def _before_stop(self) -> None:
        async def close_all() -> None:
            for session in list(self.sessions):
                with contextlib.suppress(Exception):  # already closing
                    await session.ws.close(code=1001)

        with contextlib.suppress(Exception):  # the server is going anyway
            self.call_soon(close_all(), timeout=2)

    async def _serve(self) -> None:
        checker = asyncio.ensure_future(self._rules())
        try:
            await super()._serve()
        finally:
            checker.cancel()

    # --- rules that run on their own clock ------------------------------------------------------
    async def _rules(self) -> None:
        last_hotkey = 0.0
        while True:
            await asyncio.sleep(0.02)
            now = time.monotonic()
            with self._lock:
                for name, at in list(self._controlled.items()):
                    if now - at > CONTROL_S:
                        self.lost_control.append((now, name))
                        del self._controlled[name]
                if self._hotkey_queue and now - last_hotkey >= 5 * HOTKEY_FRAME_S:
                    self.hotkeys_run.append((now, self._hotkey_queue.pop(0)))
                    last_hotkey = now

    # --- the API ----------------------------------------------------------------------------------
    async def _endpoint(self, ws: WebSocket) -> None:
        await ws.accept()
        session = Session(ws)
        with self._lock:
            self.sessions.append(session)
        tasks: set[asyncio.Task[None]] = set()
        try:
            while True:
                text = await ws.receive_text()
                try:
                    doc = json.loads(text)
                except ValueError:
                    await self._send(session, None, "APIError", {"errorID": 2,
                                                                 "message": "JSON invalid"})
                    continue
                session.received.append(doc)
                task = asyncio.ensure_future(self._handle(session, doc))
                tasks.add(task)
                task.add_done_callback(tasks.discard)
                if doc.get("messageType") != "AuthenticationTokenRequest":
                    await task  # VTS answers in order; only the popup waits on the side
        except (WebSocketDisconnect, RuntimeError):
            pass
        finally:
            for task in tasks:
                task.cancel()
            with self._lock:
                self.sessions.remove(session)
                self._controlled.clear()

    async def _send(self, session: Session, request_id: Any, message_type: str,
                    data: dict[str, Any]) -> None:
        if message_type == "APIError":
            self.errors.append((str(request_id), int(data["errorID"])))
        body = {"apiName": "VTubeStudioPublicAPI", "apiVersion": "1.0",
                "timestamp": int(time.time() * 1000), "messageType": message_type,
                "requestID": request_id, "data": data, "someFutureField": 1}
        async with session.lock:
            await session.ws.send_text(json.dumps(body))

    async def _handle(self, session: Session, doc: Any) -> None:
        rid = doc.get("requestID") if isinstance(doc, dict) else None
        err = _envelope_problem(doc)
        if err is not None:
            await self._send(session, rid, "APIError", {"errorID": err[0], "message": err[1]})
            return
        kind, data = doc["messageType"], doc.get("data") or {}
        if session.revoked:
            await self._send(session, rid, "APIError",
                             {"errorID": 50, "message": "Plugin permission was revoked."})
            return
        if kind not in OPEN_REQUESTS and not session.authenticated:
            await self._send(session, rid, "APIError",
                             {"errorID": 8, "message": "Request requires authentication."})
            return
        handler = getattr(self, f"_on_{kind}", None)
        if handler is None:
            await self._send(session, rid, "APIError", {"errorID": 7,
                                                        "message": f"Unknown request {kind}"})
            return
        if kind == "InjectParameterDataRequest" and self.inject_delay_s:
            await asyncio.sleep(self.inject_delay_s)
        result = await handler(session, data)
        if isinstance(result, tuple):
            await self._send(session, rid, "APIError", {"errorID": result[0],
                                                        "message": result[1]})
        else:
            await self._send(session, rid, kind.replace("Request", "Response"), result)

    async def _on_APIStateRequest(self, s: Session, d: dict[str, Any]) -> Any:
        return {"active": True, "vTubeStudioVersion": "1.28.15",
                "currentSessionAuthenticated": s.authenticated}

    async def _on_AuthenticationTokenRequest(self, s: Session, d: dict[str, Any]) -> Any:
        for key in ("pluginName", "pluginDeveloper"):
            if not 3 <= len(str(d.get(key, ""))) <= 32:
                return (52 if key == "pluginName" else 53, f"{key} invalid")
        if self._popup_open:
            return (51, "A token request is already ongoing.")
        self.token_requests += 1
        self._popup_open = True
        try:
            if self.popup == "wait":
                await asyncio.sleep(3600)
            await asyncio.sleep(self.popup_delay_s)
            if self.popup == "deny":
                return (50, "User has denied API access for your plugin.")
            token = f"tok{next(self._tokens):04d}" + "x" * 60
            with self._lock:
                self.tokens.add(token)
            return {"authenticationToken": token}
        finally:
            self._popup_open = False

    async def _on_AuthenticationRequest(self, s: Session, d: dict[str, Any]) -> Any:
        token = d.get("authenticationToken")
        if not token:
            return (100, "Token missing.")
        ok = token in self.tokens
        s.authenticated, s.plugin = ok, str(d.get("pluginName", ""))
        return {"authenticated": ok,
                "reason": "Token valid." if ok else "Token invalid or revoked."}

    async def _on_ParameterCreationRequest(self, s: Session, d: dict[str, Any]) -> Any:
        name = str(d.get("parameterName", ""))
        if not re.fullmatch(r"[A-Za-z0-9]{4,32}", name):
            return (350, "Parameter name invalid.")
        if name in DEFAULT_INPUTS:
            return (353, "Parameter name already used by a default parameter.")
        lo, hi, default = (float(d.get(k, 0)) for k in ("min", "max", "defaultValue"))
        if not lo < hi:
            return (351, "min must be below max")
        if not lo <= default <= hi:
            return (355, "default value out of range")
        with self._lock:
            self.custom[name] = (lo, hi, default)
        return {"parameterName": name}

    async def _on_InputParameterListRequest(self, s: Session, d: dict[str, Any]) -> Any:
        def entry(name: str, spec: tuple[float, float, float], by: str) -> dict[str, Any]:
            return {"name": name, "addedBy": by, "value": spec[2], "min": spec[0],
                    "max": spec[1], "defaultValue": spec[2]}
        return {"modelLoaded": True, "modelName": "Hiyori", "modelID": "hiyori01",
                "customParameters": [entry(n, v, s.plugin) for n, v in self.custom.items()],
                "defaultParameters": [entry(n, v, "VTube Studio")
                                      for n, v in DEFAULT_INPUTS.items()]}

    async def _on_InjectParameterDataRequest(self, s: Session, d: dict[str, Any]) -> Any:
        mode = d.get("mode", "set")
        if mode not in ("set", "add"):
            return (455, f"Mode {mode} invalid.")
        values = d.get("parameterValues") or []
        if not values:
            return (450, "No parameter values given.")
        frame: dict[str, float] = {}
        for item in values:
            name, value = str(item.get("id")), item.get("value")
            if name not in DEFAULT_INPUTS and name not in self.custom:
                return (453, f"Parameter {name} not found.")
            if not isinstance(value, (int, float)) or not math.isfinite(value) \
                    or abs(value) > 1_000_000:
                return (451, f"Value for {name} out of range.")
            if not 0 <= item.get("weight", 1) <= 1:
                return (452, f"Weight for {name} out of range.")
            if mode == "set" and name in self.foreign:
                return (454, f"Parameter {name} is currently controlled by another plugin.")
            frame[name] = float(value)
        now = time.monotonic()
        with self._lock:
            self.frames.append((now, frame))
            for name in frame:
                self._controlled[name] = now
        return {}

    async def _on_HotkeysInCurrentModelRequest(self, s: Session, d: dict[str, Any]) -> Any:
        return {"modelLoaded": True, "availableHotkeys": [
            {"name": n, "type": "ToggleExpression", "hotkeyID": f"id{n}"} for n in HOTKEYS]}

    async def _on_HotkeyTriggerRequest(self, s: Session, d: dict[str, Any]) -> Any:
        wanted = str(d.get("hotkeyID", ""))
        if not wanted:
            return (204, "Hotkey id missing.")
        if wanted not in HOTKEYS and wanted.removeprefix("id") not in HOTKEYS:
            return (202, f"Hotkey {wanted} not found.")
        with self._lock:
            if len(self._hotkey_queue) >= 32:
                return (200, "Hotkey queue full.")
            self._hotkey_queue.append(wanted)
        return {"hotkeyID": wanted}

    async def _on_ExpressionActivationRequest(self, s: Session, d: dict[str, Any]) -> Any:
        if not str(d.get("expressionFile", "")).endswith(".exp3.json"):
            return (650, "Expression file invalid.")
        self.expressions.append(dict(d))
        return {}


def _envelope_problem(doc: Any) -> tuple[int, str] | None:
    if not isinstance(doc, dict):
        return (2, "JSON invalid")
    if doc.get("apiName") != "VTubeStudioPublicAPI":
        return (3, "API name invalid")
    if doc.get("apiVersion") != "1.0":
        return (4, "API version invalid")
    rid = doc.get("requestID")
    if not isinstance(rid, str) or not 1 <= len(rid) <= 64 or not rid.isascii():
        return (5, "requestID invalid")
    if not isinstance(doc.get("messageType"), str) or not doc["messageType"]:
        return (6, "messageType missing")
    return None

