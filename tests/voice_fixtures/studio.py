"""Clips for the voice studio's tests: real espeak-ng speech at a microphone's rate, the same clip
in every upload format (WAV, MP3, OGG, FLAC through libsndfile; M4A/AAC through PyAV's FFmpeg),
and a cross-correlation that says whether two recordings hold the same sound."""

from __future__ import annotations

import functools
import io
import tempfile
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

from .speech import espeak_wav

SCRIPT = "안녕하세요, 초코예요! 오늘도 같이 재밌게 놀아요."
MIC_RATE = 48_000


@functools.lru_cache(maxsize=8)
def espeak_clip(text: str = SCRIPT, rate: int = MIC_RATE) -> np.ndarray:
    """`text` spoken by espeak-ng, resampled to `rate`, mono float32 (read-only, cached)."""
    with tempfile.TemporaryDirectory() as tmp:
        samples, source_rate = sf.read(espeak_wav(text, Path(tmp) / "s.wav"), dtype="float32")
    audio = soxr.resample(samples, source_rate, rate).astype(np.float32)
    audio.flags.writeable = False
    return audio


def encode(samples: np.ndarray, rate: int, fmt: str) -> bytes:
    """The clip as a file of `fmt`: wav, wav-float, mp3, ogg, opus, flac (libsndfile), m4a (AAC,
    as phones record) or webm (Opus, as browsers' MediaRecorder makes) through FFmpeg."""
    if fmt in ("m4a", "webm"):
        return _ffmpeg(samples, rate, *{"m4a": ("ipod", "aac"), "webm": ("webm", "libopus")}[fmt])
    buffer = io.BytesIO()
    kind, subtype = {"wav": ("WAV", "PCM_16"), "wav-float": ("WAV", "FLOAT"),
                     "mp3": ("MP3", "MPEG_LAYER_III"), "ogg": ("OGG", "VORBIS"),
                     "opus": ("OGG", "OPUS"), "flac": ("FLAC", "PCM_16")}[fmt]
    sf.write(buffer, samples, rate, format=kind, subtype=subtype)
    return buffer.getvalue()


def _ffmpeg(samples: np.ndarray, rate: int, muxer: str, codec: str) -> bytes:
    import av

    buffer = io.BytesIO()
    with av.open(buffer, "w", format=muxer) as container:  # ipod = the .m4a muxer
        stream = container.add_stream(codec, rate=rate)
        stream.layout = "mono"
        for start in range(0, samples.size, 960):
            frame = av.AudioFrame.from_ndarray(
                np.ascontiguousarray(samples[start:start + 960], dtype=np.float32).reshape(1, -1),
                format="flt", layout="mono")
            frame.sample_rate, frame.pts = rate, start
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    return buffer.getvalue()


def best_match(recorded: np.ndarray, reference: np.ndarray) -> tuple[float, int]:
    """(normalised cross-correlation at the best lag, that lag in samples): 1.0 means `recorded`
    holds all of `reference` (shifted by the lag); unrelated sounds stay near 0. Only the overlap
    is compared, but against the whole reference's energy: a recording that misses part of the
    reference scores lower by what it misses."""
    n = recorded.size + reference.size
    size = 1 << (n - 1).bit_length()
    corr = np.fft.irfft(np.fft.rfft(recorded, size) * np.conj(np.fft.rfft(reference, size)), size)
    lag = int(np.argmax(corr))
    if lag >= recorded.size:  # a negative lag: the recording starts inside the reference
        lag -= size
    start, skipped = max(0, lag), max(0, -lag)
    length = max(0, min(recorded.size - start, reference.size - skipped))
    a = recorded[start:start + length]
    b = reference[skipped:skipped + length]
    denominator = float(np.linalg.norm(a) * np.linalg.norm(reference)) or 1.0
    return float(np.dot(a, b)) / denominator, lag
