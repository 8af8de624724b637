"""The TTS server: any engine served over the remote TTS contract (``python -m aischoco tts-server``,
``mac_tts_server``). A second PC or a Colab GPU speaks for the streaming PC.

``POST /v1/audio/speech`` streams raw PCM s16le mono as the engine produces it (``X-Sample-Rate``
says the rate), or answers a whole WAV file. One synthesis at a time: a GPU serves one stream well
and several badly, so requests wait in arrival order. A client that goes away (disconnect, or
waiting too long) closes the engine's generator, which stops generation.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import hmac
import io
import logging
import wave
from collections.abc import AsyncIterator, Callable
from typing import Any, Protocol

import uvicorn
from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field, field_validator
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import Receive, Scope, Send

from ..core.stages import AudioChunk, StageError, StageUnavailable
from ..core.status import StatusBoard, StatusHandle
from ..core.embedded_server import EmbeddedServer, bind_socket, is_loopback
from .audio_decode import AudioDecodeError, decode_audio
from .voice_sample import Reference, VoiceSampleError, prepare_reference

log = logging.getLogger(__name__)

__all__ = ["MAX_INPUT_CHARS", "ServableEngine", "SpeechRequest", "create_tts_app", "serve_tts"]

MAX_INPUT_CHARS = 4096  # OpenAI's limit; our sentences are a few hundred characters at most
DEFAULT_SAMPLE_RATE = 24_000
FORMATS = ("pcm", "wav")
MAX_REFERENCE_CHARS = 8 * 1024 * 1024  # base64 of a 30 s 48 kHz 16-bit WAV is ~3.8 MB


class ServableEngine(Protocol):
    """A speech engine that loads itself in ``run`` and turns ``available`` True when ready."""

    name: str
    available: bool

    def synthesize(self, text: str) -> AsyncIterator[AudioChunk]: ...

    async def run(self, status: StatusHandle) -> None: ...


class ApiError(Exception):
    def __init__(self, status: int, message: str, kind: str = "invalid_request_error") -> None:
        super().__init__(message)
        self.status, self.message, self.kind = status, message, kind


def _error_body(message: str, kind: str) -> dict[str, Any]:
    return {"error": {"message": message, "type": kind}}


def _error_response(status: int, message: str, kind: str | None = None) -> JSONResponse:
    kind = kind or ("invalid_request_error" if status < 500 else "server_error")
    return JSONResponse(_error_body(message, kind), status_code=status)


class SpeechRequest(BaseModel):
    """The OpenAI speech body plus the fields mlx-audio / vLLM-Omni add. Unknown fields are ignored
    (clients send vendor extras). ``ref_audio`` (a ``data:`` URI) + ``ref_text``, as vLLM-Omni's Base
    task takes them, make an engine that clones (local Qwen3-TTS) speak with that clip: the
    streaming PC's voice studio then owns the voice. Other engines speak with their own voice."""

    model_config = ConfigDict(extra="ignore")

    input: str = Field(max_length=MAX_INPUT_CHARS)
    model: str | None = None
    voice: str | None = None
    response_format: str = "pcm"
    stream: bool = True
    stream_format: str | None = None
    language: str | None = None
    speed: float | None = None
    ref_audio: str | None = Field(None, max_length=MAX_REFERENCE_CHARS)
    ref_text: str | None = Field(None, max_length=2000)

    @field_validator("input")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("input must not be empty")
        return value.strip()


class _Gate:
    """One synthesis at a time, first come first served (asyncio.Lock wakes waiters in order)."""

    def __init__(self) -> None:
        self._lock = asyncio.Lock()
        self.waiting = 0

    @property
    def busy(self) -> bool:
        return self._lock.locked()

    @contextlib.asynccontextmanager
    async def turn(self) -> AsyncIterator[None]:
        self.waiting += 1
        try:
            await self._lock.acquire()
        finally:
            self.waiting -= 1
        try:
            yield
        finally:
            self._lock.release()


class _SpeechResponse(Response):
    """Waits for its turn, synthesizes and sends, all while watching for the client to leave.

    Pure ASGI rather than StreamingResponse: the status line can only be chosen after the first
    chunk (a failure before any audio is a JSON error, not a broken 200), and the engine generator
    must be closed on every path, including a client that leaves while still queued.
    """

    def __init__(self, speak: Callable[[], AsyncIterator[AudioChunk]], gate: _Gate, text: str,
                 fmt: str) -> None:
        super().__init__()
        self._speak, self._gate, self._text, self._fmt = speak, gate, text, fmt

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        task = asyncio.current_task()
        assert task is not None
        state = {"finished": False, "gone": False}

        async def watch() -> None:
            while (await receive())["type"] != "http.disconnect":
                pass
            if not state["finished"]:
                state["gone"] = True
                task.cancel()

        watcher = asyncio.create_task(watch(), name="tts-disconnect-watch")
        try:
            await self._produce(send)
        except asyncio.CancelledError:
            if not state["gone"]:
                raise
            task.uncancel()  # our own cancel: the client left; nothing more to send
            log.info("client disconnected: synthesis stopped (%d chars)", len(self._text))
        finally:
            state["finished"] = True
            watcher.cancel()

    async def _produce(self, send: Send) -> None:
        async with self._gate.turn():
            chunks = self._speak()
            try:
                try:
                    first = await anext(chunks, None)
                except StageUnavailable as exc:
                    return await self._send_error(send, 503, str(exc))
                except StageError as exc:
                    return await self._send_error(send, 500, f"synthesis failed: {exc}")
                except Exception:  # one bad sentence must not take the server down
                    log.exception("synthesis failed")
                    return await self._send_error(send, 500, "synthesis failed (see server log)")
                rate = first.sample_rate if first is not None else DEFAULT_SAMPLE_RATE
                if self._fmt == "wav":
                    return await self._send_wav(send, first, chunks, rate)
                await self._send_pcm(send, first, chunks, rate)
            finally:
                await chunks.aclose()  # type: ignore[attr-defined]

    async def _send_pcm(self, send: Send, first: AudioChunk | None,
                        chunks: AsyncIterator[AudioChunk], rate: int) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": [
            (b"content-type", b"audio/pcm"), (b"x-sample-rate", str(rate).encode()),
            (b"cache-control", b"no-store")]})
        if first is not None:
            await send({"type": "http.response.body", "body": first.pcm, "more_body": True})
            try:
                async for chunk in chunks:
                    _check_rate(chunk, rate)
                    await send({"type": "http.response.body", "body": chunk.pcm,
                                "more_body": True})
            except StageError as exc:
                # Headers are gone: the only honest signal left is an unfinished body.
                log.error("synthesis failed mid-stream: %s", exc)
                raise
        await send({"type": "http.response.body", "body": b"", "more_body": False})

    async def _send_wav(self, send: Send, first: AudioChunk | None,
                        chunks: AsyncIterator[AudioChunk], rate: int) -> None:
        pcm = bytearray(first.pcm if first is not None else b"")
        try:
            async for chunk in chunks:
                _check_rate(chunk, rate)
                pcm += chunk.pcm
        except StageError as exc:
            return await self._send_error(send, 500, f"synthesis failed: {exc}")
        buffer = io.BytesIO()
        with wave.open(buffer, "wb") as out:
            out.setnchannels(1)
            out.setsampwidth(2)
            out.setframerate(rate)
            out.writeframes(bytes(pcm))
        body = buffer.getvalue()
        await send({"type": "http.response.start", "status": 200, "headers": [
            (b"content-type", b"audio/wav"), (b"content-length", str(len(body)).encode()),
            (b"x-sample-rate", str(rate).encode())]})
        await send({"type": "http.response.body", "body": body, "more_body": False})

    @staticmethod
    async def _send_error(send: Send, status: int, message: str) -> None:
        log.warning("speech request failed (%d): %s", status, message)
        response = _error_response(status, message)
        await send({"type": "http.response.start", "status": status,
                    "headers": response.raw_headers})
        await send({"type": "http.response.body", "body": response.body, "more_body": False})


def _check_rate(chunk: AudioChunk, rate: int) -> None:
    if chunk.sample_rate != rate:
        raise StageError(f"engine changed sample rate mid-sentence ({rate} → {chunk.sample_rate})")


def create_tts_app(engine: ServableEngine, *, model_name: str,
                   api_key: str | None = None) -> FastAPI:
    """The HTTP face of ``engine``. ``api_key`` set: requests must send ``Bearer <key>``."""
    app = FastAPI(title="aischoco TTS server", docs_url=None, redoc_url=None, openapi_url=None)
    gate = _Gate()

    async def authorize(request: Request) -> None:
        if not api_key:
            return
        given = request.headers.get("authorization", "")
        if not hmac.compare_digest(given.encode(), f"Bearer {api_key}".encode()):
            raise ApiError(401, "invalid or missing API key", "authentication_error")

    @app.exception_handler(ApiError)
    async def api_error(request: Request, exc: ApiError) -> JSONResponse:
        return _error_response(exc.status, exc.message, exc.kind)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        parts = []
        for error in exc.errors()[:3]:
            where = ".".join(str(p) for p in error.get("loc", ()) if p != "body")
            parts.append(f"{where}: {error.get('msg', 'invalid')}" if where else
                         str(error.get("msg", "invalid")))
        return _error_response(400, "; ".join(parts) or "invalid request")

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        return _error_response(exc.status_code, str(exc.detail))

    @app.post("/v1/audio/speech", dependencies=[Depends(authorize)])
    async def speech(body: SpeechRequest) -> Response:
        fmt = body.response_format.lower()
        if fmt not in FORMATS:
            raise ApiError(400, f"response_format {body.response_format!r} is not supported; "
                                "use pcm (streamed) or wav")
        if body.stream_format not in (None, "audio"):
            raise ApiError(400, f"stream_format {body.stream_format!r} is not supported; "
                                "use audio (raw bytes)")
        if body.speed not in (None, 1.0):
            raise ApiError(400, "speed is not supported by this server")
        if not engine.available:
            raise ApiError(503, "TTS 모델을 불러오는 중입니다 — the model is still loading; "
                                "try again shortly", "server_error")
        text = body.input
        synthesize_as = getattr(engine, "synthesize_as", None)  # engines that clone (Qwen, MLX)
        if body.ref_audio and synthesize_as is not None:
            reference = await asyncio.to_thread(_reference, body.ref_audio, body.ref_text or "")
            return _SpeechResponse(lambda: synthesize_as(reference, text), gate, text, fmt)
        return _SpeechResponse(lambda: engine.synthesize(text), gate, text, fmt)

    @app.get("/v1/models", dependencies=[Depends(authorize)])
    async def models() -> dict[str, Any]:
        return {"object": "list",
                "data": [{"id": model_name, "object": "model", "owned_by": "aischoco"}]}

    @app.get("/health")
    async def health() -> JSONResponse:
        ready = bool(engine.available)
        return JSONResponse({"status": "ok" if ready else "loading", "model": model_name,
                             "busy": gate.busy, "waiting": gate.waiting},
                            status_code=200 if ready else 503)

    return app


# --------------------------------------------------------------------------------------------
# Running it
# --------------------------------------------------------------------------------------------


def _reference(ref_audio: str, ref_text: str) -> Reference:
    """The clip a request brought (vLLM-Omni's ``ref_audio`` as a data URI), ready for the model."""
    head, comma, data = ref_audio.partition(",")
    if not comma or not head.startswith("data:") or not head.endswith(";base64"):
        raise ApiError(400, "ref_audio must be a base64 data: URI (data:audio/wav;base64,...)")
    try:
        samples, rate = decode_audio(base64.b64decode(data, validate=True))
        return prepare_reference(samples, rate, ref_text, source="ref_audio")
    except (binascii.Error, AudioDecodeError, VoiceSampleError) as exc:
        raise ApiError(400, f"ref_audio/ref_text cannot be used: {exc}") from None


async def serve_tts(engine: ServableEngine, host: str, port: int, *, model_name: str,
                    stop: asyncio.Event | None = None, api_key: str | None = None,
                    on_listening: Callable[[str], None] | None = None) -> None:
    """Load the engine (its ``run``) and serve it until ``stop`` is set (or this is cancelled).

    Raises the engine's exception when loading fails, and ComponentError when the port is taken.
    Signals are the caller's: wrap this in ``core.signals.stop_on_signals(stop)``.
    """
    stop = stop if stop is not None else asyncio.Event()
    if not is_loopback(host):
        log.warning("TTS server listens on %s: anyone who can reach port %d can use it%s", host,
                    port, "" if api_key else " (no API key set; use a firewall or a tunnel "
                                             "with access control)")
    sock = bind_socket(host, port)
    url = f"http://{host}:{sock.getsockname()[1]}"
    server = EmbeddedServer(uvicorn.Config(
        create_tts_app(engine, model_name=model_name, api_key=api_key), log_level="warning",
        access_log=False, lifespan="off", timeout_graceful_shutdown=2))
    board = StatusBoard()
    status = board.register(engine.name, "TTS 엔진")
    loading = asyncio.create_task(engine.run(status), name="tts-engine")
    serving = asyncio.create_task(server.serve(sockets=[sock]), name="tts-uvicorn")
    stopping = asyncio.create_task(stop.wait(), name="tts-stop")
    log.info("TTS server listening on %s (model %s)", url, model_name)
    if on_listening is not None:
        on_listening(url)
    try:
        pending = {loading, serving, stopping}
        while stopping in pending:
            done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
            if loading in done and loading.exception() is not None:
                raise loading.exception()  # type: ignore[misc]
            if serving in done:
                serving.result()
                raise RuntimeError("TTS server stopped unexpectedly")
    finally:
        server.should_exit = True
        with contextlib.suppress(BaseException):
            await asyncio.wait_for(asyncio.shield(serving), 3)
        for task in (loading, serving, stopping):
            task.cancel()
        await asyncio.gather(loading, serving, stopping, return_exceptions=True)
        closer = getattr(engine, "aclose", None)
        if closer is not None:
            await closer()
        sock.close()
        log.info("TTS server stopped")
