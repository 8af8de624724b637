"""What the overlay shows of the show: each turn's answer and spoken sentences (a turn listener),
and the reply queue's row (coalesced, so a chat flood is one publish per 0.2 s)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from ..core.messages import Kind
from ..overlay.state import OverlayState
from .director import Director
from .turn_events import AnswerShown, SentenceEnded, SentenceStarted, TurnEvent, TurnListener


def turn_on_overlay(overlay: OverlayState) -> TurnListener:
    def react(event: TurnEvent) -> None:
        match event:
            case AnswerShown(answer=answer, batch=batch):
                overlay.add_assistant(answer.response, answer.emotion,
                                      reply_to=[m.message_id for m in batch],
                                      proactive=batch[0].kind is Kind.IDLE)
            case SentenceStarted(text=text):  # the subtitle theme follows the audio
                overlay.publish({"type": "speech", "phase": "start", "text": text})
            case SentenceEnded(text=text):
                overlay.publish({"type": "speech", "phase": "end", "text": text})
    return react


def queue_on_overlay(overlay: OverlayState, delay_s: float = 0.2) -> Callable[[Director], None]:
    """The director's on_change: bursts of changes (a chat flood) collapse into one publish per
    `delay_s`, carrying the newest snapshot."""
    pending: Director | None = None

    def fire() -> None:
        nonlocal pending
        director, pending = pending, None
        if director is not None:
            overlay.publish({"type": "queue", "queue": director.snapshot()})

    def changed(director: Director) -> None:
        nonlocal pending
        if pending is None:
            asyncio.get_running_loop().call_later(delay_s, fire)
        pending = director

    return changed
