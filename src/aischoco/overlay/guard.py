"""Who may use the panel: the cross-origin guard (every state change), the trusted hosts (DNS
rebinding), and PANEL_PASSWORD — one FastAPI dependency every protected route shares."""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable
from urllib.parse import unquote, urlsplit

from fastapi import Request
from fastapi.responses import JSONResponse
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Receive, Scope, Send

log = logging.getLogger(__name__)

LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "[::1]", "::1")
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
TOKEN_HEADER = "x-aischoco-token"
NO_STORE = {"Cache-Control": "no-store"}
PASSWORD_NEEDED = "PANEL_PASSWORD가 필요합니다"


class PasswordRequired(Exception):
    """Raised by the password dependency; create_app answers it with a 401 in Korean."""


def password_required_response(request: Request, exc: Exception) -> JSONResponse:
    return JSONResponse({"error": PASSWORD_NEEDED}, 401, headers=NO_STORE)


def password_dependency(panel_password: str | None) -> Callable[[Request], None]:
    """`Depends(...)` for every route behind PANEL_PASSWORD (header X-Panel-Password)."""
    def require_password(request: Request) -> None:
        if panel_password is None:
            return
        # Our pages percent-encode it (a header cannot carry 한글); curl may send it raw.
        given = request.headers.get("x-panel-password", "")
        expected = panel_password.encode()
        if not (secrets.compare_digest(given.encode(), expected)
                | secrets.compare_digest(unquote(given).encode(), expected)):
            raise PasswordRequired
    return require_password


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


def same_origin_or_none(headers: Headers) -> bool:
    origin = headers.get("origin")
    if origin is None:
        return True
    parts = urlsplit(origin)
    return parts.scheme in ("http", "https") and parts.netloc == headers.get("host")
