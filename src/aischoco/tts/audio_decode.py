"""Turn an uploaded or recorded audio file (WAV, MP3, OGG, FLAC, M4A …) into mono float32 samples.

libsndfile (soundfile) reads WAV/MP3/OGG/FLAC exactly and fast; what it cannot read (M4A/AAC from a
phone, WebM/Opus) goes to FFmpeg through PyAV, whose wheels bring their own FFmpeg on Windows and
macOS, so the streamer installs nothing else.
"""

from __future__ import annotations

import io

import numpy as np

from .pcm import to_mono

MAX_BYTES = 30 * 1024 * 1024  # a minute of 48 kHz stereo WAV is 11 MB; phones' M4A far less
MAX_SECONDS = 120.0  # a voice sample is 3-10 s; longer files are refused, not silently cut
FORMATS = "WAV · MP3 · M4A · OGG · FLAC"


class AudioDecodeError(Exception):
    """The file cannot be used; str() says why in Korean (then English)."""


def decode_audio(data: bytes) -> tuple[np.ndarray, int]:
    """(mono float32 samples, sample rate). Raises AudioDecodeError."""
    if not data:
        raise AudioDecodeError("빈 파일입니다. / The file is empty.")
    if len(data) > MAX_BYTES:
        raise AudioDecodeError(f"파일이 너무 큽니다 ({len(data) // (1024 * 1024)} MB, 최대 "
                               f"{MAX_BYTES // (1024 * 1024)} MB). 목소리 샘플은 10초면 충분해요. / "
                               "The file is too large.")
    try:
        samples, rate = _with_soundfile(data)
    except Exception:  # noqa: BLE001 - libsndfile says only "format not recognised"; try FFmpeg
        samples, rate = _with_pyav(data)
    if samples.size == 0 or rate <= 0:
        raise AudioDecodeError("소리가 들어 있지 않은 파일입니다. / The file holds no audio.")
    if samples.size / rate > MAX_SECONDS:
        raise AudioDecodeError(f"파일이 너무 깁니다 ({samples.size / rate:.0f}초, 최대 "
                               f"{MAX_SECONDS:.0f}초). 3~10초만 잘라서 올려 주세요. / The file is longer "
                               f"than {MAX_SECONDS:.0f} s.")
    return np.clip(samples, -1.0, 1.0).astype(np.float32, copy=False), rate


def _with_soundfile(data: bytes) -> tuple[np.ndarray, int]:
    import soundfile as sf

    samples, rate = sf.read(io.BytesIO(data), dtype="float32", always_2d=True)
    return to_mono(samples), int(rate)


def _with_pyav(data: bytes) -> tuple[np.ndarray, int]:
    try:
        import av
    except ImportError:
        raise AudioDecodeError(f"이 형식은 읽을 수 없습니다 ({FORMATS} 중 하나로 올려 주세요; M4A는 "
                               "pip install av 필요). / Unsupported format (M4A needs PyAV).") from None
    try:
        with av.open(io.BytesIO(data)) as container:
            if not container.streams.audio:
                raise AudioDecodeError("파일에 소리 트랙이 없습니다. / The file has no audio track.")
            stream = container.streams.audio[0]
            rate = int(stream.rate or stream.codec_context.sample_rate or 0)
            resampler = av.AudioResampler(format="flt", layout="mono", rate=rate)
            pieces: list[np.ndarray] = []
            decoded = 0
            for frame in container.decode(stream):
                for out in resampler.resample(frame):
                    pieces.append(out.to_ndarray().reshape(-1))
                    decoded += out.samples
                if rate and decoded / rate > MAX_SECONDS:
                    break  # the caller refuses it; no need to decode an hour-long file
            for out in resampler.resample(None):
                pieces.append(out.to_ndarray().reshape(-1))
    except AudioDecodeError:
        raise
    except Exception as exc:  # noqa: BLE001 - av.error.* for anything that is not audio
        raise AudioDecodeError(f"오디오 파일로 읽을 수 없습니다 ({FORMATS} 중 하나로 올려 주세요). / "
                               f"Not a readable audio file ({type(exc).__name__}).") from None
    samples = np.concatenate(pieces) if pieces else np.zeros(0, np.float32)
    return samples.astype(np.float32, copy=False), rate
