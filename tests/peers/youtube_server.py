"""A YouTube peer on 127.0.0.1 for tests: the web pages and the web client's live-chat feed, and
the Data API's chat endpoints — in YouTube's real shapes.

The action builders below follow field for field the captured actions in chat-downloader's
``tests/youtube_actions.json`` (MIT) and VTSYoutubeDropper's mock live-chat data (text, paid
message, paid sticker, membership, milestone, gift purchase/redemption, deletions), with invented
names and ids; the pages carry ``ytInitialPlayerResponse``, ``ytInitialData`` and ``ytcfg.set``
the way ``/watch`` and ``/channel/UC…/live`` do.

- ``GET /channel/{id}/live``, ``/@{handle}/live``, ``/watch?v=…``: the live's watch page while
  live; an offline channel's ``/live`` is the channel page (no player response, no chat).
- ``POST /youtubei/v1/live_chat/get_live_chat?key=…``: needs the page's key, a ``context.client``
  and the continuation last handed out; answers the queued actions and a new continuation
  (``invalidationContinuationData`` with ``timeoutMs``); no continuation once the chat ended.
- ``GET /youtube/v3/videos`` and ``/youtube/v3/liveChat/messages`` (Data API, ``key`` checked,
  5 units a messages call against ``quota``; 403 ``quotaExceeded`` past it).
"""

from __future__ import annotations

import itertools
import json
import threading
import time
from datetime import UTC, datetime
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

from peers.threaded_server import ThreadedServer

WEB_KEY = "AIzaSyTestWebClientKey_0000000000000"
API_KEY = "test-data-api-key"
_ids = itertools.count(1)


def _usec(at: float | None = None) -> str:
    return str(int((time.time() if at is None else at) * 1e6))


def _photo() -> dict[str, Any]:
    return {"thumbnails": [{"url": "https://yt3.ggpht.com/ytc/AAtest=s32-c-k-c0xffffffff-no-rj-mo",
                            "width": 32, "height": 32},
                           {"url": "https://yt3.ggpht.com/ytc/AAtest=s64-c-k-c0xffffffff-no-rj-mo",
                            "width": 64, "height": 64}]}


def _menu() -> dict[str, Any]:
    return {"clickTrackingParams": "CAEQl98BIhMItest", "commandMetadata": {
        "webCommandMetadata": {"ignoreNavigation": True}},
        "liveChatItemContextMenuEndpoint": {"params": "Q2p3S09nb2FRMGt0Tkc1SlF6SXdkVEJEUmxFeVMy"}}


def _badges(owner: bool, moderator: bool, member: bool) -> list[dict[str, Any]]:
    badges = []
    if owner:
        badges.append({"liveChatAuthorBadgeRenderer": {"icon": {"iconType": "OWNER"}, "tooltip": "Owner",
                                                       "accessibility": {"accessibilityData": {"label": "Owner"}}}})
    if moderator:
        badges.append({"liveChatAuthorBadgeRenderer": {"icon": {"iconType": "MODERATOR"},
                                                       "tooltip": "Moderator",
                                                       "accessibility": {"accessibilityData": {"label": "Moderator"}}}})
    if member:
        badges.append({"liveChatAuthorBadgeRenderer": {"customThumbnail": {"thumbnails": [
            {"url": "https://yt3.ggpht.com/badge=s16-c-k"}, {"url": "https://yt3.ggpht.com/badge=s32-c-k"}]},
            "tooltip": "Member (6 months)", "accessibility": {"accessibilityData": {"label": "Member (6 months)"}}}})
    return badges


def _author(author_id: str, name: str, *, owner: bool = False, moderator: bool = False,
            member: bool = False) -> dict[str, Any]:
    fields: dict[str, Any] = {"authorName": {"simpleText": name}, "authorPhoto": _photo(),
                              "authorExternalChannelId": author_id, "contextMenuEndpoint": _menu(),
                              "contextMenuAccessibility": {"accessibilityData": {"label": "Comment actions"}}}
    badges = _badges(owner, moderator, member)
    if badges:
        fields["authorBadges"] = badges
    return fields


def item_id() -> str:
    return f"ChwKGkNJTDhuN1BoNnVvQ0ZWbENUQWdk{next(_ids):08d}"


def emoji_run(name: str, *, custom: bool = True) -> dict[str, Any]:
    if not custom:
        return {"emoji": {"emojiId": name, "shortcuts": [":smile:"], "searchTerms": ["smile"],
                          "image": {"thumbnails": [{"url": "https://fonts.gstatic.com/s/e/notoemoji/15.0/1f604/72.png"}]}}}
    return {"emoji": {"emojiId": f"UCtestchannel/{name}", "shortcuts": [f":_{name}:", f":{name}:"],
                      "searchTerms": [f"_{name}", name],
                      "image": {"thumbnails": [{"url": f"https://yt3.ggpht.com/{name}=w24-h24-c-k-nd",
                                                "width": 24, "height": 24},
                                               {"url": f"https://yt3.ggpht.com/{name}=w48-h48-c-k-nd",
                                                "width": 48, "height": 48}],
                                "accessibility": {"accessibilityData": {"label": name}}},
                      "isCustomEmoji": True}}


def text_action(author_id: str, name: str, text: str | list[dict[str, Any]], *,
                owner: bool = False, moderator: bool = False, at: float | None = None,
                id_: str | None = None) -> dict[str, Any]:
    runs = [{"text": text}] if isinstance(text, str) else text
    return {"clickTrackingParams": "CAEQl98BIhMItest", "addChatItemAction": {"item": {
        "liveChatTextMessageRenderer": {"message": {"runs": runs}, **_author(author_id, name, owner=owner,
                                                                               moderator=moderator),
                                        "id": id_ or item_id(), "timestampUsec": _usec(at)}},
        "clientId": "CMvt4Kq00u0CFQXpaAodqgQLUw-1"}}


def paid_action(author_id: str, name: str, amount_text: str, text: str = "") -> dict[str, Any]:
    renderer = {"id": item_id(), "timestampUsec": _usec(), **_author(author_id, name),
                "purchaseAmountText": {"simpleText": amount_text},
                "headerBackgroundColor": 4294947584, "headerTextColor": 3741319168,
                "bodyBackgroundColor": 4294953512, "bodyTextColor": 3741319168,
                "authorNameTextColor": 2315255808, "timestampColor": 2147483648,
                "trackingParams": "CAsQ7rsEIhMItest"}
    if text:
        renderer["message"] = {"runs": [{"text": text}]}
    return {"addChatItemAction": {"item": {"liveChatPaidMessageRenderer": renderer}}}


def sticker_action(author_id: str, name: str, amount_text: str, label: str) -> dict[str, Any]:
    return {"addChatItemAction": {"item": {"liveChatPaidStickerRenderer": {
        "id": item_id(), "contextMenuEndpoint": _menu(), "timestampUsec": _usec(),
        "authorPhoto": _photo(), "authorName": {"simpleText": name}, "authorExternalChannelId": author_id,
        "sticker": {"thumbnails": [{"url": "//lh3.googleusercontent.com/sticker=s104-rwa", "width": 104,
                                    "height": 104}],
                    "accessibility": {"accessibilityData": {"label": label}}},
        "moneyChipBackgroundColor": 4294953512, "moneyChipTextColor": 3741319168,
        "purchaseAmountText": {"simpleText": amount_text}, "stickerDisplayWidth": 104,
        "stickerDisplayHeight": 104, "backgroundColor": 4294947584, "authorNameTextColor": 2315255808,
        "trackingParams": "CB8Q77sEIhMItest"}}}}


def membership_action(author_id: str, name: str, *, months: int | None = None,
                      level: str = "초코 멤버", text: str = "") -> dict[str, Any]:
    renderer: dict[str, Any] = {"id": item_id(), "timestampUsec": _usec(), **_author(author_id, name, member=True)}
    if months is None:
        renderer["headerSubtext"] = {"runs": [{"text": "Welcome to "}, {"text": level}, {"text": "!"}]}
    else:
        renderer["headerPrimaryText"] = {"runs": [{"text": "Member for "}, {"text": str(months)},
                                                  {"text": " months"}]}
        renderer["headerSubtext"] = {"simpleText": level}
        if text:
            renderer["message"] = {"runs": [{"text": text}]}
    return {"addChatItemAction": {"item": {"liveChatMembershipItemRenderer": renderer}}}


def gift_purchase_action(author_id: str, name: str, count: int) -> dict[str, Any]:
    return {"addChatItemAction": {"item": {"liveChatSponsorshipsGiftPurchaseAnnouncementRenderer": {
        "id": item_id(), "timestampUsec": _usec(), "authorExternalChannelId": author_id,
        "header": {"liveChatSponsorshipsHeaderRenderer": {
            "authorName": {"simpleText": name}, "authorPhoto": _photo(),
            "primaryText": {"runs": [{"text": "Gifted ", "bold": True}, {"text": str(count), "bold": True},
                                     {"text": " ", "bold": True}, {"text": "초코 채널", "bold": True},
                                     {"text": " memberships", "bold": True}]},
            "contextMenuEndpoint": _menu(),
            "image": {"thumbnails": [{"url": "https://www.gstatic.com/youtube/img/sponsorships/sponsorships_gift_purchase_announcement_artwork.png"}]}}}}}}}


def gift_redemption_action(author_id: str, name: str, gifter: str) -> dict[str, Any]:
    return {"addChatItemAction": {"item": {"liveChatSponsorshipsGiftRedemptionAnnouncementRenderer": {
        "id": item_id(), "timestampUsec": _usec(), **_author(author_id, name),
        "message": {"runs": [{"text": "received a gift membership by ", "italics": True},
                             {"text": gifter, "bold": True, "italics": True}]}}}}}


def deleted_action(target_id: str) -> dict[str, Any]:
    return {"markChatItemAsDeletedAction": {"deletedStateMessage": {"runs": [{"text": "[message deleted]"}]},
                                            "targetItemId": target_id}}


def ban_action(author_id: str) -> dict[str, Any]:
    return {"markChatItemsByAuthorAsDeletedAction": {
        "deletedStateMessage": {"runs": [{"text": "[message deleted]"}]}, "externalChannelId": author_id}}


def ticker_action(author_id: str, name: str, amount_text: str) -> dict[str, Any]:
    """A ticker repeats a Super Chat at the top of the chat: must not be counted twice."""
    inner = paid_action(author_id, name, amount_text, "ticker copy")["addChatItemAction"]["item"]
    return {"addLiveChatTickerItemAction": {"item": {"liveChatTickerPaidMessageItemRenderer": {
        "id": item_id(), "amount": {"simpleText": amount_text}, "authorPhoto": _photo(),
        "durationSec": 300, "showItemEndpoint": {"showLiveChatItemEndpoint": {"renderer": inner}},
        "authorExternalChannelId": author_id, "fullDurationSec": 300}}, "durationSec": "300"}}


def watch_page(*, video_id: str | None, channel_id: str, live: bool, title: str = "테스트 라이브",
               upcoming: bool = False, continuation: str | None = "0ofMyAN_reload_first") -> str:
    cfg = {"INNERTUBE_API_KEY": WEB_KEY, "INNERTUBE_CLIENT_VERSION": "2.20260101.00.00",
           "INNERTUBE_CONTEXT": {"client": {"hl": "ko", "gl": "KR", "clientName": "WEB",
                                            "clientVersion": "2.20260101.00.00"}},
           "INNERTUBE_CONTEXT_CLIENT_NAME": 1}
    head = (f'<html><head><link rel="canonical" href="https://www.youtube.com/'
            f'{"watch?v=" + video_id if video_id else "channel/" + channel_id}">'
            f'<script>ytcfg.set({{"EXPERIMENT_FLAGS": {{"a": true}}}});ytcfg.set({json.dumps(cfg)});</script>')
    if video_id is None:  # the channel's own page: no live
        data = {"contents": {"twoColumnBrowseResultsRenderer": {"tabs": []}},
                "metadata": {"channelMetadataRenderer": {"externalId": channel_id}}}
        return head + f"<script>var ytInitialData = {json.dumps(data)};</script></head></html>"
    player = {"videoDetails": {"videoId": video_id, "title": title, "channelId": channel_id,
                               "isLive": live or None, "isUpcoming": upcoming or None,
                               "isLiveContent": True},
              "microformat": {"playerMicroformatRenderer": {"liveBroadcastDetails": {
                  "isLiveNow": live, "startTimestamp": "2026-12-07T11:00:00+00:00"}}}}
    player["videoDetails"] = {k: v for k, v in player["videoDetails"].items() if v is not None}
    bar: dict[str, Any] = {}
    if continuation:
        bar = {"liveChatRenderer": {"continuations": [{"reloadContinuationData": {
            "continuation": continuation + "_top", "clickTrackingParams": "CAEQl98BIhMItest"}}],
            "header": {"liveChatHeaderRenderer": {"viewSelector": {"sortFilterSubMenuRenderer": {
                "subMenuItems": [
                    {"title": "Top chat", "selected": True, "continuation": {"reloadContinuationData": {
                        "continuation": continuation + "_top"}}},
                    {"title": "Live chat", "selected": False, "continuation": {"reloadContinuationData": {
                        "continuation": continuation}}}]}}}},
            "isReplay": False}}
    data = {"contents": {"twoColumnWatchNextResults": {"results": {}, "conversationBar": bar}}}
    return (head + f"<script>var ytInitialPlayerResponse = {json.dumps(player)};var meta = 1;</script>"
            f"<script>var ytInitialData = {json.dumps(data)};</script></head><body></body></html>")


class YouTubeServer(ThreadedServer):
    thread_name = "youtube-peer"

    def __init__(self, *, channel_id: str = "UCtestChannel0000000000A", handle: str = "@chocotest",
                 quota: int = 10_000, timeout_ms: int = 200) -> None:
        self.channel_id, self.handle = channel_id, handle
        self.video_id: str | None = None
        self.title = "테스트 라이브"
        self.timeout_ms = timeout_ms
        self.quota, self.quota_used = quota, 0
        self._lock = threading.Lock()
        self._pending: list[dict[str, Any]] = []
        self._continuation = "0ofMyAN_reload_first"
        self._counter = itertools.count(1)
        self.chat_ended = False
        self.fail_next: list[int] = []  # statuses for the next chat requests (then normal)
        self.page_requests = 0
        self.chat_requests: list[dict[str, Any]] = []
        self.api_requests: list[dict[str, str]] = []
        self._bind_and_serve(Starlette(routes=[
            Route("/channel/{cid}/live", self._live_page),
            Route("/{handle:str}/live", self._live_page),
            Route("/watch", self._watch),
            Route("/youtubei/v1/live_chat/get_live_chat", self._get_live_chat, methods=["POST"]),
            Route("/youtube/v3/videos", self._api_videos),
            Route("/youtube/v3/liveChat/messages", self._api_messages),
        ]))

    @property
    def web_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def api_url(self) -> str:
        return f"http://{self.host}:{self.port}/youtube/v3"

    # --- control (thread-safe) -----------------------------------------------------------------

    def go_live(self, video_id: str, title: str = "테스트 라이브") -> None:
        with self._lock:
            self.video_id, self.title, self.chat_ended = video_id, title, False
            self._continuation = f"0ofMyAN_reload_{video_id}"

    def go_offline(self) -> None:
        with self._lock:
            self.video_id, self.chat_ended = None, True

    def end_chat(self) -> None:
        with self._lock:
            self.chat_ended = True

    def push(self, *actions: dict[str, Any]) -> None:
        with self._lock:
            self._pending.extend(actions)

    def pending(self) -> int:
        with self._lock:
            return len(self._pending)

    # --- pages -----------------------------------------------------------------------------------

    async def _live_page(self, request: Request) -> Response:
        self.page_requests += 1
        cid, handle = request.path_params.get("cid"), request.path_params.get("handle")
        if (cid is not None and cid != self.channel_id) or (handle is not None and handle != self.handle):
            return HTMLResponse("<html><title>404 Not Found</title></html>", status_code=404)
        with self._lock:
            video, cont = self.video_id, self._continuation
        return HTMLResponse(watch_page(video_id=video, channel_id=self.channel_id, live=video is not None,
                                       title=self.title, continuation=cont))

    async def _watch(self, request: Request) -> Response:
        self.page_requests += 1
        vid = request.query_params.get("v")
        with self._lock:
            live, cont = vid is not None and vid == self.video_id, self._continuation
        return HTMLResponse(watch_page(video_id=vid, channel_id=self.channel_id, live=live,
                                       title=self.title, continuation=cont if live else None))

    # --- the web client's live-chat feed ---------------------------------------------------------

    async def _get_live_chat(self, request: Request) -> Response:
        try:
            body = json.loads(await request.body())
        except ValueError:
            return JSONResponse({"error": {"code": 400, "status": "INVALID_ARGUMENT"}}, status_code=400)
        self.chat_requests.append(body)
        if self.fail_next:
            return JSONResponse({"error": {"code": self.fail_next[0]}}, status_code=self.fail_next.pop(0))
        client = (body.get("context") or {}).get("client") or {}
        if request.query_params.get("key") != WEB_KEY or client.get("clientName") != "WEB":
            return JSONResponse({"error": {"code": 403, "status": "PERMISSION_DENIED"}}, status_code=403)
        with self._lock:
            if body.get("continuation") != self._continuation or self.chat_ended:
                return JSONResponse({"responseContext": {"serviceTrackingParams": []}})
            actions, self._pending = self._pending, []
            self._continuation = f"0ofMyAN_inv_{next(self._counter)}"
            token = self._continuation
        return JSONResponse({
            "responseContext": {"serviceTrackingParams": [{"service": "CSI", "params": [
                {"key": "c", "value": "WEB"}, {"key": "GetLiveChat_rid", "value": "0x0cf1"}]}]},
            "continuationContents": {"liveChatContinuation": {
                "continuations": [{"invalidationContinuationData": {
                    "invalidationId": {"objectSource": 1056, "objectId": "Y2hhdH4", "topic": "chat~x",
                                       "subscribeToGcmTopics": True},
                    "timeoutMs": self.timeout_ms, "continuation": token,
                    "clickTrackingParams": "CAEQl98BIhMItest"}}],
                "actions": actions}}})

    # --- the Data API ------------------------------------------------------------------------------

    def _api_check(self, request: Request, units: int) -> Response | None:
        self.api_requests.append(dict(request.query_params))
        if request.query_params.get("key") != API_KEY:
            return JSONResponse({"error": {"code": 400, "message": "API key not valid."}}, status_code=400)
        if self.quota_used + units > self.quota:
            return JSONResponse({"error": {"code": 403, "errors": [{"reason": "quotaExceeded",
                                                                    "domain": "youtube.quota"}]}},
                                status_code=403)
        self.quota_used += units
        return None

    async def _api_videos(self, request: Request) -> Response:
        if (refused := self._api_check(request, 1)) is not None:
            return refused
        vid = request.query_params.get("id")
        with self._lock:
            live = vid == self.video_id and not self.chat_ended
        details = {"actualStartTime": "2026-12-07T11:00:00Z"}
        if live:
            details["activeLiveChatId"] = f"Cg0KC{vid}"
        return JSONResponse({"kind": "youtube#videoListResponse", "items": [
            {"kind": "youtube#video", "id": vid, "liveStreamingDetails": details}]})

    async def _api_messages(self, request: Request) -> Response:
        if (refused := self._api_check(request, 5)) is not None:
            return refused
        with self._lock:
            items, self._api_pending = getattr(self, "_api_pending", []), []
            ended = self.chat_ended
        body: dict[str, Any] = {"kind": "youtube#liveChatMessageListResponse", "pollingIntervalMillis": 100,
                                "pageInfo": {"totalResults": len(items), "resultsPerPage": len(items)},
                                "nextPageToken": f"GL-page-{next(self._counter)}", "items": items}
        if ended:
            body["offlineAt"] = "2026-12-07T13:00:00Z"
        return JSONResponse(body)

    def push_api(self, *items: dict[str, Any]) -> None:
        with self._lock:
            self._api_pending = [*getattr(self, "_api_pending", []), *items]


def api_item(kind: str, author_id: str, name: str, *, owner: bool = False, **details: Any) -> dict[str, Any]:
    """One Data API ``liveChatMessage`` (``snippet`` + ``authorDetails``)."""
    snippet: dict[str, Any] = {"type": kind, "liveChatId": "Cg0KCtest", "authorChannelId": author_id,
                               "publishedAt": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
                               "hasDisplayContent": True}
    snippet.update(details)
    return {"kind": "youtube#liveChatMessage", "etag": "e", "id": f"LCC.{item_id()}", "snippet": snippet,
            "authorDetails": {"channelId": author_id, "channelUrl": f"http://www.youtube.com/channel/{author_id}",
                              "displayName": name, "isVerified": False, "isChatOwner": owner,
                              "isChatSponsor": False, "isChatModerator": False}}
