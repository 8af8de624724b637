"""What the streamer's voice does to the AI's speech (VOICE_BARGE_IN), and the echo gate.

- `interrupt`: once the streamer has spoken for VOICE_BARGE_IN_MIN_MS while a turn runs, the
  turn is cancelled like a skip: synthesis stops, the player is silenced within one block, and
  the history keeps only what was heard (the cut sentence ends in "…").
- `duck`: the AI goes on at VOICE_DUCK_GAIN volume until the streamer stops.
- `ignore`: the AI is never cut. For streamers whose microphone hears the speakers: the mic is
  not listened to while the AI's voice is audible (plus a short tail for room echo), so the AI
  never answers itself.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import numpy as np

log = logging.getLogger(__name__)

BargeInMode = Literal["interrupt", "duck", "ignore"]


class AudibleWindow:
    """Until when the AI's voice is audible, fed by the audio output's block tap (player thread)
    and read by the VAD worker thread; a float assignment is atomic, no lock needed."""

    def __init__(self, tail_s: float = 0.3) -> None:
        self.tail_s = tail_s
        self._until = -math.inf

    def note_block(self, block: np.ndarray, rate: int, heard_at: float) -> None:
        if block.size and np.any(block):
            self._until = heard_at + block.size / rate + self.tail_s

    def covers(self, at: float) -> bool:
        return at <= self._until


@dataclass(slots=True)
class BargeInStats:
    interrupted: int = 0
    ducked: int = 0
    ignored: int = 0
    last_action_at: float | None = None  # perf_counter when the last interrupt/duck was issued


class BargeIn:
    def __init__(
        self,
        mode: BargeInMode,
        *,
        ai_busy: Callable[[], bool],
        interrupt: Callable[[], bool],
        set_gain: Callable[[float], None] | None = None,
        duck_gain: float = 0.3,
    ) -> None:
        """`ai_busy`: a turn is running (thinking or speaking); `interrupt` cancels it."""
        self.mode = mode
        self._ai_busy = ai_busy
        self._interrupt = interrupt
        self._set_gain = set_gain
        self._duck_gain = duck_gain
        self._ducked = False
        self.stats = BargeInStats()

    @property
    def gates_echo(self) -> bool:
        return self.mode == "ignore"

    def speech_confirmed(self) -> str | None:
        """The streamer has been talking for the minimum time; returns what was done."""
        if not self._ai_busy():
            return None
        if self.mode == "interrupt" and self._interrupt():
            self.stats.interrupted += 1
            self.stats.last_action_at = time.perf_counter()
            log.info("barge-in: the streamer spoke, the AI stops")
            return "interrupt"
        if self.mode == "duck" and self._set_gain is not None and not self._ducked:
            self._set_gain(self._duck_gain)
            self._ducked = True
            self.stats.ducked += 1
            self.stats.last_action_at = time.perf_counter()
            return "duck"
        if self.mode == "ignore":
            self.stats.ignored += 1
        return None

    def speech_over(self) -> None:
        if self._ducked and self._set_gain is not None:
            self._set_gain(1.0)
        self._ducked = False
