"""PCM conversions shared by engines, sinks and the TTS server (pure numpy, no I/O)."""

from __future__ import annotations

import io
import wave

import numpy as np

PCM16_MAX = 32767


def float_to_pcm16(samples: np.ndarray) -> bytes:
    """float audio in [-1, 1] (any float dtype, mono) → int16 little-endian bytes, clipped."""
    clipped = np.clip(np.asarray(samples, dtype=np.float32).reshape(-1), -1.0, 1.0)
    return (clipped * PCM16_MAX).round().astype("<i2").tobytes()


def pcm16_to_float(pcm: bytes) -> np.ndarray:
    """int16 little-endian bytes → float32 in [-1, 1]."""
    return np.frombuffer(pcm, dtype="<i2").astype(np.float32) / PCM16_MAX


def to_mono(samples: np.ndarray) -> np.ndarray:
    """(frames,) or (frames, channels) → (frames,) float32 by averaging the channels."""
    data = np.asarray(samples, dtype=np.float32)
    return data if data.ndim == 1 else data.mean(axis=1, dtype=np.float32)


def wav_bytes(samples: np.ndarray, rate: int) -> bytes:
    """float mono audio → a 16-bit PCM WAV file, in memory (uploads, the voice studio's files)."""
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(int(rate))
        out.writeframes(float_to_pcm16(samples))
    return buffer.getvalue()
