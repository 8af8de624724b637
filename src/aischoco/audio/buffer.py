"""A thread-safe FIFO of audio segments between the event loop (writer) and a player thread (reader).

Pure logic: no devices, no clocks. The reader asks for N frames and gets exactly N (silence where
nothing is queued) plus the segment boundaries that fell inside the block, so the caller can tell
which sentence started or ended at which sample. Sentences queued back to back play with no gap.
"""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass
from enum import Enum

import numpy as np


class Boundary(Enum):
    STARTED = "started"
    ENDED = "ended"


@dataclass(frozen=True, slots=True)
class SegmentEvent:
    segment: int
    boundary: Boundary
    offset: int  # frame offset inside the block just read


@dataclass(slots=True)
class _Queued:
    segment: int
    data: np.ndarray  # float32 mono
    pos: int = 0


class PlaybackBuffer:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._items: deque[_Queued] = deque()
        self._finished: set[int] = set()  # segments whose last sample is queued
        self._started: set[int] = set()
        self._pending = 0
        self.frames_read = 0  # every frame handed to the player, silence included
        self.content_frames_read = 0
        self._has_data = threading.Condition(self._lock)

    @property
    def pending_frames(self) -> int:
        return self._pending

    def push(self, segment: int, samples: np.ndarray) -> None:
        if samples.size == 0:
            return
        with self._lock:
            self._items.append(_Queued(segment, np.ascontiguousarray(samples, dtype=np.float32)))
            self._pending += samples.size
            self._has_data.notify_all()

    def finish(self, segment: int) -> None:
        """No more audio will come for `segment`: its END fires after its last queued sample."""
        with self._lock:
            self._finished.add(segment)
            self._has_data.notify_all()

    def wait_for_data(self, timeout: float) -> bool:
        """Block (player thread) until audio or a finished segment is queued."""
        with self._lock:
            if not self._ready_locked():
                self._has_data.wait(timeout)
            return self._ready_locked()

    def _ready_locked(self) -> bool:
        return self._pending > 0 or bool(self._finished)

    def _queued_segments_locked(self) -> set[int]:
        return {item.segment for item in self._items}

    def read(self, frames: int, *, fill: bool = True) -> tuple[np.ndarray, list[SegmentEvent]]:
        """Up to `frames` frames of queued audio (zero-padded to `frames` when `fill`)."""
        out = np.zeros(frames, dtype=np.float32)
        events: list[SegmentEvent] = []
        written = 0
        with self._lock:
            while written < frames and self._items:
                item = self._items[0]
                events.extend(self._close_finished_locked(written, before=item.segment))
                if item.segment not in self._started:
                    self._started.add(item.segment)
                    events.append(SegmentEvent(item.segment, Boundary.STARTED, written))
                take = min(frames - written, item.data.size - item.pos)
                out[written:written + take] = item.data[item.pos:item.pos + take]
                item.pos += take
                written += take
                if item.pos == item.data.size:
                    self._items.popleft()
            first_queued = self._items[0].segment if self._items else None
            events.extend(self._close_finished_locked(written, before=first_queued))
            self._pending -= written
            self.content_frames_read += written
            used = frames if fill else written
            self.frames_read += used
        return out[:used], events

    def _close_finished_locked(self, offset: int, *, before: int | None) -> list[SegmentEvent]:
        """END for finished segments with nothing left queued, up to the segment `before` (ids
        grow in play order, so one queued behind other audio waits its turn)."""
        events = []
        for segment in sorted(s for s in self._finished if before is None or s < before):
            if segment not in self._started:  # empty segment: it starts and ends at once
                events.append(SegmentEvent(segment, Boundary.STARTED, offset))
            events.append(SegmentEvent(segment, Boundary.ENDED, offset))
            self._started.discard(segment)
            self._finished.discard(segment)
        return events

    def clear(self) -> list[int]:
        """Drop everything queued (skip). Returns the segments that were dropped or cut."""
        with self._lock:
            dropped = sorted(self._queued_segments_locked() | self._finished)
            self._items.clear()
            self._finished.clear()
            self._started.clear()
            self._pending = 0
            self._has_data.notify_all()
            return dropped
