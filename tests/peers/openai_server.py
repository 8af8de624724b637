"""A real, scriptable OpenAI-compatible HTTP server on 127.0.0.1 for tests (Groq-like responses).

In-process (tests)::

    with OpenAIServer() as srv:                      # uvicorn in a background thread, free port
        srv.script([InvalidJson(), Reply({"response": "안녕!", "emotion": "happy"})])
        client = GroqClient(api_key="k", base_url=srv.base_url, model="openai/gpt-oss-120b")
        ...
        srv.requests[0].body["model"]; srv.requests[0].headers["authorization"]

Each POST /v1/chat/completions consumes the next scripted behaviour; with the script empty the
server uses ``default`` (``Echo()`` unless given). Every request's JSON body and headers are
recorded. Normal replies carry Groq's x-ratelimit-* headers.

Streamed requests (``"stream": true``) get SSE like Groq's: a role chunk, content deltas, a final
chunk with ``x_groq.usage``, then ``data: [DONE]``. ``Stream`` scripts how: time to first token,
tokens per second, the content deltas, byte positions at which the body is cut into separate
writes (inside a multi-byte character if you like), reasoning deltas, a connection cut after N
deltas. Each request's ``received_at``, content ``delta_sent_at`` and ``done_at`` are recorded
(time.monotonic(), the clock the speech peer records with).

As a process (daemon integration tests)::

    python tests/peers/openai_server.py --port 0    # prints "listening on http://127.0.0.1:N/v1"

answers JSON-mode and streamed requests with {"emotion": "happy", "response": <last viewer line
echoed>} and plain requests (history summaries) with a short text, until SIGTERM/SIGINT.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import signal
import sys
import time
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any


try:
    from peers.threaded_server import ScriptedServer, read_request
except ImportError:  # run as a script: python tests/peers/openai_server.py
    from threaded_server import ScriptedServer, read_request  # type: ignore[no-redef]
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

__all__ = [
    "Echo",
    "InvalidJson",
    "ToolCalls",
    "OpenAIServer",
    "RateLimited",
    "Recorded",
    "RefuseJsonMode",
    "RefuseTools",
    "TOOLS_REFUSALS",
    "Reply",
    "ServerError",
    "Slow",
    "Status",
    "Stream",
    "last_viewer_line",
    "sse_body",
]

DEFAULT_USAGE = {"prompt_tokens": 120, "completion_tokens": 30, "total_tokens": 150}
DEFAULT_RATE_HEADERS = {
    "x-ratelimit-limit-requests": "1000",
    "x-ratelimit-limit-tokens": "8000",
    "x-ratelimit-remaining-requests": "999",
    "x-ratelimit-remaining-tokens": "7850",
    "x-ratelimit-reset-requests": "1m26.4s",
    "x-ratelimit-reset-tokens": "1.125s",
}
_FENCE_PREFIX = "<<<"


# --------------------------------------------------------------------------------------------
# Behaviours
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Reply:
    """200 with ``content`` as message.content (a dict is sent as its JSON text)."""

    content: dict[str, Any] | str = field(
        default_factory=lambda: {"response": "안녕하세요!", "emotion": "happy"}
    )
    usage: dict[str, Any] | None = None  # None: DEFAULT_USAGE (plus Groq's float timings)
    headers: dict[str, str] | None = None  # added to / overriding the rate-limit headers
    reasoning: str | None = None  # gpt-oss style message.reasoning (must never be spoken)
    finish_reason: str = "stop"


@dataclass(frozen=True)
class Stream:
    """200 ``text/event-stream`` (for a request with ``"stream": true``; a non-streamed request
    gets the same content as one Reply).

    ``pieces`` are the content deltas (None: ``content`` cut every ``token_chars`` characters).
    The first delta leaves ``ttft_ms`` after the request arrived, the next ones one token each at
    ``tokens_per_s`` (None: at once). ``byte_splits`` cuts the SSE body into separate writes at
    these byte offsets. ``reasoning`` goes out as ``delta.reasoning`` before the content.
    ``cut_after`` drops the connection after that many content deltas (no [DONE]);
    ``error_after`` sends an in-stream error event there instead.
    """

    content: dict[str, Any] | str = field(
        default_factory=lambda: {"emotion": "happy", "response": "안녕하세요!"}
    )
    pieces: Sequence[str] | None = None
    token_chars: int = 4
    ttft_ms: float = 0
    tokens_per_s: float | None = None
    byte_splits: Sequence[int] = ()
    split_gap_ms: float = 2  # between the writes of one cut event, so they arrive apart
    reasoning: Sequence[str] = ()
    cut_after: int | None = None
    error_after: int | None = None
    usage: dict[str, Any] | None = None  # in the final chunk; None: DEFAULT_USAGE
    headers: dict[str, str] | None = None
    finish_reason: str = "stop"


@dataclass(frozen=True)
class Echo:
    """JSON mode and streamed requests: {"emotion": "happy", "response": <last viewer line>};
    plain mode: a summary."""

    emotion: str = "happy"


@dataclass(frozen=True)
class InvalidJson:
    """Groq's 400 json_validate_failed."""

    failed_generation: str = '{"response": "안녕'


@dataclass(frozen=True)
class RateLimited:
    """429 with Groq's body; ``retry_after`` None omits the header (the body still says when)."""

    retry_after: float | None = 0.2
    try_again_in: str = "0.2s"
    headers: dict[str, str] | None = None


@dataclass(frozen=True)
class ServerError:
    status: int = 500


@dataclass(frozen=True)
class Status:
    """Any status with an OpenAI-style error body."""

    status: int
    message: str = "error"
    code: str | None = None
    type: str = "invalid_request_error"


@dataclass(frozen=True)
class Slow:
    """Wait ``seconds`` before answering with ``then`` (the client may give up first)."""

    seconds: float
    then: Behaviour = field(default_factory=Reply)


@dataclass(frozen=True)
class ToolCalls:
    """The model asks for tools: ``calls`` are (name, arguments JSON text). Whole: in
    ``message.tool_calls`` with finish_reason "tool_calls". Streamed: as Groq/OpenAI send them, the
    first delta of each call with its index, id and name, then its arguments in pieces of
    ``arg_chars`` characters, each in a chunk of its own (calls interleaved when ``interleave``)."""

    calls: Sequence[tuple[str, str]]
    arg_chars: int = 5
    interleave: bool = True


@dataclass(frozen=True)
class RefuseTools:
    """A local server whose model takes no tools: a request offering `tools` gets ``server``'s
    own refusal (TOOLS_REFUSALS: status, headers and body bytes as that server sends them,
    streamed or not, since each refuses before any output); any other request gets ``then``.
    As the default behaviour (``OpenAIServer(default=RefuseTools("ollama"))``) every request
    is answered that way."""

    server: str = "ollama"  # a key of TOOLS_REFUSALS
    then: Behaviour = field(default_factory=Echo)


@dataclass(frozen=True)
class RefuseJsonMode:
    """LM Studio: a request with ``response_format`` json_object gets its 400
    ``{"error": "'response_format.type' must be 'json_schema' or 'text'"}`` (the words its users
    report, lmstudio-ai/lmstudio-bug-tracker#189); any other request gets ``then``."""

    then: Behaviour = field(default_factory=Echo)


Behaviour = (Reply | Stream | Echo | InvalidJson | RateLimited | ServerError | Status | Slow
             | ToolCalls | RefuseTools | RefuseJsonMode)


@dataclass
class Recorded:
    path: str
    headers: dict[str, str]  # lower-case names
    body: Any  # parsed JSON, or the raw text if it was not JSON
    received_at: float = field(default_factory=time.monotonic)
    delta_sent_at: list[float] = field(default_factory=list)  # per content delta handed over
    done_at: float | None = None  # [DONE] handed over (or the stream cut)
    disconnected_at: float | None = None  # the client closed a stream before its end

    @property
    def json_mode(self) -> bool:
        return isinstance(self.body, dict) and isinstance(self.body.get("response_format"), dict)


# --------------------------------------------------------------------------------------------
# Responses
# --------------------------------------------------------------------------------------------


def last_viewer_line(messages: Iterable[dict[str, Any]]) -> str:
    """Text of the last chat line in the last user message (prompts.format_batch layout)."""
    for message in reversed(list(messages)):
        if message.get("role") != "user":
            continue
        lines = [
            line.strip()
            for line in str(message.get("content", "")).splitlines()
            if line.strip() and not line.strip().startswith(_FENCE_PREFIX)
        ]
        if not lines:
            return ""
        line = lines[-1]
        _, sep, text = line.partition("」: ")  # "[tags] 「nick」: text"
        return text if sep else line
    return ""


def _error(status: int, message: str, type_: str, code: str | None, **extra: Any) -> dict[str, Any]:
    error: dict[str, Any] = {"message": message, "type": type_}
    if code is not None:
        error["code"] = code
    error.update(extra)
    return {"error": error}


def _completion_body(model: str, content: str, reply: Reply) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": content}
    if reply.reasoning is not None:
        message["reasoning"] = reply.reasoning
    usage: dict[str, Any] = dict(DEFAULT_USAGE) if reply.usage is None else dict(reply.usage)
    if reply.usage is None:  # Groq adds float timings; clients must cope
        usage.update(queue_time=0.01, prompt_time=0.005, completion_time=0.03, total_time=0.035)
    return {
        "id": f"chatcmpl-{uuid.uuid4().hex[:12]}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [
            {"index": 0, "message": message, "logprobs": None, "finish_reason": reply.finish_reason}
        ],
        "usage": usage,
        "system_fingerprint": "fp_peer",
        "x_groq": {"id": f"req_{uuid.uuid4().hex[:12]}"},
    }


def _ollama_name(model: str) -> str:
    """The name Ollama's refusal uses: registry, namespace and tag filled in (model.Name)."""
    name = model if ":" in model.rsplit("/", 1)[-1] else f"{model}:latest"
    return name if "/" in name else f"registry.ollama.ai/library/{name}"


def _vllm_message() -> str:
    return '"auto" tool choice requires --enable-auto-tool-choice and --tool-call-parser to be set'


# (status, content type, body for the requested model) of each server's refusal of `tools`, as
# their sources write them (json.dumps spacing differs from theirs: the bytes below match them).
# - Ollama: server/routes.go ChatHandler → handleScheduleError (model.Name + " does not support
#   tools", from server/images.go CheckCapabilities), rewritten by middleware/openai.go writeError
#   into openai.NewError (type invalid_request_error for a 400; Go's json.Encoder ends with "\n").
# - llama.cpp llama-server started without --jinja: tools/server/server-common.cpp
#   oaicompat_chat_params_parse throws std::runtime_error("tools param requires --jinja flag"),
#   which ex_wrapper answers as ERROR_TYPE_SERVER: 500, {"code", "message", "type"} in that order.
# - vLLM started without --enable-auto-tool-choice: renderers/online_renderer.py render_chat →
#   create_error_response (BadRequestError, 400), ErrorResponse(error=ErrorInfo(...)).
# - vllm-legacy: older vLLM, the same ErrorResponse fields flat, with "object": "error".
TOOLS_REFUSALS: dict[str, Any] = {
    "ollama": lambda model: (400, "application/json", json.dumps(
        {"error": {"message": f"{_ollama_name(model)} does not support tools",
                   "type": "invalid_request_error", "param": None, "code": None}},
        ensure_ascii=False, separators=(",", ":")) + "\n"),
    "llamacpp": lambda model: (500, "application/json; charset=utf-8", json.dumps(
        {"error": {"code": 500, "message": "tools param requires --jinja flag",
                   "type": "server_error"}}, separators=(",", ":"))),
    "vllm": lambda model: (400, "application/json", json.dumps(
        {"error": {"message": _vllm_message(), "type": "BadRequestError", "param": None,
                   "code": 400}})),
    "vllm-legacy": lambda model: (400, "application/json", json.dumps(
        {"object": "error", "message": _vllm_message(), "type": "BadRequestError",
         "param": None, "code": 400})),
}
_SERVER_HEADERS = {"llamacpp": {"server": "llama.cpp"}}


def _content_text(content: dict[str, Any] | str) -> str:
    return content if isinstance(content, str) else json.dumps(content, ensure_ascii=False)


def _chunk(cid: str, model: str, delta: dict[str, Any], finish: str | None = None,
           **extra: Any) -> bytes:
    body = {"id": cid, "object": "chat.completion.chunk", "created": int(time.time()),
            "model": model, "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
            **extra}
    return f"data: {json.dumps(body, ensure_ascii=False)}\n\n".encode()


def _pieces(stream: Stream) -> list[str]:
    if stream.pieces is not None:
        return list(stream.pieces)
    content = _content_text(stream.content)
    step = max(1, stream.token_chars)
    return [content[i : i + step] for i in range(0, len(content), step)]


def sse_body(model: str, stream: Stream) -> list[tuple[bytes, bool]]:
    """The SSE events of ``stream``: (bytes, is a content delta), [DONE] included unless cut."""
    cid = f"chatcmpl-{uuid.uuid4().hex[:12]}"
    events = [(_chunk(cid, model, {"role": "assistant", "content": ""}), False)]
    events += [(_chunk(cid, model, {"reasoning": r}), False) for r in stream.reasoning]
    for i, piece in enumerate(_pieces(stream)):
        if i == stream.cut_after:
            return events
        if i == stream.error_after:
            error = _error(500, "Internal Server Error", "internal_server_error", None)
            return [*events, (f"data: {json.dumps(error)}\n\n".encode(), False)]
        events.append((_chunk(cid, model, {"content": piece}), True))
    usage = dict(DEFAULT_USAGE) if stream.usage is None else dict(stream.usage)
    events.append((_chunk(cid, model, {}, stream.finish_reason,
                          x_groq={"id": f"req_{cid}", "usage": usage}), False))
    events.append((b"data: [DONE]\n\n", False))
    return events


def _tool_calls_response(model: str, behaviour: ToolCalls, streamed: bool) -> Response:
    ids = [f"call_{uuid.uuid4().hex[:8]}" for _ in behaviour.calls]
    if not streamed:
        body = _completion_body(model, "", Reply(finish_reason="tool_calls"))
        message = body["choices"][0]["message"]
        message["content"] = None
        message["tool_calls"] = [{"id": i, "type": "function",
                                  "function": {"name": name, "arguments": args}}
                                 for i, (name, args) in zip(ids, behaviour.calls, strict=True)]
        return JSONResponse(body, headers=DEFAULT_RATE_HEADERS)
    cid = f"chatcmpl-{uuid.uuid4().hex[:12]}"
    chunks = [_chunk(cid, model, {"role": "assistant", "content": None})]
    step = max(1, behaviour.arg_chars)
    heads = [{"index": n, "id": ids[n], "type": "function",
              "function": {"name": name, "arguments": ""}}
             for n, (name, _) in enumerate(behaviour.calls)]
    pieces = [[{"index": n, "function": {"arguments": args[i:i + step]}}
               for i in range(0, len(args), step)] for n, (_, args) in enumerate(behaviour.calls)]
    if behaviour.interleave:
        order = list(heads)
        rest = [p for round_ in itertools.zip_longest(*pieces) for p in round_ if p is not None]
    else:
        order, rest = [], []
        for head, own in zip(heads, pieces, strict=True):
            rest += [head, *own]
    for delta in [*order, *rest]:
        chunks.append(_chunk(cid, model, {"tool_calls": [delta]}))
    chunks.append(_chunk(cid, model, {}, "tool_calls",
                         x_groq={"id": f"req_{cid}", "usage": dict(DEFAULT_USAGE)}))
    chunks.append(b"data: [DONE]\n\n")
    return Response(b"".join(chunks), media_type="text/event-stream",
                    headers=DEFAULT_RATE_HEADERS)


class _SSEResponse(Response):
    """Writes the scripted events on time, split at ``byte_splits``; a cut stream returns
    without finishing the body, so uvicorn drops the connection (the client sees a broken
    chunked body, as when a server dies mid-answer)."""

    def __init__(self, model: str, stream: Stream, record: Recorded) -> None:
        super().__init__()
        self._events = sse_body(model, stream)
        self._stream = stream
        self._record = record

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        gone = asyncio.Event()

        async def watch() -> None:
            while (await receive())["type"] != "http.disconnect":
                pass
            gone.set()

        watcher = asyncio.create_task(watch())
        try:
            await self._send_events(send, gone)
        finally:
            watcher.cancel()

    async def _send_events(self, send: Any, gone: asyncio.Event) -> None:
        stream, record = self._stream, self._record
        headers = {**DEFAULT_RATE_HEADERS, **(stream.headers or {}),
                   "content-type": "text/event-stream; charset=utf-8", "cache-control": "no-cache"}
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(k.encode(), v.encode()) for k, v in headers.items()]})
        splits = sorted(set(stream.byte_splits))
        offset = 0
        deltas = 0
        first_at: float | None = None
        for data, is_delta in self._events:
            if is_delta:
                # Drift-free schedule: delta i leaves at first + i / tokens_per_s.
                if first_at is None:
                    due = record.received_at + stream.ttft_ms / 1000
                elif stream.tokens_per_s:
                    due = first_at + deltas / stream.tokens_per_s
                else:
                    due = 0.0
                if (wait := due - time.monotonic()) > 0:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(gone.wait(), wait)
                if gone.is_set():
                    record.disconnected_at = time.monotonic()
                    return
                first_at = first_at or time.monotonic()
                record.delta_sent_at.append(time.monotonic())
                deltas += 1
            cuts = [c - offset for c in splits if offset < c < offset + len(data)]
            for i, (a, b) in enumerate(zip([0, *cuts], [*cuts, len(data)])):
                if i:
                    await asyncio.sleep(stream.split_gap_ms / 1000)
                await send({"type": "http.response.body", "body": data[a:b], "more_body": True})
            offset += len(data)
        record.done_at = time.monotonic()
        if stream.cut_after is not None and deltas == stream.cut_after:
            await asyncio.sleep(0.02)  # let the last piece leave before the cut
            return
        await send({"type": "http.response.body", "body": b"", "more_body": False})


async def _respond(behaviour: Behaviour, body: Any, record: Recorded) -> Response:
    body = body if isinstance(body, dict) else {}
    model = str(body.get("model", "peer-model"))
    json_mode = isinstance(body.get("response_format"), dict)
    streamed = bool(body.get("stream"))
    if isinstance(behaviour, Slow):
        await asyncio.sleep(behaviour.seconds)
        return await _respond(behaviour.then, body, record)
    if isinstance(behaviour, RefuseTools):
        if not body.get("tools"):
            return await _respond(behaviour.then, body, record)
        status, content_type, text = TOOLS_REFUSALS[behaviour.server](model)
        return Response(text.encode(), status_code=status, media_type=content_type,
                        headers=_SERVER_HEADERS.get(behaviour.server))
    if isinstance(behaviour, RefuseJsonMode):
        if (body.get("response_format") or {}).get("type") != "json_object":
            return await _respond(behaviour.then, body, record)
        return JSONResponse({"error": "'response_format.type' must be 'json_schema' or 'text'"},
                            status_code=400)
    if isinstance(behaviour, Stream) and not streamed:
        behaviour = Reply(behaviour.content, usage=behaviour.usage, headers=behaviour.headers)
    if isinstance(behaviour, Echo):
        # A streamed request, or one offering tools, is an answer (summaries do neither).
        if json_mode or streamed or body.get("tools"):
            echoed = last_viewer_line(body.get("messages") or []) or "안녕하세요!"
            behaviour = Reply({"emotion": behaviour.emotion, "response": echoed})
        else:
            count = len(body.get("messages") or [])
            behaviour = Reply(f"요약: 시청자들과 {count}개의 메시지로 즐겁게 대화했다.")
    if json_mode and body.get("tools"):  # what Groq answers for the pair
        return JSONResponse(
            _error(400, "json mode cannot be combined with tool/function calling",
                   "invalid_request_error", None),
            status_code=400,
        )
    if isinstance(behaviour, ToolCalls):
        return _tool_calls_response(model, behaviour, streamed)
    if streamed and json_mode and isinstance(behaviour, Reply | Stream):  # what Groq does
        return JSONResponse(
            _error(400, "response_format` does not support streaming", "invalid_request_error",
                   None),
            status_code=400,
        )
    if isinstance(behaviour, Reply) and streamed:
        behaviour = Stream(behaviour.content, usage=behaviour.usage, headers=behaviour.headers,
                           reasoning=[behaviour.reasoning] if behaviour.reasoning else (),
                           finish_reason=behaviour.finish_reason)
    if isinstance(behaviour, Stream):
        return _SSEResponse(model, behaviour, record)
    if isinstance(behaviour, Reply):
        content = _content_text(behaviour.content)
        headers = {**DEFAULT_RATE_HEADERS, **(behaviour.headers or {})}
        return JSONResponse(_completion_body(model, content, behaviour), headers=headers)
    if isinstance(behaviour, InvalidJson):
        return JSONResponse(
            _error(
                400,
                "Failed to generate JSON. Please adjust your prompt. "
                "See 'failed_generation' for more details.",
                "invalid_request_error",
                "json_validate_failed",
                failed_generation=behaviour.failed_generation,
            ),
            status_code=400,
            headers=DEFAULT_RATE_HEADERS,
        )
    if isinstance(behaviour, RateLimited):
        headers = {**DEFAULT_RATE_HEADERS, "x-ratelimit-remaining-tokens": "0"}
        if behaviour.retry_after is not None:
            headers["retry-after"] = f"{behaviour.retry_after:g}"
        headers.update(behaviour.headers or {})
        message = (
            f"Rate limit reached for model `{model}` in organization `org_peer` service "
            "tier `on_demand` on tokens per minute (TPM): Limit 8000, Used 7958, Requested "
            f"400. Please try again in {behaviour.try_again_in}. Need more tokens? Upgrade."
        )
        return JSONResponse(
            _error(429, message, "tokens", "rate_limit_exceeded"), status_code=429, headers=headers
        )
    if isinstance(behaviour, ServerError):
        return JSONResponse(
            _error(behaviour.status, "Internal Server Error", "internal_server_error", None),
            status_code=behaviour.status,
        )
    if isinstance(behaviour, Status):
        return JSONResponse(
            _error(behaviour.status, behaviour.message, behaviour.type, behaviour.code),
            status_code=behaviour.status,
        )
    raise TypeError(f"unknown behaviour {behaviour!r}")


# --------------------------------------------------------------------------------------------
# Server
# --------------------------------------------------------------------------------------------


class OpenAIServer(ScriptedServer[Behaviour, Recorded]):
    """uvicorn on 127.0.0.1 in a daemon thread; use as a context manager."""

    thread_name = "openai-peer"

    def __init__(
        self, *, default: Behaviour | None = None, host: str = "127.0.0.1", port: int = 0
    ) -> None:
        self._init_script(default if default is not None else Echo())
        self._bind_and_serve(self.app(), host=host, port=port)

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}/v1"

    def _next(self, recorded: Recorded) -> Behaviour:
        """One chat-completions request: record it, take its behaviour (subclasses override)."""
        return self._take(recorded)

    # --- ASGI app -------------------------------------------------------------------------

    def app(self) -> Starlette:
        async def completions(request: Request) -> Response:
            headers, body = await read_request(request)
            recorded = Recorded(request.url.path, headers, body)
            behaviour = self._next(recorded)
            if not isinstance(body, dict):
                return JSONResponse(
                    _error(400, "request body is not a JSON object", "invalid_request_error", None),
                    status_code=400,
                )
            return await _respond(behaviour, body, recorded)

        async def models(request: Request) -> Response:
            return JSONResponse(
                {
                    "object": "list",
                    "data": [{"id": "openai/gpt-oss-120b", "object": "model", "owned_by": "peer"}],
                }
            )

        return Starlette(
            routes=[
                Route("/v1/chat/completions", completions, methods=["POST"]),
                Route("/v1/models", models, methods=["GET"]),
            ]
        )



def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Echoing OpenAI-compatible server for tests.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--emotion", default="happy")
    args = parser.parse_args(argv)
    peer = OpenAIServer(default=Echo(args.emotion), host=args.host, port=args.port)
    # uvicorn handles SIGTERM/SIGINT itself, then re-raises the signal into the handler it found
    # at start; a no-op there makes a signalled stop a clean exit 0.
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: None)
    print(f"listening on {peer.base_url}", flush=True)
    peer._server.run(sockets=[peer._sock])
    return 0


if __name__ == "__main__":
    sys.exit(main())
