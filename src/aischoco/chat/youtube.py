"""The ``youtube`` chat source: a YouTube channel's current live (or one video), read the way the
YouTube web client reads it — or through the Data API when ``YOUTUBE_API_KEY`` is set.

**Why the web client's feed is the default** (figures in the README): the Data API's
``liveChatMessages.list`` costs 5 quota units a call against a 10,000-unit day, i.e. 2,000 calls:
one every 7.2 s for a 4-hour stream, one every 14.4 s for 8 hours, and finding a channel's live
through ``search.list`` costs 100 units a call. The web client's ``youtubei/v1/live_chat/
get_live_chat`` needs no key and no Google Cloud project, has no quota, and YouTube itself says
how soon to ask again (``timeoutMs``, clamped here to 0.5–8 s). It is **unofficial**: YouTube may
change it without notice, and the status row says so; the Data API stays one setting away.

Flow, repeated forever with back-off between failures (``reconnect.run_sessions``):

1. ``GET {web}/channel/UC…/live`` (or ``/@handle/live``, or ``/watch?v=ID``): the page of the
   live → video id, ``isLive``, the "Live chat" continuation, the client's key and context.
   Not live → status "방송이 꺼져 있어 기다리는 중", look again every ``live_poll_s``.
2. Web: ``POST {web}/youtubei/v1/live_chat/get_live_chat`` with ``{context, continuation}``
   again and again; each answer has the actions and the next continuation. No continuation →
   the live is over: back to 1 at once (a new live of the channel is found there). While
   connected, a channel's ``/live`` page is read every ``live_poll_s``: another live video there
   (a new stream) → reconnect to it.
   Data API: ``videos.list`` → ``activeLiveChatId``; then ``liveChat/messages`` with
   ``pageToken`` at ``max(pollingIntervalMillis, 7.2 s)`` so a 4-hour stream fits the day.
3. Messages before we joined (the backlog the first answer carries) are not answered; a message
   seen before a reconnect is never delivered twice. A deleted message or a banned author's lines
   are taken back everywhere (``hide``), like a CHZZK blind.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Final
from urllib.parse import quote

import httpx

from ..core.log_limit import LimitedWarnings
from ..core.messages import Blind, ChatMessage, SubscriptionInfo
from ..core.status import State, StatusHandle
from .addresses import YouTubeTarget
from .reconnect import Reconnect, SeenIds, deliver, run_sessions
from .youtube_parse import (
    Batch,
    PayloadError,
    WatchPage,
    parse_api_messages,
    parse_live_chat,
    parse_video_live_chat_id,
    parse_watch_page,
)

log = logging.getLogger(__name__)

NAME: Final = "chat_youtube"
HINT_UNOFFICIAL: Final = ("YouTube 웹 채팅(키 없음)은 비공식이라 YouTube가 바뀌면 멈출 수 있습니다. 계속 안 되면 "
                          "YOUTUBE_API_KEY(공식 Data API)를 넣으세요.")
DETAIL_OFFLINE: Final = "방송이 꺼져 있어 기다리는 중"
BACKLOG_S: Final = 10.0  # the first answer's messages older than this before joining: not answered
API_MIN_INTERVAL_S: Final = 7.2  # 10,000 units / 5 per call = 2,000 calls: a 4-hour stream
API_QUOTA_WAIT_S: Final = 600.0
GIFT_LINK_S: Final = 300.0  # a receiver's line belongs to the gift bought this recently
QUICK_END_S: Final = 5.0  # a chat that "ends" this soon is a failure (back-off), not a live's end
YIELD_EVERY: Final = 32  # messages delivered between yields to the loop (one poll can bring hundreds)
FALLBACK_CLIENT: Final = {"client": {"clientName": "WEB", "clientVersion": "2.20250101.00.00",
                                     "hl": "ko", "gl": "KR"}}
_HEADERS: Final = {
    "User-Agent": ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like "
                   "Gecko) Chrome/124.0 Safari/537.36"),
    "Accept-Language": "ko-KR,ko;q=0.9,en;q=0.5",
    "Cookie": "CONSENT=YES+cb; SOCS=CAI",  # never the EU consent page instead of the live
}


class YouTubeChat:
    """One YouTube live's chat in the room; its own status row (``chat_youtube``)."""

    name = NAME

    def __init__(self, accept: Callable[[ChatMessage], object], *,
                 hide: Callable[[Blind], object] = lambda blind: None, target: YouTubeTarget,
                 web_url: str, api_url: str, api_key: str | None = None,
                 rates: Mapping[str, float] | None = None, http: httpx.AsyncClient | None = None,
                 live_poll_s: float = 60.0, min_poll_s: float = 0.5, max_poll_s: float = 8.0,
                 api_min_interval_s: float = API_MIN_INTERVAL_S, max_backoff_s: float = 30.0,
                 ) -> None:
        self._accept, self._hide, self.target = accept, hide, target
        self._web = web_url.rstrip("/")
        self._api = api_url.rstrip("/")
        self._key = api_key or None
        self._rates = dict(rates or {})
        self._http = http
        self._live_poll_s, self._min_poll_s, self._max_poll_s = live_poll_s, min_poll_s, max_poll_s
        self._api_min_s = api_min_interval_s
        self._max_backoff_s = max_backoff_s
        self._seen = SeenIds()
        self._by_author: OrderedDict[str, list[str]] = OrderedDict()  # author → platform keys
        self._last_gift: tuple[str, str, str, float] | None = None  # id, gifter, gifter id, when
        self._warn = LimitedWarnings(log, prefix="youtube chat: ")
        self._joined: dict[str, datetime] = {}  # video id → when we first read its chat
        self.video_id: str | None = None  # the live being read (tests, doctor)
        self.requests = 0

    @property
    def way(self) -> str:
        return "Data API" if self._key else "웹 채팅, 비공식"

    async def run(self, status: StatusHandle) -> None:
        own = self._http is None
        http = self._http or httpx.AsyncClient(timeout=httpx.Timeout(10.0), headers=_HEADERS,
                                               follow_redirects=True)
        try:
            await run_sessions(lambda: self._session(http, status), status, log=log,
                               name="youtube chat", hint="" if self._key else HINT_UNOFFICIAL,
                               max_backoff_s=self._max_backoff_s)
        finally:
            if own:
                await asyncio.shield(http.aclose())

    # --- finding the live ---------------------------------------------------------------------

    async def look(self, timeout_s: float = 5.0) -> tuple[WatchPage, bool]:
        """Step 1 once, for the doctor and the settings page's 연결 확인: (the live page, whether
        its chat can be read). Raises :class:`Reconnect` (Korean reason and hint: no such channel,
        a refused key, a spent quota) or ``httpx.HTTPError``. With a Data API key one
        ``videos.list`` (1 unit) also checks the key."""
        http = self._http or httpx.AsyncClient(timeout=httpx.Timeout(timeout_s), headers=_HEADERS,
                                               follow_redirects=True)
        try:
            page = await self._page(http)
            live = page.is_live and bool(page.video_id)
            if not self._key:
                return page, live and page.continuation is not None
            params = ({"part": "liveStreamingDetails", "id": page.video_id or ""} if live
                      else {"part": "id", "chart": "mostPopular", "maxResults": "1"})
            answer = await self._api_get(http, "videos", params)
            try:
                return page, live and parse_video_live_chat_id(answer) is not None
            except PayloadError as exc:
                raise Reconnect(f"YouTube API 응답을 읽지 못함: {exc}") from exc
        finally:
            if self._http is None:
                await http.aclose()

    async def _page(self, http: httpx.AsyncClient) -> WatchPage:
        response = await http.get(self._web + self.target.live_path())
        self.requests += 1
        if response.status_code == 404:
            raise Reconnect(f"YouTube에 그런 채널/영상이 없습니다 ({self.target.value})",
                            hint="YOUTUBE_CHANNEL_ID(UC…, @핸들, 채널 주소)나 YOUTUBE_VIDEO_ID를 확인하세요")
        response.raise_for_status()
        return parse_watch_page(response.text)

    async def _session(self, http: httpx.AsyncClient, status: StatusHandle) -> None:
        page = await self._page(http)
        if not page.is_live or not page.video_id:
            self.video_id = None
            waiting = "예정된 방송이 아직 시작 전이라 기다리는 중" if page.is_upcoming else DETAIL_OFFLINE
            status.set(State.RUNNING, f"{waiting} (YouTube {self.target.value})")
            await asyncio.sleep(self._live_poll_s)
            return
        if status.current.state is not State.DEGRADED:
            status.set(State.STARTING, f"YouTube 채팅 연결 중 ({self.way})")
        first = page.video_id not in self._joined
        joined = self._joined.setdefault(page.video_id, datetime.now(UTC))
        self.video_id = page.video_id
        if self._key:
            await self._api_session(http, status, page, first, joined)
        else:
            await self._web_session(http, status, page, first, joined)
        self.video_id = None
        status.set(State.RUNNING, f"방송이 끝나 다음 방송을 기다리는 중 (YouTube {self.target.value})")

    async def _new_live(self, http: httpx.AsyncClient, video_id: str) -> None:
        """A channel's /live now shows another live video: a new stream started."""
        if self.target.kind == "video":
            return
        try:
            page = await self._page(http)
        except (httpx.HTTPError, Reconnect) as exc:
            log.debug("youtube chat: live check failed: %s", exc)
            return
        if page.is_live and page.video_id and page.video_id != video_id:
            raise Reconnect("새 방송이 시작됨", immediate=True)

    # --- the web client's feed ----------------------------------------------------------------

    async def _web_session(self, http: httpx.AsyncClient, status: StatusHandle, page: WatchPage,
                           first: bool, joined: datetime) -> None:
        continuation = page.continuation
        if continuation is None:
            raise Reconnect("이 방송은 채팅이 꺼져 있거나 채팅을 찾지 못함", wait_s=self._live_poll_s)
        url = f"{self._web}/youtubei/v1/live_chat/get_live_chat?prettyPrint=false"
        if page.api_key:
            url += f"&key={quote(page.api_key, safe='')}"
        context = page.context or FALLBACK_CLIENT
        started = time.monotonic()
        next_check = started + self._live_poll_s
        announced = False
        assert page.video_id is not None
        while True:
            response = await http.post(url, json={"context": context, "continuation": continuation})
            self.requests += 1
            if response.status_code in (403, 404):
                raise Reconnect(f"YouTube가 채팅 요청을 거절함 (HTTP {response.status_code})")
            response.raise_for_status()
            try:
                batch = parse_live_chat(response.content, channel_id=page.channel_id,
                                        rates=self._rates)
            except PayloadError as exc:
                raise Reconnect(f"YouTube 채팅 응답을 읽지 못함: {exc}") from exc
            if not announced:
                status.set(State.RUNNING, f"YouTube 채팅 연결됨 ({self.way}) · {page.title[:40]}",
                           HINT_UNOFFICIAL)
                log.info("youtube chat connected (video %s)", page.video_id)
                announced = True
            await self._take(batch, backlog_before=joined - timedelta(seconds=BACKLOG_S) if first else None)
            first = False
            if batch.ended or batch.continuation is None:
                if time.monotonic() - started < QUICK_END_S:  # never a tight loop on a live page
                    raise Reconnect("YouTube가 채팅을 이어 주지 않음 (다음 요청 정보 없음)")
                return
            continuation = batch.continuation
            wait = (batch.timeout_ms or 2000) / 1000
            await asyncio.sleep(min(self._max_poll_s, max(self._min_poll_s, wait)))
            if time.monotonic() >= next_check:
                next_check = time.monotonic() + self._live_poll_s
                await self._new_live(http, page.video_id)

    # --- the Data API ---------------------------------------------------------------------------

    async def _api_get(self, http: httpx.AsyncClient, path: str, params: dict[str, str]) -> bytes:
        assert self._key is not None
        response = await http.get(f"{self._api}/{path}", params={**params, "key": self._key})
        self.requests += 1
        if response.status_code == 403 and b"quota" in response.content.lower():
            raise Reconnect("YouTube API 하루 할당량(10,000)을 다 썼습니다", wait_s=API_QUOTA_WAIT_S,
                            hint="YOUTUBE_API_KEY를 비우면 할당량 없는 웹 채팅으로 읽습니다")
        if response.status_code in (400, 401, 403):
            raise Reconnect(f"YouTube API가 거절함 (HTTP {response.status_code})",
                            hint="YOUTUBE_API_KEY가 맞는지, YouTube Data API v3가 켜져 있는지 확인하세요")
        response.raise_for_status()
        return response.content

    async def _api_session(self, http: httpx.AsyncClient, status: StatusHandle, page: WatchPage,
                           first: bool, joined: datetime) -> None:
        assert page.video_id is not None
        try:
            chat_id = parse_video_live_chat_id(await self._api_get(
                http, "videos", {"part": "liveStreamingDetails", "id": page.video_id}))
        except PayloadError as exc:
            raise Reconnect(f"YouTube API 응답을 읽지 못함: {exc}") from exc
        if chat_id is None:
            raise Reconnect("이 방송에는 실시간 채팅이 없습니다", wait_s=self._live_poll_s)
        token: str | None = None
        status.set(State.RUNNING, f"YouTube 채팅 연결됨 (Data API) · {page.title[:40]}")
        next_check = time.monotonic() + self._live_poll_s
        while True:
            params = {"liveChatId": chat_id, "part": "snippet,authorDetails", "maxResults": "2000"}
            if token:
                params["pageToken"] = token
            try:
                batch = parse_api_messages(await self._api_get(http, "liveChat/messages", params),
                                           channel_id=page.channel_id, rates=self._rates)
            except PayloadError as exc:
                raise Reconnect(f"YouTube API 응답을 읽지 못함: {exc}") from exc
            await self._take(batch, backlog_before=joined - timedelta(seconds=BACKLOG_S) if first else None)
            first = False
            if batch.ended or not batch.continuation:
                return
            token = batch.continuation
            await asyncio.sleep(max(self._api_min_s, (batch.polling_ms or 0) / 1000))
            if time.monotonic() >= next_check:
                next_check = time.monotonic() + self._live_poll_s
                await self._new_live(http, page.video_id)

    # --- delivery ---------------------------------------------------------------------------------

    async def _take(self, batch: Batch, *, backlog_before: datetime | None) -> None:
        if batch.skipped:
            self._warn(f"skipped {batch.skipped} actions that could not be read")
        for i, msg in enumerate(batch.messages):
            if i % YIELD_EVERY == YIELD_EVERY - 1:
                # a slow poll brings hundreds at once: let CHZZK's and SOOP's lines in between
                # (bench_platforms: 500 in one go held the other platforms ~0.1 s)
                await asyncio.sleep(0)
            if not self._seen.add(msg.message_id):
                continue
            if backlog_before is not None and msg.timestamp < backlog_before:
                continue  # said before we joined: history, not a question to answer now
            if not self._link_gift(msg):
                continue
            if msg.platform_key:
                keys = self._by_author.setdefault(msg.user_id, [])
                keys.append(msg.platform_key)
                del keys[:-50]
                self._by_author.move_to_end(msg.user_id)
                while len(self._by_author) > 2000:
                    self._by_author.popitem(last=False)
            await deliver(self._accept, msg, log)
        for blind in batch.blinds:
            self._take_back(blind)
        for author in batch.banned_authors:
            for key in self._by_author.pop(author, []):
                self._take_back(Blind(key, "YouTube에서 차단됨"))

    def _link_gift(self, msg: ChatMessage) -> bool:
        """A gift's receivers fold into the gifter's one thank-you (the web feed does not say
        which gift a receiver got: the latest one, bought at most GIFT_LINK_S ago)."""
        info = msg.subscription
        if info is None:
            return True
        if info.gift_count is not None and info.gift_id:
            self._last_gift = (info.gift_id, msg.user, msg.user_id, time.monotonic())
            return True
        if info.receiver is None or info.gift_id is not None:
            return True
        if self._last_gift is None or time.monotonic() - self._last_gift[3] > GIFT_LINK_S:
            return False  # a receiver of a gift we never saw: nothing to thank
        gift_id, gifter, gifter_id, _ = self._last_gift
        msg.subscription = SubscriptionInfo(gift_id=gift_id, receiver=info.receiver)
        msg.user, msg.user_id, msg.message = gifter, gifter_id, ""
        return True

    def _take_back(self, blind: Blind) -> None:
        try:
            self._hide(blind)
        except Exception:
            log.exception("youtube chat: taking a message back failed")

