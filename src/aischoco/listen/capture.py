"""Where the streamer's voice comes from: a microphone (PortAudio) or a WAV file played in real
time (`VOICE_INPUT=file:PATH.wav`, for tests and demos).

A capture hands mono float32 blocks at the source's own rate to `on_audio(block, at)` on its own
thread, where `at` is the monotonic time the block's first sample was captured. The caller
resamples and runs the VAD on its worker thread; nothing here touches the event loop.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from ..audio.devices import (AudioDeviceError, OutputDevice, _sounddevice, close_stream,
                             stream_problem)

log = logging.getLogger(__name__)

AudioSink = Callable[[np.ndarray, float], None]
STALL_S = 1.5  # no callback for this long: the microphone was unplugged or the driver reset


class Capture(Protocol):
    rate: int
    label: str

    def start(self, on_audio: AudioSink) -> None: ...

    def problem(self) -> str | None:
        """Why capture stopped working, or None while it is fine."""

    def stop(self) -> None: ...


class DeviceCapture:
    def __init__(self, device: OutputDevice, *, block_ms: int = 32) -> None:
        self.device = device
        self.rate = device.default_rate  # the device's own rate; resampled to 16 kHz later
        self.label = f"{device.name} ({device.hostapi}, {self.rate} Hz)"
        self._block = max(64, self.rate * block_ms // 1000)
        self._stream: Any = None
        self._on_audio: AudioSink | None = None
        self._last_callback = 0.0

    def start(self, on_audio: AudioSink) -> None:
        sd = _sounddevice()
        self._on_audio = on_audio
        try:
            self._stream = sd.InputStream(
                device=self.device.index, samplerate=self.rate, channels=1, dtype="float32",
                blocksize=self._block, latency="low", callback=self._callback)
            self._stream.start()
        except Exception as exc:  # noqa: BLE001 - PortAudioError or a driver's own exception
            self._stream = None
            raise AudioDeviceError(f"마이크를 열 수 없습니다: {self.label}: {exc}") from exc
        self._last_callback = time.monotonic()

    def _callback(self, indata: np.ndarray, frames: int, time_info: Any, status: Any) -> None:
        now = time.monotonic()
        self._last_callback = now
        # How long ago the first sample hit the converter (0 when the host API does not say).
        behind = time_info.currentTime - time_info.inputBufferAdcTime
        at = now - (behind if 0.0 < behind < 1.0 else frames / self.rate)
        if self._on_audio is not None:
            try:
                self._on_audio(indata[:, 0].copy(), at)
            except Exception:  # noqa: BLE001 - never let a listener kill the audio thread
                log.exception("microphone block listener failed")

    def problem(self) -> str | None:
        return stream_problem(self._stream, self._last_callback, time.monotonic(), STALL_S,
                              self.label, "마이크")

    def stop(self) -> None:
        stream, self._stream = self._stream, None
        close_stream(stream)


class FileCapture:
    """A recording played as if it were the microphone: blocks paced in real time, then
    `tail_s` of silence so the last utterance ends, then nothing (it does not loop)."""

    def __init__(self, path: Path, *, block_ms: int = 32, realtime: bool = True,
                 tail_s: float = 2.0) -> None:
        self.path = path
        self._block_ms = block_ms
        self._realtime = realtime
        self._tail_s = tail_s
        self._audio: np.ndarray | None = None
        self.rate = 16_000
        self.label = f"file:{path}"
        self.finished = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._error: str | None = None

    def start(self, on_audio: AudioSink) -> None:
        import soundfile

        try:
            audio, self.rate = soundfile.read(self.path, dtype="float32", always_2d=True)
        except Exception as exc:  # noqa: BLE001 - missing, unreadable or not a WAV
            raise AudioDeviceError(f"음성 입력 파일을 읽을 수 없습니다: {self.path}: {exc}") from exc
        mono = audio.mean(axis=1, dtype=np.float32)
        silence = np.zeros(int(self.rate * self._tail_s), dtype=np.float32)
        self._audio = np.concatenate([mono, silence])
        self.label = f"file:{self.path} ({self.rate} Hz, {mono.size / self.rate:.1f}s)"
        self._stop.clear()
        self.finished.clear()
        self._thread = threading.Thread(target=self._play, args=(on_audio,), name="voice-file",
                                        daemon=True)
        self._thread.start()

    def _play(self, on_audio: AudioSink) -> None:
        assert self._audio is not None
        block = max(1, self.rate * self._block_ms // 1000)
        start = time.monotonic()
        try:
            for offset in range(0, self._audio.size, block):
                at = start + offset / self.rate  # when this block "was spoken"
                if self._realtime:
                    # Delivered once the block is complete, like a microphone callback.
                    delay = at + block / self.rate - time.monotonic()
                    if delay > 0 and self._stop.wait(delay):
                        return
                elif self._stop.is_set():
                    return
                on_audio(self._audio[offset:offset + block], at)
        except Exception as exc:  # noqa: BLE001 - reported through problem()
            self._error = f"음성 입력 파일 재생 실패: {exc}"
            log.exception("voice input file failed")
        finally:
            self.finished.set()

    def problem(self) -> str | None:
        return self._error

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2)
