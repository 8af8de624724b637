"""A streamed reply read in a task of its own, so the LLM stream is drained at network speed while
the sentences wait their turn to be spoken.

The emotion goes to the animator the moment it is known; latency marks are set as events arrive
(`llm_first_token`, `first_sentence_ready`, `llm_done`). `sentences()` hands the sentences out in
order. If the stream fails after at least one sentence was handed out, what was handed out stays
and the rest is dropped with one log line; if it fails before, `sentences()` raises the error and
the turn fails like any other.

When the model calls tools, the tool time is marked (`tool_start`, `tool_done`), and a tool that
keeps the stream silent for FILLER_AFTER_S gets a short filler line said meanwhile.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncGenerator, AsyncIterator, Callable

from ..core.metrics import TurnMarks
from ..ai.speech_text import spoken_text
from ..core.stages import (AIResponse, AnswerDone, Emotion, EmotionReady, FirstToken, ReplyEvent,
                           SentenceReady, ToolsDone, ToolsStarted)

log = logging.getLogger(__name__)

FILLER_AFTER_S = 1.0  # tools running this long with nothing said yet: say the filler
FILLER = "잠깐만요, 확인해 볼게요."


class ReplyFeed:
    def __init__(self, events: AsyncGenerator[ReplyEvent, None], marks: TurnMarks,
                 on_emotion: Callable[[Emotion], None]) -> None:
        self._marks = marks
        self._on_emotion = on_emotion
        self._queue: asyncio.Queue[SentenceReady | None] = asyncio.Queue()
        self.emotion: Emotion = "neutral"  # until the answer says otherwise
        self.answer: AIResponse | None = None  # set when the stream completed
        self.error: Exception | None = None  # why the stream failed, if it did
        self.shown = ""  # the answer as shown, up to the last sentence handed out
        self.handed_out = 0
        self._queued = 0  # sentences put in the queue (the filler included)
        self._filler: asyncio.TimerHandle | None = None
        self._task = asyncio.create_task(self._read(events), name=f"reply-{marks.turn_id}")

    @property
    def broken(self) -> bool:
        """The stream failed after something was handed out: the rest of the answer is lost."""
        return self.error is not None and self.handed_out > 0

    async def sentences(self) -> AsyncIterator[SentenceReady]:
        while (sentence := await self._queue.get()) is not None:
            self.handed_out += 1
            self.shown = sentence.shown
            yield sentence
        if self.error is None:
            return
        if not self.handed_out:
            raise self.error
        log.warning("turn %d: the answer stream failed after %d sentences; the rest is dropped "
                    "(%s)", self._marks.turn_id, self.handed_out, self.error)

    async def aclose(self) -> None:
        """Stop reading (a skip, or the turn is over) and wait until the stream is closed."""
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task

    async def _read(self, events: AsyncGenerator[ReplyEvent, None]) -> None:
        marks = self._marks
        try:
            async with contextlib.aclosing(events):
                async for event in events:
                    if isinstance(event, SentenceReady):
                        marks.mark("first_sentence_ready")
                        self._put(event)
                    elif isinstance(event, ToolsStarted):
                        marks.mark("tool_start", event.at)
                        if self._filler is None and not self._queued:
                            self._filler = asyncio.get_running_loop().call_later(
                                FILLER_AFTER_S, self._say_filler)
                    elif isinstance(event, ToolsDone):
                        marks.end("tool_done", event.at)
                        if self._filler is not None:  # fast enough: no filler for this round
                            self._filler.cancel()
                            self._filler = None
                    elif isinstance(event, EmotionReady):
                        self.emotion = event.emotion
                        self._on_emotion(event.emotion)
                    elif isinstance(event, FirstToken):
                        marks.mark("llm_first_token", event.at)
                    elif isinstance(event, AnswerDone):
                        marks.mark("llm_done")
                        self.answer = event.answer
        except Exception as exc:  # noqa: BLE001 - handed to the turn through sentences()
            self.error = exc
        finally:
            if self._filler is not None:
                self._filler.cancel()
            self._queue.put_nowait(None)

    def _put(self, sentence: SentenceReady) -> None:
        self._queued += 1
        self._queue.put_nowait(sentence)

    def _say_filler(self) -> None:
        """Still waiting for a tool and nothing said: a short line so the stream is not silent
        (shown until the answer's first sentence replaces it)."""
        if not self._queued and not self._task.done():
            log.info("turn %d: a tool is slow: filler line", self._marks.turn_id)
            self._put(SentenceReady(FILLER, spoken_text(FILLER)))
