"""Real speech for voice-input tests, made at test time with espeak-ng (Korean voice).

espeak-ng is a Debian package (`apt-get install espeak-ng`); tests call `require_espeak()` and
are skipped without it. Its output is clean digital audio (exact zeros around the speech), so
`trim` finds where the speech energy starts and ends, and `mix` records those as the truth.
"""

from __future__ import annotations

import functools
import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import soundfile as sf
import soxr

RATE = 16_000
ESPEAK = "espeak-ng"
DEFAULT_SPEED = 160  # words per minute; espeak's default 175 is hurried for Korean


@functools.lru_cache(maxsize=1)
def espeak_problem() -> str | None:
    """Why espeak-ng with a Korean voice cannot be used here, or None when it can."""
    if shutil.which(ESPEAK) is None:
        return "espeak-ng is not installed (apt-get install espeak-ng)"
    voices = subprocess.run([ESPEAK, "--voices=ko"], capture_output=True, text=True, timeout=30,
                            check=False, encoding="utf-8")
    if voices.returncode != 0 or not any(line.split()[1:2] == ["ko"]
                                         for line in voices.stdout.splitlines()):
        return "espeak-ng has no Korean voice (ko)"
    return None


def require_espeak() -> None:
    from system_deps import require_espeak as require

    require(espeak_problem())


def espeak_wav(text: str, path: Path, *, voice: str = "ko", speed: int = DEFAULT_SPEED) -> Path:
    """Speak `text` into a WAV file (espeak's own format: 22050 Hz mono PCM_16)."""
    # --stdin: the text is never taken for an option, whatever it starts with.
    subprocess.run([ESPEAK, "-v", voice, "-s", str(speed), "--stdin", "-w", str(path)],
                   input=text.encode(), check=True, capture_output=True, timeout=60)
    return Path(path)


@functools.lru_cache(maxsize=64)
def speech_16k(text: str, *, voice: str = "ko", speed: int = DEFAULT_SPEED) -> np.ndarray:
    """`text` spoken, 16 kHz mono float32, untrimmed. Cached per text; the array is read-only."""
    with tempfile.TemporaryDirectory() as tmp:
        samples, rate = sf.read(espeak_wav(text, Path(tmp) / "speech.wav", voice=voice,
                                           speed=speed), dtype="float32")
    audio = soxr.resample(samples, rate, RATE).astype(np.float32)
    audio.flags.writeable = False
    return audio


def trim(audio: np.ndarray, threshold_db: float = -50.0) -> tuple[np.ndarray, int]:
    """Cut to the first and last sample whose level is at least `threshold_db` relative to the
    peak; returns (trimmed, lead_samples). All quiet → (empty, 0)."""
    peak = float(np.max(np.abs(audio))) if audio.size else 0.0
    if peak == 0.0:
        return audio[:0], 0
    loud = np.flatnonzero(np.abs(audio) >= peak * 10 ** (threshold_db / 20))
    return audio[loud[0]:loud[-1] + 1], int(loud[0])


@dataclass(frozen=True)
class MixedAudio:
    audio: np.ndarray  # float32, RATE
    utterances: list[tuple[float, float]]  # true (start_s, end_s) of each speech part

    @property
    def duration_s(self) -> float:
        return self.audio.size / RATE


def noise(n: int, db: float, *, kind: Literal["white", "pink"] = "pink",
          seed: int = 0) -> np.ndarray:
    """`n` samples of noise with an RMS of `db` dBFS."""
    rng = np.random.default_rng(seed)
    white = rng.standard_normal(n)
    if kind == "pink" and n > 1:
        # 1/f power: scale the spectrum by 1/sqrt(f) (DC left out).
        spectrum = np.fft.rfft(white)
        f = np.arange(spectrum.size, dtype=np.float64)
        f[0] = 1.0
        spectrum /= np.sqrt(f)
        spectrum[0] = 0.0
        white = np.fft.irfft(spectrum, n)
    rms = float(np.sqrt(np.mean(white ** 2))) or 1.0
    return (white * (10 ** (db / 20) / rms)).astype(np.float32)


def mix(parts: Sequence[float | str | np.ndarray], *, noise_db: float | None = -45.0,
        noise_kind: Literal["white", "pink"] = "pink", seed: int = 0,
        trim_db: float = -50.0) -> MixedAudio:
    """A track from parts in order: a float is that many seconds of silence, a str is spoken with
    `speech_16k`, an array is speech at RATE. Speech is trimmed (`trim_db`) so the recorded
    boundaries are where its energy starts and ends; noise (`noise_db` RMS, None = none) is added
    over the whole track."""
    pieces: list[np.ndarray] = []
    utterances: list[tuple[float, float]] = []
    position = 0
    for part in parts:
        if isinstance(part, int | float):
            piece = np.zeros(round(part * RATE), dtype=np.float32)
        else:
            piece, _ = trim(speech_16k(part) if isinstance(part, str) else part, trim_db)
            utterances.append((position / RATE, (position + piece.size) / RATE))
        pieces.append(piece)
        position += piece.size
    audio = np.concatenate(pieces).astype(np.float32) if pieces else np.zeros(0, np.float32)
    if noise_db is not None:
        audio += noise(audio.size, noise_db, kind=noise_kind, seed=seed)
    return MixedAudio(audio, utterances)


def write_wav(path: Path, audio: np.ndarray, rate: int = RATE) -> Path:
    """For listening to a failing case: 16-bit PCM WAV."""
    sf.write(str(path), audio, rate, subtype="PCM_16")
    return Path(path)
