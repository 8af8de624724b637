"""Turn per-frame speech probabilities into utterances for speech to text, plus early events for
barge-in.

Hysteresis like Silero's own VADIterator: speech starts at the first frame with
``prob >= threshold`` and ends only after ``end_silence_ms`` of consecutive frames with
``prob < neg_threshold``; frames in between the two thresholds keep the current state (while in
speech they count as voiced, so they extend the utterance and reset the silence run).

Events, in the order they can happen for one stretch of speech:

* ``SpeechStarted(at)`` — the first frame >= threshold; ``at`` is that frame's start time.
* ``SpeechConfirmed(started_at, at)`` — the voiced span (first speech frame through the last frame
  >= neg_threshold) reached ``min_speech_ms``; ``at`` is the end time of the frame that reached it,
  i.e. the earliest moment it could be known. Barge-in may act now.
* then exactly one of
  - ``SpeechDiscarded(started_at, at)`` — the silence (or flush) came before the confirmation: a
    cough or a click. Nothing else happens.
  - ``Utterance(audio, started_at, ended_at, decided_at)`` — ``started_at`` is the start time of
    the first speech frame and ``ended_at`` the end time of the last frame >= threshold, moved
    back by ``end_lag_ms`` (the model's trailing delay; these are the boundaries to compare with
    the truth); ``decided_at`` is the end time of the
    frame that completed ``end_silence_ms`` (or the flush time). ``audio`` runs from ``pad_ms``
    before ``started_at`` (less if the stream began later) to ``pad_ms`` after ``ended_at``.

With ``check_after_ms`` set (VOICE_TURN_DETECTION=smart), the end is not the silence alone:
once confirmed speech has been followed by ``check_after_ms`` of silence, an
``EndCheck(check, audio, at)`` asks the caller (the turn-end model) whether the speaker has
finished; ``finish(check, at)`` then closes the utterance at once, as long as no speech came
since (a verdict for a silence that speech already broke is stale and does nothing). Without a
``finish`` the utterance ends after ``cap_ms`` of silence. One check per run of silence.
Unconfirmed speech is dropped after ``end_silence_ms`` in both modes.

An utterance that reaches ``max_utterance_s`` (counted from ``started_at``) is cut and sent at
once. If the next frame is still voiced (>= neg_threshold) it starts the next utterance, with
SpeechStarted and SpeechConfirmed together (it continues confirmed speech) and no pre-roll, so the
pieces join without a sample twice. Durations are counted in samples received; times are the
``at`` values passed in, so a gap in capture is not silence.

Pure logic: no model, no I/O, no clock. One detector per audio stream; not thread-safe.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field

import numpy as np

__all__ = ["EndCheck", "SpeechConfirmed", "SpeechDiscarded", "SpeechStarted", "Utterance",
           "UtteranceDetector", "VadConfig", "VadEvent"]

_EMPTY = np.zeros(0, dtype=np.float32)
CHECK_AUDIO_S = 8.0  # an EndCheck carries at most this much of the utterance (the model's window)


@dataclass(frozen=True, slots=True)
class VadConfig:
    threshold: float = 0.5  # speech when prob >= threshold
    neg_threshold: float | None = None  # silence below this; None → max(threshold - 0.15, 0.01)
    min_speech_ms: int = 250  # shorter bursts (a cough, a click) are not an utterance
    end_silence_ms: int = 600  # end of turn: this much silence after speech
    pad_ms: int = 200  # audio kept before the start / after the end for STT
    max_utterance_s: float = 30.0  # a never-ending utterance is cut here and sent
    # The model's own delay: its probability stays high for a few frames after speech stops, so
    # the reported end (ended_at) is moved back by this much (SileroVad.END_LAG_MS for Silero).
    end_lag_ms: int = 0
    # VOICE_TURN_DETECTION=smart: silence after confirmed speech that triggers an EndCheck; None =
    # the silence alone decides (end_silence_ms). cap_ms: the silence that ends a confirmed
    # utterance when no check said "finished" (None = end_silence_ms).
    check_after_ms: int | None = None
    cap_ms: int | None = None

    def __post_init__(self) -> None:
        if not 0.0 < self.threshold <= 1.0:
            raise ValueError(f"threshold must be in (0, 1], got {self.threshold}")
        if self.neg_threshold is not None and not 0.0 < self.neg_threshold <= self.threshold:
            raise ValueError(f"neg_threshold must be in (0, threshold={self.threshold}], "
                             f"got {self.neg_threshold}")
        if self.min_speech_ms < 0 or self.pad_ms < 0 or self.end_lag_ms < 0:
            raise ValueError("min_speech_ms, pad_ms and end_lag_ms must be >= 0")
        if self.end_silence_ms <= 0:
            raise ValueError(f"end_silence_ms must be > 0, got {self.end_silence_ms}")
        # The pad after the end must already have been heard when the end is decided.
        if self.pad_ms > self.end_silence_ms:
            raise ValueError(f"pad_ms ({self.pad_ms}) must not exceed end_silence_ms "
                             f"({self.end_silence_ms})")
        if self.cap_ms is not None and self.cap_ms <= 0:
            raise ValueError(f"cap_ms must be > 0, got {self.cap_ms}")
        if self.check_after_ms is not None and not (
                self.pad_ms <= self.check_after_ms < self.end_after_ms):
            raise ValueError(f"check_after_ms ({self.check_after_ms}) must be at least pad_ms "
                             f"({self.pad_ms}) and below the cap ({self.end_after_ms})")
        # Guarantees a cut utterance is always a confirmed one (see UtteranceDetector.push).
        if self.max_utterance_s * 1000 <= self.min_speech_ms + self.end_silence_ms:
            raise ValueError(f"max_utterance_s ({self.max_utterance_s}) must be longer than "
                             "min_speech_ms + end_silence_ms")

    @property
    def end_after_ms(self) -> int:
        """The silence that ends a confirmed utterance without a check's verdict."""
        return self.cap_ms if self.cap_ms is not None else self.end_silence_ms

    @property
    def silence_below(self) -> float:
        """The effective neg_threshold."""
        if self.neg_threshold is not None:
            return self.neg_threshold
        return max(self.threshold - 0.15, 0.01)


@dataclass(frozen=True, slots=True)
class SpeechStarted:
    at: float


@dataclass(frozen=True, slots=True)
class SpeechConfirmed:
    started_at: float
    at: float


@dataclass(frozen=True, slots=True)
class SpeechDiscarded:
    started_at: float
    at: float


@dataclass(frozen=True, slots=True, eq=False)  # eq on an ndarray field would be ambiguous
class Utterance:
    audio: np.ndarray = field(repr=False)  # float32 mono at the detector's rate, pads included
    started_at: float
    ended_at: float
    decided_at: float


@dataclass(frozen=True, slots=True, eq=False)
class EndCheck:
    """Has the speaker finished? Answer with `UtteranceDetector.finish(check, at)` if so."""

    check: int  # identifies this run of silence
    audio: np.ndarray = field(repr=False)  # the utterance so far (its last CHECK_AUDIO_S)
    at: float  # end time of the frame that completed check_after_ms


VadEvent = SpeechStarted | SpeechConfirmed | SpeechDiscarded | Utterance | EndCheck


class UtteranceDetector:
    def __init__(self, config: VadConfig, *, sample_rate: int = 16000, frame: int = 512) -> None:
        if sample_rate <= 0 or frame <= 0:
            raise ValueError("sample_rate and frame must be > 0")
        self.config = config
        self._frame = frame
        self._frame_s = frame / sample_rate
        self._speech = config.threshold
        self._silence = config.silence_below
        self._min_speech = round(config.min_speech_ms * sample_rate / 1000)
        self._end_silence = round(config.end_silence_ms * sample_rate / 1000)
        self._cap = round(config.end_after_ms * sample_rate / 1000)
        self._check = (round(config.check_after_ms * sample_rate / 1000)
                       if config.check_after_ms is not None else None)
        self._check_frames = math.ceil(CHECK_AUDIO_S * sample_rate / frame)
        self._checks = 0  # EndCheck ids handed out
        self._open_check: int | None = None  # the id asked in the current run of silence
        self._heard_until = 0.0  # end time of the last frame pushed
        self._pad = round(config.pad_ms * sample_rate / 1000)
        self._end_lag = config.end_lag_ms / 1000
        self._max = round(config.max_utterance_s * sample_rate)
        # Pre-roll: the last frames heard, enough to cover pad_ms before a start.
        self._ring: deque[np.ndarray] = deque(maxlen=math.ceil(self._pad / frame))
        self._continues = False  # the last frame cut an utterance at max_utterance_s
        self._started_at: float | None = None
        self._ended_at = 0.0  # end time of the last voiced frame
        self._confirmed = False
        self._pre = _EMPTY  # pre-roll audio in front of the first speech frame
        self._frames: list[np.ndarray] = []  # from the first speech frame on
        self._samples = 0  # len of self._frames in samples
        self._voiced = 0  # samples from the first speech frame through the last voiced frame
        self._silent = 0  # samples of the current run of silent frames

    @property
    def in_speech(self) -> bool:
        """True from SpeechStarted until the Utterance or SpeechDiscarded that closes it."""
        return self._started_at is not None

    @property
    def speech_started_at(self) -> float | None:
        """The open utterance's SpeechStarted time; None while no speech is open."""
        return self._started_at

    def push(self, frame: np.ndarray, prob: float, at: float) -> list[VadEvent]:
        """One frame of `frame` samples and its speech probability; `at` is the capture time
        (monotonic seconds) of its first sample. Returns the events it caused, in order."""
        if frame.shape != (self._frame,):
            raise ValueError(f"expected {self._frame} samples, got shape {frame.shape}")
        # Copy: capture callbacks usually hand out a buffer they reuse.
        frame = np.array(frame, dtype=np.float32)
        end = at + self._frame_s
        self._heard_until = end
        events: list[VadEvent] = []
        if self._started_at is None:
            continues, self._continues = self._continues, False
            if prob < (self._silence if continues else self._speech):
                self._ring.append(frame)
                return events
            self._started_at = at
            self._pre = self._pre_roll()
            events.append(SpeechStarted(at))
            if continues:
                self._confirmed = True
                events.append(SpeechConfirmed(at, end))
        self._frames.append(frame)
        self._samples += self._frame
        if prob >= self._speech or self._samples == self._frame:  # (a first frame is speech)
            # The reported end is the last frame the model is sure of: Silero's probability trails
            # off for ~3 frames after speech stops, so the weaker frames would put it ~100 ms late.
            self._ended_at = end
        if prob >= self._silence:
            self._voiced = self._samples  # the audio for STT still keeps the trailing frames
            self._silent = 0
            self._open_check = None  # speech again: a verdict on the silence before is stale
            if not self._confirmed and self._voiced >= self._min_speech:
                self._confirmed = True
                events.append(SpeechConfirmed(self._started_at, end))
        else:
            self._silent += self._frame
        self._ring.append(frame)
        if self._silent >= (self._cap if self._confirmed else self._end_silence):
            events.append(self._close(end))
        elif self._samples >= self._max:
            # Unconfirmed speech cannot get here: VadConfig requires max > min_speech + end_silence.
            events.append(self._close(end))
            self._ring.clear()  # a next piece continues this one: no audio twice
            self._continues = True
        elif (self._check is not None and self._confirmed and self._open_check is None
              and self._silent >= self._check):
            self._checks += 1
            self._open_check = self._checks
            tail = self._frames[-self._check_frames:]
            audio = np.concatenate([self._pre, *tail] if len(tail) == len(self._frames) else tail)
            events.append(EndCheck(self._checks, audio, end))
        return events

    def finish(self, check: int, at: float) -> list[VadEvent]:
        """EndCheck `check` was answered "finished": close the utterance, decided at `at` (never
        before the last frame heard). [] when that silence is over (speech came since, or the
        utterance already ended or was reset)."""
        if self._started_at is None or check != self._open_check:
            return []
        return [self._close(max(at, self._heard_until))]

    def flush(self, at: float) -> list[VadEvent]:
        """The input ended: close an open utterance (decided at `at`) and start over."""
        # max(): `at` computed by the caller may round a hair below the last frame's end.
        events = [self._close(max(at, self._ended_at))] if self._started_at is not None else []
        self.reset()
        return events

    def reset(self) -> None:
        """Drop everything, pre-roll included, without events (e.g. while our own voice plays)."""
        self._ring.clear()
        self._continues = False
        self._clear_turn()

    def _clear_turn(self) -> None:
        self._open_check = None
        self._started_at = None
        self._ended_at = 0.0
        self._confirmed = False
        self._pre = _EMPTY
        self._frames = []
        self._samples = self._voiced = self._silent = 0

    def _pre_roll(self) -> np.ndarray:
        if not self._ring or self._pad == 0:
            return _EMPTY
        return np.concatenate(self._ring)[-self._pad:]

    def _close(self, decided_at: float) -> VadEvent:
        assert self._started_at is not None
        started_at = self._started_at
        if not self._confirmed:
            event: VadEvent = SpeechDiscarded(started_at, decided_at)
        else:
            audio = np.concatenate([self._pre, *self._frames])
            audio = audio[:self._pre.size + self._voiced + self._pad]
            # Never before the first frame's end: a lag longer than the speech is no speech.
            ended_at = max(self._ended_at - self._end_lag, started_at + self._frame_s)
            event = Utterance(audio, started_at, ended_at, decided_at)
        self._clear_turn()
        return event
