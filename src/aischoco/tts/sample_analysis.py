"""How good is a recorded voice sample? Levels, length and plain-Korean advice for the voice studio.

Pure: samples in, numbers and warnings out. The speech region is the one the TTS engine will use
(`voice_sample.speech_bounds`), so what the page shows as "쓰일 부분" is exactly what is cloned.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from typing import Any, Literal

import numpy as np

from .voice_sample import MAX_SPEECH_S, MIN_GOOD_RATE, MIN_SPEECH_S, frame_rms, speech_bounds

SILENCE_DB = -120.0  # what digital silence reports instead of -inf
CLIP_LEVEL = 0.999  # a sample at (or past) full scale
CLIPPED_SAMPLES = 8  # more than a stray peak: the waveform was flattened somewhere
QUIET_SPEECH_DB = -35.0  # speech RMS below this clones as a whisper (typical speech: -25..-15)
QUIET_PEAK_DB = -20.0
NOISY_FLOOR_DB = -48.0  # background above this (a fan, music, a busy room) is cloned along
MIN_SNR_DB = 20.0
NOISE_PERCENTILE = 10  # the quietest 10 % of the frames are the background
WAVEFORM_BINS = 240

Level = Literal["error", "warn"]


@dataclass(frozen=True, slots=True)
class Advice:
    code: str  # silent, too_short, too_long, too_quiet, clipped, noisy, low_rate
    level: Level  # error: cannot be used; warn: usable, but the clone will suffer
    message: str  # plain Korean for the streamer


@dataclass(frozen=True, slots=True)
class SampleReport:
    sample_rate: int
    duration_s: float  # the whole recording
    speech_start_s: float  # the part the TTS engine will use
    speech_end_s: float
    peak_db: float  # dBFS of the loudest sample
    speech_rms_db: float  # dBFS, over the speech part
    noise_floor_db: float  # dBFS of the quiet background
    clipped_samples: int
    advice: list[Advice] = field(default_factory=list)
    waveform: list[float] = field(default_factory=list)  # peak per bin, 0..1, for the page

    @property
    def speech_s(self) -> float:
        return self.speech_end_s - self.speech_start_s

    @property
    def usable(self) -> bool:
        return not any(a.level == "error" for a in self.advice)

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "speech_s": round(self.speech_s, 3), "usable": self.usable}


def analyze(samples: np.ndarray, rate: int) -> SampleReport:
    """`samples`: mono float32 (any length, may be silent)."""
    samples = np.asarray(samples, dtype=np.float32)
    start, end = speech_bounds(samples, rate)
    speech = samples[start:end]
    rms = frame_rms(samples, rate) if samples.size else np.zeros(1)
    peak = float(np.max(np.abs(samples))) if samples.size else 0.0
    speech_rms = float(np.sqrt(np.mean(np.square(speech, dtype=np.float64)))) if speech.size else 0.0
    noise = float(np.percentile(rms, NOISE_PERCENTILE))
    report = SampleReport(
        sample_rate=rate, duration_s=round(samples.size / rate, 3),
        speech_start_s=round(start / rate, 3), speech_end_s=round(end / rate, 3),
        peak_db=_db(peak), speech_rms_db=_db(speech_rms), noise_floor_db=_db(noise),
        clipped_samples=int(np.count_nonzero(np.abs(samples) >= CLIP_LEVEL)),
        waveform=waveform(samples))
    return _with_advice(report)


def _with_advice(r: SampleReport) -> SampleReport:
    advice: list[Advice] = []
    if r.speech_s <= 0:
        advice.append(Advice("silent", "error", "소리가 거의 없어요. 마이크가 켜져 있는지, 맞는 마이크를 "
                                                "골랐는지 확인하고 다시 녹음하세요."))
        return replace(r, advice=advice)
    if r.speech_s < MIN_SPEECH_S:
        advice.append(Advice("too_short", "warn",
                             f"너무 짧아요 ({r.speech_s:.1f}초). {MIN_SPEECH_S:.0f}초 이상 말해야 목소리가 "
                             f"잘 닮아요."))
    elif r.speech_s > MAX_SPEECH_S:
        advice.append(Advice("too_long", "warn",
                             f"{MAX_SPEECH_S:.0f}초를 넘어요 ({r.speech_s:.1f}초). {MIN_SPEECH_S:.0f}~"
                             f"{MAX_SPEECH_S:.0f}초가 가장 잘 닮아요. 더 짧게 다시 녹음하거나 잘라 주세요."))
    if r.speech_rms_db < QUIET_SPEECH_DB or r.peak_db < QUIET_PEAK_DB:
        advice.append(Advice("too_quiet", "warn", "너무 작아요. 마이크에 조금 더 가까이에서 또렷하게 "
                                                  "말하거나 마이크 입력 볼륨을 올려 주세요."))
    if r.clipped_samples > CLIPPED_SAMPLES:
        advice.append(Advice("clipped", "warn", "소리가 찢어졌어요 (클리핑). 마이크 입력 볼륨을 낮추거나 "
                                                "조금 떨어져서 다시 녹음해 주세요."))
    if r.noise_floor_db > NOISY_FLOOR_DB or r.speech_rms_db - r.noise_floor_db < MIN_SNR_DB:
        advice.append(Advice("noisy", "warn", "잡음이 커요. 선풍기·에어컨·음악·게임 소리를 끄고 조용한 "
                                              "곳에서 다시 녹음해 주세요. 잡음도 목소리와 함께 따라 해요."))
    if r.sample_rate < MIN_GOOD_RATE:
        advice.append(Advice("low_rate", "warn", f"음질이 낮아요 ({r.sample_rate} Hz). 24 kHz 이상으로 "
                                                 f"녹음하면 더 깨끗해요."))
    return replace(r, advice=advice)


def waveform(samples: np.ndarray, bins: int = WAVEFORM_BINS) -> list[float]:
    """Peak level per bin (0..1, rounded), enough to draw the recording on the page."""
    if samples.size == 0:
        return []
    edges = np.linspace(0, samples.size, min(bins, samples.size) + 1).astype(int)
    peaks = np.maximum.reduceat(np.abs(samples), edges[:-1])
    return [round(min(float(p), 1.0), 3) for p in peaks]


def _db(level: float) -> float:
    return round(max(20 * float(np.log10(level)), SILENCE_DB), 1) if level > 0 else SILENCE_DB
