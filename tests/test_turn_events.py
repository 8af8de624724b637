"""A turn's events travel one path (show/turn_events.py): every listener hears every event in
order, a broken listener does not stop the others, and nothing in src/ assigns a turn callback
after construction any more."""

from __future__ import annotations

import logging
import re
from pathlib import Path

import aischoco
from aischoco.core.messages import ChatMessage
from aischoco.core.stages import AIResponse
from aischoco.overlay.state import OverlayState
from aischoco.show.on_overlay import turn_on_overlay
from aischoco.show.turn_events import (AnswerShown, SentenceEnded, SentenceStarted, TurnEvents,
                                       VoiceWait)


def test_every_listener_hears_every_event_in_order_even_after_one_fails(caplog) -> None:
    heard: list[tuple[str, object]] = []

    def broken(event: object) -> None:
        raise RuntimeError("boom")

    events = TurnEvents(lambda e: heard.append(("first", e)), broken)
    events.listen(lambda e: heard.append(("last", e)))
    with caplog.at_level(logging.ERROR):
        events.emit(SentenceStarted("안녕"))
        events.emit(VoiceWait(True))
    assert heard == [("first", SentenceStarted("안녕")), ("last", SentenceStarted("안녕")),
                     ("first", VoiceWait(True)), ("last", VoiceWait(True))]
    assert caplog.text.count("turn event listener failed") == 2


def test_the_overlay_listener_shows_the_answer_and_follows_the_sentences() -> None:
    overlay = OverlayState()
    published: list[dict] = []
    original = overlay.publish
    overlay.publish = lambda event: (published.append(event), original(event))  # type: ignore[method-assign]
    react = turn_on_overlay(overlay)
    msg = ChatMessage(user="민수", message="안녕?")
    react(AnswerShown(AIResponse("반가워요!", "happy", 0.1), [msg], first=True))
    react(SentenceStarted("반가워요!"))
    react(SentenceEnded(""))
    assistant = overlay.snapshot()["assistant_messages"]
    assert [(m["message"], m["emotion"], m["reply_to"]) for m in assistant] == [
        ("반가워요!", "happy", [msg.message_id])]
    speech = [{k: v for k, v in e.items() if k != "version"} for e in published
              if e.get("type") == "speech"]
    assert speech == [{"type": "speech", "phase": "start", "text": "반가워요!"},
                      {"type": "speech", "phase": "end", "text": ""}]


def test_no_turn_callback_is_assigned_after_construction_in_src() -> None:
    src = Path(aischoco.__file__).parent
    late = re.compile(r"\.(on_answer|on_speech|on_shown|on_voice_wait|on_change)\s*=(?!=)")
    found = [f"{p.relative_to(src)}:{i}" for p in src.rglob("*.py")
             for i, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1)
             if late.search(line)]
    assert found == []
