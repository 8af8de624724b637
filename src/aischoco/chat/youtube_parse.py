"""Pure YouTube live-chat parsing: the web page, the web client's ``get_live_chat`` feed, and the
Data API's ``liveChatMessages.list`` (no I/O, no logging).

Hostile input: YouTube's JSON is read field by field with type checks. A wrong-typed or missing
field drops that field (a nickname → 익명, a text run → nothing); an action that cannot be
understood at all is skipped and counted in ``Batch.skipped``; only a response that is not a JSON
object raises :class:`PayloadError`. Text goes through the same cleaning as CHZZK's
(``chzzk_parse``: controls removed, length capped), so the overlay and the LLM get the same
guarantees from every platform.

Shapes read (checked against captured responses in chat-downloader's ``tests/youtube_actions.json``
and ``/live_chat`` page, vendored under ``tests/data/`` and run by ``tests/test_youtube_captured.py``,
and VTSYoutubeDropper's mock live-chat data; the Data API against its reference):

- ``addChatItemAction.item`` with ``liveChatTextMessageRenderer`` (chat),
  ``liveChatPaidMessageRenderer`` (Super Chat), ``liveChatPaidStickerRenderer`` (Super Sticker),
  ``liveChatMembershipItemRenderer`` (new member, or a milestone with ``headerPrimaryText``),
  ``liveChatSponsorshipsGiftPurchaseAnnouncementRenderer`` (gifted memberships: the count is the
  number in ``header.liveChatSponsorshipsHeaderRenderer.primaryText``) and
  ``liveChatSponsorshipsGiftRedemptionAnnouncementRenderer`` (a receiver);
- ``markChatItemAsDeletedAction`` (a deleted message), ``markChatItemsByAuthorAsDeletedAction``
  (a banned author) and ``replaceChatItemAction`` whose replacement is a
  ``liveChatPlaceholderItemRenderer`` (the message hidden): taken back like a CHZZK blind;
- ticker actions repeat chat items and are ignored; so are polls, banners, placeholders, mode
  changes, YouTube's own notices and YouTube Giving donations (``liveChatDonationAnnouncementRenderer``:
  money for a charity, not for the streamer).

Roles come from the message itself only: the ``OWNER`` badge (or the live's own channel id) is the
streamer, ``MODERATOR`` a manager. A YouTube nickname never becomes a role.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final

from ..core.messages import Blind, ChatMessage, Gift, Kind, Role, SubscriptionInfo
from .chzzk_parse import PayloadError, _clean_nickname, _clean_text, _safe_url, _stable_id
from .platforms import gift_in_won, money_gift, namespaced, parse_money_text

__all__ = [
    "ApiBatch",
    "Batch",
    "PayloadError",
    "WatchPage",
    "parse_api_messages",
    "parse_live_chat",
    "parse_video_live_chat_id",
    "parse_watch_page",
]

SOURCE_WEB: Final = "youtube"
SOURCE_API: Final = "youtube-api"
MAX_PAGE_CHARS: Final = 8 * 1024 * 1024
MAX_ACTIONS: Final = 2000  # one response; YouTube sends well under 200
_CHAT_CONTINUATIONS: Final = ("invalidationContinuationData", "timedContinuationData",
                              "reloadContinuationData")
_EMOJI_NAME_BAD = re.compile(r"[{}:\s]+")
_FIRST_NUMBER = re.compile(r"\d{1,6}")


@dataclass(frozen=True, slots=True)
class WatchPage:
    """What a watch page (or a channel's ``/live``) says about the live and its chat."""

    video_id: str | None = None
    channel_id: str | None = None
    is_live: bool = False
    is_upcoming: bool = False
    title: str = ""
    continuation: str | None = None  # "Live chat" (every message), else "Top chat"
    api_key: str | None = None
    context: dict[str, Any] | None = None  # INNERTUBE_CONTEXT, sent back with every request


@dataclass(slots=True)
class Batch:
    """One ``get_live_chat`` (or Data API) response."""

    messages: list[ChatMessage] = field(default_factory=list)
    blinds: list[Blind] = field(default_factory=list)
    banned_authors: list[str] = field(default_factory=list)  # namespaced ids: all their lines go
    continuation: str | None = None
    timeout_ms: int | None = None
    ended: bool = False  # no continuation: the live (or its chat) is over
    skipped: int = 0


@dataclass(slots=True)
class ApiBatch(Batch):
    polling_ms: int | None = None


# --- small readers ------------------------------------------------------------------------------


def _get(obj: object, *path: str | int) -> Any:
    for key in path:
        if isinstance(key, int):
            if not isinstance(obj, list) or not -len(obj) <= key < len(obj):
                return None
            obj = obj[key]
        else:
            if not isinstance(obj, dict):
                return None
            obj = obj.get(key)
    return obj


def _str(value: object, limit: int = 512) -> str | None:
    return value[:limit] if isinstance(value, str) and value else None


def _text(value: object) -> str:
    """``{"simpleText": …}`` or ``{"runs": [{"text": …}]}`` as plain text."""
    simple = _get(value, "simpleText")
    if isinstance(simple, str):
        return simple
    runs = _get(value, "runs")
    if not isinstance(runs, list):
        return ""
    return "".join(r["text"] for r in runs[:500] if isinstance(r, dict) and isinstance(r.get("text"), str))


def _runs(value: object) -> tuple[str, dict[str, str]]:
    """Message runs → text with ``{:name:}`` for custom emoji, and ``{name: image url}``."""
    runs = _get(value, "runs")
    if not isinstance(runs, list):
        simple = _get(value, "simpleText")
        return (simple if isinstance(simple, str) else ""), {}
    parts: list[str] = []
    emoticons: dict[str, str] = {}
    for run in runs[:500]:
        if not isinstance(run, dict):
            continue
        if isinstance(run.get("text"), str):
            parts.append(run["text"])
            continue
        emoji = run.get("emoji")
        if not isinstance(emoji, dict):
            continue
        emoji_id = _str(emoji.get("emojiId"), 200) or ""
        shortcut = _get(emoji, "shortcuts", 0)
        if emoji.get("isCustomEmoji") is not True and emoji_id and len(emoji_id) <= 16:
            parts.append(emoji_id)  # a standard emoji: its id is the character itself
            continue
        name = _EMOJI_NAME_BAD.sub("", shortcut if isinstance(shortcut, str) else "")[:64]
        url = _safe_url(_get(emoji, "image", "thumbnails", -1, "url"))
        if name and url:
            emoticons.setdefault(name, url)
            parts.append(f"{{:{name}:}}")
        elif name:
            parts.append(f":{name}:")
    return "".join(parts), emoticons


def _time_usec(value: object) -> datetime:
    try:
        usec = int(value) if isinstance(value, str | int) and not isinstance(value, bool) else 0
    except ValueError:
        usec = 0
    if 946_684_800_000_000 <= usec <= 4_102_444_800_000_000:
        return datetime.fromtimestamp(usec / 1e6, UTC)
    return datetime.now(UTC)


def _time_iso(value: object) -> datetime:
    if isinstance(value, str) and len(value) <= 40:
        try:
            stamp = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            stamp = None
        if stamp is not None and stamp.tzinfo is not None and 2000 <= stamp.year < 2100:
            return stamp.astimezone(UTC)
    return datetime.now(UTC)


def _role(badges: object, author: str | None, channel_id: str | None) -> Role:
    icons = {_get(b, "liveChatAuthorBadgeRenderer", "icon", "iconType")
             for b in (badges if isinstance(badges, list) else [])[:20]}
    if "OWNER" in icons or (author is not None and author == channel_id):
        return Role.STREAMER
    return Role.MANAGER if "MODERATOR" in icons else Role.VIEWER


# --- the web page -------------------------------------------------------------------------------


def _json_after(html: str, marker: str) -> dict[str, Any] | None:
    """The JSON object that follows the first `marker … =`/`(` in `html` (raw_decode: no guessing
    at where the script ends)."""
    start = html.find(marker)
    while start >= 0:
        brace = html.find("{", start + len(marker), start + len(marker) + 40)
        if brace >= 0:
            try:
                value, _ = json.JSONDecoder().raw_decode(html, brace)
            except (ValueError, RecursionError):
                value = None
            if isinstance(value, dict):
                return value
        start = html.find(marker, start + len(marker))
    return None


def _ytcfg(html: str) -> dict[str, Any]:
    merged: dict[str, Any] = {}
    start = html.find("ytcfg.set(")
    while start >= 0 and len(merged) < 2000:
        brace = html.find("{", start, start + 20)
        if brace >= 0:
            try:
                value, _ = json.JSONDecoder().raw_decode(html, brace)
            except (ValueError, RecursionError):
                value = None
            if isinstance(value, dict):
                merged.update(value)
        start = html.find("ytcfg.set(", start + 10)
    return merged


def parse_watch_page(html: str) -> WatchPage:
    """A ``/watch?v=`` page or a channel's ``/live`` page (which is the live's watch page while
    the channel is live, and the channel's page when it is not)."""
    html = html[:MAX_PAGE_CHARS]
    player = _json_after(html, "ytInitialPlayerResponse") or {}
    data = _json_after(html, "ytInitialData") or {}
    cfg = _ytcfg(html)
    details = _get(player, "videoDetails") or {}
    live_details = _get(player, "microformat", "playerMicroformatRenderer", "liveBroadcastDetails")
    video_id = _str(_get(details, "videoId"), 32)
    if video_id is None:
        canonical = re.search(r'<link rel="canonical" href="[^"]*[?&]v=([0-9A-Za-z_-]{11})', html)
        video_id = canonical.group(1) if canonical else None
    chat = _get(data, "contents", "twoColumnWatchNextResults", "conversationBar", "liveChatRenderer")
    continuation = None
    for item in (_get(chat, "header", "liveChatHeaderRenderer", "viewSelector",
                      "sortFilterSubMenuRenderer", "subMenuItems") or [])[:4][::-1]:
        continuation = _str(_get(item, "continuation", "reloadContinuationData", "continuation"), 4096)
        if continuation:
            break  # the last item is "Live chat" (everything); the first "Top chat"
    if continuation is None:
        continuation = _str(_get(chat, "continuations", 0, "reloadContinuationData", "continuation"), 4096)
    context = cfg.get("INNERTUBE_CONTEXT")
    return WatchPage(
        video_id=video_id,
        channel_id=_str(_get(details, "channelId"), 64),
        is_live=_get(details, "isLive") is True or _get(live_details, "isLiveNow") is True,
        is_upcoming=_get(details, "isUpcoming") is True,
        title=_str(_get(details, "title"), 200) or "",
        continuation=continuation,
        api_key=_str(cfg.get("INNERTUBE_API_KEY"), 200),
        context=context if isinstance(context, dict) else None,
    )


# --- get_live_chat -------------------------------------------------------------------------------


def _load(payload: object) -> dict[str, Any]:
    if isinstance(payload, bytes | bytearray):
        try:
            payload = bytes(payload).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise PayloadError("youtube: response is not UTF-8") from exc
    if isinstance(payload, str):
        if len(payload) > MAX_PAGE_CHARS:
            raise PayloadError(f"youtube: response too large ({len(payload)} chars)")
        try:
            payload = json.loads(payload)
        except (ValueError, RecursionError) as exc:
            raise PayloadError("youtube: response is not JSON") from exc
    if not isinstance(payload, dict):
        raise PayloadError(f"youtube: response is not a JSON object ({type(payload).__name__})")
    return payload


def _base(r: Mapping[str, Any], *, source: str, channel_id: str | None, kind: Kind,
          text: str, emoticons: dict[str, str], name: object = None) -> ChatMessage | None:
    item_id = _str(r.get("id"), 256)
    author = _str(r.get("authorExternalChannelId"), 64)
    if item_id is None and author is None:
        return None
    nick = _clean_nickname(_str(_text(name if name is not None else r.get("authorName")), 400))
    return ChatMessage(
        user=nick, message=_clean_text(text),
        user_id=namespaced("youtube", author or f"nick:{nick}"),
        timestamp=_time_usec(r.get("timestampUsec")), emoticons=emoticons,
        channel_id=channel_id or "", message_id=_stable_id("youtube", item_id, author, text),
        role=_role(r.get("authorBadges"), author, channel_id), kind=kind, source=source,
        platform="youtube", platform_key=f"youtube:{item_id}" if item_id else "")


def _paid(r: Mapping[str, Any], what: str, rates: Mapping[str, float]) -> tuple[Gift | None, int | None]:
    money = parse_money_text(_text(r.get("purchaseAmountText")))
    if money is None:
        return None, None
    gift = money_gift(money[0], money[1], what)
    return gift, gift_in_won(money[1], money[0], rates)


def parse_item(item: object, *, channel_id: str | None, rates: Mapping[str, float],
               source: str = SOURCE_WEB) -> ChatMessage | None:
    """One ``addChatItemAction.item`` → a message, or None for what we do not show."""
    if not isinstance(item, dict) or len(item) != 1:
        return None
    (kind_name, r), = item.items()
    if not isinstance(r, dict):
        return None
    if kind_name == "liveChatTextMessageRenderer":
        text, emo = _runs(r.get("message"))
        return _base(r, source=source, channel_id=channel_id, kind=Kind.CHAT, text=text,
                     emoticons=emo) if text.strip() else None
    if kind_name in ("liveChatPaidMessageRenderer", "liveChatPaidStickerRenderer"):
        sticker = kind_name == "liveChatPaidStickerRenderer"
        gift, won = _paid(r, "슈퍼스티커" if sticker else "슈퍼챗", rates)
        if sticker:
            label = _str(_get(r, "sticker", "accessibility", "accessibilityData", "label"), 200)
            text, emo = (f"(스티커: {label})" if label else "(스티커)"), {}
        else:
            text, emo = _runs(r.get("message"))
        msg = _base(r, source=source, channel_id=channel_id, kind=Kind.DONATION, text=text,
                    emoticons=emo)
        if msg is not None:
            msg.gift, msg.amount = gift, won
        return msg
    if kind_name == "liveChatMembershipItemRenderer":
        months_text = _text(r.get("headerPrimaryText"))
        months = _FIRST_NUMBER.search(months_text)
        level = _text(r.get("headerSubtext")) if months else ""
        said, emo = _runs(r.get("message"))
        n = int(months.group()) if months else None
        line = f"멤버십 {n}개월" if n else "멤버십 가입"
        msg = _base(r, source=source, channel_id=channel_id, kind=Kind.SUBSCRIPTION,
                    text=f"{line} · {said}" if said.strip() else line, emoticons=emo)
        if msg is not None:
            msg.subscription = SubscriptionInfo(months=n, tier=_clean_nickname(level[:60]) if level else None)
        return msg
    if kind_name == "liveChatSponsorshipsGiftPurchaseAnnouncementRenderer":
        header = _get(r, "header", "liveChatSponsorshipsHeaderRenderer") or {}
        count = _FIRST_NUMBER.search(_text(header.get("primaryText")))
        n = max(1, min(int(count.group()), 1000)) if count else 1
        merged = {**header, "id": r.get("id"), "timestampUsec": r.get("timestampUsec"),
                  "authorExternalChannelId": r.get("authorExternalChannelId")}
        msg = _base(merged, source=source, channel_id=channel_id, kind=Kind.SUBSCRIPTION,
                    text=f"멤버십 {n}개 선물", emoticons={})
        if msg is not None:
            msg.subscription = SubscriptionInfo(gift_id=f"youtube:{_str(r.get('id'), 256) or msg.message_id}",
                                                gift_count=n)
        return msg
    if kind_name == "liveChatSponsorshipsGiftRedemptionAnnouncementRenderer":
        msg = _base(r, source=source, channel_id=channel_id, kind=Kind.SUBSCRIPTION, text="",
                    emoticons={})
        if msg is not None:  # the gift id is the gifter's (the source links it: see youtube.py)
            msg.subscription = SubscriptionInfo(receiver=msg.user)
        return msg
    return None


def parse_live_chat(payload: object, *, channel_id: str | None, rates: Mapping[str, float],
                    source: str = SOURCE_WEB) -> Batch:
    """A ``youtubei/v1/live_chat/get_live_chat`` response (``continuationContents.
    liveChatContinuation``), or the ``ytInitialData`` of a ``/live_chat`` page, whose
    ``contents.liveChatRenderer`` has the same ``actions`` and ``continuations``."""
    body = _load(payload)
    chat = _get(body, "continuationContents", "liveChatContinuation")
    if not isinstance(chat, dict):  # a /live_chat page's ytInitialData: same keys, other place
        chat = _get(body, "contents", "liveChatRenderer")
    batch = Batch()
    if not isinstance(chat, dict):
        batch.ended = True
        return batch
    for cont in (chat.get("continuations") or [])[:8] if isinstance(chat.get("continuations"), list) else []:
        for key in _CHAT_CONTINUATIONS:
            data = _get(cont, key)
            token = _str(_get(data, "continuation"), 4096)
            if token:
                batch.continuation = token
                timeout = _get(data, "timeoutMs")
                if isinstance(timeout, int) and not isinstance(timeout, bool):
                    batch.timeout_ms = max(0, min(timeout, 60_000))
                break
        if batch.continuation:
            break
    batch.ended = batch.continuation is None
    actions = chat.get("actions")
    for action in (actions[:MAX_ACTIONS] if isinstance(actions, list) else []):
        try:
            _action(action, batch, channel_id=channel_id, rates=rates, source=source)
        except (TypeError, ValueError, KeyError, AttributeError):
            batch.skipped += 1
    return batch


def _action(action: object, batch: Batch, *, channel_id: str | None,
            rates: Mapping[str, float], source: str) -> None:
    if not isinstance(action, dict):
        batch.skipped += 1
        return
    if "addChatItemAction" in action:
        msg = parse_item(_get(action, "addChatItemAction", "item"), channel_id=channel_id,
                         rates=rates, source=source)
        if msg is not None:
            batch.messages.append(msg)
    elif "markChatItemAsDeletedAction" in action:
        target = _str(_get(action, "markChatItemAsDeletedAction", "targetItemId"), 256)
        if target:
            batch.blinds.append(Blind(f"youtube:{target}", "YouTube에서 삭제됨"))
    elif "markChatItemsByAuthorAsDeletedAction" in action:
        author = _str(_get(action, "markChatItemsByAuthorAsDeletedAction", "externalChannelId"), 64)
        if author:
            batch.banned_authors.append(namespaced("youtube", author))
    elif "replaceChatItemAction" in action:
        # an item swapped for a placeholder is no longer shown to viewers: taken back
        replace = _get(action, "replaceChatItemAction")
        target = _str(_get(replace, "targetItemId"), 256)
        if target and isinstance(_get(replace, "replacementItem", "liveChatPlaceholderItemRenderer"), dict):
            batch.blinds.append(Blind(f"youtube:{target}", "YouTube에서 가려짐"))


# --- the Data API --------------------------------------------------------------------------------


def parse_video_live_chat_id(payload: object) -> str | None:
    """``videos.list?part=liveStreamingDetails`` → the active chat id (None: not live)."""
    return _str(_get(_load(payload), "items", 0, "liveStreamingDetails", "activeLiveChatId"), 512)


def parse_api_messages(payload: object, *, channel_id: str | None,
                       rates: Mapping[str, float]) -> ApiBatch:
    """``liveChatMessages.list`` → messages, deletions, bans, the next page and poll interval."""
    body = _load(payload)
    batch = ApiBatch(continuation=_str(body.get("nextPageToken"), 4096))
    polling = body.get("pollingIntervalMillis")
    if isinstance(polling, int) and not isinstance(polling, bool):
        batch.polling_ms = max(0, min(polling, 60_000))
    batch.ended = body.get("offlineAt") is not None
    items = body.get("items")
    for item in (items[:MAX_ACTIONS] if isinstance(items, list) else []):
        try:
            _api_item(item, batch, channel_id=channel_id, rates=rates)
        except (TypeError, ValueError, KeyError, AttributeError):
            batch.skipped += 1
    return batch


def _api_item(item: object, batch: ApiBatch, *, channel_id: str | None,
              rates: Mapping[str, float]) -> None:
    snippet, author = _get(item, "snippet"), _get(item, "authorDetails") or {}
    if not isinstance(snippet, dict):
        batch.skipped += 1
        return
    kind_name = snippet.get("type")
    if kind_name == "chatEndedEvent":
        batch.ended = True
        return
    if kind_name == "messageDeletedEvent":
        target = _str(_get(snippet, "messageDeletedDetails", "deletedMessageId"), 256)
        if target:
            batch.blinds.append(Blind(f"youtube:{target}", "YouTube에서 삭제됨"))
        return
    if kind_name == "userBannedEvent":
        banned = _str(_get(snippet, "userBannedDetails", "bannedUserDetails", "channelId"), 64)
        if banned:
            batch.banned_authors.append(namespaced("youtube", banned))
        return
    author_id = _str(author.get("channelId"), 64) or _str(snippet.get("authorChannelId"), 64)
    badges = [{"liveChatAuthorBadgeRenderer": {"icon": {"iconType": icon}}}
              for flag, icon in (("isChatOwner", "OWNER"), ("isChatModerator", "MODERATOR"))
              if author.get(flag) is True]
    r = {"id": _get(item, "id"), "authorExternalChannelId": author_id, "authorBadges": badges,
         "authorName": {"simpleText": author.get("displayName")}}
    kind, text, gift, won, sub = Kind.CHAT, "", None, None, None
    if kind_name == "textMessageEvent":
        text = _str(_get(snippet, "textMessageDetails", "messageText"), 20_000) or \
            _str(snippet.get("displayMessage"), 20_000) or ""
        if not text.strip():
            return
    elif kind_name in ("superChatEvent", "superStickerEvent"):
        sticker = kind_name == "superStickerEvent"
        details = snippet.get("superStickerDetails" if sticker else "superChatDetails") or {}
        currency = _str(details.get("currency"), 3)
        micros = details.get("amountMicros")
        try:
            value = int(micros) / 1e6 if isinstance(micros, str | int) and not isinstance(micros, bool) else None
        except ValueError:
            value = None
        if currency and value is not None and re.fullmatch(r"[A-Z]{3}", currency):
            gift = money_gift(currency, value, "슈퍼스티커" if sticker else "슈퍼챗")
            won = gift_in_won(value, currency, rates)
        alt = _str(_get(details, "superStickerMetadata", "altText"), 200)
        text = (f"(스티커: {alt})" if alt else "(스티커)") if sticker else \
            (_str(details.get("userComment"), 20_000) or "")
        kind = Kind.DONATION
    elif kind_name == "newSponsorEvent":
        kind, text = Kind.SUBSCRIPTION, "멤버십 가입"
        sub = SubscriptionInfo(tier=_str(_get(snippet, "newSponsorDetails", "memberLevelName"), 60))
    elif kind_name == "memberMilestoneChatEvent":
        details = snippet.get("memberMilestoneChatDetails") or {}
        months = details.get("memberMonth") if isinstance(details.get("memberMonth"), int) else None
        said = _str(details.get("userComment"), 20_000) or ""
        kind, text = Kind.SUBSCRIPTION, f"멤버십 {months}개월" + (f" · {said}" if said else "")
        sub = SubscriptionInfo(months=months, tier=_str(details.get("memberLevelName"), 60))
    elif kind_name == "membershipGiftingEvent":
        count = _get(snippet, "membershipGiftingDetails", "giftMembershipsCount")
        n = max(1, min(count, 1000)) if isinstance(count, int) and not isinstance(count, bool) else 1
        kind, text = Kind.SUBSCRIPTION, f"멤버십 {n}개 선물"
        sub = SubscriptionInfo(gift_id=f"youtube:{_str(_get(item, 'id'), 256)}", gift_count=n)
    elif kind_name == "giftMembershipReceivedEvent":
        gifting = _str(_get(snippet, "giftMembershipReceivedDetails",
                            "associatedMembershipGiftingMessageId"), 256)
        if gifting is None:
            return  # a receiver with no gift to fold into: the gifter's line thanks for it
        kind, sub = Kind.SUBSCRIPTION, SubscriptionInfo(gift_id=f"youtube:{gifting}")
    else:
        return  # polls, tombstones, sponsor-only mode changes, …
    msg = _base(r, source=SOURCE_API, channel_id=channel_id, kind=kind, text=text, emoticons={})
    if msg is None:
        batch.skipped += 1
        return
    msg.timestamp = _time_iso(snippet.get("publishedAt"))
    msg.gift, msg.amount = gift, won
    if sub is not None and kind_name == "giftMembershipReceivedEvent":
        sub = SubscriptionInfo(gift_id=sub.gift_id, receiver=msg.user)
    msg.subscription = sub
    batch.messages.append(msg)
