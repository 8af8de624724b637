"""One reply turn: batch → LLM → emotion + overlay → sentences → TTS → audio, with latency marks."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass

from ..chat.models import ChatMessage
from .metrics import LatencyStats, TurnMarks
from .segmenter import SegmenterConfig, segment
from .stages import (AIResponse, Animator, AudioChunk, AudioSink, LanguageModel, SpeechEngine,
                     StageError, StageUnavailable)

log = logging.getLogger(__name__)


@dataclass(slots=True)
class Stages:
    llm: LanguageModel
    tts: SpeechEngine
    audio: AudioSink
    animator: Animator


class TurnRunner:
    def __init__(
        self,
        stages: Stages,
        stats: LatencyStats,
        *,
        segmenter: SegmenterConfig,
        on_answer: Callable[[AIResponse, Sequence[ChatMessage]], None],
    ) -> None:
        self.stages = stages
        self._stats = stats
        self._segmenter = segmenter
        self._on_answer = on_answer

    @property
    def ready(self) -> bool:
        """Without an LLM there is nothing to say: the director leaves messages queued."""
        return self.stages.llm.available

    @property
    def can_speak(self) -> bool:
        return self.stages.tts.available and self.stages.audio.available

    async def run(self, batch: Sequence[ChatMessage], marks: TurnMarks) -> None:
        stages = self.stages
        try:
            marks.mark("llm_request")
            answer = await stages.llm.reply(batch)
            marks.mark("llm_done")
            stages.animator.set_emotion(answer.emotion)
            # Whole answers are shown at once until playback events drive the overlay per sentence.
            self._on_answer(answer, batch)
            if self.can_speak:
                await self._speak(answer.speech_text, marks)
            else:
                marks.outcome = "text_only"
        except asyncio.CancelledError:
            marks.outcome = "skipped"
            raise
        except StageUnavailable as exc:
            marks.outcome = "unavailable"
            log.warning("turn %d: %s", marks.turn_id, exc)
        except StageError as exc:
            marks.outcome = "error"
            log.error("turn %d dropped: %s", marks.turn_id, exc)
        except Exception:  # noqa: BLE001 - a failed turn is logged; the daemon goes on
            marks.outcome = "error"
            log.exception("turn %d failed", marks.turn_id)
        finally:
            stages.animator.set_speaking(False)
            self._stats.record(marks)
            log.info("%s", marks.log_line())

    async def _speak(self, text: str, marks: TurnMarks) -> None:
        stages = self.stages

        def started() -> None:
            marks.mark("playback_start")
            stages.animator.set_speaking(True)

        for sentence in segment(text, self._segmenter):
            marks.mark("tts_request")
            chunks = _mark_first(stages.tts.synthesize(sentence), marks)
            result = await stages.audio.play(chunks, started)
            marks.end("playback_end")
            if result.interrupted:
                marks.outcome = "interrupted"
                return


async def _mark_first(chunks: AsyncIterator[AudioChunk],
                      marks: TurnMarks) -> AsyncIterator[AudioChunk]:
    async for chunk in chunks:
        marks.mark("tts_first_chunk")
        yield chunk
