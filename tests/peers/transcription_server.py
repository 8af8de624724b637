"""A real OpenAI-compatible transcription server on 127.0.0.1 for tests (Groq's Whisper API).

`POST /v1/audio/transcriptions` parses the multipart upload for real (Starlette + python-multipart)
and records every field, the file's name, content type and bytes, the headers, and when the
request arrived and was answered (time.monotonic()). Each request consumes the next scripted
behaviour; with the script empty it uses ``default``.

As a process (daemon tests)::

    python tests/peers/transcription_server.py --port 0 --text "초코야 안녕" --delay-ms 200
    # prints "listening on http://127.0.0.1:N/v1"
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
import time
from dataclasses import dataclass, field
from typing import Any

try:
    from peers.threaded_server import ScriptedServer
except ImportError:  # run as a script
    from threaded_server import ScriptedServer  # type: ignore[no-redef]
from starlette.applications import Starlette
from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route


@dataclass(frozen=True)
class Transcribe:
    """200 with ``text``; ``verbose_json`` requests also get one segment with no_speech_prob."""

    text: str = "초코야 안녕"
    delay_ms: float = 0
    no_speech_prob: float = 0.01


@dataclass(frozen=True)
class Fail:
    status: int = 500
    message: str = "internal error"


Behaviour = Transcribe | Fail


@dataclass
class Upload:
    fields: dict[str, str]
    headers: dict[str, str]
    filename: str | None = None
    content_type: str | None = None
    data: bytes = b""
    received_at: float = field(default_factory=time.monotonic)
    answered_at: float | None = None


class TranscriptionServer(ScriptedServer[Behaviour, Upload]):
    thread_name = "transcription-peer"

    def __init__(self, *, default: Behaviour | None = None, host: str = "127.0.0.1",
                 port: int = 0) -> None:
        self._init_script(default if default is not None else Transcribe())
        self._bind_and_serve(self.app(), host=host, port=port)

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}/v1"

    def app(self) -> Starlette:
        async def transcriptions(request: Request) -> Response:
            received = time.monotonic()
            headers = {k.lower(): v for k, v in request.headers.items()}
            upload = Upload({}, headers, received_at=received)
            try:
                form = await request.form()
            except Exception as exc:  # noqa: BLE001 - not multipart: answer like OpenAI does
                behaviour: Behaviour = Fail(400, f"could not parse multipart form: {exc}")
            else:
                for key, value in form.multi_items():
                    if isinstance(value, UploadFile):
                        upload.filename, upload.content_type = value.filename, value.content_type
                        upload.data = await value.read()
                    else:
                        upload.fields[key] = value
                behaviour = self._take(upload)
                if not upload.data:
                    behaviour = Fail(400, "file is required")
            if isinstance(behaviour, Fail):
                upload.answered_at = time.monotonic()
                return JSONResponse({"error": {"message": behaviour.message,
                                               "type": "invalid_request_error"}},
                                    status_code=behaviour.status)
            await asyncio.sleep(max(0.0, received + behaviour.delay_ms / 1000 - time.monotonic()))
            body: dict[str, Any] = {"text": behaviour.text}
            if upload.fields.get("response_format") == "verbose_json":
                body.update(task="transcribe", language="korean", duration=len(upload.data) / 32000,
                            segments=[{"id": 0, "start": 0.0, "end": len(upload.data) / 32000,
                                       "text": behaviour.text,
                                       "no_speech_prob": behaviour.no_speech_prob}])
            upload.answered_at = time.monotonic()
            return JSONResponse(body)

        async def models(request: Request) -> Response:  # what `doctor` asks
            if request.headers.get("authorization") == "Bearer rejected":
                return JSONResponse({"error": {"message": "Invalid API Key"}}, status_code=401)
            return JSONResponse({"object": "list", "data": [
                {"id": "whisper-large-v3-turbo", "object": "model", "owned_by": "peer"}]})

        return Starlette(routes=[Route("/v1/audio/transcriptions", transcriptions,
                                       methods=["POST"]),
                                 Route("/v1/models", models, methods=["GET"])])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="OpenAI-compatible transcription server for tests.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--text", default="초코야 안녕")
    parser.add_argument("--delay-ms", type=float, default=0)
    args = parser.parse_args(argv)
    peer = TranscriptionServer(default=Transcribe(args.text, args.delay_ms), host=args.host,
                               port=args.port)
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: None)
    print(f"listening on {peer.base_url}", flush=True)
    peer._server.run(sockets=[peer._sock])  # uvicorn stops on SIGINT/SIGTERM
    return 0


if __name__ == "__main__":
    sys.exit(main())
