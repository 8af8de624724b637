"""Speaking an answer: sentences → TTS → audio, pipelined and strictly in order.

While sentence N plays, sentence N+1 is synthesised (one sentence of look-ahead: enough to leave no
gap, little wasted work when the streamer skips). Segments queue back to back in the player's
buffer, so consecutive sentences play with no added silence. A sentence whose synthesis fails is
skipped (its text is still on the overlay) and the next one goes on. Cancelling `speak()` (skip,
shutdown) closes the engine's stream and silences the player within one audio block, and the
`SpeechLog` says which sentences were actually heard: only those go into the history.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterable, Callable, Iterable
from dataclasses import dataclass, field

from ..core.metrics import TurnMarks
from ..core.stages import AudioOutputPort, SegmentPort, SpeechEngine, StageError

log = logging.getLogger(__name__)

CUT_MARK = "…"


def speakable(text: str) -> bool:
    """Only emoji, symbols or punctuation → nothing for TTS to say."""
    return any(ch.isalnum() for ch in text)


@dataclass(slots=True)
class SpeechLog:
    """What happened to each sentence of one answer; filled in while speaking."""

    heard: list[str] = field(default_factory=list)  # playback finished
    cut: str | None = None  # playing when speech was stopped
    failed: list[str] = field(default_factory=list)  # TTS failed: shown, not heard
    sent: int = 0  # sentences handed to TTS
    error: str | None = None  # why the first failed sentence was not spoken

    @property
    def nothing_heard(self) -> bool:
        return not self.heard and self.cut is None

    @property
    def complete(self) -> bool:
        return self.cut is None and not self.failed

    def heard_text(self) -> str:
        parts = list(self.heard)
        if self.cut is not None:
            parts.append(self.cut.rstrip() + CUT_MARK)
        return " ".join(parts)


@dataclass(slots=True)
class _Entry:  # a sentence whose segment is queued for playback
    text: str
    segment: SegmentPort


class SpeechPipeline:
    def __init__(self, engine: SpeechEngine, audio: AudioOutputPort) -> None:
        self.engine = engine
        self.audio = audio

    async def speak(
        self,
        sentences: Iterable[str] | AsyncIterable[str],
        record: SpeechLog,
        *,
        marks: TurnMarks | None = None,
        on_playing: Callable[[str], None] = lambda text: None,
        on_heard: Callable[[str], None] = lambda text: None,
    ) -> None:
        """`on_playing(text)` when a sentence's first sample is played, `on_heard(text)` when its
        last one was (subtitles follow these)."""
        ready: asyncio.Queue[_Entry | None] = asyncio.Queue()
        producer = asyncio.create_task(self._produce(sentences, ready, record, marks),
                                       name="tts-producer")
        playing: _Entry | None = None
        done = False
        try:
            while (entry := await ready.get()) is not None:
                if await _settled(entry.segment.started) is None or entry.segment.frames_in == 0:
                    await _settled(entry.segment.ended)
                    continue  # synthesis failed: nothing was heard
                playing = entry
                if marks is not None:
                    marks.mark("playback_start")
                on_playing(entry.text)
                await _settled(entry.segment.ended)
                playing = None
                record.heard.append(entry.text)
                on_heard(entry.text)
                if marks is not None:
                    marks.end("playback_end")
            producer.result()  # a bug in the producer surfaces here
            done = True
        finally:
            if not done:  # skipped, shut down or failed: stop synthesis and silence the player
                producer.cancel()
                self.audio.stop_all()
            if playing is not None:
                record.cut = playing.text
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await producer

    async def _produce(self, sentences: Iterable[str] | AsyncIterable[str],
                       ready: asyncio.Queue[_Entry | None], record: SpeechLog,
                       marks: TurnMarks | None) -> None:
        previous: SegmentPort | None = None
        try:
            async for text in _aiter(sentences):
                if not speakable(text):
                    continue
                if previous is not None:  # look-ahead of one sentence: wait until N-1 is heard
                    await _settled(previous.started)
                segment = self.audio.open_segment()
                ready.put_nowait(_Entry(text, segment))
                record.sent += 1
                if marks is not None:
                    marks.mark("tts_request")
                try:
                    await self._synthesize(text, segment, marks)
                except StageError as exc:
                    log.warning("TTS failed for one sentence, going on with the next: %s", exc)
                    record.error = record.error or str(exc).splitlines()[0]
                finally:
                    segment.finish()
                if segment.frames_in == 0:
                    record.failed.append(text)
                previous = segment
        finally:
            ready.put_nowait(None)

    async def _synthesize(self, text: str, segment: SegmentPort, marks: TurnMarks | None) -> None:
        async with contextlib.aclosing(self.engine.synthesize(text)) as chunks:
            async for chunk in chunks:
                if marks is not None:
                    marks.mark("tts_first_chunk")
                segment.write(chunk)


async def _settled(future: asyncio.Future[float]) -> float | None:
    """The future's time, or None if it was cancelled (never heard); errors propagate."""
    await asyncio.wait({future})
    if future.cancelled():
        return None
    return future.result()


async def _aiter(items: Iterable[str] | AsyncIterable[str]):  # type: ignore[no-untyped-def]
    if isinstance(items, AsyncIterable):
        async for item in items:
            yield item
    else:
        for item in items:
            yield item
