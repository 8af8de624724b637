"""Per-turn latency marks and a rolling p50/p95 per stage (pure: no I/O, clock passed in)."""

from __future__ import annotations

import math
import time
from collections import deque
from dataclasses import dataclass, field

# The order a reply moves through the pipeline. A voice turn (the streamer spoke) starts earlier:
# speech_end (their last speech sample) → turn_end (the end-of-turn silence elapsed: the VAD says
# they are done) → stt_done (transcript ready, which is also when its message is "received").
# "dequeued" is when the director took the batch.
# A streamed answer reaches llm_first_token (first answer text) and first_sentence_ready (its first
# sentence is final and goes to TTS) long before llm_done; a whole answer has them together.
MARKS = (
    "speech_end",
    "turn_end",
    "stt_done",
    "received",
    "idle_decided",  # an idle line: the director decided to speak first (no chat "received")
    "dequeued",
    "llm_request",
    "tool_start",  # the model asked for tools (the first round)
    "tool_done",  # the last tool round is over (the answer request follows)
    "llm_first_token",
    "first_sentence_ready",
    "llm_done",
    "tts_request",
    "tts_first_chunk",
    "playback_start",
    "playback_end",
)

# Named intervals reported on /api/metrics: (name, from mark, to mark).
INTERVALS: tuple[tuple[str, str, str], ...] = (
    ("end_of_turn", "speech_end", "turn_end"),
    ("stt", "turn_end", "stt_done"),
    ("voice_to_voice", "speech_end", "playback_start"),
    ("queue_wait", "received", "dequeued"),
    ("llm", "llm_request", "llm_done"),
    ("tools", "tool_start", "tool_done"),
    ("llm_first_token", "llm_request", "llm_first_token"),
    ("first_sentence", "llm_request", "first_sentence_ready"),
    ("tts_first_chunk", "tts_request", "tts_first_chunk"),
    ("audio_start", "tts_first_chunk", "playback_start"),
    ("speech", "playback_start", "playback_end"),
    ("chat_to_voice", "received", "playback_start"),
    ("idle_to_voice", "idle_decided", "playback_start"),
    ("total", "received", "playback_end"),
)


@dataclass(slots=True)
class TurnMarks:
    """Times (perf_counter seconds) at which one turn reached each mark. The first mark wins:
    for a multi-sentence answer, tts_request/tts_first_chunk/playback_start describe the first
    sentence, which is what the viewer waits for."""

    turn_id: int
    times: dict[str, float] = field(default_factory=dict)
    outcome: str = "ok"

    def mark(self, name: str, at: float | None = None) -> None:
        if name not in MARKS:
            raise ValueError(f"unknown latency mark {name!r}")
        self.times.setdefault(name, time.perf_counter() if at is None else at)

    def end(self, name: str, at: float | None = None) -> None:
        """Like mark, but the last call wins (playback_end of the last sentence)."""
        if name not in MARKS:
            raise ValueError(f"unknown latency mark {name!r}")
        self.times[name] = time.perf_counter() if at is None else at

    def intervals_ms(self) -> dict[str, float]:
        out: dict[str, float] = {}
        for name, start, stop in INTERVALS:
            if start in self.times and stop in self.times:
                out[name] = (self.times[stop] - self.times[start]) * 1000.0
        return out

    def log_line(self) -> str:
        """One compact line: each reached mark as +ms since `received` (`speech_end` for a voice
        turn), in the order reached
        (a streamed answer's llm_done comes after its first sentence is playing)."""
        origin = self.times.get("speech_end", self.times.get("received",
                                                               self.times.get("idle_decided")))
        parts = [f"turn {self.turn_id} {self.outcome}:"]
        if origin is not None:
            reached = sorted((t, MARKS.index(n), n) for n, t in self.times.items())
            parts += [f"{name}=+{(t - origin) * 1000:.0f}ms" for t, _, name in reached]
        return " ".join(parts)


def percentile(sorted_values: list[float], q: float) -> float:
    """Linear-interpolated percentile of an already sorted, non-empty list (q in 0..100)."""
    if not sorted_values:
        raise ValueError("percentile of an empty list")
    if len(sorted_values) == 1:
        return sorted_values[0]
    rank = (len(sorted_values) - 1) * q / 100.0
    low = math.floor(rank)
    high = min(low + 1, len(sorted_values) - 1)
    return sorted_values[low] + (sorted_values[high] - sorted_values[low]) * (rank - low)


class LatencyStats:
    """The last `window` values of every interval, summarised as count/p50/p95/last."""

    def __init__(self, window: int = 500) -> None:
        self._values: dict[str, deque[float]] = {name: deque(maxlen=window)
                                                 for name, _, _ in INTERVALS}
        self.turns = 0
        self.outcomes: dict[str, int] = {}

    def record(self, marks: TurnMarks) -> None:
        self.turns += 1
        self.outcomes[marks.outcome] = self.outcomes.get(marks.outcome, 0) + 1
        for name, value in marks.intervals_ms().items():
            self._values[name].append(value)

    def summary(self) -> dict[str, dict[str, float | int | None]]:
        out: dict[str, dict[str, float | int | None]] = {}
        for name, values in self._values.items():
            ordered = sorted(values)
            out[name] = {
                "count": len(ordered),
                "p50_ms": round(percentile(ordered, 50), 2) if ordered else None,
                "p95_ms": round(percentile(ordered, 95), 2) if ordered else None,
                "last_ms": round(values[-1], 2) if values else None,
            }
        return out
