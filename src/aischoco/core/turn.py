"""One reply turn: batch → LLM → emotion + overlay → sentences → TTS → audio → history (what was
heard), with latency marks."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from ..chat.models import ChatMessage
from .metrics import LatencyStats, TurnMarks
from .segmenter import SegmenterConfig, segment
from .speech import SpeechLog, SpeechPipeline
from .stages import (AIResponse, Animator, AudioOutputPort, LanguageModel, SpeechEngine,
                     StageError, StageUnavailable)

log = logging.getLogger(__name__)


@dataclass(slots=True)
class Stages:
    llm: LanguageModel
    tts: SpeechEngine
    audio: AudioOutputPort
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
        self._speech = SpeechPipeline(stages.tts, stages.audio)

    @property
    def ready(self) -> bool:
        """Without an LLM there is nothing to say: the director leaves messages queued."""
        return self.stages.llm.available

    @property
    def can_speak(self) -> bool:
        return self.stages.tts.available and self.stages.audio.available

    async def run(self, batch: Sequence[ChatMessage], marks: TurnMarks) -> None:
        stages = self.stages
        answer: AIResponse | None = None
        record: SpeechLog | None = None
        try:
            marks.mark("llm_request")
            answer = await stages.llm.reply(batch)
            marks.mark("llm_done")
            stages.animator.set_emotion(answer.emotion)
            # Whole answers are shown at once; a sentence TTS cannot say is still read on screen.
            self._on_answer(answer, batch)
            if self.can_speak:
                record = SpeechLog()
                await self._speak(answer.speech_text, marks, record)
                if record.failed:
                    marks.outcome = "partly_spoken"
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
            if answer is not None:
                # Shielded: a skip must not also cancel the history save that records it.
                await asyncio.shield(self._remember(batch, answer, record))

    async def _speak(self, text: str, marks: TurnMarks, record: SpeechLog) -> None:
        speaking = False

        def playing(sentence: str) -> None:
            nonlocal speaking
            if not speaking:
                speaking = True
                self.stages.animator.set_speaking(True)

        await self._speech.speak(segment(text, self._segmenter), record, marks=marks,
                                 on_playing=playing)

    async def _remember(self, batch: Sequence[ChatMessage], answer: AIResponse,
                        record: SpeechLog | None) -> None:
        """Only what the viewers heard goes into the history (all of it when shown as text)."""
        heard = answer.response if record is None or record.complete else record.heard_text()
        if not heard:
            log.info("nothing of the answer was heard: not kept in the history")
            return
        try:
            await self.stages.llm.remember(batch, answer, heard)
        except Exception:  # noqa: BLE001 - a failed save is logged by the memory; go on
            log.exception("could not record the turn in the history")
