"""The bounded priority queue of messages waiting for an answer (pure: time is passed in).

Policy, in the streamer's terms:
- donations first, then subscriptions, then the streamer's own chat, then viewer chat;
  within a priority, oldest first;
- under a flood the queue stays at `max_size`: the oldest message of the lowest priority is dropped
  (a new viewer chat never pushes out a donation) and every drop is counted;
- ordinary chat older than `max_age_s` is no longer worth answering and expires; donations and
  subscriptions never expire (a donor is always thanked).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

from ..chat.models import ChatMessage, Kind, Role

PRIORITY_DONATION = 30
PRIORITY_SUBSCRIPTION = 20
PRIORITY_STREAMER = 15
PRIORITY_CHAT = 10


def priority_of(msg: ChatMessage) -> int:
    if msg.kind is Kind.DONATION:
        return PRIORITY_DONATION
    if msg.kind is Kind.SUBSCRIPTION:
        return PRIORITY_SUBSCRIPTION
    if msg.role is Role.STREAMER:
        return PRIORITY_STREAMER
    return PRIORITY_CHAT


@dataclass(slots=True)
class _Entry:
    priority: int
    seq: int
    enqueued_at: float
    message: ChatMessage

    @property
    def expires(self) -> bool:
        return self.message.kind is Kind.CHAT


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
    _entries: list[_Entry] = field(default_factory=list, init=False, repr=False)
    _seq: itertools.count[int] = field(default_factory=itertools.count, init=False, repr=False)

    def __len__(self) -> int:
        return len(self._entries)

    def push(self, msg: ChatMessage, now: float) -> ChatMessage | None:
        """Queue `msg`; returns the message dropped to make room (possibly `msg` itself), if any."""
        self.expire(now)
        entry = _Entry(priority_of(msg), next(self._seq), now, msg)
        self.stats.accepted += 1
        if len(self._entries) < self.max_size:
            self._entries.append(entry)
            return None
        victim = min(self._entries, key=lambda e: (e.priority, e.seq))
        if entry.priority < victim.priority:
            self.stats.dropped_overflow += 1
            return msg
        self._entries.remove(victim)
        self._entries.append(entry)
        self.stats.dropped_overflow += 1
        return victim.message

    def expire(self, now: float) -> list[ChatMessage]:
        """Drop ordinary chats older than max_age_s; returns them."""
        cutoff = now - self.max_age_s
        expired = [e for e in self._entries if e.expires and e.enqueued_at < cutoff]
        if expired:
            self._entries = [e for e in self._entries if not (e.expires and e.enqueued_at < cutoff)]
            self.stats.dropped_expired += len(expired)
        return [e.message for e in expired]

    def take_batch(self, now: float, max_items: int) -> list[ChatMessage]:
        """The next batch to answer: highest priority first, oldest first within a priority."""
        self.expire(now)
        if not self._entries:
            return []
        self._entries.sort(key=lambda e: (-e.priority, e.seq))
        batch, self._entries = self._entries[:max_items], self._entries[max_items:]
        self.stats.taken += len(batch)
        return [e.message for e in batch]

    def clear(self) -> int:
        count = len(self._entries)
        self._entries.clear()
        self.stats.cleared += count
        return count

    def pending(self) -> list[ChatMessage]:
        return [e.message for e in sorted(self._entries, key=lambda e: (-e.priority, e.seq))]
