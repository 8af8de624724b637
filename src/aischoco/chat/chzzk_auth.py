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
  redirect on the host/port/path of ``CHZZK_REDIRECT_URI``, checks ``state``, exchanges the code
  and saves the tokens.

Tokens never appear in logs, reprs or error messages.
"""

from __future__ import annotations

import asyncio
import errno
import html
import json
import logging
import os
import secrets
import sys
import time
import webbrowser
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx

from ..core.atomic_file import atomic_write_json, quarantine

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


# --- `python -m aischoco auth chzzk` ------------------------------------------------------------
def authorize_url(client_id: str, redirect_uri: str, state: str,
                  base: str = AUTHORIZE_URL) -> str:
    query = urlencode({"clientId": client_id, "redirectUri": redirect_uri, "state": state})
    return f"{base}?{query}"


def _page(title: str, text: str, ok: bool) -> bytes:
    colour = "#2e7d32" if ok else "#c62828"
    return (
        "<!doctype html><html lang=ko><head><meta charset=utf-8>"
        f"<title>{html.escape(title)}</title></head>"
        "<body style='font-family:sans-serif;text-align:center;margin-top:15vh'>"
        f"<h1 style='color:{colour}'>{html.escape(title)}</h1><p>{html.escape(text)}</p>"
        "</body></html>"
    ).encode()


_REASONS = {200: "OK", 400: "Bad Request", 404: "Not Found", 405: "Method Not Allowed",
            500: "Internal Server Error", 502: "Bad Gateway"}


async def _send(writer: asyncio.StreamWriter, status: int, body: bytes) -> None:
    head = (f"HTTP/1.1 {status} {_REASONS.get(status, 'Error')}\r\n"
            "Content-Type: text/html; charset=utf-8\r\n"
            f"Content-Length: {len(body)}\r\n"
            "Cache-Control: no-store\r\nConnection: close\r\n\r\n").encode("ascii")
    writer.write(head + body)
    try:
        await writer.drain()
    except ConnectionError:
        pass


def _err(*parts: str) -> None:
    print(*parts, file=sys.stderr, flush=True)


async def run_auth(settings: Settings, *, open_browser: bool = True, timeout_s: float = 300,
                   authorize_base: str = AUTHORIZE_URL,
                   on_authorize_url: Callable[[str], None] | None = None,
                   http: httpx.AsyncClient | None = None) -> int:
    """Log in to CHZZK in the browser and save the tokens. Exit code: 0 ok, 1 failed, 2 settings."""
    client_id = settings.chzzk_client_id
    secret = settings.chzzk_client_secret.get_secret_value() if settings.chzzk_client_secret else ""
    if not client_id or not secret:
        _err("aischoco auth chzzk: CHZZK_CLIENT_ID 와 CHZZK_CLIENT_SECRET 을 .env 에 설정하세요 "
             "(치지직 개발자 센터에서 발급) — set CHZZK_CLIENT_ID and CHZZK_CLIENT_SECRET first")
        return 2
    redirect_uri = settings.chzzk_redirect_uri
    parts = urlsplit(redirect_uri)
    if parts.scheme != "http" or not parts.hostname:
        _err(f"aischoco auth chzzk: CHZZK_REDIRECT_URI={redirect_uri} 는 이 컴퓨터의 http:// 주소여야 "
             "합니다 — the redirect URI must be a local http:// address")
        return 2
    host, port, path = parts.hostname, parts.port or 80, parts.path or "/"
    state = secrets.token_urlsafe(24)
    token_url = settings.chzzk_openapi_url.rstrip("/") + TOKEN_PATH
    token_path = Path(settings.chzzk_token_path)
    loop = asyncio.get_running_loop()
    outcome: asyncio.Future[int] = loop.create_future()
    own_http = http is None
    client = http if http is not None else httpx.AsyncClient(timeout=HTTP_TIMEOUT_S)
    exchanging = asyncio.Lock()

    decided: list[int] = []  # the exit code, once known; `outcome` is set after the page is sent

    def finish(code: int) -> None:
        if not decided:
            decided.append(code)

    async def exchange(code: str) -> tuple[int, bytes]:
        now = time.time()
        body = {"grantType": "authorization_code", "clientId": client_id, "clientSecret": secret,
                "code": code, "state": state}
        try:
            tokens = TokenSet.from_response(await token_request(client, token_url, body), now=now)
            await asyncio.to_thread(save_tokens, token_path, tokens)
        except (ChzzkApiError, ValueError, OSError) as err:
            why = err.strerror if isinstance(err, OSError) and err.strerror else str(err)
            _err(f"aischoco auth chzzk: 토큰 발급 실패 — token exchange failed: {why}")
            finish(1)
            return 502, _page("로그인 실패", f"토큰을 받지 못했습니다: {why}. 터미널을 확인하세요.",
                              ok=False)
        print(f"치지직 로그인 완료! 토큰을 {token_path} 에 저장했습니다 — "
              f"CHZZK login OK, tokens saved to {token_path}", flush=True)
        finish(0)
        return 200, _page("치지직 로그인 완료",
                          "aischoco 가 채팅을 읽을 수 있게 되었습니다. 이 창을 닫아도 됩니다.", ok=True)

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), timeout=10)
            request_line = head.split(b"\r\n", 1)[0].decode("latin-1")
            method, target, *_ = request_line.split(" ") + ["", ""]
            url = urlsplit(target)
            if method not in ("GET", "HEAD"):
                await _send(writer, 405, _page("405", "GET only", ok=False))
                return
            if url.path.rstrip("/") != path.rstrip("/"):
                await _send(writer, 404, _page("404", "Not found", ok=False))
                return
            query = {k: v[0] for k, v in parse_qs(url.query).items()}
            if decided:
                await _send(writer, 200 if decided[0] == 0 else 400,
                            _page("이미 처리됨", "이 로그인 요청은 이미 처리되었습니다.", ok=True))
                return
            if query.get("state") != state:
                _err("aischoco auth chzzk: state 값이 맞지 않는 요청을 거부했습니다 (다른 탭의 오래된 "
                     "로그인?) — rejected a redirect with a wrong state; still waiting")
                await _send(writer, 400, _page(
                    "잘못된 요청", "state 값이 맞지 않습니다. 터미널에 표시된 주소로 다시 로그인하세요.",
                    ok=False))
                return
            if "error" in query:
                detail = (query.get("error_description") or query["error"])[:120]
                _err(f"aischoco auth chzzk: 치지직이 로그인을 거부했습니다 — authorization "
                     f"failed: {detail}")
                finish(1)
                await _send(writer, 400, _page("로그인 실패", f"치지직 오류: {detail}", ok=False))
                return
            code = query.get("code")
            if not code:
                await _send(writer, 400, _page("잘못된 요청", "code 값이 없습니다.", ok=False))
                return
            async with exchanging:
                if decided:
                    status, page = 200, _page("이미 처리됨", "이미 처리되었습니다.", ok=True)
                else:
                    status, page = await exchange(code)
            await _send(writer, status, page)
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, TimeoutError,
                ConnectionError):
            pass
        finally:
            writer.close()
            try:
                await writer.wait_closed()
            except (ConnectionError, OSError):
                pass
            if decided and not outcome.done():
                outcome.set_result(decided[0])

    try:
        try:
            server = await asyncio.start_server(handle, host, port)
        except OSError as err:
            if err.errno in (errno.EADDRINUSE, getattr(errno, "WSAEADDRINUSE", -1)) or \
                    "in use" in str(err).lower():
                _err(f"aischoco auth chzzk: 포트 {port} 가 이미 사용 중입니다. 실행 중인 데몬"
                     f"(python -m aischoco run)을 먼저 종료하거나 CHZZK_REDIRECT_URI 의 포트를 "
                     f"바꾸세요 — port {port} is busy: stop the daemon or change CHZZK_REDIRECT_URI")
            else:
                _err(f"aischoco auth chzzk: {host}:{port} 에서 기다릴 수 없습니다 — cannot listen on "
                     f"{host}:{port}: {err.strerror or err}")
            return 1
        async with server:
            url = authorize_url(client_id, redirect_uri, state, authorize_base)
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
            try:
                return await asyncio.wait_for(asyncio.shield(outcome), timeout=timeout_s)
            except TimeoutError:
                _err(f"aischoco auth chzzk: {timeout_s:.0f}초 안에 로그인이 끝나지 않았습니다. 다시 "
                     "실행하세요 — timed out waiting for the CHZZK login; run the command again")
                return 1
    finally:
        if own_http:
            await client.aclose()
