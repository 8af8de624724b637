"""A minimal OBS WebSocket v5 client (built into OBS 28+): identify, then request/response.

Protocol (obs-websocket 5.x): the server sends Hello (op 0) with, when a password is set,
`authentication: {challenge, salt}`; the client answers Identify (op 1) with
`base64(sha256(base64(sha256(password + salt)) + challenge))`; the server confirms with
Identified (op 2) or closes the socket (code 4009: authentication failed). Requests are op 6
`{requestType, requestId, requestData}`, answered by op 7 with `requestStatus.result`.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import uuid
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

AUTH_FAILED = 4009
MAX_FRAME_BYTES = 64 * 1024 * 1024  # a screenshot of a 4K canvas as PNG stays under this


class ObsError(Exception):
    """OBS could not be reached or refused a request; str() is one line for the status row."""


class ObsAuthError(ObsError):
    """Wrong or missing password: retrying soon will not help."""


def auth_response(password: str, salt: str, challenge: str) -> str:
    secret = base64.b64encode(hashlib.sha256((password + salt).encode()).digest()).decode()
    return base64.b64encode(hashlib.sha256((secret + challenge).encode()).digest()).decode()


class ObsClient:
    def __init__(self, url: str, password: str | None, *, timeout_s: float = 5.0) -> None:
        self.url = url
        self._password = password
        self._timeout_s = timeout_s
        self._ws: ClientConnection | None = None

    @property
    def connected(self) -> bool:
        return self._ws is not None

    async def connect(self) -> None:
        try:
            ws = await connect(self.url, max_size=MAX_FRAME_BYTES, open_timeout=self._timeout_s,
                               ping_interval=20, ping_timeout=20)
        except (OSError, TimeoutError) as exc:
            raise ObsError(f"OBS에 연결할 수 없습니다 ({self.url}): {exc}") from None
        except Exception as exc:  # noqa: BLE001 - handshake refusals of any kind
            raise ObsError(f"OBS WebSocket 연결 실패 ({self.url}): {exc}") from None
        try:
            hello = await self._receive(ws, 0)
            identify: dict[str, Any] = {"rpcVersion": 1, "eventSubscriptions": 0}
            auth = hello.get("authentication")
            if isinstance(auth, dict):
                if not self._password:
                    raise ObsAuthError("OBS WebSocket에 비밀번호가 걸려 있습니다: OBS_WS_PASSWORD를 넣으세요")
                identify["authentication"] = auth_response(self._password, str(auth.get("salt")),
                                                           str(auth.get("challenge")))
            await ws.send(json.dumps({"op": 1, "d": identify}))
            await self._receive(ws, 2)
        except ConnectionClosed as exc:
            await ws.close()
            if exc.rcvd is not None and exc.rcvd.code == AUTH_FAILED:
                raise ObsAuthError("OBS WebSocket 비밀번호가 틀립니다 (OBS_WS_PASSWORD)") from None
            raise ObsError(f"OBS가 연결을 닫았습니다 ({exc})") from None
        except BaseException:
            await ws.close()
            raise
        self._ws = ws

    async def request(self, request_type: str, data: dict[str, Any] | None = None) -> dict[str, Any]:
        if self._ws is None:
            await self.connect()
        assert self._ws is not None
        request_id = uuid.uuid4().hex
        try:
            await self._ws.send(json.dumps({"op": 6, "d": {
                "requestType": request_type, "requestId": request_id,
                "requestData": data or {}}}))
            while True:
                reply = await self._receive(self._ws, 7)
                if reply.get("requestId") == request_id:
                    break
        except ConnectionClosed as exc:
            await self.close()
            raise ObsError(f"OBS 연결이 끊겼습니다 ({exc.rcvd.code if exc.rcvd else '-'})") from None
        except TimeoutError:
            await self.close()
            raise ObsError(f"OBS가 {self._timeout_s:g}초 안에 답하지 않았습니다") from None
        status = reply.get("requestStatus") or {}
        if not status.get("result"):
            raise ObsError(f"{request_type}: {status.get('comment') or '실패'} "
                           f"(코드 {status.get('code')})")
        response = reply.get("responseData")
        return response if isinstance(response, dict) else {}

    async def close(self) -> None:
        ws, self._ws = self._ws, None
        if ws is not None:
            await ws.close()

    async def _receive(self, ws: ClientConnection, op: int) -> dict[str, Any]:
        """The next message with this op (events and others are skipped)."""
        while True:
            async with asyncio.timeout(self._timeout_s):
                raw = await ws.recv()
            try:
                message = json.loads(raw)
            except ValueError:
                continue
            if isinstance(message, dict) and message.get("op") == op:
                data = message.get("d")
                return data if isinstance(data, dict) else {}
