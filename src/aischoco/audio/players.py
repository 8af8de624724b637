"""Players pull audio from a PlaybackBuffer on their own thread and say when each block is heard.

`DevicePlayer` is a PortAudio output stream (sounddevice) whose callback reads the buffer; it plays
silence when nothing is queued, so the stream stays open between sentences and turns (no start-up
delay, no click). `FilePlayer` writes what would be played to a WAV file, paced in real time, and
skips idle time so the file holds exactly the spoken audio.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from ..tts.pcm import float_to_pcm16
from .buffer import PlaybackBuffer, SegmentEvent
from .devices import AudioDeviceError, OutputDevice, _sounddevice, close_stream, stream_problem

log = logging.getLogger(__name__)

# (block, events inside it, monotonic time at which the block's first frame is heard)
BlockHandler = Callable[[np.ndarray, list[SegmentEvent], float], None]

# A stream whose callback has not run for this long has lost its device (unplugged, driver reset).
STALL_S = 1.5


class Gain:
    """The output volume (1.0 = as synthesised). A change ramps linearly over one block, so
    ducking under the streamer's voice never clicks. Set from the loop, read on the audio thread
    (a float assignment is atomic)."""

    def __init__(self) -> None:
        self.target = 1.0
        self._current = 1.0

    def apply(self, block: np.ndarray) -> np.ndarray:
        target = self.target
        if self._current == target:
            return block if target == 1.0 else block * np.float32(target)
        ramp = np.linspace(self._current, target, block.size, endpoint=False, dtype=np.float32)
        self._current = target
        return block * ramp


class Player(Protocol):
    rate: int
    buffer: PlaybackBuffer
    label: str
    gain: Gain

    def start(self, on_block: BlockHandler) -> None: ...

    def problem(self) -> str | None:
        """Why the player stopped working, or None while it is fine."""

    def stop(self) -> None: ...


class DevicePlayer:
    def __init__(self, device: OutputDevice, *, block_ms: int = 20) -> None:
        self.device = device
        self.rate = device.default_rate  # the device's own rate: WASAPI shared mode requires it
        self.buffer = PlaybackBuffer()
        self.gain = Gain()
        self.label = f"{device.name} ({device.hostapi}, {self.rate} Hz)"
        self._block = max(64, self.rate * block_ms // 1000)
        self._channels = min(2, device.channels)  # mono copied to both sides of a stereo cable
        self._stream: Any = None
        self._on_block: BlockHandler | None = None
        self._last_callback = 0.0
        self._error: str | None = None

    def start(self, on_block: BlockHandler) -> None:
        sd = _sounddevice()
        self._on_block = on_block
        try:
            self._stream = sd.OutputStream(
                device=self.device.index, samplerate=self.rate, channels=self._channels,
                dtype="float32", blocksize=self._block, latency="low", callback=self._callback)
            self._stream.start()
        except Exception as exc:  # noqa: BLE001 - PortAudioError or a driver's own exception
            self._stream = None
            raise AudioDeviceError(f"출력 장치를 열 수 없습니다: {self.label}: {exc}") from exc
        self._last_callback = time.monotonic()

    def _callback(self, outdata: np.ndarray, frames: int, time_info: Any, status: Any) -> None:
        now = time.monotonic()
        self._last_callback = now
        block, events = self.buffer.read(frames)
        outdata[:] = self.gain.apply(block)[:, None]  # listeners (lip-sync) get the undimmed block
        ahead = time_info.outputBufferDacTime - time_info.currentTime
        if not 0.0 < ahead < 1.0:  # some host APIs report 0: fall back to the stream's latency
            ahead = float(self._stream.latency) if self._stream is not None else 0.0
        if self._on_block is not None:
            try:
                self._on_block(block, events, now + ahead)
            except Exception:  # noqa: BLE001 - never let a listener kill the audio thread
                log.exception("audio block listener failed")

    def problem(self) -> str | None:
        if self._error:
            return self._error
        return stream_problem(self._stream, self._last_callback, time.monotonic(), STALL_S,
                              self.label, "출력 장치")

    def stop(self) -> None:
        stream, self._stream = self._stream, None
        close_stream(stream)


def write_pcm16(sink: Any, block: np.ndarray) -> None:
    """One float block into a 16-bit soundfile.SoundFile, with our own int16 scaling (the engines'
    samples come back exactly). As bytes (buffer_write), not an array: soundfile reads an array's
    ``__array_interface__``, a fresh dict whose interned keys are made and freed on every block;
    50 blocks a second of that churn made CPython rebuild its interned-string table once, a
    +1.9 MB step a soak saw after ~25 minutes (issue 37)."""
    sink.buffer_write(float_to_pcm16(block), dtype="int16")  # little-endian, as every target is


class FilePlayer:
    """`AUDIO_OUTPUT_DEVICE=file:PATH.wav`: exactly the audio that would be played, in real time."""

    def __init__(self, path: Path, *, rate: int = 24000, block_ms: int = 20,
                 realtime: bool = True) -> None:
        self.path = path
        self.rate = rate
        self.buffer = PlaybackBuffer()
        self.gain = Gain()
        self.label = f"file:{path} ({rate} Hz)"
        self._block = rate * block_ms // 1000
        self._realtime = realtime
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._error: str | None = None

    def start(self, on_block: BlockHandler) -> None:
        import soundfile

        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            sink = soundfile.SoundFile(self.path, "w", samplerate=self.rate, channels=1,
                                       subtype="PCM_16", format="WAV")
        except Exception as exc:  # noqa: BLE001 - unwritable path, bad name, full disk
            raise AudioDeviceError(f"오디오 파일을 쓸 수 없습니다: {self.path}: {exc}") from exc
        self._stop.clear()
        self._thread = threading.Thread(target=self._write_loop, args=(sink, on_block),
                                        name="audio-file", daemon=True)
        self._thread.start()

    def _write_loop(self, sink: Any, on_block: BlockHandler) -> None:
        next_at: float | None = None  # when the next block is "heard"; None while idle
        try:
            while not self._stop.is_set():
                if not self.buffer.wait_for_data(0.05):
                    if next_at is not None:
                        sink.flush()  # the header is valid whenever the speaker is idle
                        next_at = None
                    continue
                block, events = self.buffer.read(self._block, fill=False)
                now = time.monotonic()
                # Stay on the schedule when the thread wakes a little late (the audio is one
                # continuous stream); start a new one after idle or a real underrun.
                if next_at is None or not self._realtime or now - next_at > self._block / self.rate:
                    next_at = now
                if self._realtime and next_at > now:
                    time.sleep(next_at - now)
                if block.size:
                    write_pcm16(sink, self.gain.apply(block))
                on_block(block, events, next_at)
                next_at += block.size / self.rate
        except Exception as exc:  # noqa: BLE001 - reported through problem(), retried by the owner
            self._error = f"오디오 파일 쓰기 실패: {self.path}: {exc}"
            log.error("%s", self._error)
        finally:
            sink.close()

    def problem(self) -> str | None:
        if self._error:
            return self._error
        if self._thread is None or not self._thread.is_alive():
            return "오디오 파일 쓰기가 멈췄습니다"
        return None

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2)
