"""A real, scriptable CHZZK Open API auth server on 127.0.0.1 for tests.

    with ChzzkOpenApiServer(client_id="cid", client_secret="csecret") as api:
        api.expect_code("the-code")                 # authorization_code grant accepts it once
        pair = api.issue()                          # or mint a valid pair directly
        ChzzkTokens(base_url=api.base_url, ...)
        api.fail_next(503)                          # next token request answers 503
        api.revoke_all()                            # the streamer disconnected the app
        api.requests[-1].body; api.count("refresh_token")

Endpoints (every JSON answer wrapped ``{"code", "message", "content"}`` like CHZZK):

* ``POST /auth/v1/token`` — ``authorization_code`` (expected code, single use, client id/secret
  checked) and ``refresh_token`` (single use: a reused or unknown refresh token gets
  401 ``{"code":401,"message":"INVALID_TOKEN"}``; the old access token dies too).
* ``POST /auth/v1/token/revoke`` — ``{clientId, clientSecret, token, tokenTypeHint}``.
* ``GET /open/v1/users/me`` — Bearer access token: 200 with a channel, or 401 when unknown,
  revoked or expired (by the server's ``clock``).

``on_request`` (called in the server thread with each ``Recorded`` before it is answered) lets a
test observe what was on disk at the moment a request arrived.
"""

from __future__ import annotations

import json
import secrets
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


from peers.threaded_server import ThreadedServer
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route


@dataclass(frozen=True)
class Recorded:
    path: str
    headers: dict[str, str]
    body: Any

    @property
    def grant(self) -> str | None:
        return self.body.get("grantType") if isinstance(self.body, dict) else None


@dataclass(frozen=True)
class Issued:
    access_token: str
    refresh_token: str


def _wrap(content: Any, code: int = 200, message: str | None = None) -> JSONResponse:
    return JSONResponse({"code": code, "message": message, "content": content}, status_code=code)


class ChzzkOpenApiServer(ThreadedServer):
    thread_name = "chzzk-openapi-peer"

    """uvicorn on 127.0.0.1 in a daemon thread; use as a context manager."""

    def __init__(self, *, client_id: str = "test-client-id",
                 client_secret: str = "test-client-secret", expires_in: int | str = "86400",
                 channel_id: str = "channel-123", clock: Callable[[], float] = time.time) -> None:
        self.client_id = client_id
        self.client_secret = client_secret
        self.expires_in = expires_in
        self.channel_id = channel_id
        self.clock = clock
        self.on_request: Callable[[Recorded], None] | None = None
        self.delay_s = 0.0  # sleep before answering token requests (refresh-once tests)
        self._lock = threading.Lock()
        self._codes: set[str] = set()
        self._refresh: set[str] = set()  # valid, unused refresh tokens
        self._access: dict[str, float] = {}  # valid access token -> expiry
        self._failures: deque[int] = deque()
        self._requests: list[Recorded] = []
        self.issued: list[Issued] = []
        self._bind_and_serve(self.app())

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    # --- scripting and inspection (thread-safe) -------------------------------------------
    def expect_code(self, code: str) -> None:
        with self._lock:
            self._codes.add(code)

    def issue(self) -> Issued:
        """Mint a valid pair (as if a login had happened)."""
        with self._lock:
            return self._issue()

    def _issue(self) -> Issued:
        pair = Issued("at-" + secrets.token_urlsafe(16), "rt-" + secrets.token_urlsafe(16))
        self._refresh.add(pair.refresh_token)
        self._access[pair.access_token] = self.clock() + float(self.expires_in)
        self.issued.append(pair)
        return pair

    def fail_next(self, status: int = 500, count: int = 1) -> None:
        """The next ``count`` token requests answer ``status`` (after being recorded)."""
        with self._lock:
            self._failures.extend([status] * count)

    def revoke_all(self) -> None:
        with self._lock:
            self._refresh.clear()
            self._access.clear()

    @property
    def requests(self) -> list[Recorded]:
        with self._lock:
            return list(self._requests)

    def count(self, grant: str | None = None) -> int:
        return sum(1 for r in self.requests if grant is None or r.grant == grant)

    def valid_refresh_tokens(self) -> set[str]:
        with self._lock:
            return set(self._refresh)

    # --- ASGI app -------------------------------------------------------------------------
    async def _record(self, request: Request) -> Recorded:
        raw = await request.body()
        try:
            body: Any = json.loads(raw) if raw else None
        except ValueError:
            body = raw.decode("utf-8", "replace")
        recorded = Recorded(request.url.path,
                            {k.lower(): v for k, v in request.headers.items()}, body)
        with self._lock:
            self._requests.append(recorded)
        if self.on_request is not None:
            self.on_request(recorded)
        return recorded

    def app(self) -> Starlette:
        async def token(request: Request) -> Response:
            recorded = await self._record(request)
            if self.delay_s:
                await _sleep(self.delay_s)
            with self._lock:
                failure = self._failures.popleft() if self._failures else None
            if failure is not None:
                return _wrap(None, failure, "INTERNAL_SERVER_ERROR" if failure >= 500 else "ERROR")
            body = recorded.body
            if not isinstance(body, dict):
                return _wrap(None, 400, "INVALID_REQUEST")
            if body.get("clientId") != self.client_id or \
                    body.get("clientSecret") != self.client_secret:
                return _wrap(None, 401, "INVALID_CLIENT")
            with self._lock:
                if body.get("grantType") == "authorization_code":
                    if body.get("code") not in self._codes or not body.get("state"):
                        return _wrap(None, 400, "INVALID_CODE")
                    self._codes.discard(body["code"])
                elif body.get("grantType") == "refresh_token":
                    old = body.get("refreshToken")
                    if old not in self._refresh:
                        return _wrap(None, 401, "INVALID_TOKEN")
                    self._refresh.discard(old)  # single use
                    for pair in self.issued:  # the old access token dies with it
                        if pair.refresh_token == old:
                            self._access.pop(pair.access_token, None)
                else:
                    return _wrap(None, 400, "UNSUPPORTED_GRANT_TYPE")
                pair = self._issue()
            return _wrap({"accessToken": pair.access_token, "refreshToken": pair.refresh_token,
                          "tokenType": "Bearer", "expiresIn": self.expires_in})

        async def revoke(request: Request) -> Response:
            recorded = await self._record(request)
            body = recorded.body if isinstance(recorded.body, dict) else {}
            if body.get("clientId") != self.client_id or \
                    body.get("clientSecret") != self.client_secret:
                return _wrap(None, 401, "INVALID_CLIENT")
            token_value = body.get("token")
            with self._lock:
                for pair in self.issued:
                    if token_value in (pair.access_token, pair.refresh_token):
                        self._access.pop(pair.access_token, None)
                        self._refresh.discard(pair.refresh_token)
            return _wrap({})

        async def me(request: Request) -> Response:
            await self._record(request)
            auth = request.headers.get("authorization", "")
            token_value = auth.removeprefix("Bearer ").strip()
            with self._lock:
                expiry = self._access.get(token_value)
            if expiry is None or expiry <= self.clock():
                return _wrap(None, 401, "INVALID_TOKEN")
            return _wrap({"channelId": self.channel_id, "channelName": "초코"})

        return Starlette(routes=[
            Route("/auth/v1/token", token, methods=["POST"]),
            Route("/auth/v1/token/revoke", revoke, methods=["POST"]),
            Route("/open/v1/users/me", me, methods=["GET"]),
        ])



async def _sleep(seconds: float) -> None:
    import asyncio

    await asyncio.sleep(seconds)
