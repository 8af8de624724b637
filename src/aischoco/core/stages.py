"""The small interfaces the director talks to, and the typed data that flows between stages.

LLM, TTS, audio out and the animator each get their real implementation from their own issue.
Until one is wired in, the daemon uses the `Unavailable*` stand-ins below: they never invent
output; they say why the stage is missing so the status and the turn log are honest.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Literal, Protocol, get_args, runtime_checkable

from .messages import ChatMessage
from .segmenter import SegmenterConfig

Emotion = Literal["happy", "sad", "angry", "surprised", "neutral", "excited"]
EMOTIONS: tuple[str, ...] = get_args(Emotion)


def normalize_emotion(value: object) -> Emotion:
    """Unknown or missing emotions fall back to neutral (the LLM is not trusted to spell them)."""
    text = str(value).strip().lower() if value is not None else ""
    return text if text in EMOTIONS else "neutral"  # type: ignore[return-value]


class StageError(Exception):
    """A stage failed in a way it has already explained: str() is one line for the log/panel
    (no traceback needed). `retryable` says whether the same turn could work later."""

    retryable: bool = True


class StageUnavailable(StageError):
    """A pipeline stage is not configured or not built; str() says which and why."""

    retryable = False


@dataclass(frozen=True, slots=True)
class AIResponse:
    response: str  # what the overlay shows
    emotion: Emotion
    processing_time: float  # seconds spent in the LLM call(s)
    spoken: str | None = None  # what TTS should say, when cleaned differently from `response`
    tools_at: tuple[float, float] | None = None  # perf_counter: the model's tools ran from..to

    @property
    def speech_text(self) -> str:
        return self.spoken if self.spoken is not None else self.response


# --- a streamed reply, as events from the LLM stage to the turn -------------------------------


@dataclass(frozen=True, slots=True)
class FirstToken:
    """The first answer text arrived (reasoning does not count)."""

    at: float  # perf_counter seconds


@dataclass(frozen=True, slots=True)
class EmotionReady:
    """The answer's emotion, as soon as it is known (before its first sentence if the model
    wrote the emotion first, as it is asked to)."""

    emotion: Emotion


@dataclass(frozen=True, slots=True)
class SentenceReady:
    """One sentence is final: filtered, cut to the answer limit, cleaned for speech."""

    shown: str  # the whole answer so far as the overlay shows it, this sentence included
    spoken: str  # this sentence for TTS ("" when nothing is pronounceable)


@dataclass(frozen=True, slots=True)
class AnswerDone:
    answer: AIResponse  # the whole answer as shown (the last SentenceReady's shown)


@dataclass(frozen=True, slots=True)
class ToolsStarted:
    """The model asked for tools; they run now (before any sentence of the answer)."""

    names: tuple[str, ...]
    at: float  # perf_counter seconds


@dataclass(frozen=True, slots=True)
class ToolsDone:
    at: float


ReplyEvent = FirstToken | EmotionReady | SentenceReady | AnswerDone | ToolsStarted | ToolsDone


@dataclass(frozen=True, slots=True)
class AudioChunk:
    pcm: bytes  # signed 16-bit little-endian mono
    sample_rate: int

    @property
    def duration_s(self) -> float:
        return len(self.pcm) / 2 / self.sample_rate


class LanguageModel(Protocol):
    available: bool

    async def reply(self, batch: Sequence[ChatMessage]) -> AIResponse: ...

    async def remember(self, batch: Sequence[ChatMessage], answer: AIResponse, heard: str) -> None:
        """Record the turn with `heard`: the part of the answer the viewers actually got."""


@runtime_checkable
class StreamingLanguageModel(LanguageModel, Protocol):
    """An LLM that can answer sentence by sentence; used by the turn while `streaming` is true.

    `reply_stream` yields FirstToken, EmotionReady, SentenceReady... and one AnswerDone. It
    raises StageError on failure: before any SentenceReady the turn failed (the LLM has already
    retried what it could); after one, what was yielded stays valid and the rest is lost.
    """

    streaming: bool

    def reply_stream(self, batch: Sequence[ChatMessage],
                     segmenter: SegmenterConfig) -> AsyncGenerator[ReplyEvent, None]: ...


class SpeechEngine(Protocol):
    available: bool

    def synthesize(self, text: str) -> AsyncIterator[AudioChunk]: ...


class SegmentPort(Protocol):
    """One sentence's audio on its way out; `started`/`ended` resolve when it is heard."""

    started: asyncio.Future[float]
    ended: asyncio.Future[float]
    frames_in: int

    def write(self, chunk: AudioChunk) -> None: ...

    def finish(self) -> None: ...


class AudioOutputPort(Protocol):
    """Where speech goes (audio.output.AudioOutput): segments play back to back, in order."""

    @property
    def available(self) -> bool: ...

    def open_segment(self) -> SegmentPort: ...

    def stop_all(self) -> None: ...


# A donation's tier picks its emotion (pose_mapping.json `donation_tiers` may say otherwise).
TIER_EMOTIONS: tuple[Emotion, ...] = ("happy", "excited", "excited")


def tier_emotion(tier: int) -> Emotion:
    return TIER_EMOTIONS[min(tier, len(TIER_EMOTIONS)) - 1]


class Animator(Protocol):
    def set_emotion(self, emotion: Emotion) -> None: ...

    def set_speaking(self, speaking: bool) -> None: ...

    def react_to_donation(self, tier: int) -> Emotion:
        """A donation of this tier (>= 1) is being answered: show its reaction (emotion, and the
        avatar's hotkey/expression for it) and return the emotion, which holds for the turn."""
        ...


@dataclass(slots=True)
class UnavailableLLM:
    reason: str
    available: bool = False

    async def reply(self, batch: Sequence[ChatMessage]) -> AIResponse:
        raise StageUnavailable(self.reason)

    async def remember(self, batch: Sequence[ChatMessage], answer: AIResponse, heard: str) -> None:
        return None


@dataclass(slots=True)
class UnavailableSpeech:
    reason: str
    available: bool = False

    def synthesize(self, text: str) -> AsyncIterator[AudioChunk]:
        raise StageUnavailable(self.reason)


@dataclass(slots=True)
class UnavailableAudio:
    reason: str
    available: bool = False

    def open_segment(self) -> SegmentPort:
        raise StageUnavailable(self.reason)

    def stop_all(self) -> None:
        return None


class StillAnimator:
    """No avatar connected: emotions and speaking state are accepted and ignored."""

    def set_emotion(self, emotion: Emotion) -> None:
        return None

    def set_speaking(self, speaking: bool) -> None:
        return None

    def react_to_donation(self, tier: int) -> Emotion:
        return tier_emotion(tier)
