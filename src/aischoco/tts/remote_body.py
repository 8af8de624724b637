"""What a remote TTS server's answer body means: audio bytes (raw PCM or WAV), the audio inside
server-sent events, or an error message. Pure byte handling, no I/O (``remote_engine`` does that).

Servers differ: our ``tts-server`` and vLLM-Omni with ``stream_format: "audio"`` send raw PCM;
some send a WAV header first; vLLM-Omni answers ``stream: true`` without ``stream_format`` with
``speech.audio.*`` SSE events. Errors come as ``{"error": {"message": …}}`` (OpenAI, vLLM) or
``{"detail": …}`` (FastAPI servers: mlx-audio, faster-qwen3-tts).
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import re
import struct

import numpy as np

from .pcm import float_to_pcm16, to_mono

log = logging.getLogger(__name__)

__all__ = ["DEFAULT_SAMPLE_RATE", "PcmStreamDecoder", "SseAudioDecoder", "SseServerError",
           "error_message", "message_of", "names_unknown_model"]

DEFAULT_SAMPLE_RATE = 24_000
RATE_RANGE = (1_000, 384_000)
_MAX_WAV_HEADER = 64 * 1024  # a real header is ~44 bytes; more means this is not a WAV stream
_MAX_SSE_LINE = 16 * 1024 * 1024  # one event holds one audio chunk (~100 KB of base64)
_WAV_PCM, _WAV_FLOAT, _WAV_EXTENSIBLE = 1, 3, 0xFFFE
# "The model `x` does not exist." (vLLM, OpenAI), "Model not found: 'x' …" (mlx-audio).
_UNKNOWN_MODEL = re.compile(r"\bmodel\b.*\b(does not exist|not found|unknown|no such)"
                            r"|\b(unknown|no such)\b.*\bmodel\b", re.IGNORECASE)


# --------------------------------------------------------------------------------------------
# Error bodies
# --------------------------------------------------------------------------------------------


def error_message(body: bytes) -> str:
    """The server's own words from an error body (JSON of any common shape, or plain text)."""
    text = body.decode("utf-8", "replace")
    try:
        data = json.loads(text)
    except ValueError:
        return text.strip()
    return message_of(data) if isinstance(data, dict) else text.strip()


def message_of(data: dict[str, object]) -> str:
    """The message of a parsed error object: ``error.message``, ``error``, ``detail``, ``message``
    (FastAPI's validation list joined)."""
    error, detail = data.get("error"), data.get("detail")
    message: object = (error.get("message") if isinstance(error, dict) else error) or detail \
        or data.get("message") or ""
    if isinstance(message, list):  # FastAPI validation: [{"loc": [...], "msg": "..."}]
        parts = []
        for item in message[:3]:
            if isinstance(item, dict):
                where = ".".join(str(p) for p in item.get("loc", ()) if p != "body")
                parts.append(f"{where}: {item.get('msg', '')}" if where else str(item.get("msg")))
            else:
                parts.append(str(item))
        return "; ".join(parts)
    return message if isinstance(message, str) else json.dumps(message, ensure_ascii=False)


def names_unknown_model(status: int | None, message: str) -> bool:
    """A 404 that is about the ``model`` field, not a missing endpoint ("Not Found")."""
    return status == 404 and bool(_UNKNOWN_MODEL.search(message))


# --------------------------------------------------------------------------------------------
# Server-sent events
# --------------------------------------------------------------------------------------------


class SseServerError(Exception):
    """A ``speech.audio.error`` event: the server failed after it had answered 200."""

    def __init__(self, message: str, code: int | None) -> None:
        super().__init__(message)
        self.code = code


class SseAudioDecoder:
    """A ``text/event-stream`` body → the audio bytes its events carry, for bodies split anywhere.

    vLLM-Omni (OpenAI's speech streaming schema): ``speech.audio.delta`` events hold base64 audio
    in ``audio``, ``speech.audio.done`` ends the stream, ``speech.audio.error`` carries the
    failure. The bytes are the requested ``response_format`` (pcm here), ready for
    ``PcmStreamDecoder``. Raises ValueError for what is not such a stream, SseServerError for an
    error event.
    """

    def __init__(self) -> None:
        self._buffer = b""
        self._data: list[str] = []
        self._received = self._events = 0

    def feed(self, data: bytes) -> bytes:
        self._buffer += data
        self._received += len(data)
        out = bytearray()
        while (end := self._buffer.find(b"\n")) >= 0:
            line, self._buffer = self._buffer[:end].rstrip(b"\r"), self._buffer[end + 1:]
            out += self._line(line)
        if len(self._buffer) > _MAX_SSE_LINE:
            raise ValueError("SSE line longer than 16 MiB")
        return bytes(out)

    def finish(self, data: bytes = b"") -> bytes:
        """End of body (after ``data``): a last event without its closing blank line counts."""
        out = self.feed(data + b"\n") if data or self._buffer else b""
        out += self._line(b"")
        if self._received and not self._events:  # e.g. raw audio mislabelled as events
            raise ValueError("a text/event-stream body without any events")
        return out

    def _line(self, line: bytes) -> bytes:
        if not line:  # a blank line dispatches the event
            payload, self._data = "\n".join(self._data), []
            return self._event(payload) if payload else b""
        name, _, value = line.partition(b":")
        if name == b"data":  # "event:", "id:", "retry:" and ": comments" carry nothing we need
            self._data.append(value.removeprefix(b" ").decode("utf-8", "replace"))
        return b""

    def _event(self, payload: str) -> bytes:
        self._events += 1
        if payload.strip() == "[DONE]":
            return b""
        try:
            event = json.loads(payload)
        except ValueError:
            raise ValueError("SSE event that is not JSON") from None
        if not isinstance(event, dict):
            raise ValueError("SSE event that is not a JSON object")
        kind = str(event.get("type", ""))
        if kind.endswith(".error") or "error" in event:
            error = event.get("error")
            code = error.get("code") if isinstance(error, dict) else None
            message = message_of(event) or kind
            raise SseServerError(message, code if isinstance(code, int) else None)
        audio = event.get("audio", event.get("delta"))
        if not isinstance(audio, str):
            return b""  # speech.audio.done (usage) or progress: nothing to play
        try:
            return base64.b64decode(audio, validate=True)
        except (binascii.Error, ValueError):
            raise ValueError("SSE audio that is not base64") from None


# --------------------------------------------------------------------------------------------
# Audio bytes
# --------------------------------------------------------------------------------------------


class PcmStreamDecoder:
    """Response body bytes → whole int16 mono samples, for bodies split at arbitrary points.

    A body that starts with a RIFF/WAVE header (some servers send ``wav`` even when asked for
    ``pcm``) is parsed: the header is skipped, its sample rate wins, and 16-bit/float32 data with
    any channel count is converted. Bytes of an incomplete sample wait for the next piece.
    """

    def __init__(self, sample_rate: int = DEFAULT_SAMPLE_RATE) -> None:
        self.sample_rate = sample_rate
        self._buffer = b""
        self._decided = False  # raw PCM or WAV header parsed
        self._channels = 1
        self._float = False
        self._remaining: int | None = None  # data bytes left when the WAV header said how many

    @property
    def _frame_bytes(self) -> int:
        return self._channels * (4 if self._float else 2)

    def feed(self, data: bytes) -> bytes:
        self._buffer += data
        if not self._decided:
            if len(self._buffer) < 4:
                return b""
            if self._buffer.startswith(b"RIFF") and not self._parse_wav_header():
                return b""
            self._decided = True
        return self._take_frames()

    def finish(self) -> bytes:
        """End of body: whatever whole samples are left (a raw body shorter than 4 bytes)."""
        if not self._decided:
            if b"RIFF".startswith(self._buffer[:4]):  # an unfinished WAV header: no audio
                self._buffer = b""
                return b""
            self._decided = True
        pcm = self._take_frames()
        if self._buffer:
            log.debug("remote TTS body ended with %d stray byte(s)", len(self._buffer))
            self._buffer = b""
        return pcm

    def _take_frames(self) -> bytes:
        usable = len(self._buffer)
        if self._remaining is not None:
            usable = min(usable, self._remaining)
        usable -= usable % self._frame_bytes
        if usable <= 0:
            if self._remaining == 0:
                self._buffer = b""  # trailing RIFF chunks after the data: not audio
            return b""
        data, self._buffer = self._buffer[:usable], self._buffer[usable:]
        if self._remaining is not None:
            self._remaining -= usable
            if self._remaining == 0:
                self._buffer = b""
        if not self._float and self._channels == 1:
            return data
        dtype = "<f4" if self._float else "<i2"
        samples = np.frombuffer(data, dtype=dtype).reshape(-1, self._channels)
        if not self._float:
            samples = samples.astype(np.float32) / 32767.0
        return float_to_pcm16(to_mono(samples))

    def _parse_wav_header(self) -> bool:
        """True once the header up to the data chunk is in the buffer (and consumed)."""
        buf = self._buffer
        if len(buf) > _MAX_WAV_HEADER and b"data" not in buf[:_MAX_WAV_HEADER]:
            raise ValueError("RIFF body without a data chunk in its first 64 KiB")
        if len(buf) < 12:
            return False
        if buf[8:12] != b"WAVE":
            raise ValueError("RIFF body that is not WAVE audio")
        pos, fmt_seen = 12, False
        while len(buf) >= pos + 8:
            chunk_id, size = buf[pos:pos + 4], struct.unpack_from("<I", buf, pos + 4)[0]
            if chunk_id == b"data":
                if not fmt_seen:
                    raise ValueError("WAV data chunk before its fmt chunk")
                # Streaming writers put 0 or 0xFFFFFFFF here: then the data runs to the end.
                self._remaining = None if size in (0, 0xFFFFFFFF) else size
                self._buffer = buf[pos + 8:]
                return True
            end = pos + 8 + size + (size & 1)  # RIFF chunks are word aligned
            if chunk_id == b"fmt ":
                if len(buf) < pos + 8 + min(size, 40):
                    return False
                self._read_fmt(buf[pos + 8:pos + 8 + size])
                fmt_seen = True
            pos = end
        return False

    def _read_fmt(self, fmt: bytes) -> None:
        if len(fmt) < 16:
            raise ValueError("WAV fmt chunk too short")
        code, channels, rate, _, _, bits = struct.unpack_from("<HHIIHH", fmt)
        if code == _WAV_EXTENSIBLE and len(fmt) >= 26:
            code = struct.unpack_from("<H", fmt, 24)[0]  # first bytes of the sub-format GUID
        if (code, bits) == (_WAV_PCM, 16):
            self._float = False
        elif (code, bits) == (_WAV_FLOAT, 32):
            self._float = True
        else:
            raise ValueError(f"unsupported WAV sample format (format {code}, {bits} bit)")
        if channels < 1 or not RATE_RANGE[0] <= rate <= RATE_RANGE[1]:
            raise ValueError(f"implausible WAV header ({channels} channels, {rate} Hz)")
        self._channels, self.sample_rate = channels, rate
