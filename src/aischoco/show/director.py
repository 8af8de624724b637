"""The director decides when the AI speaks and about what.

It owns the reply queue and runs at most one turn at a time. A batch is taken only when the AI is
free to speak (PRD: messages are taken from the queue at speaking time), so an answer is always
about the freshest pending chat, not about what was pending when the previous answer started.

When nothing is waiting, chat has been quiet long enough and nothing else is going on (not
paused, not speaking, the streamer not talking), the character speaks first (idle talk). That
line has the lowest priority: anything that arrives while it is being written cancels it before
it is shown or heard. A message the platform hid is withdrawn from the queue, and a turn that
is answering it is skipped.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..core.messages import ChatMessage
from ..core.metrics import TurnMarks
from ..core.status import State, StatusHandle
from .idle_talk import IdleTalk
from .reply_queue import ReplyQueue
from .turn import TurnRunner
from .turn_events import AnswerShown, TurnEvent, VoiceWait

log = logging.getLogger(__name__)

# How often an idle director wakes to expire stale chat and refresh its status line.
IDLE_TICK_S = 1.0
BLOCKED_IDLE_TICK_S = 0.25  # an idle line is due but something holds it back


@dataclass(slots=True)
class Pause:
    """Replies paused by the streamer: built before the director, so what stops with the
    replies (the vision component) can read it without waiting for the director to exist."""

    on: bool = False


class Director:
    name = "director"

    def __init__(
        self,
        queue: ReplyQueue,
        runner: TurnRunner,
        *,
        batch_size: int,
        clock: Callable[[], float] = time.perf_counter,
        on_change: Callable[[Director], None] = lambda director: None,
        idle: IdleTalk | None = None,
        streamer_talking: Callable[[], bool] = lambda: False,
        pause: Pause | None = None,
    ) -> None:
        self.queue = queue
        self.runner = runner
        self.batch_size = batch_size
        self._clock = clock
        self._on_change = on_change  # the queue or the director's state changed (the panel's row)
        self._wake = asyncio.Event()
        self._pause = pause or Pause()
        self._current: asyncio.Task[None] | None = None
        self._turn_ids = itertools.count(1)
        self._said = ""  # the status line last reported (each change is logged once)
        self._status: StatusHandle | None = None
        self.idle = idle
        self._streamer_talking = streamer_talking
        self._batch: frozenset[str] = frozenset()  # ids the current turn answers
        self._idle_turn = False  # the current turn is an idle line
        self._shown = False  # the current turn's answer is on screen (an idle line is kept)
        runner.events.listen(self._on_turn_event)

    # --- control surface (called from chat sources and the control panel) --------------------
    def submit(self, msg: ChatMessage) -> None:
        dropped = self.queue.push(msg, self._clock())
        if dropped is not None:
            log.debug("reply queue full: dropped message %s from %s", dropped.message_id,
                      dropped.user)
        self._wake.set()
        if self._idle_turn and not self._shown and self._current is not None:
            log.info("idle line cancelled: %s arrived while it was being written", msg.kind.value)
            self._idle_turn = False  # cancelled once, counted once
            self._current.cancel()
            if self.idle is not None:
                self.idle.cancelled += 1
        if self.idle is not None:
            self.idle.note_chat(msg)  # a thread to pick up later, and a sign the sender is here
        self.on_change()

    def withdraw(self, message_ids: frozenset[str]) -> int:
        """The platform hid these messages: out of the queue, and the turn answering one of them
        is skipped (its speech stops). Returns how many were waiting or being answered."""
        count = len(self.queue.withdraw(message_ids))
        if self._batch & message_ids and self.skip():
            log.info("the message being answered was hidden by the platform: turn skipped")
            count += 1
        if count:
            self.on_change()
        return count

    def forget_viewer(self, key: str) -> int:
        """The viewer asked to be forgotten: out of the conversation before the next request."""
        return self.runner.forget_viewer(key)

    def set_idle_talk(self, enabled: bool) -> bool:
        if self.idle is None:
            return False
        self.idle.set_enabled(enabled)
        self._wake.set()
        self.on_change()
        return self.idle.enabled

    def wake(self) -> None:
        """A stage changed (the LLM finished loading): look at the queue now, not at the next
        idle tick, and say what the director is doing now."""
        self._wake.set()

    @property
    def paused(self) -> bool:
        return self._pause.on

    def set_paused(self, paused: bool) -> None:
        self._pause.on = paused
        log.info("replies %s", "paused" if paused else "resumed")
        self._wake.set()
        self.on_change()

    @property
    def speaking(self) -> bool:
        return self._current is not None and not self._current.done()

    def skip(self) -> bool:
        """Stop the current turn (LLM call or speech) now. Returns whether one was running."""
        if self.speaking:
            assert self._current is not None
            self._current.cancel()
            return True
        return False

    def snapshot(self) -> dict[str, Any]:
        stats = self.queue.stats
        return {
            "paused": self._pause.on,
            "speaking": self.speaking,
            "pending": len(self.queue),
            "accepted": stats.accepted,
            "answered": stats.taken,
            "dropped_overflow": stats.dropped_overflow,
            "dropped_expired": stats.dropped_expired,
            "cleared": stats.cleared,
            "folded": stats.folded,
            "withdrawn": stats.withdrawn,
            "idle_talk": self.idle.snapshot() if self.idle is not None else {"enabled": False,
                                                                           "available": False},
        }

    # --- the loop ------------------------------------------------------------------------------
    async def run(self, status: StatusHandle) -> None:
        self._status = status
        try:
            while True:
                self._report(status)
                try:
                    async with asyncio.timeout(self._tick_s()):  # wait_for could swallow a cancel
                        await self._wake.wait()
                except TimeoutError:
                    # Also the moment a stage that was loading (the LLM's memory) becomes ready.
                    if self.queue.expire(self._clock()):
                        self.on_change()
                self._wake.clear()
                while not self._pause.on and self.runner.ready:
                    batch = self.queue.take_batch(self._clock(), self.batch_size)
                    if not batch:
                        break
                    await self._run_turn(batch, status)
                if self._idle_due():
                    await self._run_idle(status)
        finally:
            if self._current is not None and not self._current.done():
                self._current.cancel()

    def _tick_s(self) -> float:
        """Sleep until the next idle line may come, or the usual tick, whichever is sooner."""
        at = self.idle.next_at() if self.idle is not None else None
        if self.idle is None or at is None:
            return IDLE_TICK_S
        delay = at - self.idle.clock()
        if delay <= 0:  # due, but held back (paused, the streamer talking): look again soon
            return BLOCKED_IDLE_TICK_S
        return min(IDLE_TICK_S, delay + 0.005)

    def _idle_due(self) -> bool:
        return (self.idle is not None and self.idle.due() and not self._pause.on
                and self.runner.ready and not len(self.queue) and not self.speaking
                and not self._streamer_talking())

    async def _run_idle(self, status: StatusHandle) -> None:
        assert self.idle is not None
        decided = self._clock()
        cue, msg = await self.idle.cue()
        if len(self.queue) or self._pause.on or self._streamer_talking():
            return  # something came up while the cue was being chosen
        log.info("idle talk: %s (%s)", cue.kind.value, cue.opening)
        shown = await self._run_turn([msg], status, idle_decided=decided)
        if shown:
            self.idle.shown(shown)

    async def _run_turn(self, batch: list[ChatMessage], status: StatusHandle, *,
                        idle_decided: float | None = None) -> str:
        marks = TurnMarks(next(self._turn_ids))
        if idle_decided is not None:
            marks.mark("idle_decided", idle_decided)
        else:
            marks.mark("received", min(m.received_at for m in batch))
        spoken = [m.voice for m in batch if m.voice is not None]
        if spoken:  # the streamer's voice: the wait starts when they stopped talking
            marks.mark("speech_end", min(v.speech_end for v in spoken))
            marks.mark("turn_end", min(v.turn_end for v in spoken))
            marks.mark("stt_done", marks.times["received"])
        marks.mark("dequeued", self._clock())
        self._batch = frozenset(m.message_id for m in batch)
        self._idle_turn, self._shown = idle_decided is not None, False
        current = self._current = asyncio.create_task(self.runner.run(batch, marks),
                                                      name=f"turn-{marks.turn_id}")
        status.set(State.RUNNING, "혼잣말 중" if self._idle_turn else "답변 중")
        self.on_change()
        # wait() rather than await: a skip cancels only the turn, a shutdown cancels us.
        await asyncio.wait({current})
        self._current, self._batch, self._idle_turn = None, frozenset(), False
        if self.idle is not None:
            self.idle.turn_over(idle=idle_decided is not None)
        self.on_change()
        return "" if current.cancelled() or current.exception() else current.result()

    def on_change(self) -> None:
        self._on_change(self)

    def _on_turn_event(self, event: TurnEvent) -> None:
        match event:
            case AnswerShown(first=True):
                self._shown = True  # an idle line on screen is no longer cancelled by chat
            case VoiceWait(waiting=waiting):
                self._voice_wait(waiting)

    def _voice_wait(self, waiting: bool) -> None:
        """The turn waits for a TTS engine or audio output that is still starting."""
        if self._status is not None:
            self._status.set(State.RUNNING, "음성 준비 중: 목소리가 준비되면 바로 말합니다"
                             if waiting else "답변 중")

    def _report(self, status: StatusHandle) -> None:
        # The pending count lives in snapshot(), not here: a detail that changed with every chat
        # would turn a chat flood into a status-event flood.
        if not self.runner.ready and not self.runner.llm_configured:
            detail, hint = ("LLM이 없어 답변하지 않고 채팅만 모읍니다",
                            "GROQ_API_KEY를 설정하면 답변을 시작합니다")
        elif not self.runner.ready:
            detail, hint = "LLM 준비 중: 채팅은 모아 두고, 준비되는 즉시 답변합니다", ""
        elif self._pause.on:
            detail, hint = "일시정지됨", "컨트롤 패널에서 재개할 수 있습니다"
        else:
            detail, hint = "답변 대기", ""
        if detail != self._said:
            log.info("director: %s", detail)
            self._said = detail
        status.set(State.RUNNING, detail, hint)
