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

As a process (daemon integration tests)::

    python tests/peers/speech_server.py --port 0 [--first-byte-ms N --chunk-ms N --gap-ms N]

prints ``listening on http://127.0.0.1:PORT`` (the TTS_REMOTE_URL) and serves until SIGTERM/SIGINT.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import struct
import sys
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

try:
    from peers.threaded_server import ScriptedServer, read_request
except ImportError:  # run as a script: python tests/peers/speech_server.py
    from threaded_server import ScriptedServer, read_request  # type: ignore[no-redef]

__all__ = [
    "MS_PER_CHAR",
    "DropMidStream",
    "Ok",
    "SpeechRecord",
    "SpeechServer",
    "Status",
    "WavBody",
    "speech_pcm",
    "wav_header",
]

MS_PER_CHAR = 20
MODEL_ID = "peer-tts"


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
    """An OpenAI-style error body with this status."""

    code: int
    message: str = "error"


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


Behaviour = Ok | Status | DropMidStream | WavBody


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


def _error(code: int, message: str) -> JSONResponse:
    kind = "invalid_request_error" if code < 500 else "server_error"
    return JSONResponse({"error": {"message": message, "type": kind}}, status_code=code)


# --------------------------------------------------------------------------------------------
# Server
# --------------------------------------------------------------------------------------------


class SpeechServer(ScriptedServer[Behaviour, SpeechRecord]):
    """uvicorn on 127.0.0.1 in a daemon thread; use as a context manager."""

    thread_name = "speech-peer"

    def __init__(self, *, default: Behaviour | None = None, host: str = "127.0.0.1",
                 port: int = 0, ms_per_char: int = MS_PER_CHAR) -> None:
        self._init_script(default if default is not None else Ok())
        self.ms_per_char = ms_per_char
        self.models_status = 200  # what GET /v1/models answers (503: "still loading")
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
            if not isinstance(body, dict) or not str(body.get("input", "")).strip():
                return _error(400, "input is required")
            return await self._respond(behaviour, str(body["input"]), record)

        async def models(request: Request) -> Response:
            self._take(SpeechRecord(request.url.path, {k.lower(): v for k, v in
                                                       request.headers.items()}, None,
                                    time.monotonic()), consume=False)
            if self.models_status != 200:
                return _error(self.models_status, "model is loading")
            return JSONResponse({"object": "list",
                                 "data": [{"id": MODEL_ID, "object": "model", "owned_by": "peer"}]})

        return Starlette(routes=[
            Route("/v1/audio/speech", speech, methods=["POST"]),
            Route("/v1/models", models, methods=["GET"]),
        ])

    async def _respond(self, behaviour: Behaviour, text: str, record: SpeechRecord) -> Response:
        if isinstance(behaviour, Status):
            return _error(behaviour.code, behaviour.message)
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

    @staticmethod
    async def _pieces(data: bytes, size: int, gap_ms: float,
                      record: SpeechRecord) -> AsyncIterator[bytes]:
        try:
            for start in range(0, len(data), size):
                if start and gap_ms:
                    await asyncio.sleep(gap_ms / 1000)
                piece = data[start:start + size]
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
    args = parser.parse_args(argv)
    peer = SpeechServer(default=Ok(first_byte_ms=args.first_byte_ms, chunk_ms=args.chunk_ms,
                                   gap_ms=args.gap_ms),
                        host=args.host, port=args.port, ms_per_char=args.ms_per_char)
    # uvicorn handles SIGTERM/SIGINT itself, then re-raises the signal into the handler it found
    # at start; a no-op there makes a signalled stop a clean exit 0.
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: None)
    print(f"listening on {peer.base_url}", flush=True)
    peer._server.run(sockets=[peer._sock])
    return 0


if __name__ == "__main__":
    sys.exit(main())
