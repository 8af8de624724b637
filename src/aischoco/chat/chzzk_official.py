"""The `chzzk` chat source: the official CHZZK Open API session socket.

One connection, start to end:

1. ``GET {base}/open/v1/sessions/auth`` with the streamer's Bearer token (on a 401 the token is
   refreshed once and the request repeated) → ``content.url``, a single-use socket URL carrying
   ``?auth=…`` (a secret: only its scheme/host/port is ever logged).
2. Socket.IO protocol 4 / Engine.IO v3 over a WebSocket (python-socketio 4.x; 5.x cannot speak
   EIO3). The library's own reconnection is off: a reconnect needs a NEW session URL.
3. ``SYSTEM`` ``{"type":"connected","data":{"sessionKey"}}`` (a JSON string) → subscribe to
   CHAT, DONATION and SUBSCRIPTION (``POST …/subscribe/{chat,donation,subscription}?sessionKey=``).
4. ``CHAT`` / ``DONATION`` / ``SUBSCRIPTION`` → :func:`parse_official` → ``accept``. A payload that
   cannot be parsed is skipped with a rate-limited warning; the connection stays up.

Any disconnect, error, ``revoked`` event, or silence longer than ``heartbeat_timeout_s`` (Engine.IO
v3 clients ping every ~25 s, so a live socket is never quiet that long) ends the connection; the
loop waits ``backoff_delay`` (with jitter) and starts again at step 1. A connection that stayed up
``stable_after_s`` resets the backoff. ``AuthRequired`` (no tokens, refresh refused) shows the
login hint and retries at the backoff cap: the streamer may log in while the daemon runs.

Event handlers are plain functions: python-socketio runs each message in its own task, and a
handler that never awaits keeps those tasks — and so the chat — in arrival order.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urlsplit

import engineio  # type: ignore[import-untyped]
import httpx
import socketio  # type: ignore[import-untyped]

from ..core.backoff import backoff_delay
from ..core.log_limit import LimitedWarnings
from ..core.status import State, StatusHandle
from .chzzk_auth import AUTH_COMMAND, AuthRequired, ChzzkApiError, ChzzkTokens
from .chzzk_parse import PayloadError, parse_official, parse_system
from ..core.messages import ChatMessage

log = logging.getLogger(__name__)

SESSION_PATH = "/open/v1/sessions/auth"
SUBSCRIBE_PATH = "/open/v1/sessions/events/subscribe/"
EVENT_TYPES = ("chat", "donation", "subscription")
CHAT_EVENTS = ("CHAT", "DONATION", "SUBSCRIPTION")
HTTP_TIMEOUT_S = 10.0
DISCONNECT_TIMEOUT_S = 2.0
PAYLOAD_WARN_INTERVAL_S = 10.0
MAX_RESUBSCRIBES = 3  # per connection; more `unsubscribed` events than this → reconnect
LOGIN_DETAIL = "치지직 로그인이 필요합니다"
LOGIN_HINT = f"{AUTH_COMMAND} 를 실행하세요"

_SECRET_QUERY = re.compile(r"([?&](?:auth|sid|token|access_?token)=)[^&\s'\"]*", re.IGNORECASE)


def redact_url(url: str) -> str:
    """``scheme://host:port`` only: the session URL's query is a secret."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<invalid url>"
    return f"{parts.scheme}://{parts.netloc}" if parts.netloc else "<url>"


class _RedactFilter(logging.Filter):
    """For the socket libraries' own loggers: they log whole URLs (with ``?auth=``)."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 - a broken format: drop the record, never leak args
            return False
        record.msg, record.args = _SECRET_QUERY.sub(r"\1<redacted>", message), None
        return True


def _library_logger(name: str) -> logging.Logger:
    logger = logging.getLogger(f"{__name__}.{name}")
    if not any(isinstance(f, _RedactFilter) for f in logger.filters):
        logger.addFilter(_RedactFilter())
    if logger.level == logging.NOTSET:
        logger.setLevel(logging.WARNING)  # their INFO lines are per packet (and carry URLs)
    return logger


class _Lost(Exception):
    """The connection ended; ``str()`` is the (Korean) reason shown in the status row."""


class _EngineIOClient(engineio.AsyncClient):
    """Engine.IO v3 client that stamps every packet received (pings' PONGs included)."""

    last_packet: float = 0.0

    async def _receive_packet(self, pkt: Any) -> None:
        self.last_packet = time.monotonic()
        await super()._receive_packet(pkt)


class _SocketIOClient(socketio.AsyncClient):
    """python-socketio 4.x client that reports events nobody handles (4.x has no catch-all)."""

    on_unknown: Callable[[str], None] | None = None

    def _engineio_client_class(self) -> type:
        return _EngineIOClient

    async def _trigger_event(self, event: str, namespace: str, *args: Any) -> Any:
        handled = namespace in self.handlers and event in self.handlers[namespace]
        if not handled and event not in ("connect", "disconnect", "connect_error", "message") \
                and self.on_unknown is not None:
            self.on_unknown(event)
        return await super()._trigger_event(event, namespace, *args)


def _seconds(delay: float) -> str:
    return f"{delay:.1f}" if delay < 10 else f"{delay:.0f}"


class ChzzkOfficialChat:
    """Chat from the official CHZZK Open API; runs forever with its own reconnect loop."""

    name = "chat"
    stable_after_s = 60.0  # a connection up this long resets the backoff

    def __init__(self, accept: Callable[[ChatMessage], object], *, base_url: str,
                 channel_id: str, tokens: ChzzkTokens, http: httpx.AsyncClient | None = None,
                 connect_timeout_s: float = 3.0, max_backoff_s: float = 30.0,
                 heartbeat_timeout_s: float = 60.0,
                 sleep: Callable[[float], Awaitable[object]] = asyncio.sleep) -> None:
        self._accept = accept
        self._base = base_url.rstrip("/")
        self._channel_id = channel_id
        self._tokens = tokens
        self._own_http = http is None
        self._http = http
        self._connect_timeout = connect_timeout_s
        self._max_backoff = max_backoff_s
        self._heartbeat_timeout = heartbeat_timeout_s
        self._sleep = sleep
        self._payload_warnings = LimitedWarnings(log, PAYLOAD_WARN_INTERVAL_S)
        self._sio_logger = _library_logger("socketio")
        self._eio_logger = _library_logger("engineio")
        self._last_log = ""
        # per connection
        self._sio: _SocketIOClient | None = None
        self._ended: asyncio.Future[str] | None = None
        self._session_key: asyncio.Future[str] | None = None
        self._last_activity = 0.0
        self._resubscribes = 0
        self._tasks: set[asyncio.Task[None]] = set()
        # figures for tests and `doctor`
        self.connections = 0
        self.delivered = 0

    @property
    def skipped_payloads(self) -> int:
        return self._payload_warnings.total

    # --- the loop ---------------------------------------------------------------------------
    async def run(self, status: StatusHandle) -> None:
        if self._http is None:
            self._http = httpx.AsyncClient(timeout=HTTP_TIMEOUT_S)
        attempt = 0
        status.set(State.STARTING, "치지직 연결 중")
        try:
            while True:
                started = time.monotonic()
                state, hint = State.RESTARTING, ""
                try:
                    reason = await self._connection(status)
                except AuthRequired as err:
                    self._note(logging.WARNING, "CHZZK login needed (%s): run `%s`",
                               err.reason or "no tokens", AUTH_COMMAND)
                    status.set(State.NOT_CONFIGURED, LOGIN_DETAIL, LOGIN_HINT)
                    status.note_error(LOGIN_DETAIL)
                    await self._sleep(self._max_backoff)  # slowly: a login may happen any time
                    continue
                except _Lost as err:
                    reason = str(err)
                except ChzzkApiError as err:
                    reason = str(err)
                    if not err.retryable:
                        state, hint = State.DEGRADED, "치지직 개발자 센터에서 앱 권한(채팅 조회)을 확인하세요"
                except (socketio.exceptions.ConnectionError, OSError) as err:
                    reason = f"소켓 연결 실패: {type(err).__name__}"
                except Exception as err:
                    log.exception("CHZZK chat connection failed unexpectedly")
                    reason = f"예기치 않은 오류: {type(err).__name__}"
                if time.monotonic() - started >= self.stable_after_s:
                    attempt = 0
                delay = backoff_delay(attempt, cap_s=self._max_backoff)
                attempt += 1
                detail = f"{_seconds(delay)}초 후 다시 연결 ({reason})"
                self._note(logging.WARNING, "CHZZK chat disconnected (%s); reconnecting in %.1f s",
                           reason, delay)
                status.set(state, detail, hint)
                status.note_error(reason)
                await self._sleep(delay)
        finally:
            await self._teardown()
            if self._own_http and self._http is not None:
                await self._http.aclose()
                self._http = None

    def _note(self, level: int, fmt: str, *args: object) -> None:
        """One log line per change: the same line twice in a row is not repeated."""
        line = fmt % args
        if line != self._last_log:
            self._last_log = line
            log.log(level, "%s", line)

    async def _connection(self, status: StatusHandle) -> str:
        """One connection from session request to its end; returns or raises the reason."""
        loop = asyncio.get_running_loop()
        url = (await self._api("GET", SESSION_PATH)).get("url")
        if not isinstance(url, str) or not url.startswith(("http://", "https://", "ws://", "wss://")):
            raise ChzzkApiError("CHZZK session response has no usable url", retryable=True)
        self._ended = loop.create_future()
        self._session_key = loop.create_future()
        self._resubscribes = 0
        sio = _SocketIOClient(reconnection=False, logger=self._sio_logger,
                              engineio_logger=self._eio_logger)
        sio.on_unknown = self._on_unknown
        sio.on("disconnect", self._on_disconnect)
        sio.on("SYSTEM", self._on_system)
        for event in CHAT_EVENTS:
            sio.on(event, self._chat_handler(event))
        self._sio = sio
        try:
            try:
                await asyncio.wait_for(sio.connect(url, transports=["websocket"]),
                                       self._connect_timeout)
            except TimeoutError:
                raise _Lost(f"소켓 연결 시간 초과 ({self._connect_timeout:g}초)") from None
            self._last_activity = time.monotonic()
            self.connections += 1
            log.info("CHZZK socket connected to %s", redact_url(url))
            done, _ = await asyncio.wait({self._session_key, self._ended},
                                         timeout=self._connect_timeout,
                                         return_when=asyncio.FIRST_COMPLETED)
            if self._ended in done:
                raise _Lost(self._ended.result())
            if not done:
                raise _Lost("세션 키를 받지 못함 (SYSTEM connected 없음)")
            session_key = self._session_key.result()
            for event_type in EVENT_TYPES:
                await self._subscribe(event_type, session_key)
            detail = f"치지직 연결됨 (채널 {self._channel_id})"
            self._note(logging.INFO, "CHZZK chat connected (channel %s)", self._channel_id)
            status.set(State.RUNNING, detail)
            return await self._watch()
        finally:
            await self._teardown()

    async def _watch(self) -> str:
        """Until the connection ends: its reason. Also the heartbeat watchdog."""
        assert self._ended is not None and self._sio is not None
        check = max(0.05, min(5.0, self._heartbeat_timeout / 4))
        while True:
            try:
                return await asyncio.wait_for(asyncio.shield(self._ended), check)
            except TimeoutError:
                pass
            eio = self._sio.eio
            last = max(self._last_activity, getattr(eio, "last_packet", 0.0))
            silent = time.monotonic() - last
            if silent > self._heartbeat_timeout:
                return f"하트비트 없음 ({silent:.0f}초 동안 패킷 없음)"

    async def _teardown(self) -> None:
        """Disconnect (bounded) and close what the socket client opened."""
        for task in list(self._tasks):
            task.cancel()
        self._tasks.clear()
        sio, self._sio = self._sio, None
        if sio is None:
            return
        try:
            await asyncio.wait_for(sio.disconnect(), DISCONNECT_TIMEOUT_S)
        except Exception as err:  # noqa: BLE001 - best effort at exit (TimeoutError included)
            log.debug("CHZZK socket disconnect: %s", type(err).__name__)
        session = getattr(sio.eio, "http", None)
        if session is not None and not session.closed:
            try:
                await asyncio.wait_for(session.close(), DISCONNECT_TIMEOUT_S)
            except Exception as err:  # noqa: BLE001
                log.debug("CHZZK socket session close: %s", type(err).__name__)

    # --- HTTP ------------------------------------------------------------------------------
    async def _api(self, method: str, path: str, *, params: dict[str, str] | None = None
                   ) -> dict[str, Any]:
        """A Bearer call; a 401 refreshes the token once. The ``content`` dict (or {})."""
        assert self._http is not None
        what = path.rsplit("/", 1)[-1] if path.startswith(SUBSCRIBE_PATH) else "session"
        token = await self._tokens.access_token()
        for first in (True, False):
            try:
                response = await self._http.request(
                    method, self._base + path, params=params, timeout=HTTP_TIMEOUT_S,
                    headers={"Authorization": f"Bearer {token}"})
            except httpx.TimeoutException:
                raise ChzzkApiError(f"치지직 {what} 요청 시간 초과", retryable=True) from None
            except httpx.TransportError as err:
                raise ChzzkApiError(f"치지직 {what} 요청 실패: {type(err).__name__}",
                                    retryable=True) from None
            try:
                doc = response.json()
            except ValueError:
                doc = {}
            doc = doc if isinstance(doc, dict) else {}
            code = response.status_code
            if code == 200 and isinstance(doc.get("code"), int) and doc["code"] != 200:
                code = doc["code"]  # an error wrapped in a 200
            if code == 401:
                if first:
                    log.info("CHZZK %s request answered 401; refreshing the access token", what)
                    token = await self._tokens.refresh()
                    continue
                raise AuthRequired(f"{what} request rejected after a token refresh: 401")
            message = str(doc.get("message") or "")[:60]
            if code != 200:
                raise ChzzkApiError(f"치지직 {what} 요청 {code} {message}".rstrip(), status=code,
                                    retryable=code >= 500 or code in (408, 429))
            content = doc.get("content")
            return content if isinstance(content, dict) else {}
        raise AssertionError("unreachable")

    async def _subscribe(self, event_type: str, session_key: str) -> None:
        await self._api("POST", SUBSCRIBE_PATH + event_type, params={"sessionKey": session_key})

    async def _resubscribe(self, event_type: str) -> None:
        key = self._session_key
        if key is None or not key.done():
            return
        try:
            await self._subscribe(event_type.lower(), key.result())
            log.info("CHZZK: resubscribed to %s", event_type)
        except (ChzzkApiError, AuthRequired) as err:
            self._end(f"{event_type} 재구독 실패: {err}")

    # --- socket events (plain functions: they keep arrival order) ---------------------------
    def _end(self, reason: str) -> None:
        if self._ended is not None and not self._ended.done():
            self._ended.set_result(reason)

    def _on_disconnect(self) -> None:
        self._end("서버가 연결을 끊음")

    def _on_unknown(self, event: str) -> None:
        self._last_activity = time.monotonic()
        self._payload_warnings.warning("CHZZK: ignored unknown socket event %r", str(event)[:40])

    def _on_system(self, payload: Any = None, *_: Any) -> None:
        self._last_activity = time.monotonic()
        try:
            event = parse_system(payload)
        except PayloadError as err:
            self._payload_warnings.warning("CHZZK SYSTEM payload skipped: %s", err)
            return
        if event.type == "connected":
            if self._session_key is not None and not self._session_key.done():
                self._session_key.set_result(event.session_key or "")
        elif event.type == "subscribed":
            log.debug("CHZZK subscribed to %s", event.event_type)
        elif event.type == "unsubscribed":
            self._resubscribes += 1
            log.warning("CHZZK: unsubscribed from %s by the server", event.event_type or "?")
            if event.event_type not in CHAT_EVENTS or self._resubscribes > MAX_RESUBSCRIBES:
                self._end(f"구독 해제됨 ({event.event_type or '?'})")
            else:
                task = asyncio.ensure_future(self._resubscribe(event.event_type))
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)
        elif event.type == "revoked":
            log.warning("CHZZK: permission revoked (%s); reconnecting", event.event_type or "?")
            self._end(f"권한 철회됨 ({event.event_type or '?'})")
        else:
            log.debug("CHZZK SYSTEM event %r ignored", event.type)

    def _chat_handler(self, event: str) -> Callable[..., None]:
        def handle(payload: Any = None, *_: Any) -> None:
            self._last_activity = time.monotonic()
            try:
                msg = parse_official(event, payload, channel_id=self._channel_id)
            except PayloadError as err:
                self._payload_warnings.warning("CHZZK %s payload skipped: %s", event, err)
                return
            self.delivered += 1
            try:
                self._accept(msg)
            except Exception:  # one bad message must not cost the connection
                log.exception("CHZZK: accepting a %s message failed", event)

        return handle
