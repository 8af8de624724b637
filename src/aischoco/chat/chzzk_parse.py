"""Pure CHZZK payload parsing: official Open API Socket.IO events and the unofficial web chat.

No I/O, no sockets, no logging: every function takes decoded (or still-JSON-encoded) payloads and
returns :class:`~aischoco.core.messages.ChatMessage` / :class:`SystemEvent` values or raises
:class:`PayloadError`, a one-line :class:`ValueError` that never quotes more than ~80 characters of
the offending input. Nothing else escapes :func:`parse_official` / :func:`parse_system` /
:func:`parse_web_chat`, whatever the input (see the hypothesis fuzz tests).

Both payload layouts seen in the wild are accepted (see ``shared/research/chzzk.md``):

- CHAT: ``profile{nickname, userRoleCode, ...}`` (observed) or top-level ``nickname`` /
  ``userRoleCode`` (documented); ``profile`` may itself be a JSON string.
- DONATION: ``payAmount`` as a number (observed) or a numeric string (documented).
- Payloads arrive as JSON strings (observed) or dicts; bytes are decoded as UTF-8.

Decisions (documented here once, relied on by the tests):

- **Timestamps**: ``messageTime`` (epoch ms) wins; otherwise ``eventSentAt`` — an ISO string
  without a zone is read as **KST (+09:00)** (the observed sample's ``eventSentAt`` is exactly
  ``messageTime`` + 9 h), nanosecond fractions are cut to microseconds; an explicit zone/``Z`` is
  honoured. Values outside 2000..2100 or unparseable ones are ignored (falls back to "now"):
  a bad clock field never drops a chat line. Results are timezone-aware UTC.
- **payAmount**: int, integral float, or numeric string (``"1000"``, ``" 1,000 "``) → ``int``;
  missing, negative, non-numeric or wrong-typed → ``amount=None``. A real donation is never
  dropped over a malformed amount: the donor is still thanked, the amount shows as unknown.
- **message_id**: ``messageId`` when present (str/int), else a stable 32-hex blake2b digest of
  source, event, channel, sender, time fields, amount and text — the same payload always gets the
  same id (re-delivery can be de-duplicated).
- **Sanitising**: message text is kept as given (HTML included: the overlay escapes) except that
  C0/C1 control characters other than ``\\n``/``\\t`` are removed (``\\r\\n``/``\\r`` → ``\\n``)
  and lone surrogates become U+FFFD (they cannot be UTF-8 encoded); then it is cut to
  :data:`MAX_MESSAGE_CHARS`. Nicknames are one line: whitespace controls (newline included)
  become a space, other controls and invisible bidi/zero-width formatting are removed, the
  result is stripped and cut to :data:`MAX_NICKNAME_CHARS`; empty → ``"익명"``.
- **Strictness**: identity and text fields (content, donationText, nickname, sender ids,
  messageId) of the wrong type raise :class:`PayloadError`; purely decorative fields (emojis,
  badges, userRoleCode, tierName, month) of the wrong type are ignored.
- **Emoji**: ``ChatMessage.message`` keeps the ``{:name:}`` placeholders (the overlay swaps
  images in) and ``ChatMessage.emoticons`` holds only the names actually used whose URL is a
  plain ``http``/``https`` URL. :func:`llm_text_with_emoji_names` gives the LLM view
  (``{:name:}`` → ``name``); ``llm_text`` itself is left ``None`` for the filters to fill.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from typing import Any, Final
from urllib.parse import urlsplit

from aischoco.core.messages import Blind, ChatMessage, Kind, Role, SubscriptionInfo

__all__ = [
    "ANONYMOUS",
    "MAX_MESSAGE_CHARS",
    "MAX_NICKNAME_CHARS",
    "OFFICIAL_EVENTS",
    "SOURCE_OFFICIAL",
    "SOURCE_WEB",
    "WEB_CMD_CHAT",
    "WEB_CMD_BLIND",
    "WEB_CMD_DONATION",
    "PayloadError",
    "SystemEvent",
    "llm_text_with_emoji_names",
    "parse_official",
    "parse_system",
    "parse_web_blind",
    "parse_web_chat",
    "resolve_emoji",
    "web_chat_server_number",
]

SOURCE_OFFICIAL: Final = "chzzk"
SOURCE_WEB: Final = "chzzk-web"
ANONYMOUS: Final = "익명"
MAX_NICKNAME_CHARS: Final = 50
MAX_MESSAGE_CHARS: Final = 20_000
MAX_PAYLOAD_CHARS: Final = 1_048_576  # a JSON payload bigger than 1 MiB is refused outright
OFFICIAL_EVENTS: Final = frozenset({"CHAT", "DONATION", "SUBSCRIPTION"})
WEB_CMD_CHAT: Final = 93101
WEB_CMD_DONATION: Final = 93102
WEB_CMD_BLIND: Final = 94008  # a manager or CHZZK's clean bot hid a message
WEB_TYPE_TEXT: Final = 1
WEB_TYPE_DONATION: Final = 10
WEB_TYPE_SUBSCRIPTION: Final = 11
WEB_TYPE_SUBSCRIPTION_GIFT: Final = 12  # extras.giftType: SUBSCRIPTION_GIFT / ..._RECEIVER

_SNIPPET_CHARS = 80
_MAX_ID_CHARS = 128
_MAX_URL_CHARS = 2048
_MAX_EMOJI_NAME = 64
_KST = timezone(timedelta(hours=9))
_MIN_EPOCH_MS = 946_684_800_000  # 2000-01-01T00:00:00Z
_MAX_EPOCH_MS = 4_102_444_800_000  # 2100-01-01T00:00:00Z

_MANAGER_CODES = frozenset({"streaming_channel_manager", "streaming_chat_manager"})
_STREAMER_CODE = "streamer"

# Message text: drop C0/C1 controls except \t and \n (\r is handled first), lone surrogates → U+FFFD.
_TEXT_BAD_RE = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff]")
_TEXT_DROP_RE = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]+")
_SURROGATE_RE = re.compile(r"[\ud800-\udfff]")
# Nicknames: whitespace controls → space; other controls, lone surrogates and invisible
# formatting (zero-width, bidi embeddings/overrides/isolates, BOM) are removed.
_NICK_SPACE_RE = re.compile(r"[\t\n\x0b\x0c\r\x1c-\x1f\x85\u2028\u2029]+")
_NICK_DROP_RE = re.compile(
    r"[\x00-\x08\x0e-\x1b\x7f-\x84\x86-\x9f\u200b-\u200f\u202a-\u202e\u2060-\u2064"
    r"\u2066-\u2069\ufeff\ud800-\udfff]+"
)
_EMOJI_RE = re.compile(r"\{:([^{}:\s]{1,64}):\}")  # 64 = _MAX_EMOJI_NAME
_URL_BAD_CHARS_RE = re.compile(r"[\x00-\x20\x7f-\x9f\"'<>\\`\ud800-\udfff]")
_ISO_RE = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2}):(\d{2})(?:[.,](\d{1,12}))?"
    r"(Z|z|[+-]\d{2}(?::?\d{2})?)?"
)
_AMOUNT_RE = re.compile(r"\d{1,15}")


class PayloadError(ValueError):
    """A CHZZK payload could not be understood. The message is one short line."""


@dataclass(frozen=True, slots=True)
class SystemEvent:
    """An official-API ``SYSTEM`` event.

    ``type`` is ``connected`` (``session_key`` set), ``subscribed`` / ``unsubscribed`` /
    ``revoked`` (``event_type`` and ``channel_id`` when given), or any other string as sent.
    """

    type: str
    session_key: str | None = None
    event_type: str | None = None
    channel_id: str | None = None


# --------------------------------------------------------------------------------------------
# Small helpers
# --------------------------------------------------------------------------------------------


def _describe(value: object) -> str:
    """A short, single-line description of ``value`` for an error message (never the payload)."""
    if isinstance(value, str):
        snippet = repr(value[:_SNIPPET_CHARS])
        return snippet + ("…" if len(value) > _SNIPPET_CHARS else "")
    if value is None or isinstance(value, bool | int | float):
        text = repr(value)
        return text if len(text) <= _SNIPPET_CHARS else text[:_SNIPPET_CHARS] + "…"
    return f"a {type(value).__name__}"


def _load_object(payload: object, what: str) -> dict[str, Any]:
    """``payload`` as a dict: a dict as is, or a JSON string/bytes holding an object."""
    if isinstance(payload, dict):
        return payload
    if isinstance(payload, bytes | bytearray):
        try:
            payload = bytes(payload).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise PayloadError(f"{what}: payload bytes are not UTF-8") from exc
    if not isinstance(payload, str):
        raise PayloadError(
            f"{what}: payload must be a JSON object or string, got {_describe(payload)}"
        )
    if len(payload) > MAX_PAYLOAD_CHARS:
        raise PayloadError(
            f"{what}: payload too large ({len(payload)} chars > {MAX_PAYLOAD_CHARS})"
        )
    try:
        decoded = json.loads(payload)
    except (ValueError, RecursionError) as exc:  # JSONDecodeError is a ValueError
        raise PayloadError(f"{what}: payload is not valid JSON: {_describe(payload)}") from exc
    if not isinstance(decoded, dict):
        raise PayloadError(f"{what}: payload JSON is not an object, got {_describe(decoded)}")
    return decoded


def _optional_object(value: object) -> dict[str, Any]:
    """A nested object that may be a dict, a JSON string of one, or absent/garbage (→ {})."""
    if isinstance(value, dict):
        return value
    if isinstance(value, str) and value and len(value) <= MAX_PAYLOAD_CHARS:
        try:
            decoded = json.loads(value)
        except (ValueError, RecursionError):
            return {}
        if isinstance(decoded, dict):
            return decoded
    return {}


def _opt_str(obj: Mapping[str, Any], key: str, what: str) -> str | None:
    """``obj[key]`` as a str, ``None`` when absent/null; another type is a PayloadError."""
    value = obj.get(key)
    if value is None or isinstance(value, str):
        return value
    raise PayloadError(f"{what}: field {key!r} must be a string, got {_describe(value)}")


def _id_str(obj: Mapping[str, Any], key: str, what: str) -> str | None:
    """An identifier: a non-empty str (or an int, as sent by some layouts), capped in length."""
    value = obj.get(key)
    if value is None or value == "":
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str):
        raise PayloadError(f"{what}: field {key!r} must be a string, got {_describe(value)}")
    value = _clean_nickname_raw(value)[:_MAX_ID_CHARS]
    return value or None


def _soft_str(value: object) -> str | None:
    return value if isinstance(value, str) else None


def _soft_int(value: object) -> int | None:
    """An int from an int, integral float or digit string; anything else → None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return int(value) if math.isfinite(value) and value.is_integer() else None
    if isinstance(value, str):
        text = value.strip().replace(",", "")
        text = text.removesuffix(".0")
        if _AMOUNT_RE.fullmatch(text):
            return int(text)
    return None


def _amount(value: object) -> int | None:
    amount = _soft_int(value)
    return amount if amount is not None and 0 <= amount < 10**15 else None


def _clean_nickname_raw(value: str) -> str:
    value = value[: MAX_NICKNAME_CHARS * 8]  # bound the regex work; the result is cut again below
    if not value.isprintable():
        value = _NICK_SPACE_RE.sub(" ", value)
        value = _NICK_DROP_RE.sub("", value)
    return value.strip()


def _clean_nickname(value: str | None) -> str:
    if not value:
        return ANONYMOUS
    return _clean_nickname_raw(value)[:MAX_NICKNAME_CHARS].rstrip() or ANONYMOUS


def _clean_text(text: str) -> str:
    """Keep text as given (HTML too) minus control chars except \\n/\\t; cap the length."""
    if len(text) > MAX_MESSAGE_CHARS:
        text = text[:MAX_MESSAGE_CHARS]
    if _TEXT_BAD_RE.search(text) is None:
        return text
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    text = _TEXT_DROP_RE.sub("", text)
    return _SURROGATE_RE.sub("\ufffd", text)


def _role(sender_id: str | None, role_code: object, channel_id: str) -> Role:
    if (sender_id and sender_id == channel_id) or role_code == _STREAMER_CODE:
        return Role.STREAMER
    if isinstance(role_code, str) and role_code in _MANAGER_CODES:  # a list is not a role code
        return Role.MANAGER
    return Role.VIEWER


def _from_epoch_ms(value: object) -> datetime | None:
    if isinstance(value, str):
        value = _soft_int(value)
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    if not (isinstance(value, int) or math.isfinite(value)):
        return None
    if not _MIN_EPOCH_MS <= value <= _MAX_EPOCH_MS:
        return None
    return datetime.fromtimestamp(value / 1000, UTC)


def _from_iso(value: object) -> datetime | None:
    if not isinstance(value, str) or len(value) > 64:
        return None
    match = _ISO_RE.fullmatch(value.strip())
    if match is None:
        return None
    year, month, day, hour, minute, second, frac, zone = match.groups()
    micro = int((frac or "0")[:6].ljust(6, "0"))
    tz = _KST
    if zone in ("Z", "z"):
        tz = UTC
    elif zone:
        sign = -1 if zone[0] == "-" else 1
        digits = zone[1:].replace(":", "")
        hours, minutes = int(digits[:2]), int(digits[2:] or 0)
        if hours > 23 or minutes > 59:
            return None
        tz = timezone(sign * timedelta(hours=hours, minutes=minutes))
    try:
        stamp = datetime(
            int(year), int(month), int(day), int(hour), int(minute), int(second), micro, tz
        )
    except ValueError:
        return None
    if not 2000 <= stamp.year < 2100:
        return None
    return stamp.astimezone(UTC)


def _timestamp(*, epoch_ms: object = None, iso: object = None) -> datetime:
    return _from_epoch_ms(epoch_ms) or _from_iso(iso) or datetime.now(UTC)


def _stable_id(*parts: object) -> str:
    joined = "\x1f".join("" if p is None else str(p) for p in parts)
    return hashlib.blake2b(joined.encode("utf-8", "surrogatepass"), digest_size=16).hexdigest()


def _message_id(obj: Mapping[str, Any], what: str, *parts: object) -> str:
    given = _id_str(obj, "messageId", what)
    return given if given is not None else _stable_id(*parts)


# --------------------------------------------------------------------------------------------
# Emoji
# --------------------------------------------------------------------------------------------


def _safe_url(url: object) -> str | None:
    if not isinstance(url, str) or not url or len(url) > _MAX_URL_CHARS:
        return None
    if _URL_BAD_CHARS_RE.search(url):
        return None
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
        return None
    return url


def _emoji_key(name: object) -> str | None:
    if not isinstance(name, str):
        return None
    if name.startswith("{:") and name.endswith(":}") and len(name) > 4:
        name = name[2:-2]
    return name if _EMOJI_RE.fullmatch("{:" + name + ":}") else None


def resolve_emoji(text: str, emojis: Mapping[str, str]) -> tuple[str, dict[str, str]]:
    """Find the ``{:name:}`` placeholders of ``text`` that ``emojis`` can show.

    Returns ``(text, used)``: ``text`` unchanged (placeholders stay for the overlay, which swaps
    images in) and ``used`` = ``{name: url}`` for each placeholder present in ``text`` whose URL is
    a plain http(s) URL (``javascript:``, ``data:``, quotes/whitespace in the URL → dropped).
    Keys of ``emojis`` may be bare names or ``{:name:}``. Non-mapping ``emojis`` → nothing used.
    """
    if not emojis or not isinstance(emojis, Mapping) or "{:" not in text:
        return text, {}
    by_name: dict[str, str] = {}
    for key, url in emojis.items():
        name = _emoji_key(key)
        if name is not None and name not in by_name:
            safe = _safe_url(url)
            if safe is not None:
                by_name[name] = safe
    if not by_name:
        return text, {}
    used: dict[str, str] = {}
    for match in _EMOJI_RE.finditer(text):
        name = match.group(1)
        if name not in used and name in by_name:
            used[name] = by_name[name]
            if len(used) == len(by_name):
                break
    return text, used


def llm_text_with_emoji_names(text: str) -> str:
    """What the LLM sees for emoji: ``{:name:}`` → ``name`` (linear time)."""
    if "{:" not in text:
        return text
    return _EMOJI_RE.sub(r"\1", text)


# --------------------------------------------------------------------------------------------
# Official Open API
# --------------------------------------------------------------------------------------------


def parse_system(payload: object) -> SystemEvent:
    """Parse a ``SYSTEM`` event (JSON string or dict).

    ``connected`` must carry ``data.sessionKey`` (a connection without one is useless);
    other types take ``data.eventType`` / ``data.channelId`` when present.
    """
    obj = _load_object(payload, "SYSTEM")
    kind = obj.get("type")
    if not isinstance(kind, str) or not kind:
        raise PayloadError(
            f"SYSTEM: field 'type' must be a non-empty string, got {_describe(kind)}"
        )
    data = _optional_object(obj.get("data"))
    session_key = _soft_str(data.get("sessionKey")) or None
    if kind == "connected" and session_key is None:
        raise PayloadError("SYSTEM: 'connected' event without data.sessionKey")
    return SystemEvent(
        type=kind[:_MAX_ID_CHARS],
        session_key=session_key,
        event_type=_soft_str(data.get("eventType")) or None,
        channel_id=_soft_str(data.get("channelId")) or None,
    )


def parse_official(event: str, payload: object, *, channel_id: str) -> ChatMessage:
    """Parse an official Open API ``CHAT`` / ``DONATION`` / ``SUBSCRIPTION`` event.

    ``payload`` is a JSON string (as the server sends it) or a dict. ``channel_id`` is the
    configured (streamer's) channel; it becomes ``ChatMessage.channel_id`` and identifies the
    streamer's own chat. Raises :class:`PayloadError` (only) on anything it cannot use.
    """
    if event == "CHAT":
        obj = _load_object(payload, "CHAT")
        return _official_chat(obj, channel_id)
    if event == "DONATION":
        obj = _load_object(payload, "DONATION")
        return _official_donation(obj, channel_id)
    if event == "SUBSCRIPTION":
        obj = _load_object(payload, "SUBSCRIPTION")
        return _official_subscription(obj, channel_id)
    raise PayloadError(f"unknown CHZZK event {_describe(event)}")


def _official_chat(obj: dict[str, Any], channel_id: str) -> ChatMessage:
    what = "CHAT"
    content = obj.get("content")
    if not isinstance(content, str):
        if content is None:
            raise PayloadError("CHAT: missing field 'content'")
        raise PayloadError(f"CHAT: field 'content' must be a string, got {_describe(content)}")
    sender = _id_str(obj, "senderChannelId", what)
    profile = _optional_object(obj.get("profile"))
    nickname = _opt_str(profile, "nickname", what) if "nickname" in profile else None
    if nickname is None:
        nickname = _opt_str(obj, "nickname", what)
    if not nickname and sender is None:
        raise PayloadError("CHAT: neither a nickname nor 'senderChannelId'")
    role_code = profile.get("userRoleCode") or obj.get("userRoleCode")
    text = _clean_text(content)
    _, emoticons = resolve_emoji(text, _optional_object(obj.get("emojis")))
    message_time, sent_at = obj.get("messageTime"), obj.get("eventSentAt")
    return ChatMessage(
        user=_clean_nickname(nickname),
        message=text,
        user_id=sender or "",
        timestamp=_timestamp(epoch_ms=message_time, iso=sent_at),
        emoticons=emoticons,
        channel_id=channel_id,
        message_id=_message_id(
            obj,
            what,
            SOURCE_OFFICIAL,
            what,
            channel_id,
            sender,
            nickname,
            message_time,
            sent_at,
            text,
        ),
        role=_role(sender, role_code, channel_id),
        kind=Kind.CHAT,
        source=SOURCE_OFFICIAL,
    )


def _official_donation(obj: dict[str, Any], channel_id: str) -> ChatMessage:
    what = "DONATION"
    donator = _id_str(obj, "donatorChannelId", what)
    nickname = _opt_str(obj, "donatorNickname", what)
    raw_text = _opt_str(obj, "donationText", what)
    text = _clean_text(raw_text or "")
    _, emoticons = resolve_emoji(text, _optional_object(obj.get("emojis")))
    raw_amount, sent_at = obj.get("payAmount"), obj.get("eventSentAt")
    amount = _amount(raw_amount)
    return ChatMessage(
        user=_clean_nickname(nickname),
        message=text,
        user_id=donator or "",
        timestamp=_timestamp(epoch_ms=obj.get("messageTime"), iso=sent_at),
        emoticons=emoticons,
        channel_id=channel_id,
        message_id=_message_id(
            obj,
            what,
            SOURCE_OFFICIAL,
            what,
            channel_id,
            donator,
            nickname,
            sent_at,
            amount,
            _soft_str(obj.get("donationType")),
            text,
        ),
        role=_role(donator, None, channel_id),
        kind=Kind.DONATION,
        amount=amount,
        source=SOURCE_OFFICIAL,
    )


def _tier_name(tier_name: str | None) -> str | None:
    return _clean_nickname_raw(tier_name)[:MAX_NICKNAME_CHARS] or None if tier_name else None


def _subscription_line(month: int | None, tier_name: str | None) -> str:
    head = f"{month}개월 구독" if month is not None and month > 0 else "구독"
    tier = _tier_name(tier_name)
    return f"{head} ({tier})" if tier else head


def _gift_line(info: SubscriptionInfo) -> str:
    tier = f"{info.tier} " if info.tier else ""
    if info.receiver is not None:
        return f"{info.receiver}님에게 {tier}구독권 선물"
    return f"{tier}구독권 {info.gift_count or 1}개 선물"


def _official_subscription(obj: dict[str, Any], channel_id: str) -> ChatMessage:
    what = "SUBSCRIPTION"
    subscriber = _id_str(obj, "subscriberChannelId", what)
    nickname = _opt_str(obj, "subscriberNickname", what)
    if not nickname and subscriber is None:
        raise PayloadError("SUBSCRIPTION: neither 'subscriberNickname' nor 'subscriberChannelId'")
    month = _soft_int(obj.get("month"))
    tier_no = _soft_int(obj.get("tierNo"))
    tier_name = _soft_str(obj.get("tierName"))
    given = _soft_str(obj.get("subscriptionMessage")) or _soft_str(obj.get("message"))
    text = _clean_text(given) if given else _subscription_line(month, tier_name)
    sent_at = obj.get("eventSentAt")
    return ChatMessage(
        user=_clean_nickname(nickname),
        message=text,
        user_id=subscriber or "",
        timestamp=_timestamp(epoch_ms=obj.get("messageTime"), iso=sent_at),
        channel_id=channel_id,
        message_id=_message_id(
            obj,
            what,
            SOURCE_OFFICIAL,
            what,
            channel_id,
            subscriber,
            nickname,
            sent_at,
            month,
            tier_no,
            text,
        ),
        role=_role(subscriber, None, channel_id),
        kind=Kind.SUBSCRIPTION,
        source=SOURCE_OFFICIAL,
        subscription=SubscriptionInfo(months=month if month and month > 0 else None,
                                      tier=_tier_name(tier_name)),
    )


# --------------------------------------------------------------------------------------------
# Unofficial web chat
# --------------------------------------------------------------------------------------------


def web_chat_server_number(chat_channel_id: str) -> int:
    """N of ``wss://kr-ss{N}.chat.naver.com/chat``: (sum of char codes) % 9 + 1, in 1..9."""
    if not isinstance(chat_channel_id, str):
        raise TypeError("chat_channel_id must be a str")
    return sum(map(ord, chat_channel_id)) % 9 + 1


_WEB_KINDS: Final = {
    WEB_TYPE_TEXT: Kind.CHAT,
    WEB_TYPE_DONATION: Kind.DONATION,
    WEB_TYPE_SUBSCRIPTION: Kind.SUBSCRIPTION,
    WEB_TYPE_SUBSCRIPTION_GIFT: Kind.SUBSCRIPTION,
}
# CBOTBLIND: CHZZK's clean bot hid it before it was shown; the others: a manager, or deleted.
_HIDDEN_STATUSES = frozenset({"BLIND", "HIDDEN", "CLEANBOT_BLIND", "CBOTBLIND", "DELETED"})


def web_message_key(uid: object, msg_time: object) -> str:
    """How a blind (cmd 94008) names a web-chat message again: its sender and its time."""
    return f"{uid if uid is not None else 'anonymous'}:{msg_time}"


def _web_subscription(extras: Mapping[str, Any], type_code: int) -> SubscriptionInfo:
    if type_code != WEB_TYPE_SUBSCRIPTION_GIFT:
        month = _soft_int(extras.get("month"))
        return SubscriptionInfo(months=month if month and month > 0 else None,
                                tier=_tier_name(_soft_str(extras.get("tierName"))))
    raw_id = extras.get("giftId")
    gift_id = raw_id if isinstance(raw_id, str) else str(_soft_int(raw_id) or "")
    tier = _tier_name(_soft_str(extras.get("giftTierName")))
    if extras.get("giftType") == "SUBSCRIPTION_GIFT_RECEIVER":
        receiver = _clean_nickname(_soft_str(extras.get("receiverNickname")))
        return SubscriptionInfo(tier=tier, gift_id=gift_id[:_MAX_ID_CHARS], receiver=receiver)
    quantity = _soft_int(extras.get("quantity")) or 1
    refunded = _soft_int(extras.get("partialRefundedQuantity")) or 0
    return SubscriptionInfo(tier=tier, gift_id=gift_id[:_MAX_ID_CHARS],
                            gift_count=max(1, quantity - max(0, refunded)))


def parse_web_blind(body: object) -> Blind:
    """A cmd 94008 ``bdy``: ``{messageTime, userId, blindType, blindUserId, ...}``."""
    if not isinstance(body, dict):
        raise PayloadError(f"web chat blind: bdy must be an object, got {_describe(body)}")
    uid = _id_str(body, "userId", "web chat blind")
    msg_time = body.get("messageTime")
    if uid is None or _soft_int(msg_time) is None:
        raise PayloadError("web chat blind: needs 'userId' and 'messageTime'")
    reason = _soft_str(body.get("blindType")) or ""
    return Blind(web_message_key(uid, _soft_int(msg_time)), reason[:_SNIPPET_CHARS])


def parse_web_chat(body_item: object, *, channel_id: str, cmd: int) -> ChatMessage | None:
    """Parse one item of a web-chat ``bdy`` list (``cmd`` 93101 chat / 93102 donation).

    Returns ``None`` for what is not a viewer event: another ``cmd``, a ``msgTypeCode`` other than
    1 (text) / 10 (donation) / 11 (subscription), or a blinded/hidden message. ``profile`` and
    ``extras`` are JSON strings (dicts accepted). The recent-chat layout with long names
    (``content``, ``messageTypeCode``, ``messageTime``, ``userId``) is accepted too.
    Malformed items (not an object, text of the wrong type) raise :class:`PayloadError`.
    """
    what = f"web chat {cmd}"
    if isinstance(cmd, bool) or cmd not in (WEB_CMD_CHAT, WEB_CMD_DONATION):
        return None
    if not isinstance(body_item, dict):
        raise PayloadError(f"{what}: item must be an object, got {_describe(body_item)}")
    item: dict[str, Any] = body_item
    type_code = item.get("msgTypeCode", item.get("messageTypeCode"))
    if type_code is None:
        type_code = WEB_TYPE_TEXT if cmd == WEB_CMD_CHAT else WEB_TYPE_DONATION
    type_code = _soft_int(type_code)
    kind = _WEB_KINDS.get(type_code) if type_code is not None else None
    if kind is None:
        return None
    status = item.get("msgStatusType", item.get("messageStatusType"))
    if isinstance(status, str) and status.upper() in _HIDDEN_STATUSES:
        return None

    raw_text = _opt_str(item, "msg", what) if "msg" in item else _opt_str(item, "content", what)
    if raw_text is None and kind is Kind.CHAT:
        raise PayloadError(f"{what}: missing field 'msg'")
    text = _clean_text(raw_text or "")
    profile = _optional_object(item.get("profile"))
    extras = _optional_object(item.get("extras"))
    uid = _id_str(item, "uid", what) if "uid" in item else _id_str(item, "userId", what)
    anonymous = extras.get("isAnonymous") is True or uid == "anonymous"
    if anonymous:
        uid = None
    nickname = None if anonymous else _soft_str(profile.get("nickname"))
    if kind is Kind.CHAT and not nickname and uid is None:
        raise PayloadError(f"{what}: neither a nickname nor 'uid'")
    subscription = _web_subscription(extras, type_code) if kind is Kind.SUBSCRIPTION else None
    if subscription is not None and not text.strip():
        text = (_gift_line(subscription) if subscription.is_gift else
                _subscription_line(subscription.months, subscription.tier))
    _, emoticons = resolve_emoji(text, _optional_object(extras.get("emojis")))
    amount = _amount(extras.get("payAmount")) if kind is Kind.DONATION else None
    msg_time = item.get("msgTime", item.get("messageTime"))
    return ChatMessage(
        user=_clean_nickname(nickname),
        message=text,
        user_id=uid or "",
        timestamp=_timestamp(epoch_ms=msg_time),
        emoticons=emoticons,
        channel_id=channel_id,
        message_id=_stable_id(
            SOURCE_WEB, cmd, type_code, channel_id, uid, nickname, msg_time, amount, text
        ),
        role=_role(uid, profile.get("userRoleCode"), channel_id),
        kind=kind,
        amount=amount,
        source=SOURCE_WEB,
        subscription=subscription,
        platform_key=web_message_key(uid, _soft_int(msg_time)),
    )
