"""A faithful OBS WebSocket v5 peer on loopback (obs-websocket 5.x protocol), in a thread of its own.

- Hello (op 0) with `authentication: {challenge, salt}` when a password is set; Identify (op 1) must
  carry base64(sha256(base64(sha256(password + salt)) + challenge)), else the socket is closed with
  4009 "Authentication failed." as OBS does; then Identified (op 2).
- Requests (op 6) → RequestResponse (op 7): `GetCurrentProgramScene`, `GetSourceScreenshot`
  (`imageData` = a `data:image/jpg;base64,...` JPEG of the scene's picture, `imageWidth` honoured),
  anything else → requestStatus code 204 (unknown request type); a missing source → code 600.
- `scenes` maps scene names to pictures (PIL images); `program` is what the stream shows now;
  `drop()` closes every connection mid-session; every request is recorded.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import io
import json
import secrets
import threading
from dataclasses import dataclass
from typing import Any

from PIL import Image
from websockets.asyncio.server import ServerConnection, serve


@dataclass
class ObsRequest:
    type: str
    data: dict[str, Any]


class ObsServer:
    def __init__(self, password: str | None = "obs-secret") -> None:
        self.password = password
        self.scenes: dict[str, Image.Image] = {"게임 장면": Image.new("RGB", (1920, 1080), "red")}
        self.program = "게임 장면"
        self.requests: list[ObsRequest] = []
        self.identified = 0
        self.refused = 0
        self._connections: set[ServerConnection] = set()
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._stop: asyncio.Event | None = None
        self.port = 0
        self._thread = threading.Thread(target=self._run, name="obs-peer", daemon=True)

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    def __enter__(self) -> ObsServer:
        self._thread.start()
        self._ready.wait(10)
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._stop is not None
        self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(10)

    def drop(self) -> None:
        """Cut every connection now, without a closing handshake (OBS killed, network gone)."""
        async def abort_all() -> None:
            for ws in list(self._connections):
                ws.transport.abort()
        asyncio.run_coroutine_threadsafe(abort_all(), self._loop).result(5)

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._loop.run_until_complete(self._main())

    async def _main(self) -> None:
        self._stop = asyncio.Event()
        async with serve(self._session, "127.0.0.1", 0, max_size=None) as server:
            self.port = next(iter(server.sockets)).getsockname()[1]
            self._ready.set()
            await self._stop.wait()

    async def _session(self, ws: ServerConnection) -> None:
        self._connections.add(ws)
        try:
            hello: dict[str, Any] = {"obsWebSocketVersion": "5.5.0", "rpcVersion": 1}
            salt, challenge = secrets.token_urlsafe(16), secrets.token_urlsafe(16)
            if self.password:
                hello["authentication"] = {"challenge": challenge, "salt": salt}
            await ws.send(json.dumps({"op": 0, "d": hello}))
            identify = json.loads(await ws.recv())
            if identify.get("op") != 1:
                await ws.close(4007, "Not identified.")
                return
            if self.password:
                secret = base64.b64encode(hashlib.sha256((self.password + salt).encode()).digest())
                expected = base64.b64encode(hashlib.sha256(secret + challenge.encode()).digest())
                if identify["d"].get("authentication") != expected.decode():
                    self.refused += 1
                    await ws.close(4009, "Authentication failed.")
                    return
            self.identified += 1
            await ws.send(json.dumps({"op": 2, "d": {"negotiatedRpcVersion": 1}}))
            async for raw in ws:
                message = json.loads(raw)
                if message.get("op") == 6:
                    await ws.send(json.dumps({"op": 7, "d": self._answer(message["d"])}))
        except Exception:  # noqa: BLE001 - a client gone mid-session
            pass
        finally:
            self._connections.discard(ws)

    def _answer(self, d: dict[str, Any]) -> dict[str, Any]:
        kind, data = d.get("requestType", ""), d.get("requestData") or {}
        self.requests.append(ObsRequest(kind, data))
        reply: dict[str, Any] = {"requestType": kind, "requestId": d.get("requestId")}
        if kind == "GetCurrentProgramScene":
            reply["requestStatus"] = {"result": True, "code": 100}
            reply["responseData"] = {"sceneName": self.program,
                                     "currentProgramSceneName": self.program,
                                     "sceneUuid": "uuid-" + self.program,
                                     "currentProgramSceneUuid": "uuid-" + self.program}
        elif kind == "GetSourceScreenshot":
            picture = self.scenes.get(data.get("sourceName", ""))
            if picture is None:
                reply["requestStatus"] = {"result": False, "code": 600, "comment":
                                          f"No source was found by the name of `{data.get('sourceName')}`."}
                return reply
            width = int(data.get("imageWidth") or picture.width)
            shot = picture.resize((width, round(picture.height * width / picture.width)))
            out = io.BytesIO()
            shot.save(out, format="JPEG", quality=int(data.get("imageCompressionQuality", 80)))
            reply["requestStatus"] = {"result": True, "code": 100}
            reply["responseData"] = {"imageData": "data:image/jpg;base64,"
                                     + base64.b64encode(out.getvalue()).decode()}
        else:
            reply["requestStatus"] = {"result": False, "code": 204,
                                      "comment": "Your request type is not valid."}
        return reply
