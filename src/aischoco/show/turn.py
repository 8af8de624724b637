"""One reply turn: batch → LLM → emotion + overlay → sentences → TTS → audio → history (what was
heard), with latency marks.

A streaming LLM (GROQ_STREAM=true) hands out the emotion first and then each sentence as soon as
it is final: the animator gets the emotion at once, each sentence goes to TTS while the model is
still writing, and the overlay's answer grows by each sentence as it starts playing. Otherwise
the whole answer arrives at once and is shown whole.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass

from ..ai.speech_text import spoken_text
from ..core.messages import ChatMessage
from ..core.metrics import LatencyStats, TurnMarks
from ..core.segmenter import SegmenterConfig, segment
from ..core.stages import (AIResponse, Animator, AudioOutputPort, Emotion, LanguageModel,
                           SentenceReady, SpeechEngine, StageError, StageUnavailable,
                           StreamingLanguageModel, UnavailableAudio, UnavailableLLM,
                           UnavailableSpeech)
from .donation import DonationTurn, tier_notice
from .reply_reader import ReplyFeed
from .speech import SpeechLog, SpeechPipeline
from .turn_events import AnswerShown, SentenceEnded, SentenceStarted, TurnEvents, VoiceWait

log = logging.getLogger(__name__)

# A local Qwen3-TTS takes tens of seconds to load: an early chat waits this long for the voice.
VOICE_WAIT_S = 45.0
DONATION_TIERS = (1000, 10000, 50000)


@dataclass(slots=True)
class Stages:
    llm: LanguageModel
    tts: SpeechEngine
    audio: AudioOutputPort
    animator: Animator


@dataclass(slots=True)
class _Outcome:
    """What the history gets once the turn is over."""

    answer: AIResponse | None = None  # None: nothing to remember
    record: SpeechLog | None = None  # None: shown as text only
    whole: bool = True  # False: the stream broke, only part of the answer exists
    shown: str = ""  # what the viewers saw of it


@dataclass(slots=True)
class _Special:
    """What is particular to this turn: a donation's tier, its held emotion and thank-you."""

    donation: DonationTurn | None = None
    emotion: Emotion | None = None  # held for the turn (the tier's), whatever the model says
    lead: str = ""  # the daemon's own thank-you, said before the model's answer


class TurnRunner:
    def __init__(
        self,
        stages: Stages,
        stats: LatencyStats,
        *,
        segmenter: SegmenterConfig,
        events: TurnEvents,
        voice_starting: Callable[[], bool] = lambda: False,
        voice_wait_s: float = VOICE_WAIT_S,
        donation_tiers: Sequence[int] = DONATION_TIERS,
    ) -> None:
        """`events`: what the turn tells the show (turn_events.py). A streamed answer is shown
        again with the longer text as each sentence starts playing (same batch, so the overlay
        updates the same message). `voice_starting`: the TTS engine or the audio output is still starting (not failed): a
        turn waits up to `voice_wait_s` for it rather than answer mute."""
        self.stages = stages
        self._voice_starting = voice_starting
        self._voice_wait_s = voice_wait_s
        self.events = events
        self.donation_tiers = tuple(donation_tiers)
        self._stats = stats
        self._segmenter = segmenter
        self._speech = SpeechPipeline(stages.tts, stages.audio)

    def replace_tts(self, engine: SpeechEngine) -> None:
        """A rebuilt TTS engine (new settings): the next sentence goes to it."""
        self.stages.tts = engine
        self._speech = SpeechPipeline(engine, self.stages.audio)

    async def say(self, text: str) -> str:
        """The settings page's test sentence, through TTS and the audio output now; returns
        why it was not heard, or "" when it was."""
        if not self.can_speak:
            return self._why_silent(None)
        record = SpeechLog()
        await self._speech.speak([text], record)
        return "" if not record.nothing_heard else (record.error or "TTS produced no audio")

    def forget_viewer(self, key: str) -> int:
        """A viewer's "forget me" reaches the conversation window (an LLM without one: 0)."""
        forget = getattr(self.stages.llm, "forget_viewer", None)  # only the real LLM keeps one
        return forget(key) if forget is not None else 0

    @property
    def ready(self) -> bool:
        """Without an LLM there is nothing to say: the director leaves messages queued."""
        return self.stages.llm.available

    @property
    def llm_configured(self) -> bool:
        """False when there is no LLM at all (no key); True while one is loading, too."""
        return not isinstance(self.stages.llm, UnavailableLLM)

    @property
    def can_speak(self) -> bool:
        return self.stages.tts.available and self.stages.audio.available

    @property
    def voice_configured(self) -> bool:
        """A voice exists, ready or not (TTS_ENGINE=off or no audio device: it never will)."""
        return not isinstance(self.stages.tts, UnavailableSpeech) and not isinstance(
            self.stages.audio, UnavailableAudio)

    async def _wait_for_voice(self) -> None:
        """While the voice is starting (not failed), wait for it, at most `voice_wait_s`."""
        if self.can_speak or not self._voice_starting():
            return
        log.info("voice still starting: the answer waits up to %.0f s for it", self._voice_wait_s)
        self.events.emit(VoiceWait(True))
        try:
            loop = asyncio.get_running_loop()
            deadline = loop.time() + self._voice_wait_s
            while not self.can_speak and self._voice_starting() and loop.time() < deadline:
                await asyncio.sleep(0.05)
        finally:
            self.events.emit(VoiceWait(False))

    def _unspoken(self, record: SpeechLog, text: str) -> None:
        """The voice is not there for this sentence: shown, not heard, and why."""
        record.failed.append(text)
        record.error = record.error or self._why_silent(None)

    async def run(self, batch: Sequence[ChatMessage], marks: TurnMarks) -> str:
        """One turn; returns what was shown of the answer ("" if nothing)."""
        stages = self.stages
        outcome = _Outcome()
        special = self._special(batch)
        try:
            marks.mark("llm_request")
            llm = stages.llm
            if isinstance(llm, StreamingLanguageModel) and llm.streaming:
                await self._run_streamed(llm, batch, marks, outcome, special)
            else:
                await self._run_whole(batch, marks, outcome, special)
            record = outcome.record
            if record is None or (record.nothing_heard and record.failed):
                marks.outcome = "text_only"  # shown, never heard: say why where it is seen
                # A voice that is off by choice (TTS_ENGINE=off, no device) is not news each turn.
                log.log(logging.INFO if record is None else logging.WARNING,
                        "turn %d answered as text only: %s", marks.turn_id,
                        self._why_silent(record))
            elif record.failed or not outcome.whole:
                marks.outcome = "partly_spoken"
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
            try:
                if outcome.answer is not None:
                    # Shielded: a skip must not also cancel the history save that records it.
                    await asyncio.shield(self._remember(batch, outcome))
            finally:
                # Counted once the turn is wholly over, history included: a finished turn in the
                # stats means the director is free again.
                self._stats.record(marks)
                log.info("%s", marks.log_line())
        return outcome.shown

    def _special(self, batch: Sequence[ChatMessage]) -> _Special:
        """A lone donation: the LLM is told its amount and tier; the tier's reaction shows at
        once and its emotion holds for the turn."""
        donation = DonationTurn.of(batch, self.donation_tiers)
        if donation is None:
            return _Special()
        note = tier_notice(donation.message, donation.tier, self.donation_tiers)
        msg = donation.message
        msg.notice = f"{msg.notice}; {note}" if msg.notice and note not in msg.notice else note
        emotion = (self.stages.animator.react_to_donation(donation.tier) if donation.tier >= 1
                   else None)
        return _Special(donation, emotion)

    def _show(self, answer: AIResponse, batch: Sequence[ChatMessage], outcome: _Outcome) -> None:
        first = not outcome.shown
        outcome.shown = answer.response
        self.events.emit(AnswerShown(answer, batch, first))

    def _why_silent(self, record: SpeechLog | None) -> str:
        if record is not None:
            return record.error or "TTS produced no audio"
        reasons = [f"{name}: {getattr(stage, 'reason', None) or 'not ready'}"
                   for name, stage in (("TTS", self.stages.tts), ("audio", self.stages.audio))
                   if not stage.available]
        return "voice not available (" + "; ".join(reasons or ["-"]) + ")"

    async def _run_whole(self, batch: Sequence[ChatMessage], marks: TurnMarks,
                         outcome: _Outcome, special: _Special) -> None:
        answer = await self.stages.llm.reply(batch)
        if answer.tools_at is not None:
            marks.mark("tool_start", answer.tools_at[0])
            marks.end("tool_done", answer.tools_at[1])
        marks.mark("llm_done")
        marks.mark("first_sentence_ready")
        if special.donation is not None:
            lead = special.donation.missing_line(answer.response)
            if lead:
                log.info("turn %d: the answer did not name the donor and amount: thanked first",
                         marks.turn_id)
                answer = AIResponse(f"{lead} {answer.response}", answer.emotion,
                                    answer.processing_time,
                                    spoken=f"{spoken_text(lead)} {answer.speech_text}")
        if special.emotion is not None:
            answer = AIResponse(answer.response, special.emotion, answer.processing_time,
                                spoken=answer.spoken)
        else:
            self.stages.animator.set_emotion(answer.emotion)
        outcome.answer = answer
        # Whole answers are shown at once; a sentence TTS cannot say is still read on screen.
        self._show(answer, batch, outcome)
        if self.voice_configured:
            await self._wait_for_voice()
            record = outcome.record = SpeechLog()

            async def sentences() -> AsyncIterator[str]:
                for sentence in segment(answer.speech_text, self._segmenter):
                    if self.can_speak:  # decided per sentence: a device may come or go
                        yield sentence
                    else:
                        self._unspoken(record, sentence)

            await self._speak(sentences(), marks, record)

    async def _run_streamed(self, llm: StreamingLanguageModel, batch: Sequence[ChatMessage],
                            marks: TurnMarks, outcome: _Outcome, special: _Special) -> None:
        held = special.emotion
        feed = ReplyFeed(llm.reply_stream(batch, self._segmenter), marks,
                         self.stages.animator.set_emotion if held is None else lambda e: None)
        started = marks.times["llm_request"]

        def show(text: str) -> None:
            text = f"{special.lead} {text}" if special.lead and text != special.lead else text
            if text and text != outcome.shown:
                answer = AIResponse(text, held or feed.emotion, time.perf_counter() - started)
                outcome.answer = answer  # what exists of the answer so far
                self._show(answer, batch, outcome)

        sentences = self._lead(feed.sentences(), special, marks)
        try:
            if self.voice_configured:
                await self._wait_for_voice()  # the stream is read meanwhile (ReplyFeed)
                outcome.record = SpeechLog()
                await self._speak_stream(sentences, show, marks, outcome.record)
            else:
                async for sentence in sentences:
                    show(sentence.shown)
            # Also shows what TTS could not say (symbols only, a failed sentence).
            show(feed.answer.response if feed.answer is not None else feed.shown)
            if feed.answer is not None:
                done = feed.answer
                outcome.answer = AIResponse(
                    f"{special.lead} {done.response}" if special.lead else done.response,
                    held or done.emotion, done.processing_time,
                    spoken=f"{spoken_text(special.lead)} {done.speech_text}" if special.lead
                    else done.spoken)
            outcome.whole = not feed.broken
        finally:
            await feed.aclose()

    @staticmethod
    async def _lead(sentences: AsyncIterator[SentenceReady], special: _Special,
                    marks: TurnMarks) -> AsyncIterator[SentenceReady]:
        """A donation's first sentence must name the donor and amount: if it does not, the
        daemon's thank-you goes first (the later sentences are shown after it)."""
        first = special.donation is not None
        async for sentence in sentences:
            if first:
                first = False
                assert special.donation is not None
                lead = special.donation.missing_line(sentence.shown)
                if lead:
                    log.info("turn %d: the first sentence did not name the donor and amount: "
                             "thanked first", marks.turn_id)
                    special.lead = lead
                    yield SentenceReady(lead, spoken_text(lead))
            yield sentence

    async def _speak_stream(self, sentences: AsyncIterator[SentenceReady],
                            show: Callable[[str], None], marks: TurnMarks,
                            record: SpeechLog) -> None:
        # (spoken sentence, answer shown up to it) in the order they went to TTS.
        pending: deque[tuple[str, str]] = deque()

        async def spoken() -> AsyncIterator[str]:
            async for sentence in sentences:
                if not self.can_speak:  # decided per sentence: shown now, not heard
                    self._unspoken(record, sentence.spoken or sentence.shown)
                    show(sentence.shown)
                elif sentence.spoken:  # nothing to say: shown with the next sentence heard
                    pending.append((sentence.spoken, sentence.shown))
                    yield sentence.spoken

        def heard_next(text: str) -> None:
            # Sentences before this one whose TTS failed are skipped, and shown with it.
            while pending:
                said, upto = pending.popleft()
                if said == text:
                    show(upto)
                    return

        await self._speak(spoken(), marks, record, on_playing=heard_next)

    async def _speak(self, sentences: list[str] | AsyncIterator[str], marks: TurnMarks,
                     record: SpeechLog, *,
                     on_playing: Callable[[str], None] = lambda text: None) -> None:
        speaking = False

        def playing(sentence: str) -> None:
            nonlocal speaking
            if not speaking:
                speaking = True
                self.stages.animator.set_speaking(True)
            self.events.emit(SentenceStarted(sentence))
            on_playing(sentence)

        try:
            await self._speech.speak(sentences, record, marks=marks, on_playing=playing,
                                     on_heard=lambda text: self.events.emit(SentenceEnded(text)))
        finally:
            if record.cut is not None:  # skipped or cut mid-sentence: the subtitle goes too
                self.events.emit(SentenceEnded(""))

    async def _remember(self, batch: Sequence[ChatMessage], outcome: _Outcome) -> None:
        """Only what the viewers heard goes into the history (all of it when shown as text)."""
        answer, record = outcome.answer, outcome.record
        assert answer is not None
        if record is None or (record.complete and outcome.whole):
            heard = answer.response
        else:
            heard = record.heard_text()
        if not heard:
            log.info("nothing of the answer was heard: not kept in the history")
            return
        try:
            await self.stages.llm.remember(batch, answer, heard)
        except Exception:  # noqa: BLE001 - a failed save is logged by the memory; go on
            log.exception("could not record the turn in the history")
