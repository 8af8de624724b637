"""Parameter frames for other renderers (`WS /ws/params`): each subscriber holds only the newest
frame, so a slow client skips frames instead of queueing them (no memory growth, no lag).

A frame is `{"t", "params"}` as the contract says; a subscriber that asks for the avatar's view
(`/ws/params?avatar=1`, the built-in avatar page) also gets `emotion`, `speaking` and `pose`."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable


class _Slot:
    def __init__(self, avatar: bool = False) -> None:
        self.avatar = avatar
        self.frame: str | None = None
        self.ready = asyncio.Event()
        self.closed = False

    async def next(self) -> str | None:
        """The newest frame not yet taken; None once the feed is closed."""
        await self.ready.wait()
        self.ready.clear()
        frame, self.frame = self.frame, None
        return None if self.closed else frame

    def close(self) -> None:
        self.closed = True
        self.ready.set()


class ParamsFeed:
    def __init__(self) -> None:
        self._slots: set[_Slot] = set()

    @property
    def listening(self) -> bool:
        return bool(self._slots)

    def subscribe(self, *, avatar: bool = False) -> _Slot:
        slot = _Slot(avatar)
        self._slots.add(slot)
        return slot

    def unsubscribe(self, slot: _Slot) -> None:
        self._slots.discard(slot)

    def publish(self, t: float, params: dict[str, float],
                extra: Callable[[], dict[str, object]] | None = None) -> None:
        """`extra`: the avatar's fields (emotion, pose), computed only when an avatar listens."""
        if not self._slots:
            return  # nobody listens: no JSON work at frame rate
        frame: dict[str, object] = {"t": round(t, 3),
                                    "params": {k: round(v, 4) for k, v in params.items()}}
        texts: dict[bool, str] = {}
        for slot in self._slots:
            rich = slot.avatar and extra is not None
            if rich not in texts:
                texts[rich] = json.dumps({**frame, **extra()} if rich and extra else frame,
                                         separators=(",", ":"))
            slot.frame = texts[rich]
            slot.ready.set()

    def close(self) -> None:
        for slot in list(self._slots):
            slot.close()
        self._slots.clear()
