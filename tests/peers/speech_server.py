"""A real, scriptable OpenAI-compatible speech server on 127.0.0.1 for tests (remote TTS peer).

In-process (tests)::

    with SpeechServer() as srv:                      # uvicorn in a background thread, free port
        srv.script([Status(503, "busy"), Ok(gap_ms=20)])
        engine = RemoteEngine(srv.base_url)
        ...
        srv.speech_requests[0].body["input"]; srv.speech_requests[0].first_byte_at

Each ``POST /v1/audio/speech`` consumes the next scripted behaviour (``default`` when the script is
empty). The audio is deterministic: ``speech_pcm(text)`` is MS_PER_CHAR ms of a rising chirp per
character of ``input``, so tests can compare exact bytes. Every request is recorded with its JSON
body, headers, when each body piece was handed to the server, and whether the client went away
before the end.

``dialect`` makes the peer answer like a real server on the points our client depends on (read from
their released sources):

- ``"plain"``: our contract (``tts-server``, ``mac_tts_server``): raw PCM with ``X-Sample-Rate``.
- ``"vllm-omni"`` (0.30): ``model`` must be the served name (else 404 "The model `x` does not
  exist."); ``stream: true`` without ``stream_format: "audio"`` answers ``speech.audio.*`` SSE
  events; raw PCM has no rate header, its rate is ``sample_rate`` (8000 or 24000) or the model's
  own; ``language`` must be one it knows; ``task_type: "Base"`` needs ``ref_audio``. ``Ok`` is
  shaped by those rules; ``Status``/``DropMidStream`` still apply after them.
- ``"faster-qwen3-tts"`` (``examples/openai_server.py``): FastAPI ``{"detail": …}`` errors, no
  ``/v1/models``, 24 kHz int16 PCM without a rate header, the voice from its own ``--ref-audio``
  (``ref_audio``/``ref_text``/``stream``/``language`` are dropped unread), and one model lock with
  generation that runs on after the client leaves: the next request waits for the abandoned one.

As a process (daemon integration tests)::

    python tests/peers/speech_server.py --port 0 [--first-byte-ms N --chunk-ms N --gap-ms N]
        [--dialect vllm-omni|faster-qwen3-tts --served-model NAME]

prints ``listening on http://127.0.0.1:PORT`` (the TTS_REMOTE_URL) and serves until SIGTERM/SIGINT.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import signal
import struct
import sys
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field, replace
from typing import Any, Literal

import numpy as np
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response, StreamingResponse
from starlette.routing import Route

try:
    from peers.threaded_server import ScriptedServer, read_request
except ImportError:  # run as a script: python tests/peers/speech_server.py
    from threaded_server import ScriptedServer, read_request  # type: ignore[no-redef]

__all__ = [
    "HF_MODEL_ID",
    "MS_PER_CHAR",
    "Dialect",
    "DropMidStream",
    "Ok",
    "SpeechRecord",
    "SpeechServer",
    "Sse",
    "Status",
    "WavBody",
    "speech_pcm",
    "wav_header",
]

MS_PER_CHAR = 20
MODEL_ID = "peer-tts"
HF_MODEL_ID = "Qwen/Qwen3-TTS-12Hz-1.7B-Base"  # vLLM's name without --served-model-name
Dialect = Literal["plain", "vllm-omni", "faster-qwen3-tts"]
VLLM_LANGUAGES = frozenset({"Auto", "Chinese", "English", "Japanese", "Korean", "German", "French",
                            "Russian", "Portuguese", "Spanish", "Italian"})
VLLM_RATES = (8_000, 24_000)


# --------------------------------------------------------------------------------------------
# Behaviours
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Ok:
    """200, raw PCM s16le mono streamed in pieces."""

    first_byte_ms: float = 0  # before the response headers
    chunk_ms: float = 40  # audio per piece
    chunk_bytes: int | None = None  # overrides chunk_ms; odd sizes split samples
    gap_ms: float = 0  # between pieces
    sample_rate: int = 24_000
    rate_header: bool = True  # send X-Sample-Rate
    content_type: str = "audio/pcm"


@dataclass(frozen=True)
class Status:
    """An error body with this status: OpenAI's ``{"error": {"message"}}`` or FastAPI's
    ``{"detail": message}`` (the faster-qwen3-tts dialect always uses the latter)."""

    code: int
    message: str = "error"
    shape: Literal["error", "detail"] = "error"


@dataclass(frozen=True)
class Sse:
    """200, ``text/event-stream`` as vLLM-Omni sends it: ``speech.audio.delta`` events with base64
    PCM in ``audio``, then ``speech.audio.done``, or ``speech.audio.error`` after ``error_after``
    bytes of audio (then the stream ends)."""

    sample_rate: int = 24_000
    chunk_bytes: int = 1920
    gap_ms: float = 0
    error_after: int | None = None
    error_message: str = "CUDA error: an illegal memory access was encountered"


@dataclass(frozen=True)
class DropMidStream:
    """200, then the connection is cut after ``after_bytes`` of the audio."""

    after_bytes: int = 4800
    chunk_bytes: int = 1200


@dataclass(frozen=True)
class WavBody:
    """200 with a WAV file body (header + 16-bit mono PCM), streamed in pieces."""

    sample_rate: int = 22_050
    streaming_size: bool = True  # data size 0xFFFFFFFF, as streaming writers do
    chunk_bytes: int = 1000
    gap_ms: float = 0


Behaviour = Ok | Status | DropMidStream | WavBody | Sse


@dataclass
class SpeechRecord:
    path: str
    headers: dict[str, str]  # lower-case names
    body: Any  # parsed JSON, or the raw text
    received_at: float  # time.monotonic()
    sent_at: list[float] = field(default_factory=list)  # one per body piece handed to the server
    sent_sizes: list[int] = field(default_factory=list)
    completed: bool = False  # the whole body was handed over
    disconnected: bool = False  # the client went away before the end
    generated_at: float | None = None  # faster-qwen3-tts: when its model finished, client or not

    @property
    def first_byte_at(self) -> float | None:
        return self.sent_at[0] if self.sent_at else None

    @property
    def bytes_sent(self) -> int:
        return sum(self.sent_sizes)


class _DroppingResponse(Response):
    """Sends part of a chunked body, then returns without finishing it: uvicorn closes the
    connection (one error line in its log) and the client sees an incomplete body."""

    def __init__(self, pieces: AsyncIterator[bytes]) -> None:
        super().__init__()
        self._pieces = pieces

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        # No content-length (Response would add "0"): the body is chunked and never finished.
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", b"audio/pcm")]})
        async for piece in self._pieces:
            await send({"type": "http.response.body", "body": piece, "more_body": True})
        await asyncio.sleep(0.02)  # let the last piece leave before the cut


# --------------------------------------------------------------------------------------------
# Audio
# --------------------------------------------------------------------------------------------


def speech_pcm(text: str, sample_rate: int = 24_000, ms_per_char: int = MS_PER_CHAR) -> bytes:
    """The peer's voice: a 200→800 Hz chirp, ``ms_per_char`` per character (no repeats to hide
    duplicated or dropped pieces)."""
    n = len(text) * ms_per_char * sample_rate // 1000
    t = np.arange(n, dtype=np.float64) / sample_rate
    span = max(n / sample_rate, 1e-9)
    phase = 2 * np.pi * (200 * t + 300 * t * t / span)
    return (np.sin(phase) * 12_000).round().astype("<i2").tobytes()


def wav_header(sample_rate: int, data_bytes: int | None) -> bytes:
    """A 44-byte PCM16 mono header; ``data_bytes`` None writes the streaming size 0xFFFFFFFF."""
    size = 0xFFFFFFFF if data_bytes is None else data_bytes
    riff = 0xFFFFFFFF if data_bytes is None else 36 + data_bytes
    return (b"RIFF" + struct.pack("<I", riff) + b"WAVE"
            + b"fmt " + struct.pack("<IHHIIHH", 16, 1, 1, sample_rate, sample_rate * 2, 2, 16)
            + b"data" + struct.pack("<I", size))


def _error(code: int, message: str, kind: str | None = None) -> JSONResponse:
    kind = kind or ("invalid_request_error" if code < 500 else "server_error")
    return JSONResponse({"error": {"message": message, "type": kind}}, status_code=code)


def _detail(code: int, detail: object) -> JSONResponse:
    """FastAPI's HTTPException / validation error body."""
    return JSONResponse({"detail": detail}, status_code=code)


def _sse_events(pcm: bytes, behaviour: Sse) -> list[bytes]:
    """vLLM-Omni's ``_generate_audio_sse_events``, byte for byte in shape."""
    def event(kind: str, payload: dict[str, Any]) -> bytes:
        data = json.dumps({"type": kind, **payload}, separators=(",", ":"))
        return f"event: {kind}\ndata: {data}\n\n".encode()

    end = len(pcm) if behaviour.error_after is None else min(behaviour.error_after, len(pcm))
    events = [event("speech.audio.delta", {
        "audio": base64.b64encode(pcm[start:start + behaviour.chunk_bytes]).decode("ascii"),
        "response_format": "pcm"}) for start in range(0, end, behaviour.chunk_bytes)]
    if behaviour.error_after is None:
        events.append(event("speech.audio.done", {"usage": {"input_tokens": 1}}))
    else:
        events.append(event("speech.audio.error", {"error": {
            "message": behaviour.error_message, "type": "server_error", "param": None,
            "code": 500, **({"partial_audio": True, "action": "discard"} if end else {})}}))
    return events


# --------------------------------------------------------------------------------------------
# Server
# --------------------------------------------------------------------------------------------


class SpeechServer(ScriptedServer[Behaviour, SpeechRecord]):
    """uvicorn on 127.0.0.1 in a daemon thread; use as a context manager."""

    thread_name = "speech-peer"

    def __init__(self, *, default: Behaviour | None = None, host: str = "127.0.0.1",
                 port: int = 0, ms_per_char: int = MS_PER_CHAR, dialect: Dialect = "plain",
                 served_model: str = HF_MODEL_ID, native_rate: int = 24_000) -> None:
        self._init_script(default if default is not None else Ok())
        self.ms_per_char = ms_per_char
        self.models_status = 200  # what GET /v1/models answers (503: "still loading")
        self.dialect = dialect
        self.served_model = served_model  # vllm-omni: `--served-model-name`, or the HF id
        self.native_rate = native_rate  # vllm-omni: the rate when the request names none
        self._model_lock = asyncio.Lock()  # faster-qwen3-tts: one generation at a time
        self._generations: set[asyncio.Task[None]] = set()
        self._bind_and_serve(self.app(), host=host, port=port)

    @property
    def base_url(self) -> str:
        """What TTS_REMOTE_URL would be (the client adds /v1/audio/speech)."""
        return f"http://{self.host}:{self.port}"

    @property
    def speech_requests(self) -> list[SpeechRecord]:
        return [r for r in self.requests if r.path == "/v1/audio/speech"]

    # --- ASGI app -------------------------------------------------------------------------

    def app(self) -> Starlette:
        async def speech(request: Request) -> Response:
            headers, body = await read_request(request)
            record = SpeechRecord(request.url.path, headers, body, time.monotonic())
            behaviour = self._take(record)
            if self.dialect == "vllm-omni":
                return await self._vllm_omni(behaviour, body, record)
            if self.dialect == "faster-qwen3-tts":
                return await self._faster_qwen3_tts(behaviour, body, record)
            if not isinstance(body, dict) or not str(body.get("input", "")).strip():
                return _error(400, "input is required")
            return await self._respond(behaviour, str(body["input"]), record)

        async def models(request: Request) -> Response:
            self._take(SpeechRecord(request.url.path, {k.lower(): v for k, v in
                                                       request.headers.items()}, None,
                                    time.monotonic()), consume=False)
            if self.dialect == "faster-qwen3-tts":
                return _detail(404, "Not Found")  # the example server has no such route
            if self.models_status != 200:
                return _error(self.models_status, "model is loading")
            model = self.served_model if self.dialect == "vllm-omni" else MODEL_ID
            return JSONResponse({"object": "list",
                                 "data": [{"id": model, "object": "model", "owned_by": "peer"}]})

        async def health(request: Request) -> Response:
            if self.dialect == "vllm-omni":
                return Response(status_code=200)
            if self.dialect == "faster-qwen3-tts":
                return JSONResponse({"status": "ok", "model_loaded": True})
            return PlainTextResponse("Not Found", status_code=404)  # as before: no such route

        return Starlette(routes=[
            Route("/v1/audio/speech", speech, methods=["POST"]),
            Route("/v1/models", models, methods=["GET"]),
            Route("/health", health, methods=["GET"]),
        ])

    # --- dialects -------------------------------------------------------------------------

    async def _vllm_omni(self, behaviour: Behaviour, body: Any,
                         record: SpeechRecord) -> Response:
        """vLLM-Omni 0.30 ``create_speech``: its checks in its order, then the answer's shape."""
        if not isinstance(body, dict) or not isinstance(body.get("input"), str):
            return _error(400, "input: Field required", "BadRequestError")
        stream_format = body.get("stream_format")
        sse = stream_format == "sse" or (bool(body.get("stream")) and stream_format != "audio")
        streaming = sse or stream_format == "audio"
        fmt = body.get("response_format", "wav")
        if streaming and fmt not in ("pcm", "wav"):
            return _error(400, "Streaming requires response_format='pcm' or 'wav'. "
                               f"Got response_format='{fmt}'.", "BadRequestError")
        rate = body.get("sample_rate")
        if rate is not None and rate not in VLLM_RATES:
            return _error(400, f"sample_rate={rate} is not supported by the current TTS model; "
                               "supported rates: 8000, 24000", "BadRequestError")
        model = body.get("model")
        if model and model != self.served_model:
            return _error(404, f"The model `{model}` does not exist.", "NotFoundError")
        text = body["input"]
        if not text.strip():
            return _error(400, "Input text cannot be empty", "BadRequestError")
        language = body.get("language")
        if language is not None and str(language).title() not in VLLM_LANGUAGES:
            return _error(400, f"Invalid language '{str(language).title()}'.", "BadRequestError")
        if body.get("task_type") == "Base" and not body.get("ref_audio"):
            return _error(400, "Base task requires 'ref_audio' for voice cloning",
                          "BadRequestError")
        rate = rate or self.native_rate
        if isinstance(behaviour, Ok):
            chunk = int(rate * behaviour.chunk_ms / 1000) * 2
            if sse:
                behaviour = Sse(sample_rate=rate, chunk_bytes=chunk, gap_ms=behaviour.gap_ms)
            elif fmt == "wav":
                behaviour = WavBody(sample_rate=rate, streaming_size=streaming, chunk_bytes=chunk,
                                    gap_ms=behaviour.gap_ms)
            elif fmt == "pcm":
                behaviour = replace(behaviour, sample_rate=rate, rate_header=False)
            else:
                return _error(400, f"the peer does not encode {fmt}")
        return await self._respond(behaviour, text, record)

    async def _faster_qwen3_tts(self, behaviour: Behaviour, body: Any,
                                record: SpeechRecord) -> Response:
        """faster-qwen3-tts ``examples/openai_server.py`` ``create_speech``."""
        if not isinstance(body, dict) or not isinstance(body.get("input"), str):
            return _detail(422, [{"loc": ["body", "input"], "msg": "Field required",
                                  "type": "missing"}])
        text = body["input"]
        if not text.strip():
            return _detail(400, "'input' text is empty")
        # Its SpeechRequest has model/input/voice/response_format/speed only; every other field
        # is dropped unread, and any voice name falls back to its one --ref-audio voice.
        fmt = str(body.get("response_format", "wav")).lower()
        if fmt not in ("wav", "pcm", "mp3"):
            return _detail(400, f"response_format {fmt!r} not supported. Use: wav, pcm, mp3")
        if isinstance(behaviour, Status):
            return _detail(behaviour.code, behaviour.message)
        if not isinstance(behaviour, Ok):
            return await self._respond(behaviour, text, record)
        if fmt == "mp3":
            return _detail(400, "response_format='mp3' requires pydub: pip install pydub")
        data = (wav_header(24_000, None) if fmt == "wav" else b"") + speech_pcm(
            text, 24_000, self.ms_per_char)
        size = behaviour.chunk_bytes or int(24_000 * behaviour.chunk_ms / 1000) * 2
        pieces = [data[start:start + size] for start in range(0, len(data), size)]
        return StreamingResponse(self._detached(pieces, behaviour, record),
                                 media_type="audio/wav" if fmt == "wav" else "audio/pcm")

    async def _detached(self, pieces: list[bytes], behaviour: Ok,
                        record: SpeechRecord) -> AsyncIterator[bytes]:
        """Generation as the example runs it: a thread behind one model lock that fills a queue
        to the end whether or not anyone still reads it."""
        queue: asyncio.Queue[bytes | None] = asyncio.Queue()

        async def generate() -> None:
            async with self._model_lock:
                await asyncio.sleep(behaviour.first_byte_ms / 1000)
                for i, piece in enumerate(pieces):
                    if i and behaviour.gap_ms:
                        await asyncio.sleep(behaviour.gap_ms / 1000)
                    queue.put_nowait(piece)
                record.generated_at = time.monotonic()
            queue.put_nowait(None)

        task = asyncio.create_task(generate())
        self._generations.add(task)  # kept alive past the response, like the example's thread
        task.add_done_callback(self._generations.discard)

        async def drained() -> AsyncIterator[bytes]:
            while (piece := await queue.get()) is not None:
                yield piece

        async for piece in _tracked(drained(), record):
            yield piece

    async def _respond(self, behaviour: Behaviour, text: str, record: SpeechRecord) -> Response:
        if isinstance(behaviour, Status):
            if behaviour.shape == "detail":
                return _detail(behaviour.code, behaviour.message)
            return _error(behaviour.code, behaviour.message)
        if isinstance(behaviour, Sse):
            events = _sse_events(speech_pcm(text, behaviour.sample_rate, self.ms_per_char),
                                 behaviour)
            return StreamingResponse(self._send(events, behaviour.gap_ms, record),
                                     media_type="text/event-stream")
        if isinstance(behaviour, Ok):
            await asyncio.sleep(behaviour.first_byte_ms / 1000)
            pcm = speech_pcm(text, behaviour.sample_rate, self.ms_per_char)
            size = behaviour.chunk_bytes or max(
                2, int(behaviour.sample_rate * behaviour.chunk_ms / 1000) * 2)
            headers = {"X-Sample-Rate": str(behaviour.sample_rate)} if behaviour.rate_header else {}
            return StreamingResponse(self._pieces(pcm, size, behaviour.gap_ms, record),
                                     media_type=behaviour.content_type, headers=headers)
        if isinstance(behaviour, DropMidStream):
            pcm = speech_pcm(text, 24_000, self.ms_per_char)[: behaviour.after_bytes]
            return _DroppingResponse(self._pieces(pcm, behaviour.chunk_bytes, 5, record))
        if isinstance(behaviour, WavBody):
            pcm = speech_pcm(text, behaviour.sample_rate, self.ms_per_char)
            data = wav_header(behaviour.sample_rate,
                              None if behaviour.streaming_size else len(pcm)) + pcm
            return StreamingResponse(
                self._pieces(data, behaviour.chunk_bytes, behaviour.gap_ms, record),
                media_type="audio/wav")
        raise TypeError(f"unknown behaviour {behaviour!r}")

    @classmethod
    def _pieces(cls, data: bytes, size: int, gap_ms: float,
                record: SpeechRecord) -> AsyncIterator[bytes]:
        return cls._send([data[start:start + size] for start in range(0, len(data), size)],
                         gap_ms, record)

    @staticmethod
    def _send(pieces: list[bytes], gap_ms: float, record: SpeechRecord) -> AsyncIterator[bytes]:
        async def paced() -> AsyncIterator[bytes]:
            for i, piece in enumerate(pieces):
                if i and gap_ms:
                    await asyncio.sleep(gap_ms / 1000)
                yield piece

        return _tracked(paced(), record)


async def _tracked(pieces: AsyncIterator[bytes], record: SpeechRecord) -> AsyncIterator[bytes]:
    """Hand the pieces on, recording when and how much was sent, and whether the client stayed
    to the end (completed) or went away first (disconnected)."""
    try:
        async for piece in pieces:
            record.sent_at.append(time.monotonic())
            record.sent_sizes.append(len(piece))
            yield piece
        record.completed = True
    finally:
        if not record.completed:
            record.disconnected = True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Scriptable OpenAI-compatible speech server.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--first-byte-ms", type=float, default=0)
    parser.add_argument("--chunk-ms", type=float, default=40)
    parser.add_argument("--gap-ms", type=float, default=0)
    parser.add_argument("--ms-per-char", type=int, default=MS_PER_CHAR)
    parser.add_argument("--dialect", choices=["plain", "vllm-omni", "faster-qwen3-tts"],
                        default="plain")
    parser.add_argument("--served-model", default=HF_MODEL_ID, help="vllm-omni: the served name")
    args = parser.parse_args(argv)
    peer = SpeechServer(default=Ok(first_byte_ms=args.first_byte_ms, chunk_ms=args.chunk_ms,
                                   gap_ms=args.gap_ms),
                        host=args.host, port=args.port, ms_per_char=args.ms_per_char,
                        dialect=args.dialect, served_model=args.served_model)
    # uvicorn handles SIGTERM/SIGINT itself, then re-raises the signal into the handler it found
    # at start; a no-op there makes a signalled stop a clean exit 0.
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: None)
    print(f"listening on {peer.base_url}", flush=True)
    peer._server.run(sockets=[peer._sock])
    return 0


if __name__ == "__main__":
    sys.exit(main())
