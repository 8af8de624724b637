"""CHZZK Open API login (OAuth 2.0 authorization code) and the access-token provider.

Three parts:

* token storage — ``TokenSet``, ``load_tokens``, ``save_tokens``: JSON at ``CHZZK_TOKEN_PATH``,
  written atomically (``core.atomic_file.atomic_write_json``: temp file + rename) with mode 0600.
  The temp file is created by ``tempfile.mkstemp``, which opens it 0600, so the secret is never
  readable by other users, not even for a moment; ``save_tokens`` chmods the final file to 0600
  as well (an old file written by something else keeps no wider mode). On Windows chmod is
  skipped: the file inherits the user profile's ACLs.
* ``ChzzkTokens`` — what the chat source asks for a Bearer token. It loads the file lazily,
  refreshes shortly before expiry (or when told to, after a 401), and saves the NEW pair before
  anyone uses it: CHZZK refresh tokens are single use, so a crash after a refresh must never
  leave only the spent one on disk.
* ``run_auth`` — ``python -m aischoco auth chzzk``: prints/opens the authorize URL, serves the
  redirect on the host/port/path of ``CHZZK_REDIRECT_URI`` (uvicorn in this loop, as the panel
  serves the same callback), checks ``state``, exchanges the code and saves the tokens. The code
  exchange and the result page are shared with the panel's login (``chzzk_web_login``).

Tokens never appear in logs, reprs or error messages.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import html
import json
import logging
import os
import secrets
import socket
import sys
import time
import webbrowser
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import uvicorn
from starlette.applications import Starlette
from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route

from ..core.atomic_file import atomic_write_json, quarantine
from ..core.embedded_server import EmbeddedServer, ListenError, bind_socket

if TYPE_CHECKING:
    from ..settings.model import Settings

log = logging.getLogger(__name__)

AUTHORIZE_URL = "https://chzzk.naver.com/account-interlock"
TOKEN_PATH = "/auth/v1/token"
AUTH_COMMAND = "python -m aischoco auth chzzk"
DEFAULT_EXPIRES_IN_S = 86_400  # CHZZK access tokens live one day
HTTP_TIMEOUT_S = 10.0
_IS_WINDOWS = os.name == "nt"


# --- errors -------------------------------------------------------------------------------------
class AuthRequired(Exception):
    """The streamer must log in again; str() is one Korean + English line saying how."""

    def __init__(self, reason: str | None = None) -> None:
        self.reason = reason
        why = f" ({reason})" if reason else ""
        super().__init__(
            f"치지직 로그인이 필요합니다{why}: `{AUTH_COMMAND}` 를 실행하세요 — "
            f"CHZZK login required: run `{AUTH_COMMAND}`"
        )


class TokenFileError(AuthRequired):
    """The token file is damaged (it has been moved aside when that was possible)."""


class ChzzkApiError(Exception):
    """A CHZZK Open API call failed. ``retryable``: 5xx, 429, timeouts, connection errors."""

    def __init__(self, message: str, *, status: int | None = None, retryable: bool = False) -> None:
        super().__init__(message)
        self.status = status
        self.retryable = retryable


# --- token storage ------------------------------------------------------------------------------
def _mask(token: str) -> str:
    return f"<{len(token)} chars>" if token else "<empty>"


@dataclass(frozen=True, repr=False)
class TokenSet:
    access_token: str
    refresh_token: str
    token_type: str
    expires_at: float  # epoch seconds

    def __repr__(self) -> str:  # never the tokens themselves
        return (f"TokenSet(access_token={_mask(self.access_token)}, "
                f"refresh_token={_mask(self.refresh_token)}, token_type={self.token_type!r}, "
                f"expires_at={self.expires_at:.0f})")

    __str__ = __repr__

    def to_dict(self) -> dict[str, Any]:
        return {"access_token": self.access_token, "refresh_token": self.refresh_token,
                "token_type": self.token_type, "expires_at": self.expires_at}

    @classmethod
    def from_dict(cls, doc: Any) -> TokenSet:
        if not isinstance(doc, dict):
            raise ValueError("not a JSON object")
        for key in ("access_token", "refresh_token"):
            if not isinstance(doc.get(key), str) or not doc[key]:
                raise ValueError(f"{key} missing")
        expires_at = doc.get("expires_at")
        if isinstance(expires_at, bool) or not isinstance(expires_at, (int, float)):
            raise ValueError("expires_at missing")
        token_type = doc.get("token_type") or "Bearer"
        return cls(doc["access_token"], doc["refresh_token"], str(token_type), float(expires_at))

    @classmethod
    def from_response(cls, content: Any, *, now: float) -> TokenSet:
        """From the ``content`` of a token response; ``expiresIn`` may be "86400" or 86400."""
        if not isinstance(content, dict):
            raise ValueError("no content in the token response")
        access, refresh = content.get("accessToken"), content.get("refreshToken")
        if not isinstance(access, str) or not access or not isinstance(refresh, str) or not refresh:
            raise ValueError("accessToken/refreshToken missing in the token response")
        raw = content.get("expiresIn", DEFAULT_EXPIRES_IN_S)
        try:
            expires_in = float(raw)
        except (TypeError, ValueError):
            raise ValueError(f"expiresIn is not a number: {str(raw)[:20]!r}") from None
        return cls(access, refresh, str(content.get("tokenType") or "Bearer"), now + expires_in)


def load_tokens(path: Path) -> TokenSet | None:
    """The saved tokens; None when there is no file. A damaged file is moved aside
    (``<name>.corrupt-<time>``) and ``TokenFileError`` (an ``AuthRequired``) is raised."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as err:
        raise TokenFileError(f"{path} cannot be read: {err.strerror or err}") from None
    try:
        return TokenSet.from_dict(json.loads(raw.decode("utf-8")))
    except ValueError as err:
        reason = str(err).splitlines()[0][:80]
        try:
            moved = quarantine(path)
        except OSError:
            raise TokenFileError(f"{path} is damaged: {reason}") from None
        raise TokenFileError(f"{path} is damaged ({reason}); moved aside to {moved.name}") from None


def save_tokens(path: Path, tokens: TokenSet) -> None:
    """Atomic write (temp file created 0600, fsync, rename), then chmod 0600 (not on Windows)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_json(path, tokens.to_dict())
    if not _IS_WINDOWS:
        try:
            os.chmod(path, 0o600)
        except OSError:  # e.g. a filesystem without POSIX modes
            pass


# --- the token provider -------------------------------------------------------------------------
def _body(response: httpx.Response) -> dict[str, Any]:
    try:
        doc = response.json()
    except ValueError:
        return {}
    return doc if isinstance(doc, dict) else {}


def _api_message(doc: dict[str, Any]) -> str:
    message = doc.get("message") or doc.get("error") or ""
    return str(message)[:80]


async def token_request(http: httpx.AsyncClient, url: str, body: dict[str, Any]) -> dict[str, Any]:
    """POST to the token endpoint; the ``content`` dict. Raises ``ChzzkApiError`` (with status)."""
    try:
        response = await http.post(url, json=body, timeout=HTTP_TIMEOUT_S)
    except httpx.TimeoutException:
        raise ChzzkApiError("CHZZK token request timed out", retryable=True) from None
    except httpx.TransportError as err:
        raise ChzzkApiError(f"CHZZK token request failed: {type(err).__name__}",
                            retryable=True) from None
    doc = _body(response)
    status = response.status_code
    code = doc.get("code")
    if status == 200 and isinstance(code, int) and code != 200:
        status = code  # an error wrapped in a 200
    if status >= 500 or status == 429:
        raise ChzzkApiError(f"CHZZK token endpoint answered {status} {_api_message(doc)}".rstrip(),
                            status=status, retryable=True)
    if status != 200:
        raise ChzzkApiError(f"CHZZK token endpoint answered {status} {_api_message(doc)}".rstrip(),
                            status=status, retryable=False)
    content = doc.get("content")
    if not isinstance(content, dict):
        raise ChzzkApiError("CHZZK token response has no content", status=status)
    return content


class ChzzkTokens:
    """Bearer tokens for the CHZZK Open API, refreshed ahead of expiry and saved before use."""

    def __init__(self, *, base_url: str, client_id: str, client_secret: str, path: Path,
                 http: httpx.AsyncClient | None = None, refresh_margin_s: float = 300,
                 clock: Callable[[], float] = time.time) -> None:
        self._token_url = base_url.rstrip("/") + TOKEN_PATH
        self._client_id = client_id
        self._client_secret = client_secret
        self._path = Path(path)
        self._own_http = http is None
        self._http = http if http is not None else httpx.AsyncClient(timeout=HTTP_TIMEOUT_S)
        self._margin = refresh_margin_s
        self._clock = clock
        self._lock = asyncio.Lock()
        self._tokens: TokenSet | None = None

    def __repr__(self) -> str:
        return f"ChzzkTokens(path={str(self._path)!r}, tokens={self._tokens!r})"

    @property
    def expires_at(self) -> float | None:
        return self._tokens.expires_at if self._tokens else None

    async def access_token(self) -> str:
        """A valid access token; refreshes when it expires within ``refresh_margin_s``."""
        tokens = await self._current()
        if self._expiring(tokens):
            return await self._refresh(seen=tokens)
        return tokens.access_token

    async def refresh(self) -> str:
        """Force a refresh (e.g. after a 401). Concurrent callers share one refresh."""
        return await self._refresh(seen=await self._current())

    async def aclose(self) -> None:
        if self._own_http:
            await self._http.aclose()

    # --- internals ------------------------------------------------------------------------
    def _expiring(self, tokens: TokenSet) -> bool:
        return tokens.expires_at - self._clock() <= self._margin

    async def _current(self) -> TokenSet:
        # Until tokens are found, look again on every call: the streamer may run `auth chzzk`
        # while the daemon is waiting for a login.
        if self._tokens is None:
            async with self._lock:
                if self._tokens is None:
                    self._tokens = await asyncio.to_thread(load_tokens, self._path)
        if self._tokens is None:
            raise AuthRequired("no saved tokens")
        return self._tokens

    async def _refresh(self, *, seen: TokenSet) -> str:
        async with self._lock:
            current = self._tokens
            if current is None:
                raise AuthRequired("no saved tokens")
            if current is not seen and not self._expiring(current):
                return current.access_token  # another caller refreshed while we waited
            # Someone may have run `auth chzzk` while the daemon was running: newer tokens on
            # disk win over ours (and our refresh token may be the spent one).
            try:
                on_disk = await asyncio.to_thread(load_tokens, self._path)
            except AuthRequired:
                on_disk = None
            if on_disk is not None and on_disk.refresh_token != current.refresh_token:
                self._tokens = current = on_disk
                if not self._expiring(current) and current is not seen:
                    log.info("CHZZK: using newer tokens found in %s", self._path)
                    return current.access_token
            now = self._clock()
            body = {"grantType": "refresh_token", "refreshToken": current.refresh_token,
                    "clientId": self._client_id, "clientSecret": self._client_secret}
            try:
                content = await token_request(self._http, self._token_url, body)
            except ChzzkApiError as err:
                if err.status in (400, 401, 403):
                    log.warning("CHZZK refresh rejected (%s): login needed", err.status)
                    raise AuthRequired(f"refresh rejected: {err.status}") from None
                raise
            try:
                new = TokenSet.from_response(content, now=now)
            except ValueError as err:
                raise ChzzkApiError(f"CHZZK refresh response unusable: {err}") from None
            # The old refresh token is spent now: the new pair goes to disk before anyone uses it.
            try:
                await asyncio.to_thread(save_tokens, self._path, new)
            except OSError as err:
                # Keep running on the in-memory pair; after a restart a new login is needed.
                log.error("CHZZK: could not save refreshed tokens to %s (%s); after a restart "
                          "run `%s` again", self._path, err.strerror or err, AUTH_COMMAND)
            self._tokens = new
            log.info("CHZZK access token refreshed (valid for %.0f s)", new.expires_at - now)
            return new.access_token


# --- logging in: shared by `auth chzzk` and the panel's button (chzzk_web_login) ----------------
def authorize_url(client_id: str, redirect_uri: str, state: str,
                  base: str = AUTHORIZE_URL) -> str:
    query = urlencode({"clientId": client_id, "redirectUri": redirect_uri, "state": state})
    return f"{base}?{query}"


async def exchange_code(http: httpx.AsyncClient, settings: Settings, code: str,
                        state: str) -> TokenSet:
    """The code CHZZK sent the browser back with → a token pair, saved (0600) before it is
    returned. Raises ``ChzzkApiError``, ``ValueError`` (an unusable answer) or ``OSError`` (saving)."""
    secret = settings.chzzk_client_secret
    body = {"grantType": "authorization_code", "clientId": settings.chzzk_client_id,
            "clientSecret": secret.get_secret_value() if secret else "", "code": code,
            "state": state}
    now = time.time()  # before the request: the lifetime counts from when CHZZK issued it
    content = await token_request(http, settings.chzzk_openapi_url.rstrip("/") + TOKEN_PATH, body)
    tokens = TokenSet.from_response(content, now=now)
    await asyncio.to_thread(save_tokens, Path(settings.chzzk_token_path), tokens)
    return tokens


def result_page(title: str, text: str, *, ok: bool, back_to_settings: bool = False) -> str:
    """The page the browser lands on after CHZZK sends it back (terminal or panel login)."""
    colour = "#1a7f37" if ok else "#cf222e"
    back = "<p><a href='/settings'>설정으로 돌아가기</a></p>" if back_to_settings else ""
    return ("<!doctype html><html lang=ko><head><meta charset=utf-8>"
            f"<title>{html.escape(title)}</title></head><body style='font-family:sans-serif;"
            f"text-align:center;margin-top:15vh'><h1 style='color:{colour}'>{html.escape(title)}</h1>"
            f"<p>{html.escape(text)}</p>{back}</body></html>")


# --- `python -m aischoco auth chzzk` ------------------------------------------------------------
async def run_auth(settings: Settings, *, open_browser: bool = True, timeout_s: float = 300,
                   authorize_base: str = AUTHORIZE_URL,
                   on_authorize_url: Callable[[str], None] | None = None,
                   http: httpx.AsyncClient | None = None) -> int:
    """Log in to CHZZK in the browser and save the tokens. Exit code: 0 ok, 1 failed, 2 settings."""
    problem = _settings_problem(settings)
    if problem is not None:
        _err(problem)
        return 2
    redirect = urlsplit(settings.chzzk_redirect_uri)
    host, port = redirect.hostname or "", redirect.port or 80
    try:
        sockets = _listen(host, port)
    except ListenError as err:
        _err(_cannot_listen(host, port, err))
        return 1
    state = secrets.token_urlsafe(24)
    async with _http_client(http) as client:
        callback = _LoginCallback(settings, state, client)
        async with _serving(_callback_app(redirect.path or "/", callback.page), sockets):
            url = authorize_url(settings.chzzk_client_id or "", settings.chzzk_redirect_uri,
                                state, authorize_base)
            await _send_streamer_to(url, settings.chzzk_redirect_uri, timeout_s,
                                    on_authorize_url, open_browser)
            return await _wait_for_login(callback.exit_code, timeout_s)


def _err(*parts: str) -> None:
    print(*parts, file=sys.stderr, flush=True)


def _settings_problem(settings: Settings) -> str | None:
    """Why `auth chzzk` cannot start with these settings (one line), or None."""
    secret = settings.chzzk_client_secret
    if not settings.chzzk_client_id or secret is None or not secret.get_secret_value():
        return ("aischoco auth chzzk: CHZZK_CLIENT_ID 와 CHZZK_CLIENT_SECRET 을 .env 에 설정하세요 "
                "(치지직 개발자 센터에서 발급) — set CHZZK_CLIENT_ID and CHZZK_CLIENT_SECRET first")
    redirect = urlsplit(settings.chzzk_redirect_uri)
    if redirect.scheme != "http" or not redirect.hostname:
        return (f"aischoco auth chzzk: CHZZK_REDIRECT_URI={settings.chzzk_redirect_uri} 는 이 "
                "컴퓨터의 http:// 주소여야 합니다 — the redirect URI must be a local http:// address")
    return None


def _listen(host: str, port: int) -> list[socket.socket]:
    """A listening socket for every address the redirect host names: "localhost" is 127.0.0.1
    and ::1, and the browser may try either. A family this PC lacks (no IPv6) is skipped."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as err:
        raise ListenError(f"cannot listen on {host}:{port}: {err.strerror or err}", None) from None
    sockets: list[socket.socket] = []
    try:
        for address in dict.fromkeys(str(info[4][0]) for info in infos):
            try:
                sockets.append(bind_socket(address, port))
            except ListenError as err:
                if err.errno != errno.EADDRNOTAVAIL:
                    raise
    except ListenError:
        for sock in sockets:
            sock.close()
        raise
    if not sockets:
        raise ListenError(f"cannot listen on {host}:{port}: no usable address", None)
    return sockets


def _cannot_listen(host: str, port: int, err: ListenError) -> str:
    if err.port_in_use:  # most often the daemon itself: the default redirect is its port
        return (f"aischoco auth chzzk: 포트 {port} 가 이미 사용 중입니다. 실행 중인 데몬"
                f"(python -m aischoco run)을 먼저 종료하거나 CHZZK_REDIRECT_URI 의 포트를 바꾸세요 "
                f"— port {port} is busy: stop the daemon or change CHZZK_REDIRECT_URI")
    return f"aischoco auth chzzk: {host}:{port} 에서 기다릴 수 없습니다 — {err}"


@contextlib.asynccontextmanager
async def _http_client(given: httpx.AsyncClient | None) -> AsyncIterator[httpx.AsyncClient]:
    """The caller's client (left open), or our own for this login (closed after it)."""
    if given is not None:
        yield given
        return
    async with httpx.AsyncClient(timeout=HTTP_TIMEOUT_S) as own:
        yield own


@contextlib.asynccontextmanager
async def _serving(app: Starlette, sockets: list[socket.socket]) -> AsyncIterator[None]:
    """uvicorn in this loop, as the panel runs it; stopped (answers in flight sent) on the way out."""
    server = EmbeddedServer(uvicorn.Config(app, log_level="warning", access_log=False,
                                           lifespan="off", timeout_graceful_shutdown=1))
    serving = asyncio.create_task(server.serve(sockets=sockets), name="chzzk-auth-callback")
    try:
        yield
    finally:
        server.should_exit = True
        with contextlib.suppress(BaseException):
            await asyncio.wait_for(serving, 2.5)
        for sock in sockets:
            sock.close()


async def _send_streamer_to(url: str, redirect_uri: str, timeout_s: float,
                            on_authorize_url: Callable[[str], None] | None,
                            open_browser: bool) -> None:
    print("아래 주소를 브라우저에서 열고 치지직 계정으로 로그인한 뒤 권한을 허용하세요 — "
          "open this URL, log in to CHZZK and allow access:", flush=True)
    print(url, flush=True)
    print(f"({redirect_uri} 로 돌아오는 응답을 {timeout_s:.0f}초 동안 기다립니다)", flush=True)
    if on_authorize_url is not None:
        on_authorize_url(url)
    if open_browser:
        try:
            await asyncio.to_thread(webbrowser.open, url)
        except (webbrowser.Error, OSError) as err:  # no browser: the printed URL will do
            log.debug("could not open a browser: %s", err)


async def _wait_for_login(exit_code: asyncio.Future[int], timeout_s: float) -> int:
    try:
        return await asyncio.wait_for(asyncio.shield(exit_code), timeout=timeout_s)
    except TimeoutError:
        _err(f"aischoco auth chzzk: {timeout_s:.0f}초 안에 로그인이 끝나지 않았습니다. 다시 "
             "실행하세요 — timed out waiting for the CHZZK login; run the command again")
        return 1


def _callback_app(path: str, page: Callable[[Request], Awaitable[Response]]) -> Starlette:
    """One route, the redirect URI's path; anything else gets a page too, not JSON."""
    async def not_found(_request: Request, _exc: Exception) -> Response:
        return _html(404, "404", "Not found", ok=False)

    async def not_allowed(_request: Request, _exc: Exception) -> Response:
        return _html(405, "405", "GET only", ok=False)

    return Starlette(routes=[Route(path, page, methods=["GET"])],
                     exception_handlers={404: not_found, 405: not_allowed})


def _html(status: int, title: str, text: str, *, ok: bool) -> HTMLResponse:
    return HTMLResponse(result_page(title, text, ok=ok), status,
                        headers={"Cache-Control": "no-store"})


class _LoginCallback:
    """Where CHZZK sends the browser back: checks ``state``, trades the code once, and settles
    ``exit_code`` only after that page has gone out, so the browser sees it before we exit."""

    def __init__(self, settings: Settings, state: str, http: httpx.AsyncClient) -> None:
        self._settings = settings
        self._state = state
        self._http = http
        self._exchanging = asyncio.Lock()  # two tabs coming back at once: one exchange
        self._decided: int | None = None  # the exit code, once known
        self.exit_code: asyncio.Future[int] = asyncio.get_running_loop().create_future()

    async def page(self, request: Request) -> Response:
        # parse_qs, not Starlette's query_params: first values and no blank ones, as before
        query = {k: v[0] for k, v in parse_qs(request.url.query).items()}
        response = await self._answer(query)
        if self._decided is not None:
            response.background = BackgroundTask(self._settle)
        return response

    async def _answer(self, query: dict[str, str]) -> Response:
        if self._decided is not None:
            return self._already_done()
        if query.get("state") != self._state:
            _err("aischoco auth chzzk: state 값이 맞지 않는 요청을 거부했습니다 (다른 탭의 오래된 "
                 "로그인?) — rejected a redirect with a wrong state; still waiting")
            return _html(400, "잘못된 요청",
                         "state 값이 맞지 않습니다. 터미널에 표시된 주소로 다시 로그인하세요.", ok=False)
        if "error" in query:
            detail = (query.get("error_description") or query["error"])[:120]
            _err(f"aischoco auth chzzk: 치지직이 로그인을 거부했습니다 — authorization failed: {detail}")
            self._decided = 1
            return _html(400, "로그인 실패", f"치지직 오류: {detail}", ok=False)
        code = query.get("code")
        if not code:
            return _html(400, "잘못된 요청", "code 값이 없습니다.", ok=False)
        async with self._exchanging:
            if self._decided is not None:
                return self._already_done()
            return await self._exchange(code)

    async def _exchange(self, code: str) -> Response:
        token_path = Path(self._settings.chzzk_token_path)
        try:
            await exchange_code(self._http, self._settings, code, self._state)
        except (ChzzkApiError, ValueError, OSError) as err:
            why = err.strerror if isinstance(err, OSError) and err.strerror else str(err)
            _err(f"aischoco auth chzzk: 토큰 발급 실패 — token exchange failed: {why}")
            self._decided = 1
            return _html(502, "로그인 실패", f"토큰을 받지 못했습니다: {why}. 터미널을 확인하세요.",
                         ok=False)
        print(f"치지직 로그인 완료! 토큰을 {token_path} 에 저장했습니다 — "
              f"CHZZK login OK, tokens saved to {token_path}", flush=True)
        self._decided = 0
        return _html(200, "치지직 로그인 완료",
                     "aischoco 가 채팅을 읽을 수 있게 되었습니다. 이 창을 닫아도 됩니다.", ok=True)

    def _already_done(self) -> Response:
        return _html(200 if self._decided == 0 else 400, "이미 처리됨",
                     "이 로그인 요청은 이미 처리되었습니다.", ok=True)

    def _settle(self) -> None:
        if self._decided is not None and not self.exit_code.done():
            self.exit_code.set_result(self._decided)
