"""Remote TTS: streams speech from an OpenAI-compatible server (``POST {base}/v1/audio/speech``).

Built for ``python -m aischoco tts-server`` and ``mac_tts_server`` (our contract: raw PCM s16le
mono, ``X-Sample-Rate``), and for vLLM-Omni 0.30 as it really is: it validates ``model`` against its
served name (404 otherwise), streams raw PCM only with ``stream_format: "audio"`` (``stream: true``
alone means SSE events, which are decoded too), sends no rate header (``sample_rate`` pins it), and
takes the clone reference per request. The faster-qwen3-tts example server works with limits: it
streams 24 kHz PCM but ignores the reference, language and streaming fields. mlx-audio's own server
is not a drop-in (``ref_audio`` must be a path on the server, ``model`` is an HF id, no
``language``): on a Mac use ``mac_tts_server``, which serves our contract over mlx-audio.

The body is read as it arrives and yielded as whole 16-bit samples (``remote_body``). One pooled
``httpx.AsyncClient`` per engine; ``aclose()`` at shutdown.

Timeouts are per phase, never for the whole answer (a long sentence may stream for many seconds):
connecting, the first audio bytes (model warm-up, queueing behind another stream), and the gap
between chunks (a server that stalls mid-sentence). Connection errors and 5xx are retried once
while no audio has been yielded; after that a retry would repeat words, so the sentence fails
instead. 4xx are never retried: the same request gets the same answer.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import httpx
import numpy as np

from ..core.stages import AudioChunk, StageError
from ..core.status import State, StatusHandle
from .remote_body import (
    DEFAULT_SAMPLE_RATE,
    RATE_RANGE,
    PcmStreamDecoder,
    SseAudioDecoder,
    SseServerError,
    error_message,
    names_unknown_model,
)
from .pcm import pcm16_to_float, wav_bytes
from .voice_sample import Reference

log = logging.getLogger(__name__)

KEEPALIVE_S = 4.0  # < the 5 s keep-alive of uvicorn servers

__all__ = ["DEFAULT_SAMPLE_RATE", "CloneReference", "PcmStreamDecoder", "RemoteEngine",
           "RemoteTTSError"]

MAX_ATTEMPTS = 2  # the request and one retry
_MAX_ERROR_BODY = 4096
_MAX_DETAIL_CHARS = 200
NOT_CLONING = ("원격 TTS 서버는 서버에 있는 목소리로 말합니다 (TTS_REMOTE_SEND_REFERENCE=false). 새 샘플은 "
               "저장되지만, 서버 쪽 목소리를 바꾸거나 TTS_REMOTE_SEND_REFERENCE=true로 해야 들립니다. / "
               "The remote server speaks with its own voice.")


class RemoteTTSError(StageError):
    """One sentence could not be spoken. ``str()`` is one line without secrets.
    ``unknown_model``: the server does not serve a model by the name we sent (a setup error)."""

    def __init__(self, message: str, *, retryable: bool = True, status: int | None = None,
                 unknown_model: bool = False) -> None:
        super().__init__(message)
        self.retryable = retryable
        self.status = status
        self.unknown_model = unknown_model


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

    @classmethod
    def from_reference(cls, reference: Reference) -> CloneReference:
        """The prepared clip (trimmed, tail silence) as a 16-bit WAV: what the voice studio made."""
        encoded = base64.b64encode(wav_bytes(reference.samples, reference.sample_rate)).decode()
        return cls(f"data:audio/wav;base64,{encoded}", reference.text)


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
        clone_voice: bool = False,
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
        # TTS_REMOTE_SEND_REFERENCE: the voice is ours, even before a first sample exists
        self._clone_voice = clone_voice or clone is not None
        self._retry_delay_s = retry_delay_s
        self._probe_interval_s = probe_interval_s
        self._status: StatusHandle | None = None
        self._healthy: bool | None = None  # None: not known yet
        self._sse_noted = False  # warned once that the server streams events, not raw audio
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
        # The retry is for a healthy server's blip: while it keeps failing (a server that cannot
        # speak at all answers 503 to everything), each sentence gets one request, not two.
        attempts = MAX_ATTEMPTS if self._healthy is not False else 1
        for attempt in range(1, attempts + 1):
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
                # Said at the first failed attempt, in the server's words.
                self._report_failure(str(exc), unreachable=exc.status is None,
                                     status=exc.status)
                if attempt == attempts:
                    raise RemoteTTSError(f"remote TTS failed after {attempt} attempt"
                                         f"{'s' if attempt > 1 else ''}: {exc}",
                                         status=exc.status) from None
                log.warning("remote TTS attempt %d failed (%s); retrying once", attempt, exc)
                await asyncio.sleep(self._retry_delay_s)
                continue
            except RemoteTTSError as exc:
                self._report_failure(str(exc), status=exc.status, unknown_model=exc.unknown_model)
                raise
            self._report_success()
            return

    # --- the voice studio (tts.voice_sample.VoiceCloning) ---------------------------------

    @property
    def clones_voice(self) -> bool:
        """Only with TTS_REMOTE_SEND_REFERENCE: otherwise the server's own speaker talks."""
        return self._clone_voice

    async def preview_voice(self, reference: Reference, text: str) -> tuple[np.ndarray, int]:
        if not self._clone_voice:
            raise StageError(NOT_CLONING)
        body = self._body(" ".join(text.split()), CloneReference.from_reference(reference))
        pcm, rate = bytearray(), DEFAULT_SAMPLE_RATE
        try:
            async with contextlib.aclosing(self._attempt(body)) as chunks:
                async for chunk in chunks:
                    pcm += chunk.pcm
                    rate = chunk.sample_rate
        except (_Retry, RemoteTTSError) as exc:
            raise StageError(f"원격 TTS 미리 듣기 실패: {exc}") from None
        return pcm16_to_float(bytes(pcm)), rate

    async def use_voice(self, reference: Reference) -> None:
        if not self._clone_voice:
            raise StageError(NOT_CLONING)
        self._clone = CloneReference.from_reference(reference)

    def _body(self, text: str, clone: CloneReference | None = None) -> dict[str, Any]:
        clone = clone or self._clone
        body: dict[str, Any] = {
            "model": self.model,
            "input": text,
            "response_format": "pcm",
            "stream": True,
            # vLLM-Omni 0.30: stream=true alone means SSE events; "audio" asks for raw bytes.
            "stream_format": "audio",
            # vLLM-Omni sends no rate header: ask for the rate we assume (it offers 8000/24000).
            "sample_rate": DEFAULT_SAMPLE_RATE,
            "language": self._language,
        }
        if clone is not None:
            body.update(task_type="Base", ref_audio=clone.ref_audio, ref_text=clone.ref_text)
        # With a clone reference the reference is the voice: vLLM-Omni would look the
        # placeholder name up as a stored speaker. A real name (uploaded voice) is always sent.
        if self._voice is not None and not (clone is not None and self._voice == "default"):
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
            events = await self._check_response(response)
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
                    if events is not None:
                        data = self._decode(events.feed, data)
                    pcm = self._decode(decoder.feed, data)
                    if pcm:
                        yield AudioChunk(pcm, decoder.sample_rate)
            tail = b""
            if events is not None:  # a last event may lack its closing blank line
                tail = self._decode(decoder.feed, self._decode(events.finish, b""))
            tail += decoder.finish()
            if tail:
                yield AudioChunk(tail, decoder.sample_rate)
        finally:
            await response.aclose()  # unread body: httpx drops the connection, the server stops

    async def _check_response(self, response: httpx.Response) -> SseAudioDecoder | None:
        """Raise for an error answer; an SSE decoder when the audio comes as events."""
        status = response.status_code
        if status >= 400:
            message = await self._error_message(response)
            suffix = f": {message}" if message else ""
            if status >= 500:
                raise _Retry(f"server error ({status}){suffix}", status=status)
            if names_unknown_model(status, message):
                raise RemoteTTSError(
                    f"remote TTS does not serve the model {self.model!r} ({status}{suffix}); "
                    f"start vLLM-Omni with --served-model-name {self.model} or set "
                    "TTS_REMOTE_MODEL to the model id the server lists",
                    retryable=False, status=status, unknown_model=True)
            if status == 404:
                suffix += " (is TTS_REMOTE_URL the server's address, without /v1?)"
            raise RemoteTTSError(f"remote TTS rejected the request ({status}){suffix}",
                                 retryable=False, status=status)
        content_type = response.headers.get("content-type", "").split(";")[0].strip().lower()
        if content_type == "text/event-stream":
            if not self._sse_noted:  # a server or proxy that dropped stream_format: "audio"
                self._sse_noted = True
                log.warning("remote TTS answers server-sent events, not raw audio (stream_format "
                            "ignored?); decoding them, at a third more bytes per sentence")
            return SseAudioDecoder()
        if content_type in ("application/json", "text/html"):
            raise RemoteTTSError(f"remote TTS answered {content_type}, not audio (is this an "
                                 "OpenAI-compatible speech server?)", retryable=False)
        return None

    def _header_rate(self, response: httpx.Response) -> int:
        raw = response.headers.get("x-sample-rate")
        if raw is None:
            return DEFAULT_SAMPLE_RATE
        try:
            rate = int(raw.strip())
        except ValueError:
            rate = 0
        if not RATE_RANGE[0] <= rate <= RATE_RANGE[1]:
            raise RemoteTTSError(f"remote TTS sent an invalid X-Sample-Rate {raw[:20]!r}",
                                 retryable=False)
        return rate

    def _decode(self, feed: Callable[[bytes], bytes], data: bytes) -> bytes:
        try:
            return feed(data)
        except SseServerError as exc:  # an error event: the server failed like a 5xx would
            status = exc.code if exc.code is not None and exc.code >= 500 else 500
            raise _Retry(f"server error ({status}): {self._redact(str(exc))}",
                         status=status) from None
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
        return self._redact(error_message(raw[:_MAX_ERROR_BODY]))

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
                        status: int | None = None, unknown_model: bool = False) -> None:
        message = self._redact(message)
        self._healthy = False
        if unreachable:
            detail = f"원격 TTS 서버에 연결할 수 없음 ({self.base_url})"
            hint = "TTS 서버가 켜져 있는지, TTS_REMOTE_URL 주소가 맞는지 확인하세요"
        elif unknown_model:
            detail = f"원격 TTS 서버에 '{self.model}' 모델이 없음 ({status})"
            hint = (f"모델 이름: vLLM-Omni는 --served-model-name {self.model} 를 붙여 시작하거나, "
                    "TTS_REMOTE_MODEL을 서버의 HF id(예: Qwen/Qwen3-TTS-12Hz-1.7B-Base)로 바꾸세요")
        elif status in (401, 403):
            detail = f"원격 TTS 서버가 요청을 거부함 ({status})"
            hint = "TTS_REMOTE_API_KEY가 서버의 키와 같은지 확인하세요"
        else:
            detail = f"원격 TTS 오류 (문장을 건너뜀): {message}"
            hint = "TTS 서버의 로그를 확인하세요 (답변은 화면에 글로 계속 표시됩니다)"
        self._set(State.DEGRADED, detail, hint)
        if self._status is not None:
            self._status.note_error(message)
