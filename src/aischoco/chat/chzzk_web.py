"""The ``chzzk-web`` chat source: CHZZK's unofficial, read-only web chat (no app registration).

**Unofficial**: this speaks the protocol the chzzk.naver.com web player uses (see
``shared/research/chzzk.md``, "Unofficial web chat"). It is not a published API and may break
whenever CHZZK changes it; the official Open API source (``CHAT_SOURCE=chzzk``) is the supported
path. It only reads chat: nothing is ever sent to viewers.

Flow, repeated forever with its own reconnect loop:

1. ``GET {api_url}/polling/v2/channels/{channelId}/live-status`` → ``content.chatChannelId``;
   none (offline) → status "방송이 꺼져 있어 기다리는 중", poll again every ``live_poll_s``.
2. ``GET {game_api_url}/nng_main/v1/chats/access-token?channelId=…&chatType=STREAMING`` →
   ``content.accessToken``.
3. websocket ``chat_url_template.format(n=web_chat_server_number(chatChannelId))``; send cmd 100
   (``auth: READ``), expect cmd 10100. Server pings (cmd 0) are answered with pongs (cmd 10000); a
   ping is sent after ``idle_ping_s`` without traffic; ``3 × idle_ping_s`` (60 s by default) without
   anything received means the connection is dead.
4. cmd 93101 (chat) / 93102 (donation): every ``bdy`` item → :func:`parse_web_chat` → ``accept``.
   A malformed frame or item is skipped with a rate-limited warning; the connection stays up.
   cmd 94008 (a blind by a manager or the clean bot) → :func:`parse_web_blind` → ``hide``.
5. While connected, live-status is polled every ``live_poll_s``: a new broadcast gets a new
   ``chatChannelId``, and the source reconnects to it.

Any error or disconnect → wait :func:`backoff_delay` (with jitter) and start again at step 1.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import json
import logging
import time
from collections.abc import Callable
from typing import Any, Final
from urllib.parse import quote

import httpx
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidURI

from ..core.backoff import backoff_delay
from ..core.log_limit import LimitedWarnings
from ..core.status import State, StatusHandle
from ..core.messages import Blind, ChatMessage
from .chzzk_parse import (
    WEB_CMD_BLIND,
    WEB_CMD_CHAT,
    WEB_CMD_DONATION,
    PayloadError,
    parse_web_blind,
    parse_web_chat,
    web_chat_server_number,
)

log = logging.getLogger(__name__)

__all__ = [
    "CMD_CONNECT",
    "CMD_CONNECTED",
    "CMD_PING",
    "CMD_PONG",
    "DETAIL_CONNECTED",
    "DETAIL_OFFLINE",
    "ChzzkWebChat",
    "connect_frame",
]

CMD_PING: Final = 0
CMD_CONNECT: Final = 100
CMD_CONNECTED: Final = 10100
CMD_PONG: Final = 10000

DETAIL_CONNECTED: Final = "치지직 웹 채팅 연결됨 (비공식, 읽기 전용)"
DETAIL_OFFLINE: Final = "방송이 꺼져 있어 기다리는 중"
HINT_UNOFFICIAL: Final = "비공식 웹 채팅은 치지직이 바뀌면 멈출 수 있습니다. 계속 안 되면 CHAT_SOURCE=chzzk(공식 API)를 쓰세요."

WARN_EVERY_S: Final = 10.0  # at most one "skipped a malformed frame" line per this many seconds
STABLE_AFTER_S: Final = 30.0  # a connection that lasted this long resets the backoff
HANDSHAKE_TIMEOUT_S: Final = 10.0
MAX_FRAME_BYTES: Final = 4 * 1024 * 1024
_USER_AGENT: Final = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/124.0 Safari/537.36"
)


def connect_frame(chat_channel_id: str, access_token: str) -> dict[str, Any]:
    """The cmd 100 frame that opens a read-only session."""
    return {
        "ver": "2",
        "cmd": CMD_CONNECT,
        "svcid": "game",
        "cid": chat_channel_id,
        "bdy": {"uid": None, "devType": 2001, "accTkn": access_token, "auth": "READ"},
        "tid": 1,
    }


class _Reconnect(Exception):
    """End the current session and connect again; ``str()`` is the Korean reason."""

    def __init__(self, reason: str, *, hint: str = "", immediate: bool = False) -> None:
        super().__init__(reason)
        self.hint = hint
        self.immediate = immediate  # not a failure (e.g. a new broadcast): no backoff wait


# The web chat's malformed-frame warnings; a name of its own because tests/test_chzzk_web.py uses it.
_RateLimitedWarning = functools.partial(LimitedWarnings, log, prefix="chzzk web chat: ")


class ChzzkWebChat:
    """Unofficial, read-only CHZZK web chat (no app registration).

    Documented as unofficial: it may break when CHZZK changes.
    """

    name = "chat"

    def __init__(
        self,
        accept: Callable[[ChatMessage], object],
        *,
        hide: Callable[[Blind], object] = lambda blind: None,
        channel_id: str,
        api_url: str,
        game_api_url: str,
        chat_url_template: str,
        http: httpx.AsyncClient | None = None,
        idle_ping_s: float = 20.0,
        live_poll_s: float = 30.0,
        max_backoff_s: float = 30.0,
    ) -> None:
        if not channel_id:
            raise ValueError("channel_id is required")
        self._accept = accept
        self._hide = hide  # a blind (cmd 94008): the message is taken back everywhere
        self._channel_id = channel_id
        self._api_url = api_url.rstrip("/")
        self._game_api_url = game_api_url.rstrip("/")
        self._chat_url_template = chat_url_template
        self._http = http
        self._idle_ping_s = idle_ping_s
        self._dead_after_s = 3 * idle_ping_s
        self._live_poll_s = live_poll_s
        self._max_backoff_s = max_backoff_s
        self._warn = _RateLimitedWarning(every_s=WARN_EVERY_S)
        self.chat_channel_id: str | None = None  # the one currently connected (for tests/doctor)
        self.connections = 0  # successful handshakes so far

    # --- the loop -------------------------------------------------------------------------

    async def run(self, status: StatusHandle) -> None:
        own_http = self._http is None
        http = self._http or httpx.AsyncClient(
            timeout=httpx.Timeout(10.0), headers={"User-Agent": _USER_AGENT}
        )
        try:
            await self._loop(http, status)
        finally:
            if own_http:
                await asyncio.shield(http.aclose())

    async def _loop(self, http: httpx.AsyncClient, status: StatusHandle) -> None:
        attempt = 0
        while True:
            started: float | None = None
            try:
                chat_cid = await self._resolve(http)
                if chat_cid is None:
                    attempt = 0
                    status.set(State.RUNNING, DETAIL_OFFLINE)
                    await asyncio.sleep(self._live_poll_s)
                    continue
                if status.current.state is not State.DEGRADED:  # keep the last failure shown
                    status.set(State.STARTING, "치지직 웹 채팅 연결 중 (비공식)")
                token = await self._access_token(http, chat_cid)
                url = self._chat_url_template.format(n=web_chat_server_number(chat_cid))
                async with connect(
                    url,
                    open_timeout=HANDSHAKE_TIMEOUT_S,
                    ping_interval=None,  # the chat protocol has its own ping (cmd 0)
                    close_timeout=1.0,
                    max_size=MAX_FRAME_BYTES,
                    user_agent_header=_USER_AGENT,
                ) as ws:
                    await self._handshake(ws, chat_cid, token)
                    started = time.monotonic()
                    self.chat_channel_id = chat_cid
                    self.connections += 1
                    log.info("chzzk web chat connected (chat channel %s)", chat_cid)
                    status.set(State.RUNNING, DETAIL_CONNECTED)
                    await self._session(ws, http, chat_cid)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - never die: report and reconnect
                reason, hint, immediate = self._describe(exc)
            else:  # pragma: no cover - _session only ends by raising
                reason, hint, immediate = "세션 종료", "", False
            self.chat_channel_id = None
            if started is not None and time.monotonic() - started >= STABLE_AFTER_S:
                attempt = 0
            if immediate:
                log.info("chzzk web chat: %s; reconnecting", reason)
                status.set(State.STARTING, f"다시 연결 중 ({reason})")
                attempt = 0
                continue
            delay = backoff_delay(attempt, cap_s=self._max_backoff_s)
            attempt += 1
            log.warning("chzzk web chat: %s; reconnecting in %.1f s", reason, delay)
            status.note_error(reason)
            status.set(
                State.DEGRADED, f"{delay:.1f}초 후 다시 연결 ({reason})", hint or HINT_UNOFFICIAL
            )
            await asyncio.sleep(delay)

    def _describe(self, exc: Exception) -> tuple[str, str, bool]:
        """(Korean reason, hint, reconnect immediately?) for an error that ended a session."""
        if isinstance(exc, _Reconnect):
            return str(exc), exc.hint, exc.immediate
        if isinstance(exc, httpx.HTTPStatusError):
            code = exc.response.status_code
            hint = "CHZZK_CHANNEL_ID(채널 ID)가 맞는지 확인하세요." if code == 404 else ""
            return f"HTTP {code}: {exc.request.url.path}", hint, False
        if isinstance(exc, httpx.HTTPError):
            return f"네트워크 오류: {type(exc).__name__}", "", False
        if isinstance(exc, ConnectionClosed):
            close_code = exc.rcvd.code if exc.rcvd is not None else None
            reason = f"서버가 연결을 끊음 (code {close_code})" if close_code else "연결이 끊김"
            return reason, "", False
        if isinstance(exc, InvalidURI):
            return f"채팅 주소가 잘못됨: {exc}", "CHZZK_WEB_CHAT_URL을 확인하세요.", False
        if isinstance(exc, InvalidHandshake):
            return f"웹소켓 연결 거부: {exc}", "", False
        if isinstance(exc, TimeoutError):
            return "연결 시간 초과", "", False
        if isinstance(exc, OSError):
            return f"연결 실패: {exc.strerror or type(exc).__name__}", "", False
        log.warning("chzzk web chat: unexpected error", exc_info=exc)
        return f"{type(exc).__name__}: {str(exc)[:120]}", "", False

    # --- HTTP -----------------------------------------------------------------------------

    @staticmethod
    def _content(response: httpx.Response, what: str) -> Any:
        response.raise_for_status()
        try:
            body = response.json()
        except ValueError as exc:
            raise _Reconnect(f"{what} 응답이 JSON이 아님") from exc
        if not isinstance(body, dict):
            raise _Reconnect(f"{what} 응답 형식이 다름")
        code = body.get("code", 200)
        if code != 200:
            raise _Reconnect(f"{what} 응답 code {str(code)[:20]}")
        return body.get("content")

    async def _resolve(self, http: httpx.AsyncClient) -> str | None:
        """The live broadcast's chatChannelId, or None when the channel is offline."""
        url = f"{self._api_url}/polling/v2/channels/{quote(self._channel_id, safe='')}/live-status"
        content = self._content(await http.get(url), "live-status")
        if not isinstance(content, dict):
            return None
        chat_cid = content.get("chatChannelId")
        return chat_cid if isinstance(chat_cid, str) and chat_cid.strip() else None

    async def _access_token(self, http: httpx.AsyncClient, chat_cid: str) -> str:
        response = await http.get(
            f"{self._game_api_url}/nng_main/v1/chats/access-token",
            params={"channelId": chat_cid, "chatType": "STREAMING"},
        )
        content = self._content(response, "access-token")
        token = content.get("accessToken") if isinstance(content, dict) else None
        if not isinstance(token, str) or not token:
            raise _Reconnect("access-token 응답에 accessToken이 없음")
        return token

    # --- websocket ------------------------------------------------------------------------

    async def _send(self, ws: ClientConnection, frame: dict[str, Any]) -> None:
        await ws.send(json.dumps(frame, ensure_ascii=False, separators=(",", ":")))

    async def _handshake(self, ws: ClientConnection, chat_cid: str, token: str) -> None:
        await self._send(ws, connect_frame(chat_cid, token))
        deadline = time.monotonic() + HANDSHAKE_TIMEOUT_S
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise _Reconnect("채팅 서버가 접속 응답(10100)을 보내지 않음")
            try:
                raw = await asyncio.wait_for(ws.recv(), timeout=remaining)
            except TimeoutError:
                continue
            frame = self._decode(raw)
            if frame is None:
                continue
            cmd = frame.get("cmd")
            if cmd == CMD_PING:
                await self._send(ws, {"ver": "2", "cmd": CMD_PONG})
            elif cmd == CMD_CONNECTED:
                ret = frame.get("retCode", 0)
                if ret not in (0, None):
                    raise _Reconnect(f"채팅 서버가 접속을 거부함 (retCode {str(ret)[:20]})")
                return

    async def _session(self, ws: ClientConnection, http: httpx.AsyncClient, chat_cid: str) -> None:
        """Read until something ends the session (always by raising)."""
        reader = asyncio.create_task(self._read(ws), name="chzzk-web-read")
        watcher = asyncio.create_task(self._watch(http, chat_cid), name="chzzk-web-watch")
        try:
            done, _ = await asyncio.wait({reader, watcher}, return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                task.result()  # raises what ended it
            raise _Reconnect("세션 종료")  # pragma: no cover - both loops only end by raising
        finally:
            for task in (reader, watcher):
                task.cancel()
            await asyncio.gather(reader, watcher, return_exceptions=True)

    async def _read(self, ws: ClientConnection) -> None:
        now = time.monotonic
        last_rx = last_tx = now()
        while True:
            idle_rx = now() - last_rx
            if idle_rx >= self._dead_after_s:
                raise _Reconnect(f"{self._dead_after_s:g}초 동안 응답 없음")
            if now() - last_tx >= self._idle_ping_s or (
                idle_rx >= self._idle_ping_s and last_tx <= last_rx
            ):
                await self._send(ws, {"ver": "2", "cmd": CMD_PING})
                last_tx = now()
            wait = min(
                self._dead_after_s - (now() - last_rx),
                self._idle_ping_s - (now() - last_tx),
                (self._idle_ping_s - (now() - last_rx)) if last_tx <= last_rx else float("inf"),
            )
            try:
                raw = await asyncio.wait_for(ws.recv(), timeout=max(wait, 0.001))
            except TimeoutError:
                continue
            last_rx = now()
            if await self._handle(ws, raw):
                last_tx = now()

    async def _handle(self, ws: ClientConnection, raw: str | bytes) -> bool:
        """Handle one frame; True when something was sent back."""
        frame = self._decode(raw)
        if frame is None:
            return False
        cmd = frame.get("cmd")
        if cmd == CMD_PING:
            await self._send(ws, {"ver": "2", "cmd": CMD_PONG})
            return True
        if cmd in (WEB_CMD_CHAT, WEB_CMD_DONATION) and not isinstance(cmd, bool):
            body = frame.get("bdy")
            items = [body] if isinstance(body, dict) else body
            if not isinstance(items, list):
                self._warn(f"skipped a cmd {cmd} frame whose bdy is not a list")
                return False
            for item in items:
                await self._deliver(item, cmd)
        elif cmd == WEB_CMD_BLIND and not isinstance(cmd, bool):
            self._blind(frame.get("bdy"))
        return False  # pong, 10100 again, notices, …: nothing to do

    def _blind(self, body: object) -> None:
        try:
            blind = parse_web_blind(body)
        except PayloadError as exc:
            self._warn(f"skipped a blind: {exc}")
            return
        try:
            self._hide(blind)
        except Exception:  # noqa: BLE001 - a failing handler must not end the chat session
            log.exception("chzzk web chat: hiding a blinded message failed")

    def _decode(self, raw: str | bytes) -> dict[str, Any] | None:
        try:
            frame = json.loads(raw)
        except (ValueError, RecursionError):
            self._warn(f"skipped a frame that is not JSON ({len(raw)} chars)")
            return None
        if not isinstance(frame, dict):
            self._warn(f"skipped a frame that is not a JSON object ({type(frame).__name__})")
            return None
        return frame

    async def _deliver(self, item: object, cmd: int) -> None:
        try:
            msg = parse_web_chat(item, channel_id=self._channel_id, cmd=cmd)
        except PayloadError as exc:
            self._warn(f"skipped an item: {exc}")
            return
        if msg is None:
            return
        try:
            result = self._accept(msg)
            if inspect.isawaitable(result):
                await result
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("chzzk web chat: accepting a message failed")

    async def _watch(self, http: httpx.AsyncClient, chat_cid: str) -> None:
        """Poll live-status; a different chatChannelId means a new broadcast → reconnect."""
        while True:
            await asyncio.sleep(self._live_poll_s)
            try:
                current = await self._resolve(http)
            except (httpx.HTTPError, _Reconnect) as exc:
                log.debug("chzzk web chat: live-status poll failed: %s", exc)
                continue
            if current is not None and current != chat_cid:
                raise _Reconnect("새 방송이 시작됨", immediate=True)
