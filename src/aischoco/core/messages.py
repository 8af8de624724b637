"""The chat message every source produces and every later stage consumes."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from enum import Enum
from typing import Any, Final


class Role(str, Enum):
    VIEWER = "viewer"
    STREAMER = "streamer"
    MANAGER = "manager"


class Kind(str, Enum):
    CHAT = "chat"
    DONATION = "donation"
    SUBSCRIPTION = "subscription"
    VOICE = "voice"  # the streamer speaking into the microphone (VOICE_INPUT), transcribed
    IDLE = "idle"  # the daemon's own cue: chat is quiet, the character speaks first (no sender)


@dataclass(frozen=True, slots=True)
class VoiceTiming:
    """perf_counter stamps of a spoken message: the last speech sample, and the moment the VAD
    decided the turn was over (after the end-of-turn silence). Its `received_at` is when the
    transcript was ready: that is when the message came into being."""

    speech_end: float
    turn_end: float


@dataclass(frozen=True, slots=True)
class SubscriptionInfo:
    """What a subscription event says: months and tier, or a gift of subscriptions.

    A gift arrives on CHZZK's web chat as one event for the gifter (``gift_count`` set) and one
    per receiver (``receiver`` set), all with the same ``gift_id``: the reply queue folds them
    into one thank-you."""

    months: int | None = None
    tier: str | None = None
    gift_id: str | None = None
    gift_count: int | None = None  # the gifter's event: how many were given
    receiver: str | None = None  # a receiver's event: who got one
    receivers: tuple[str, ...] = ()  # folded events (reply queue): the first few receivers
    receivers_seen: int = 0  # folded events: how many receivers in all

    @property
    def is_gift(self) -> bool:
        return self.gift_id is not None


@dataclass(frozen=True, slots=True)
class Blind:
    """The platform hid a message (a manager's blind, CHZZK's clean bot): find it by
    ``platform_key`` and take it back everywhere."""

    platform_key: str
    reason: str = ""


@dataclass(frozen=True, slots=True)
class Gift:
    """A gift counted in another unit than cheese: SOOP balloons, a YouTube Super Chat in any
    currency. ``label`` is the platform's own words ("별풍선 10개", "5달러 슈퍼챗"): shown, said
    and checked by the thank-you guarantee; ``count`` is the number in that unit (10 balloons,
    4.99 dollars), ``unit`` its name in DONATION_KRW_RATES (``soop_balloon``, ``USD``, …).
    ``ChatMessage.amount`` holds the same gift counted in won (None when there is no rate)."""

    label: str
    count: float | None = None
    unit: str = ""


# Platforms whose viewer ids carry their name ("youtube:UC…"); CHZZK's come bare (32-hex).
NAMESPACED_PLATFORMS: Final = frozenset({"youtube", "soop"})
# Which platform (chzzk | youtube | soop | local) each source belongs to.
_SOURCE_PLATFORM = {"chzzk": "chzzk", "chzzk-web": "chzzk", "youtube": "youtube",
                    "youtube-api": "youtube", "soop": "soop"}


def platform_of_source(source: str) -> str:
    return _SOURCE_PLATFORM.get(source, "local")


def _new_id() -> str:
    return uuid.uuid4().hex


def _utc_now() -> datetime:
    return datetime.now(timezone.utc)


@dataclass(slots=True)
class ChatMessage:
    """One viewer/streamer event from any chat source.

    ``message`` is the text as received (the overlay shows it whole); ``llm_text`` is what the LLM
    may see after filtering (truncated, emoji names resolved) and is filled in by the filters.
    ``received_at`` is a ``time.perf_counter()`` stamp used for latency marks; ``timestamp`` is
    wall-clock time from the source.
    """

    user: str
    message: str
    user_id: str = ""
    timestamp: datetime = field(default_factory=_utc_now)
    emoticons: dict[str, str] = field(default_factory=dict)  # placeholder name -> image URL
    channel_id: str = ""
    message_id: str = field(default_factory=_new_id)
    role: Role = Role.VIEWER
    kind: Kind = Kind.CHAT
    amount: int | None = None  # donation amount in KRW (cheese)
    source: str = "local"
    received_at: float = field(default_factory=time.perf_counter)
    llm_text: str | None = None
    voice: VoiceTiming | None = None  # kind VOICE: when the streamer stopped talking
    notice: str | None = None  # the daemon's own note to the LLM about this message (trusted)
    subscription: SubscriptionInfo | None = None  # kind SUBSCRIPTION: months, tier, gift
    platform_key: str = ""  # how the platform names this message again later (a blind)
    platform: str = ""  # chzzk | youtube | soop | local; "" = derived from `source`
    gift: Gift | None = None  # kind DONATION in balloons or another currency (amount = won)

    def __post_init__(self) -> None:
        if not self.platform:
            self.platform = platform_of_source(self.source)

    @property
    def memory_key(self) -> str:
        """Who sent it, stably (memory, rate limits): the platform's user id, else the nickname —
        namespaced like the ids on YouTube and SOOP, so a nickname there never lands on a CHZZK
        or local viewer of the same name."""
        if self.user_id:
            return self.user_id
        return f"{self.platform}:nick:{self.user}" if self.platform in NAMESPACED_PLATFORMS else self.user

    @property
    def is_streamer(self) -> bool:
        return self.role is Role.STREAMER

    def text_for_llm(self) -> str:
        return self.llm_text if self.llm_text is not None else self.message

    def to_public(self) -> dict[str, Any]:
        """JSON-ready view for the overlay and the API (never includes internal timing fields)."""
        return {
            "id": self.message_id,
            "user": self.user,
            "user_id": self.user_id,
            "message": self.message,
            "timestamp": self.timestamp.isoformat(),
            "emoticons": dict(self.emoticons),
            "channel_id": self.channel_id,
            "role": self.role.value,
            "kind": self.kind.value,
            "amount": self.amount,
            "source": self.source,
            "subscription": _public_subscription(self.subscription),
            "platform": self.platform,
            "gift": None if self.gift is None else {"label": self.gift.label,
                                                    "count": self.gift.count,
                                                    "unit": self.gift.unit},
        }


def _public_subscription(info: SubscriptionInfo | None) -> dict[str, Any] | None:
    if info is None:
        return None
    return {"months": info.months, "tier": info.tier, "gift_count": info.gift_count,
            "receiver": info.receiver, "receivers_seen": info.receivers_seen}
