"""What a turn tells the rest of the show, on one path.

The turn runner emits typed events; whoever reacts listens on the same `TurnEvents` (given to the
runner when it is built, never replaced). So "who reacts when a sentence starts playing?" has
one answer: grep for `SentenceStarted`.

    AnswerShown      the answer (or the longer text of a streamed one) goes on screen
    SentenceStarted  a sentence starts playing (the subtitle theme, the avatar's talking)
    SentenceEnded    it has been heard ("" when speech stopped early: skip or cut)
    VoiceWait        the turn waits for a TTS engine or audio output that is still starting
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from ..core.messages import ChatMessage
from ..core.stages import AIResponse

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class AnswerShown:
    answer: AIResponse
    batch: Sequence[ChatMessage]
    first: bool  # the first time this turn's answer shows (later ones only grow it)


@dataclass(frozen=True, slots=True)
class SentenceStarted:
    text: str


@dataclass(frozen=True, slots=True)
class SentenceEnded:
    text: str  # "" when speech stopped before the sentence ended


@dataclass(frozen=True, slots=True)
class VoiceWait:
    waiting: bool


TurnEvent = AnswerShown | SentenceStarted | SentenceEnded | VoiceWait
TurnListener = Callable[[TurnEvent], None]


class TurnEvents:
    """The listeners of every turn, called in the order they were added, on the event loop."""

    def __init__(self, *listeners: TurnListener) -> None:
        self._listeners: list[TurnListener] = list(listeners)

    def listen(self, listener: TurnListener) -> None:
        self._listeners.append(listener)

    def emit(self, event: TurnEvent) -> None:
        for listener in self._listeners:
            try:
                listener(event)
            except Exception:  # noqa: BLE001 - one broken listener must not break the turn
                log.exception("turn event listener failed on %s", type(event).__name__)
