"""The bounded priority queue of messages waiting for an answer (pure: time is passed in).

Policy, in the streamer's terms:
- the streamer's own voice first (they are talking to the AI right now, and alone: a voice batch
  holds only voice), then donations, then subscriptions, then the streamer's own chat, then viewer chat;
  within a priority, oldest first;
- every donation gets its own turn (its donor and amount named, its tier's reaction); the
  subscriptions waiting are thanked together, on their own (a burst is one line, not fifty);
- a subscription gift is one entry however many events it arrives as (CHZZK's web chat sends
  one for the gifter and one per receiver, with the same gift id): they fold into the first,
  and stragglers of a gift already answered are absorbed (`stats.folded`);
- a message the platform hid (a blind) is withdrawn;
- under a flood the queue stays at `max_size`: the oldest message of the lowest priority is dropped
  (a new viewer chat never pushes out a donation) and every drop is counted;
- ordinary chat older than `max_age_s` is no longer worth answering and expires; donations and
  subscriptions never expire (a donor is always thanked).

One FIFO per priority keeps every operation O(1) in the queue size (a handful of priorities), so
even REPLY_QUEUE_SIZE=10000 under a chat flood never stalls the event loop.
"""

from __future__ import annotations

import dataclasses
import itertools
from collections import OrderedDict, deque
from collections.abc import Collection
from dataclasses import dataclass, field

from ..core.messages import ChatMessage, Kind, Role, SubscriptionInfo

PRIORITY_VOICE = 40
PRIORITY_DONATION = 30
PRIORITY_SUBSCRIPTION = 20
PRIORITY_STREAMER = 15
PRIORITY_CHAT = 10
PRIORITIES = (PRIORITY_VOICE, PRIORITY_DONATION, PRIORITY_SUBSCRIPTION, PRIORITY_STREAMER, PRIORITY_CHAT)
MAX_SUBSCRIPTION_BATCH = 100  # one thank-you line for at most this many subscriptions
ANSWERED_GIFTS = 256  # gift ids remembered after their turn, to absorb late receiver events
GIFT_NAMES = 5  # receivers named to the LLM; the rest are counted


def priority_of(msg: ChatMessage) -> int:
    if msg.kind is Kind.VOICE:
        return PRIORITY_VOICE
    if msg.kind is Kind.DONATION:
        return PRIORITY_DONATION
    if msg.kind is Kind.SUBSCRIPTION:
        return PRIORITY_SUBSCRIPTION
    if msg.role is Role.STREAMER:
        return PRIORITY_STREAMER
    return PRIORITY_CHAT


@dataclass(slots=True)
class _Entry:
    seq: int
    enqueued_at: float
    message: ChatMessage


@dataclass(slots=True)
class QueueStats:
    accepted: int = 0
    taken: int = 0
    dropped_overflow: int = 0
    dropped_expired: int = 0
    cleared: int = 0
    folded: int = 0  # subscription-gift events folded into their gift's one entry
    withdrawn: int = 0  # hidden by the platform before their turn


@dataclass(slots=True)
class ReplyQueue:
    max_size: int = 50
    max_age_s: float = 60.0
    stats: QueueStats = field(default_factory=QueueStats)
    # Highest priority first; each FIFO is in arrival order (so also in enqueued_at order).
    _lanes: dict[int, deque[_Entry]] = field(
        default_factory=lambda: {p: deque() for p in PRIORITIES}, init=False, repr=False)
    _size: int = field(default=0, init=False, repr=False)
    _seq: itertools.count[int] = field(default_factory=itertools.count, init=False, repr=False)
    _gifts: dict[str, ChatMessage] = field(default_factory=dict, init=False, repr=False)
    _answered_gifts: OrderedDict[str, None] = field(default_factory=OrderedDict, init=False,
                                                    repr=False)

    def __len__(self) -> int:
        return self._size

    def push(self, msg: ChatMessage, now: float) -> ChatMessage | None:
        """Queue `msg`; returns the message dropped to make room (possibly `msg` itself), if any."""
        self.expire(now)
        priority = priority_of(msg)
        self.stats.accepted += 1
        if self._fold_gift(msg):
            return None
        victim: ChatMessage | None = None
        if self._size >= self.max_size:
            lowest = next(p for p in reversed(PRIORITIES) if self._lanes[p])
            self.stats.dropped_overflow += 1
            if priority < lowest:
                return msg
            victim = self._lanes[lowest].popleft().message
            self._size -= 1
        self._lanes[priority].append(_Entry(next(self._seq), now, msg))
        self._size += 1
        return victim

    def _fold_gift(self, msg: ChatMessage) -> bool:
        """True when `msg` belongs to a gift already queued or answered (it is folded in)."""
        info = msg.subscription
        if info is None or info.gift_id is None:
            return False
        gift_id = info.gift_id
        if gift_id in self._answered_gifts:
            self.stats.folded += 1
            return True
        pending = self._gifts.get(gift_id)
        if pending is None:
            self._gifts[gift_id] = msg
            return False
        merged = _merge_gift(pending.subscription or info, info)
        if info.gift_count is not None:  # the gifter's own event: the better face of the gift
            pending.user, pending.user_id, pending.message = msg.user, msg.user_id, msg.message
            pending.llm_text = msg.llm_text
        pending.subscription = merged
        self.stats.folded += 1
        return True

    def withdraw(self, message_ids: Collection[str]) -> list[ChatMessage]:
        """Take these messages out (the platform hid them); returns those that were waiting."""
        taken: list[ChatMessage] = []
        for priority in PRIORITIES:
            lane = self._lanes[priority]
            if any(e.message.message_id in message_ids for e in lane):
                kept = [e for e in lane if e.message.message_id not in message_ids]
                taken += [e.message for e in lane if e.message.message_id in message_ids]
                lane.clear()
                lane.extend(kept)
        self._size -= len(taken)
        self.stats.withdrawn += len(taken)
        for msg in taken:
            self._forget_gift(msg)
        return taken

    def _forget_gift(self, msg: ChatMessage, *, answered: bool = False) -> None:
        info = msg.subscription
        if info is None or info.gift_id is None or self._gifts.get(info.gift_id) is not msg:
            return
        del self._gifts[info.gift_id]
        if answered:
            self._answered_gifts[info.gift_id] = None
            while len(self._answered_gifts) > ANSWERED_GIFTS:
                self._answered_gifts.popitem(last=False)

    def expire(self, now: float) -> list[ChatMessage]:
        """Drop ordinary chats older than max_age_s; returns them."""
        cutoff = now - self.max_age_s
        expired: list[ChatMessage] = []
        for priority in PRIORITIES:
            lane = self._lanes[priority]
            while lane and lane[0].message.kind is Kind.CHAT and lane[0].enqueued_at < cutoff:
                expired.append(lane.popleft().message)
        self._size -= len(expired)
        self.stats.dropped_expired += len(expired)
        return expired

    def take_batch(self, now: float, max_items: int) -> list[ChatMessage]:
        """The next batch to answer: highest priority first, oldest first within a priority."""
        self.expire(now)
        batch: list[ChatMessage] = []
        top = next((p for p in PRIORITIES if self._lanes[p]), None)
        # The streamer's voice is answered on its own: a conversation, not one chat among many.
        # A donation is its own moment; waiting subscriptions are thanked together.
        lanes, limit = {
            PRIORITY_VOICE: ((PRIORITY_VOICE,), max_items),
            PRIORITY_DONATION: ((PRIORITY_DONATION,), 1),
            PRIORITY_SUBSCRIPTION: ((PRIORITY_SUBSCRIPTION,), MAX_SUBSCRIPTION_BATCH),
        }.get(top, (PRIORITIES, max_items)) if top is not None else ((), 0)
        for priority in lanes:
            lane = self._lanes[priority]
            while lane and len(batch) < limit:
                batch.append(lane.popleft().message)
        self._size -= len(batch)
        self.stats.taken += len(batch)
        for msg in batch:
            self._forget_gift(msg, answered=True)
        return batch

    def clear(self) -> int:
        count = self._size
        for lane in self._lanes.values():
            lane.clear()
        self._gifts.clear()
        self._size = 0
        self.stats.cleared += count
        return count

    def pending(self) -> list[ChatMessage]:
        return [e.message for p in PRIORITIES for e in self._lanes[p]]


def _receivers(info: SubscriptionInfo) -> tuple[tuple[str, ...], int]:
    if info.receivers_seen:
        return info.receivers, info.receivers_seen
    return ((info.receiver,), 1) if info.receiver is not None else ((), 0)


def _merge_gift(a: SubscriptionInfo, b: SubscriptionInfo) -> SubscriptionInfo:
    """Two events of one gift as one: the count the gifter gave (or the receivers seen, if more),
    and the first few receivers' names."""
    (a_names, a_seen), (b_names, b_seen) = _receivers(a), _receivers(b)
    seen = a_seen + b_seen
    names = tuple(dict.fromkeys((*a_names, *b_names)))[:GIFT_NAMES]
    count = max(a.gift_count or 0, b.gift_count or 0, seen)
    return dataclasses.replace(a, tier=a.tier or b.tier, gift_count=count, receiver=None,
                               receivers=names, receivers_seen=seen)
