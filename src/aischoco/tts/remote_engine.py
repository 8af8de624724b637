"""Remote TTS: streams speech from an OpenAI-compatible server (DESIGN "Remote TTS contract").

Speaks to ``python -m aischoco tts-server``, ``mac_tts_server``, mlx-audio and vLLM-Omni alike:
``POST {base}/v1/audio/speech`` with ``response_format: "pcm"``, read the body as it arrives and yield
whole 16-bit samples. One pooled ``httpx.AsyncClient`` per engine; ``aclose()`` at shutdown.

Timeouts are per phase, never for the whole answer (a long sentence may stream for many seconds):
connecting, the first audio bytes (model warm-up, queueing behind another stream), and the gap
between chunks (a server that stalls mid-sentence). Connection errors and 5xx are retried once while
no audio has been yielded; after that a retry would repeat words, so the sentence fails instead.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import logging
import struct
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import httpx
import numpy as np

from ..core.stages import AudioChunk, StageError
from ..core.status import State, StatusHandle
from .pcm import float_to_pcm16, to_mono

log = logging.getLogger(__name__)

KEEPALIVE_S = 4.0  # < the 5 s keep-alive of uvicorn servers

__all__ = ["DEFAULT_SAMPLE_RATE", "CloneReference", "PcmStreamDecoder", "RemoteEngine",
           "RemoteTTSError"]

DEFAULT_SAMPLE_RATE = 24_000
MAX_ATTEMPTS = 2  # the request and one retry
_MAX_WAV_HEADER = 64 * 1024  # a real header is ~44 bytes; more means this is not a WAV stream
_MAX_ERROR_BODY = 4096
_MAX_DETAIL_CHARS = 200
_RATE_RANGE = (1_000, 384_000)
_WAV_PCM, _WAV_FLOAT, _WAV_EXTENSIBLE = 1, 3, 0xFFFE


class RemoteTTSError(StageError):
    """One sentence could not be spoken. ``str()`` is one line without secrets."""

    def __init__(self, message: str, *, retryable: bool = True, status: int | None = None) -> None:
        super().__init__(message)
        self.retryable = retryable
        self.status = status


class _Retry(Exception):
    """Internal: this attempt failed in a way a fresh request may fix (connection, 5xx)."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True, slots=True)
class CloneReference:
    """Per-request voice-clone reference for servers that want it (vLLM-Omni ``task_type: Base``)."""

    ref_audio: str  # data:audio/wav;base64,…
    ref_text: str  # transcript of the whole clip

    @classmethod
    def from_wav(cls, path: Path, ref_text: str) -> CloneReference:
        data = Path(path).read_bytes()
        if len(data) < 12 or data[:4] != b"RIFF" or data[8:12] != b"WAVE":
            raise ValueError(f"{path} is not a WAV file")
        if not ref_text.strip():
            raise ValueError("the clone reference needs the transcript of the clip")
        encoded = base64.b64encode(data).decode("ascii")
        return cls(f"data:audio/wav;base64,{encoded}", ref_text.strip())


# --------------------------------------------------------------------------------------------
# Body decoding
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
        if channels < 1 or not _RATE_RANGE[0] <= rate <= _RATE_RANGE[1]:
            raise ValueError(f"implausible WAV header ({channels} channels, {rate} Hz)")
        self._channels, self.sample_rate = channels, rate


# --------------------------------------------------------------------------------------------
# Engine
# --------------------------------------------------------------------------------------------


class RemoteEngine:
    """``SpeechEngine`` over HTTP and a supervised component (``name``, ``run``, ``aclose``)."""

    name = "tts"

    def __init__(
        self,
        base_url: str,
        *,
        model: str = "qwen3-tts",
        voice: str | None = "default",
        language: str = "Korean",
        api_key: str | None = None,
        connect_timeout_s: float = 3.0,
        first_byte_timeout_s: float = 15.0,
        chunk_gap_timeout_s: float = 8.0,
        clone: CloneReference | None = None,
        retry_delay_s: float = 0.25,
        probe_interval_s: float = 5.0,
    ) -> None:
        for label, value in (("connect", connect_timeout_s), ("first byte", first_byte_timeout_s),
                             ("chunk gap", chunk_gap_timeout_s)):
            if not value > 0:
                raise ValueError(f"{label} timeout must be > 0")
        self.base_url = base_url.rstrip("/")
        self._url = f"{self.base_url}/v1/audio/speech"
        self.model = model
        self._voice = voice
        self._language = language
        self._api_key = api_key or None
        self._first_byte_s = first_byte_timeout_s
        self._gap_s = chunk_gap_timeout_s
        self._clone = clone
        self._retry_delay_s = retry_delay_s
        self._probe_interval_s = probe_interval_s
        self._status: StatusHandle | None = None
        self._healthy: bool | None = None  # None: not known yet
        self.available = True  # configured; a failing server shows as DEGRADED, per sentence
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        # Only connect is bounded by httpx: every later wait has its own deadline below.
        # Idle connections are dropped before uvicorn-based servers (vLLM-Omni, tts-server) close
        # them at 5 s: reusing one the server just closed cost a failed attempt and a retry.
        self._http = httpx.AsyncClient(headers=headers,
                                       timeout=httpx.Timeout(None, connect=connect_timeout_s),
                                       limits=httpx.Limits(keepalive_expiry=KEEPALIVE_S))

    # --- supervised component ---------------------------------------------------------------

    async def run(self, status: StatusHandle) -> None:
        """Probe until the server answers, then let sentence outcomes drive the status."""
        self._status = status
        status.set(State.STARTING, f"원격 TTS 서버 확인 중 ({self.base_url})")
        while not self._healthy:
            if await self._probe():
                break
            await asyncio.sleep(self._probe_interval_s)
        await asyncio.Event().wait()

    async def aclose(self) -> None:
        await self._http.aclose()

    async def _probe(self) -> bool:
        try:
            async with asyncio.timeout(self._first_byte_s):
                response = await self._http.get(f"{self.base_url}/v1/models")
        except (TimeoutError, httpx.RequestError) as exc:
            self._report_failure(f"remote TTS server unreachable: {self._describe(exc)}",
                                 unreachable=True)
            return False
        if response.status_code in (401, 403):
            self._report_failure(f"remote TTS server rejected the API key ({response.status_code})",
                                 status=response.status_code)
            return False
        if response.status_code == 503:
            self._set(State.DEGRADED, f"원격 TTS 서버가 모델을 불러오는 중 ({self.base_url})",
                      "잠시 기다리면 자동으로 연결됩니다")
            return False
        self._report_success()  # any other answer: something is listening there
        return True

    # --- speech -----------------------------------------------------------------------------

    async def synthesize(self, text: str) -> AsyncIterator[AudioChunk]:
        text = text.strip()
        if not text:
            return
        body = self._body(text)
        for attempt in range(1, MAX_ATTEMPTS + 1):
            yielded = False
            try:
                async with contextlib.aclosing(self._attempt(body)) as chunks:
                    async for chunk in chunks:
                        yielded = True
                        yield chunk
            except _Retry as exc:
                if yielded:
                    self._report_failure(f"remote TTS stream broke: {exc}", status=exc.status)
                    raise RemoteTTSError(f"remote TTS stream broke mid-sentence: {exc}",
                                         status=exc.status) from None
                if attempt == MAX_ATTEMPTS:
                    self._report_failure(str(exc), unreachable=exc.status is None,
                                         status=exc.status)
                    raise RemoteTTSError(f"remote TTS failed after {attempt} attempts: {exc}",
                                         status=exc.status) from None
                log.warning("remote TTS attempt %d failed (%s); retrying once", attempt, exc)
                await asyncio.sleep(self._retry_delay_s)
                continue
            except RemoteTTSError as exc:
                self._report_failure(str(exc), status=exc.status)
                raise
            self._report_success()
            return

    def _body(self, text: str) -> dict[str, Any]:
        body: dict[str, Any] = {
            "model": self.model,
            "input": text,
            "response_format": "pcm",
            "stream": True,
            # vLLM-Omni: stream=true alone means SSE events; "audio" asks for the raw byte stream.
            "stream_format": "audio",
            "language": self._language,
        }
        if self._clone is not None:
            body.update(task_type="Base", ref_audio=self._clone.ref_audio,
                        ref_text=self._clone.ref_text)
        # With a clone reference the reference is the voice: vLLM-Omni would look the
        # placeholder name up as a stored speaker. A real name (uploaded voice) is always sent.
        if self._voice is not None and not (self._clone is not None and self._voice == "default"):
            body["voice"] = self._voice
        return body

    async def _attempt(self, body: dict[str, Any]) -> AsyncGenerator[AudioChunk, None]:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._first_byte_s
        request = self._http.build_request("POST", self._url, json=body)
        try:
            async with asyncio.timeout_at(deadline):
                response = await self._http.send(request, stream=True)
        except TimeoutError:
            raise RemoteTTSError(f"no answer from {self._url} within "
                                 f"{self._first_byte_s:g} s") from None
        except httpx.RequestError as exc:
            raise _Retry(f"cannot reach {self._url} ({self._describe(exc)})") from None
        try:
            await self._check_response(response)
            decoder = PcmStreamDecoder(self._header_rate(response))
            first = True
            pieces = cast(AsyncGenerator[bytes, None], response.aiter_bytes())
            async with contextlib.aclosing(pieces) as body_bytes:
                while True:
                    try:
                        async with asyncio.timeout_at(deadline):
                            data = await anext(body_bytes)
                    except StopAsyncIteration:
                        break
                    except TimeoutError:
                        raise RemoteTTSError(self._timeout_message(first)) from None
                    except httpx.RequestError as exc:
                        raise _Retry(f"connection lost ({self._describe(exc)})") from None
                    first = False
                    deadline = loop.time() + self._gap_s
                    pcm = self._decode(decoder.feed, data)
                    if pcm:
                        yield AudioChunk(pcm, decoder.sample_rate)
            tail = decoder.finish()
            if tail:
                yield AudioChunk(tail, decoder.sample_rate)
        finally:
            await response.aclose()  # unread body: httpx drops the connection, the server stops

    async def _check_response(self, response: httpx.Response) -> None:
        status = response.status_code
        if status >= 400:
            message = await self._error_message(response)
            suffix = f": {message}" if message else ""
            if status >= 500:
                raise _Retry(f"server error ({status}){suffix}", status=status)
            raise RemoteTTSError(f"remote TTS rejected the request ({status}){suffix}",
                                 retryable=False, status=status)
        content_type = response.headers.get("content-type", "").split(";")[0].strip().lower()
        if content_type in ("text/event-stream", "application/json", "text/html"):
            raise RemoteTTSError(f"remote TTS answered {content_type}, not audio (is this an "
                                 "OpenAI-compatible speech server?)", retryable=False)

    def _header_rate(self, response: httpx.Response) -> int:
        raw = response.headers.get("x-sample-rate")
        if raw is None:
            return DEFAULT_SAMPLE_RATE
        try:
            rate = int(raw.strip())
        except ValueError:
            rate = 0
        if not _RATE_RANGE[0] <= rate <= _RATE_RANGE[1]:
            raise RemoteTTSError(f"remote TTS sent an invalid X-Sample-Rate {raw[:20]!r}",
                                 retryable=False)
        return rate

    @staticmethod
    def _decode(feed: Callable[[bytes], bytes], data: bytes) -> bytes:
        try:
            return feed(data)
        except ValueError as exc:
            raise RemoteTTSError(f"remote TTS sent audio we cannot play: {exc}",
                                 retryable=False) from None

    async def _error_message(self, response: httpx.Response) -> str:
        raw = b""
        with contextlib.suppress(TimeoutError, httpx.RequestError):
            async with asyncio.timeout(self._gap_s):
                async for piece in response.aiter_bytes():
                    raw += piece
                    if len(raw) >= _MAX_ERROR_BODY:
                        break
        text = raw[:_MAX_ERROR_BODY].decode("utf-8", "replace")
        try:
            data = json.loads(text)
        except ValueError:
            return self._redact(text)
        message: object = ""
        if isinstance(data, dict):
            error = data.get("error")
            detail = data.get("detail")  # FastAPI-style servers (mlx-audio)
            message = (error.get("message") if isinstance(error, dict) else error) or detail or ""
        return self._redact(str(message) if not isinstance(message, str) else message)

    def _timeout_message(self, first: bool) -> str:
        if first:
            return f"no audio from {self._url} within {self._first_byte_s:g} s"
        return f"remote TTS stalled: no audio for {self._gap_s:g} s mid-sentence"

    # --- status and messages ----------------------------------------------------------------

    def _describe(self, exc: BaseException) -> str:
        detail = self._redact(str(exc))
        return f"{type(exc).__name__}{': ' if detail else ''}{detail}"

    def _redact(self, text: str) -> str:
        text = " ".join(text.split())
        if self._api_key:
            text = text.replace(self._api_key, "***")
        if len(text) > _MAX_DETAIL_CHARS:
            text = text[: _MAX_DETAIL_CHARS - 1] + "…"
        return text

    def _set(self, state: State, detail: str, hint: str = "") -> None:
        if self._status is not None:
            self._status.set(state, detail, hint)

    def _report_success(self) -> None:
        if self._healthy is not True:
            self._healthy = True
            self._set(State.RUNNING, f"원격 TTS 연결됨 ({self.base_url})")

    def _report_failure(self, message: str, *, unreachable: bool = False,
                        status: int | None = None) -> None:
        message = self._redact(message)
        self._healthy = False
        if unreachable:
            detail = f"원격 TTS 서버에 연결할 수 없음 ({self.base_url})"
            hint = "TTS 서버가 켜져 있는지, TTS_REMOTE_URL 주소가 맞는지 확인하세요"
        elif status in (401, 403):
            detail = f"원격 TTS 서버가 요청을 거부함 ({status})"
            hint = "TTS_REMOTE_API_KEY가 서버의 키와 같은지 확인하세요"
        else:
            detail = "원격 TTS 오류: 문장을 건너뛰었습니다"
            hint = "TTS 서버의 로그를 확인하세요 (답변은 화면에 글로 계속 표시됩니다)"
        self._set(State.DEGRADED, detail, hint)
        if self._status is not None:
            self._status.note_error(message)
