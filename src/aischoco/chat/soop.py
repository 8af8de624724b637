"""The ``soop`` chat source: SOOP's (AfreecaTV's) live chat — **unofficial** and read-only, like
``chzzk-web``: it speaks the web player's own websocket protocol (``soop_packet.py``), which SOOP
may change at any time; the status row says so. It logs in as a guest and never sends chat.

Flow, repeated forever with back-off between failures (``reconnect.run_sessions``):

1. ``POST SOOP_LIVE_API_URL?bjid=<id>`` (form ``bid=<id>&type=live…``) → ``CHANNEL``:
   ``RESULT`` 1 = live (``CHDOMAIN``, ``CHPT``, ``CHATNO``, ``FTK``, ``BNO``), 0 = not live
   (status "방송이 꺼져 있어 기다리는 중", ask again every ``live_poll_s``), -6 = an age-restricted
   live that a guest cannot read (said on the status row; asked again later).
2. websocket ``SOOP_CHAT_URL`` with ``{domain}`` = CHDOMAIN, ``{port}`` = CHPT + 1, ``{bid}``,
   subprotocol ``chat``: ``0001`` login (guest) → the server's ``0001`` → ``0002`` join with
   CHATNO/FTK → the server's ``0002``: connected. A ``0000`` keep-alive every ``keepalive_s``;
   websocket pings find a dead link.
3. Chat, balloons (counted in won through ``DONATION_KRW_RATES``), subscriptions and emoticons →
   the room. ``0007``/``0088`` (the broadcast ended) or the live info saying it is over → back to
   1 at once; another ``BNO`` (a new broadcast) → reconnect to it.

SOOP's chat servers have been seen sending an incomplete certificate chain (open clients turn
verification off). We verify; only when that fails with a certificate error do we connect once
more without verification, and say so on the status row: nothing is sent but a guest login, and
what comes back is public chat.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
import time
from collections.abc import Callable, Mapping
from typing import Final

import httpx
from websockets.asyncio.client import ClientConnection, connect

from ..core.log_limit import LimitedWarnings
from ..core.messages import ChatMessage
from ..core.status import State, StatusHandle
from .reconnect import Reconnect, deliver, run_sessions
from .soop_packet import (
    ENDED,
    JOIN,
    LOGIN,
    PLAY_URL,
    FrameReader,
    LiveInfo,
    PayloadError,
    describe_ret,
    join_frame,
    keepalive_frame,
    login_frame,
    parse_frame,
    parse_live_info,
)

log = logging.getLogger(__name__)

NAME: Final = "chat_soop"
HINT_UNOFFICIAL: Final = "SOOP 채팅은 비공식(웹 플레이어 방식)이라 SOOP가 바뀌면 멈출 수 있습니다."
DETAIL_OFFLINE: Final = "방송이 꺼져 있어 기다리는 중"
HANDSHAKE_TIMEOUT_S: Final = 10.0
MAX_FRAME_BYTES: Final = 2 * 1024 * 1024
QUICK_END_S: Final = 5.0  # "the broadcast ended" this soon after joining: a failure (back-off)
_HEADERS: Final = {
    "User-Agent": ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like "
                   "Gecko) Chrome/124.0 Safari/537.36"),
    "Origin": PLAY_URL, "Referer": PLAY_URL + "/",
}


class SoopChat:
    """One SOOP broadcaster's live chat in the room; its own status row (``chat_soop``)."""

    name = NAME

    def __init__(self, accept: Callable[[ChatMessage], object], *, bid: str, live_api_url: str,
                 chat_url_template: str, rates: Mapping[str, float] | None = None,
                 http: httpx.AsyncClient | None = None, live_poll_s: float = 60.0,
                 keepalive_s: float = 20.0, max_backoff_s: float = 30.0) -> None:
        if not bid:
            raise ValueError("bid is required")
        self._accept, self.bid = accept, bid
        self._live_api_url = live_api_url
        self._template = chat_url_template
        self._rates = dict(rates or {})
        self._http = http
        self._live_poll_s, self._keepalive_s = live_poll_s, keepalive_s
        self._max_backoff_s = max_backoff_s
        self._unverified = False  # the chat server's certificate could not be verified
        self._warn = LimitedWarnings(log, prefix="soop chat: ")
        self.broadcast_no: str | None = None  # the live being read (tests, doctor)
        self.connections = 0

    async def run(self, status: StatusHandle) -> None:
        own = self._http is None
        http = self._http or httpx.AsyncClient(timeout=httpx.Timeout(10.0), headers=_HEADERS)
        try:
            await run_sessions(lambda: self._session(http, status), status, log=log,
                               name="soop chat", hint=HINT_UNOFFICIAL,
                               max_backoff_s=self._max_backoff_s)
        finally:
            if own:
                await asyncio.shield(http.aclose())

    async def look(self, timeout_s: float = 5.0) -> LiveInfo:
        """Step 1 once, for the doctor and the settings page's 연결 확인: the live info. Raises
        :class:`Reconnect` (an answer that is not SOOP's) or ``httpx.HTTPError``."""
        http = self._http or httpx.AsyncClient(timeout=httpx.Timeout(timeout_s), headers=_HEADERS)
        try:
            return await self._live(http)
        finally:
            if self._http is None:
                await http.aclose()

    async def _live(self, http: httpx.AsyncClient) -> LiveInfo:
        response = await http.post(
            self._live_api_url, params={"bjid": self.bid},
            data={"bid": self.bid, "type": "live", "player_type": "html5", "mode": "landing",
                  "from_api": "0", "pwd": "", "stream_type": "common", "quality": "HD"})
        response.raise_for_status()
        try:
            return parse_live_info(response.content)
        except PayloadError as exc:
            raise Reconnect(f"SOOP 방송 정보를 읽지 못함: {exc}") from exc

    async def _session(self, http: httpx.AsyncClient, status: StatusHandle) -> None:
        info = await self._live(http)
        if not info.live:
            self.broadcast_no = None
            if info.result == -6:
                status.set(State.DEGRADED, "연령 제한 방송이라 로그인 없이 채팅을 읽을 수 없습니다",
                           "SOOP의 연령 제한을 풀면 읽습니다 (비공식 읽기 전용은 로그인하지 않습니다)")
            else:
                status.set(State.RUNNING, f"{DETAIL_OFFLINE} (SOOP {self.bid})")
            await asyncio.sleep(self._live_poll_s)
            return
        if status.current.state is not State.DEGRADED:
            status.set(State.STARTING, "SOOP 채팅 연결 중 (비공식)")
        url = self._template.format(domain=info.chat_domain, port=info.chat_port + 1, bid=self.bid)
        try:
            await self._connect(url, info, http, status)
        except ssl.SSLCertVerificationError as exc:
            if self._unverified:
                raise
            log.warning("soop chat: the chat server's certificate cannot be verified (%s); "
                        "connecting without verification (read-only, guest)", exc.verify_message)
            self._unverified = True
            await self._connect(url, info, http, status)

    async def _connect(self, url: str, info: LiveInfo, http: httpx.AsyncClient,
                       status: StatusHandle) -> None:
        tls: ssl.SSLContext | None = None
        if url.startswith("wss://") and self._unverified:
            tls = ssl.create_default_context()
            tls.check_hostname, tls.verify_mode = False, ssl.CERT_NONE
        options = {"ssl": tls} if tls is not None else {}
        async with connect(url, subprotocols=["chat"], open_timeout=HANDSHAKE_TIMEOUT_S,
                           ping_interval=30, ping_timeout=30, close_timeout=1.0,
                           max_size=MAX_FRAME_BYTES, user_agent_header=_HEADERS["User-Agent"],
                           origin=PLAY_URL, **options) as ws:  # type: ignore[arg-type]
            reader = FrameReader()
            await self._handshake(ws, reader, info)
            self.connections += 1
            self.broadcast_no = info.broadcast_no
            note = " · 인증서 확인 없이" if self._unverified else ""
            status.set(State.RUNNING, f"SOOP 채팅 연결됨 (비공식, 읽기 전용{note}) · {info.title[:40]}",
                       HINT_UNOFFICIAL)
            log.info("soop chat connected (%s, broadcast %s)", self.bid, info.broadcast_no)
            joined_at = time.monotonic()
            tasks = {asyncio.create_task(self._read(ws, reader), name="soop-read"),
                     asyncio.create_task(self._keepalive(ws), name="soop-keepalive"),
                     asyncio.create_task(self._watch(http, info), name="soop-watch")}
            try:
                done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
                for task in done:
                    task.result()  # raises what ended it; returning = the broadcast ended
            finally:
                for task in tasks:
                    task.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)
                self.broadcast_no = None
            if time.monotonic() - joined_at < QUICK_END_S:  # never a tight reconnect loop
                raise Reconnect("입장하자마자 방송 종료 신호를 받음")
        status.set(State.RUNNING, f"방송이 끝나 다음 방송을 기다리는 중 (SOOP {self.bid})")

    async def _handshake(self, ws: ClientConnection, reader: FrameReader, info: LiveInfo) -> None:
        await ws.send(login_frame())
        deadline = time.monotonic() + HANDSHAKE_TIMEOUT_S
        joined = False
        while not joined:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise Reconnect("SOOP 채팅 서버가 입장 응답을 보내지 않음")
            try:
                raw = await asyncio.wait_for(ws.recv(), timeout=remaining)
            except TimeoutError:
                continue
            for frame in reader.feed(raw):
                if frame.code in (LOGIN, JOIN) and frame.ret:
                    raise Reconnect(f"SOOP 채팅 서버가 거절함 ({describe_ret(frame)})")
                if frame.code == LOGIN:
                    await ws.send(join_frame(info.chat_no, info.ftk))
                elif frame.code == JOIN:
                    joined = True

    async def _read(self, ws: ClientConnection, reader: FrameReader) -> None:
        async for raw in ws:
            for frame in reader.feed(raw):
                if frame.code in ENDED:
                    log.info("soop chat: the broadcast ended (%s)", self.bid)
                    return
                try:
                    msg = parse_frame(frame, bid=self.bid, rates=self._rates)
                except (ValueError, TypeError, IndexError) as exc:
                    self._warn(f"skipped a {frame.code:04d} frame: {exc}")
                    continue
                if msg is not None:
                    await deliver(self._accept, msg, log)
            if reader.skipped:
                self._warn(f"skipped {reader.skipped} bytes that were not frames")
                reader.skipped = 0
        raise Reconnect("연결이 끊김")

    async def _keepalive(self, ws: ClientConnection) -> None:
        while True:
            await asyncio.sleep(self._keepalive_s)
            await ws.send(keepalive_frame())

    async def _watch(self, http: httpx.AsyncClient, info: LiveInfo) -> None:
        """The live info, again and again: over → return; a new broadcast → reconnect."""
        while True:
            await asyncio.sleep(self._live_poll_s)
            try:
                now = await self._live(http)
            except (httpx.HTTPError, Reconnect) as exc:
                log.debug("soop chat: live check failed: %s", exc)
                continue
            if now.result == 0:
                return
            if now.live and now.broadcast_no and now.broadcast_no != info.broadcast_no:
                raise Reconnect("새 방송이 시작됨", immediate=True)
