"""What the overlay shows, kept in memory only (nothing personal is written to disk).

Every change is published as a JSON-ready event to each subscriber (one bounded queue per SSE
client). A client too slow to keep up is cut off instead of growing memory; its EventSource
reconnects and resyncs from /api/state.
"""

from __future__ import annotations

import asyncio
import itertools
from collections import deque
from collections.abc import Collection, Sequence
from datetime import datetime, timezone
from typing import Any

from ..core.messages import ChatMessage

SUBSCRIBER_QUEUE_SIZE = 512


class Subscription:
    def __init__(self) -> None:
        self.queue: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue(SUBSCRIBER_QUEUE_SIZE)
        self.overflowed = False

    def offer(self, event: dict[str, Any] | None) -> None:
        if self.overflowed:
            return
        try:
            self.queue.put_nowait(event)
        except asyncio.QueueFull:
            self.overflowed = True


class OverlayState:
    def __init__(self, *, max_viewer: int = 100, max_assistant: int = 50,
                 ignore_streamer_chat: bool = False) -> None:
        self._viewer: deque[dict[str, Any]] = deque(maxlen=max_viewer)
        self._assistant: deque[dict[str, Any]] = deque(maxlen=max_assistant)
        self.ignore_streamer_chat = ignore_streamer_chat
        self._subscribers: set[Subscription] = set()
        self._version = itertools.count(1)
        self.version = 0
        self._assistant_ids = itertools.count(1)

    # --- changes -------------------------------------------------------------------------------
    def add_viewer(self, msg: ChatMessage, *, shown_text: str | None = None) -> None:
        item = msg.to_public()
        if shown_text is not None:
            item["message"] = shown_text
        self._viewer.append(item)
        self._publish({"type": "viewer_message", "message": item})

    def remove_viewer(self, ids: Collection[str]) -> int:
        """Take messages off the screen (the platform hid them); returns how many were shown."""
        kept = [m for m in self._viewer if m["id"] not in ids]
        removed = len(self._viewer) - len(kept)
        if removed:
            self._viewer.clear()
            self._viewer.extend(kept)
        self._publish({"type": "remove", "ids": sorted(ids)})  # also for pages that missed it
        return removed

    def add_assistant(self, text: str, emotion: str, *, reply_to: Sequence[str] = (),
                      proactive: bool = False) -> None:
        """Show an AI answer. An answer is known by the chat it replies to: called again with the
        same non-empty ``reply_to`` as the newest answer, it updates that answer in place (same
        id), which is how a streamed answer grows sentence by sentence."""
        now = datetime.now(timezone.utc).isoformat()
        newest = self._assistant[-1] if self._assistant else None
        if newest is not None and reply_to and newest["reply_to"] == list(reply_to):
            # A new dict: snapshots already handed out keep what they had.
            item = {**newest, "message": text, "emotion": emotion, "timestamp": now}
            self._assistant[-1] = item
        else:
            item = {
                "id": f"a{next(self._assistant_ids)}",
                "message": text,
                "emotion": emotion,
                "reply_to": list(reply_to),
                "timestamp": now,
                "proactive": proactive,
            }
            self._assistant.append(item)
        self._publish({"type": "assistant_message", "message": item})

    def clear(self) -> None:
        self._viewer.clear()
        self._assistant.clear()
        self._publish({"type": "clear"})

    def set_ignore_streamer_chat(self, ignore: bool) -> None:
        self.ignore_streamer_chat = ignore
        if ignore:  # hiding also removes what is already on screen
            kept = [m for m in self._viewer if m["role"] != "streamer"]
            self._viewer.clear()
            self._viewer.extend(kept)
        self._publish({"type": "settings", "ignore_streamer_chat": ignore,
                       "viewer_messages": list(self._viewer)})

    def publish(self, event: dict[str, Any]) -> None:
        """For events owned elsewhere (component status, queue figures)."""
        self._publish(event)

    def _publish(self, event: dict[str, Any]) -> None:
        self.version = next(self._version)
        event["version"] = self.version
        for sub in self._subscribers:
            sub.offer(event)

    # --- reading -------------------------------------------------------------------------------
    def snapshot(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "viewer_messages": list(self._viewer),
            "assistant_messages": list(self._assistant),
            "ignore_streamer_chat": self.ignore_streamer_chat,
        }

    def subscribe(self) -> Subscription:
        sub = Subscription()
        self._subscribers.add(sub)
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        self._subscribers.discard(sub)

    def close_subscribers(self) -> None:
        """On shutdown: end every open event stream so the server can stop promptly."""
        for sub in list(self._subscribers):
            sub.overflowed = False
            try:
                sub.queue.put_nowait(None)
            except asyncio.QueueFull:
                sub.overflowed = True
