"""The bounded priority queue of messages waiting for an answer (pure: time is passed in).

Policy, in the streamer's terms:
- the streamer's own voice first (they are talking to the AI right now, and alone: a voice batch
  holds only voice), then donations, then subscriptions, then the streamer's own chat, then viewer chat;
  within a priority, oldest first;
- under a flood the queue stays at `max_size`: the oldest message of the lowest priority is dropped
  (a new viewer chat never pushes out a donation) and every drop is counted;
- ordinary chat older than `max_age_s` is no longer worth answering and expires; donations and
  subscriptions never expire (a donor is always thanked).

One FIFO per priority keeps every operation O(1) in the queue size (a handful of priorities), so
even REPLY_QUEUE_SIZE=10000 under a chat flood never stalls the event loop.
"""

from __future__ import annotations

import itertools
from collections import deque
from dataclasses import dataclass, field

from ..core.messages import ChatMessage, Kind, Role

PRIORITY_VOICE = 40
PRIORITY_DONATION = 30
PRIORITY_SUBSCRIPTION = 20
PRIORITY_STREAMER = 15
PRIORITY_CHAT = 10
PRIORITIES = (PRIORITY_VOICE, PRIORITY_DONATION, PRIORITY_SUBSCRIPTION, PRIORITY_STREAMER, PRIORITY_CHAT)


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

    def __len__(self) -> int:
        return self._size

    def push(self, msg: ChatMessage, now: float) -> ChatMessage | None:
        """Queue `msg`; returns the message dropped to make room (possibly `msg` itself), if any."""
        self.expire(now)
        priority = priority_of(msg)
        self.stats.accepted += 1
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
        # The streamer's voice is answered on its own: a conversation, not one chat among many.
        lanes = (PRIORITY_VOICE,) if self._lanes[PRIORITY_VOICE] else PRIORITIES
        for priority in lanes:
            lane = self._lanes[priority]
            while lane and len(batch) < max_items:
                batch.append(lane.popleft().message)
        self._size -= len(batch)
        self.stats.taken += len(batch)
        return batch

    def clear(self) -> int:
        count = self._size
        for lane in self._lanes.values():
            lane.clear()
        self._size = 0
        self.stats.cleared += count
        return count

    def pending(self) -> list[ChatMessage]:
        return [e.message for p in PRIORITIES for e in self._lanes[p]]
