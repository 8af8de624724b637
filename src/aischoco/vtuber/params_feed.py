"""Parameter frames for other renderers (`WS /ws/params`): each subscriber holds only the newest
frame, so a slow client skips frames instead of queueing them (no memory growth, no lag)."""

from __future__ import annotations

import asyncio
import json


class _Slot:
    def __init__(self) -> None:
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

    def subscribe(self) -> _Slot:
        slot = _Slot()
        self._slots.add(slot)
        return slot

    def unsubscribe(self, slot: _Slot) -> None:
        self._slots.discard(slot)

    def publish(self, t: float, params: dict[str, float]) -> None:
        if not self._slots:
            return  # nobody listens: no JSON work at frame rate
        text = json.dumps({"t": round(t, 3), "params": {k: round(v, 4) for k, v in params.items()}},
                          separators=(",", ":"))
        for slot in self._slots:
            slot.frame = text
            slot.ready.set()

    def close(self) -> None:
        for slot in list(self._slots):
            slot.close()
        self._slots.clear()
