"""The voice-clone reference: read ref.wav + ref_text.txt and prepare them for Qwen3-TTS.

Preparation follows what the model is known to need: one mono clip, no leading/trailing silence
(it would be copied as pauses), 3–10 s of speech (shorter clones badly, longer drifts), and ~0.5 s
of silence appended because in ICL mode the last reference frames otherwise bleed into the first
generated audio (QwenLM/Qwen3-TTS#341).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import numpy as np

from .pcm import to_mono

GUIDE = "assets/voice_samples/README.md"
MIN_SPEECH_S = 3.0
MAX_SPEECH_S = 10.0
TAIL_SILENCE_S = 0.5
FRAME_S = 0.010  # energy is measured per 10 ms frame
MARGIN_S = 0.050  # kept around the detected speech so soft onsets and endings survive
RELATIVE_DB = -35.0  # a frame is speech when it is within 35 dB of the loudest frame ...
FLOOR_DB = -60.0  # ... and above -60 dBFS (so a clip of pure hiss is "silent")
MIN_GOOD_RATE = 24_000


class VoiceSampleError(Exception):
    """The reference clip or its transcript cannot be used; str() says which file and what to do."""


@dataclass(slots=True)
class Reference:
    samples: np.ndarray  # mono float32, trimmed, with the tail silence appended
    sample_rate: int
    text: str  # transcript of the whole clip
    speech_s: float  # length of the trimmed speech, before the tail silence
    warnings: list[str] = field(default_factory=list)  # Korean first, then English

    @property
    def duration_s(self) -> float:
        return len(self.samples) / self.sample_rate


class VoiceCloning(Protocol):
    """An engine whose voice comes from our reference clip (local Qwen3-TTS; a remote server
    sent the clip with every request). The voice studio previews and swaps samples through it."""

    @property
    def clones_voice(self) -> bool:
        """False: this engine speaks with a voice of its own (a remote server's speaker)."""

    async def preview_voice(self, reference: Reference, text: str) -> tuple[np.ndarray, int]:
        """`text` spoken with `reference` (the current voice is untouched): (float32, rate)."""

    async def use_voice(self, reference: Reference) -> None:
        """Speak with `reference` from the next sentence on."""


def load_reference(wav_path: Path, text_path: Path) -> Reference:
    """Read and prepare the reference. Raises VoiceSampleError for anything unusable."""
    samples, rate = _read_wav(Path(wav_path))
    return prepare_reference(samples, rate, _read_transcript(Path(text_path)), source=wav_path)


def prepare_reference(samples: np.ndarray, rate: int, text: str, *,
                      source: Path | str = "녹음") -> Reference:
    """Trim, check and pad a mono clip for the model (the voice studio's draft or ref.wav).
    `source` names the clip in the warnings."""
    text = " ".join(text.split())
    if not text:
        raise VoiceSampleError(_problem(source, "대본이 비어 있습니다", "the transcript is empty"))
    warnings: list[str] = []
    trimmed = trim_silence(samples, rate)
    if trimmed.size == 0:
        raise VoiceSampleError(_problem(source, "소리가 거의 없습니다 (무음)", "it is silent"))
    speech_s = trimmed.size / rate
    warnings += length_warnings(speech_s, source)
    if rate < MIN_GOOD_RATE:
        warnings.append(
            f"목소리 샘플 {source}의 샘플레이트가 {rate} Hz입니다. 24 kHz 이상으로 녹음하면 더 "
            f"깨끗합니다. / {source} is sampled at {rate} Hz; record at 24 kHz or more.")
    if float(np.max(np.abs(trimmed))) >= 0.999:
        warnings.append(
            f"목소리 샘플 {source}가 찢어졌을(클리핑) 수 있습니다. 마이크 볼륨을 낮춰 다시 녹음하세요. / "
            f"{source} seems clipped; record again with lower input gain.")
    # float WAVs may exceed full scale; the model's feature extractor expects [-1, 1]
    trimmed = np.clip(trimmed, -1.0, 1.0)
    return Reference(samples=pad_tail(trimmed, rate), sample_rate=rate, text=text,
                     speech_s=speech_s, warnings=warnings)


def trim_silence(samples: np.ndarray, rate: int) -> np.ndarray:
    """Cut leading/trailing frames whose RMS energy is below the speech threshold, keeping
    MARGIN_S around the speech. All-silent input gives an empty array."""
    start, end = speech_bounds(samples, rate)
    return samples[start:end]


def frame_rms(samples: np.ndarray, rate: int) -> np.ndarray:
    """RMS energy of each FRAME_S frame (the last one zero-padded)."""
    frame = max(1, round(rate * FRAME_S))
    count = -(-samples.size // frame)
    padded = np.zeros(count * frame, dtype=np.float32)
    padded[:samples.size] = samples
    return np.sqrt(np.mean(np.square(padded.reshape(count, frame), dtype=np.float64), axis=1))


def speech_bounds(samples: np.ndarray, rate: int) -> tuple[int, int]:
    """[start, end) sample indices of the speech with MARGIN_S around it; (0, 0) when silent.
    Speech: frames within RELATIVE_DB of the loudest frame and above FLOOR_DB."""
    if samples.size == 0:
        return 0, 0
    frame = max(1, round(rate * FRAME_S))
    rms = frame_rms(samples, rate)
    threshold = max(float(rms.max()) * 10 ** (RELATIVE_DB / 20), 10 ** (FLOOR_DB / 20))
    loud = np.flatnonzero(rms >= threshold)
    if loud.size == 0:
        return 0, 0
    margin = round(rate * MARGIN_S)
    return (max(0, int(loud[0]) * frame - margin),
            min(samples.size, (int(loud[-1]) + 1) * frame + margin))


def pad_tail(samples: np.ndarray, rate: int, seconds: float = TAIL_SILENCE_S) -> np.ndarray:
    silence = np.zeros(round(rate * seconds), dtype=np.float32)
    return np.concatenate([samples.astype(np.float32, copy=False), silence])


def length_warnings(speech_s: float, wav_path: Path | str) -> list[str]:
    if speech_s < MIN_SPEECH_S:
        return [(f"목소리 샘플 {wav_path}의 말소리가 {speech_s:.1f}초로 짧습니다 "
                f"({MIN_SPEECH_S:.0f}~{MAX_SPEECH_S:.0f}초 권장). 목소리가 덜 닮을 수 있습니다. / "
                f"{wav_path} has only {speech_s:.1f} s of speech; {MIN_SPEECH_S:.0f}-"
                f"{MAX_SPEECH_S:.0f} s clones better.")]
    if speech_s > MAX_SPEECH_S:
        return [(f"목소리 샘플 {wav_path}의 말소리가 {speech_s:.1f}초로 깁니다 "
                f"({MIN_SPEECH_S:.0f}~{MAX_SPEECH_S:.0f}초 권장). 잘라서 쓰고 ref_text도 맞춰 고치세요. / "
                f"{wav_path} has {speech_s:.1f} s of speech; trim it to {MAX_SPEECH_S:.0f} s or "
                f"less and update the transcript to match.")]
    return []


def _read_wav(path: Path) -> tuple[np.ndarray, int]:
    import soundfile as sf

    if not path.is_file():
        raise VoiceSampleError(_problem(path, "파일이 없습니다", "the file does not exist"))
    try:
        data, rate = sf.read(str(path), dtype="float32", always_2d=True)
    except Exception as exc:  # noqa: BLE001 - libsndfile raises its own error types
        raise VoiceSampleError(_problem(
            path, f"읽을 수 없는 오디오 파일입니다 ({exc})",
            f"it is not a readable audio file ({exc})")) from exc
    if data.size == 0:
        raise VoiceSampleError(_problem(path, "녹음이 비어 있습니다", "the recording is empty"))
    return to_mono(data), int(rate)


def _read_transcript(path: Path) -> str:
    if not path.is_file():
        raise VoiceSampleError(_problem(path, "대본 파일이 없습니다", "the transcript file is missing"))
    try:
        raw = path.read_text(encoding="utf-8-sig")  # Notepad may save a BOM
    except (OSError, UnicodeDecodeError) as exc:
        raise VoiceSampleError(_problem(
            path, f"UTF-8 글자로 읽을 수 없습니다 ({exc})",
            f"it cannot be read as UTF-8 text ({exc})")) from exc
    text = " ".join(raw.split())
    if not text:
        raise VoiceSampleError(_problem(path, "대본이 비어 있습니다", "the transcript is empty"))
    return text


def _problem(path: Path | str, korean: str, english: str) -> str:
    return (f"목소리 샘플 문제: {path} — {korean}. 3~10초 분량을 한 사람 목소리로 조용한 곳에서 녹음해 "
            f"ref.wav로 저장하고, 말한 내용을 그대로 ref_text.txt에 적으세요 ({GUIDE} 참고). / "
            f"Voice sample problem: {path}: {english}. Record 3-10 s of one speaker in a quiet "
            f"room as ref.wav and write its exact transcript to ref_text.txt (see {GUIDE}).")
