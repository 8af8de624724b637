"""Async client for Groq's OpenAI-compatible chat completions endpoint (works with any such server).

One pooled ``httpx.AsyncClient`` per instance. Every attempt gets a hard 5 s budget; timeouts,
connection errors, 5xx and Groq's ``json_validate_failed`` are retried with jittered backoff, and
429s wait as long as the server asks (within a cap). Error messages are one line and never contain
the API key. ``message.reasoning`` (gpt-oss thinking) is never read, so it can never be spoken.

``stream_chat`` streams (SSE, parsed by httpx-sse): the timeout applies to the first event and to
each gap between events, never to the whole answer. Failures before the first content delta are
retried like any request; after it they raise StreamBroken, since the caller may already have
used the text. Only ``delta.content`` is yielded (``delta.reasoning`` is dropped), and the usage
comes from the final chunk (``x_groq.usage``, or ``usage`` on other servers).

A server that refuses the `tools` a request offers (a local model without tool support:
groq_wire.tools_refusal) raises ToolsRefused at once, never retried, streamed or not: the caller
asks again without tools. A server that refuses JSON mode (LM Studio takes only json_schema or
text) is asked the same without it, by this client from then on: the prompt still asks for the
JSON answer, and prompts.parse_answer reads it from the text.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import time
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, replace
from typing import Any

import httpx
from httpx_sse import EventSource, SSEError

from aischoco.core.backoff import backoff_delay
from aischoco.core.stages import StageError

from .budget import limit_hit
from .groq_wire import (RateLimits, chunk_delta, chunk_tool_calls, chunk_usage, error_fields,
                        int_usage, parse_duration, parse_rate_limits, rate_limit_wait,
                        tools_refusal)
from .tool_calls import ToolCall, ToolCallAssembler, parse_tool_calls

log = logging.getLogger(__name__)

__all__ = [
    "Completion",
    "GroqClient",
    "LLMError",
    "RateLimited",
    "RateLimits",
    "RequestTooLarge",
    "StreamBroken",
    "StreamDelta",
    "StreamDone",
    "StreamToolCalls",
    "ToolsRefused",
    "parse_duration",
    "parse_rate_limits",
    "rate_limit_wait",
]

RETRY_BASE_S = 0.25
RETRY_CAP_S = 2.0
# Longest 429 wait worth sleeping through inside one call. A longer wait (a daily quota) fails the
# call at once: retrying into the same 429 would only burn the remaining attempts.
MAX_RATE_LIMIT_WAIT_S = 30.0
_RETRYABLE_STATUS = frozenset({500, 502, 503, 504})
_MAX_DETAIL_CHARS = 200


Sleep = Callable[[float], Awaitable[object]]


# --------------------------------------------------------------------------------------------
# Data
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Completion:
    content: str  # message.content only ("" if the server sent none); never the reasoning
    usage: dict[str, int]  # integer counters from the response's usage object
    elapsed_s: float  # whole call, retries and waits included
    finish_reason: str | None = None  # "length" means max tokens cut the answer
    tool_calls: tuple[ToolCall, ...] = ()  # the model asked for these tools instead of answering


@dataclass(frozen=True, slots=True)
class StreamDelta:
    """A piece of ``delta.content`` (never reasoning)."""

    text: str


@dataclass(frozen=True, slots=True)
class StreamDone:
    """The stream ended with ``[DONE]``."""

    usage: dict[str, int]  # from the final chunk; {} if the server sent none
    finish_reason: str | None  # "length": max tokens cut the answer
    elapsed_s: float  # whole call, retries and waits included


@dataclass(frozen=True, slots=True)
class StreamToolCalls:
    """The streamed answer asked for tools (assembled from its pieces); comes before StreamDone."""

    calls: tuple[ToolCall, ...]


StreamEvent = StreamDelta | StreamToolCalls | StreamDone


class LLMError(StageError):
    """A chat completion failed. ``str()`` is one line, safe to log and show (no secrets).

    A StageError, so a failed turn is logged as that one line, without a traceback.

    ``retryable``: the same request may succeed later (timeouts, 5xx, rate limits); False means a
    configuration problem (bad key, unknown model) that retrying cannot fix.
    """

    def __init__(self, message: str, *, retryable: bool, status: int | None = None) -> None:
        super().__init__(message)
        self.retryable = retryable
        self.status = status


class RateLimited(LLMError):
    """A 429 whose wait is longer than this client sleeps through (a day limit, or a minute
    limit while another model could answer): ``limit`` is what Groq named (TPD, RPD, TPM, RPM
    or ""), ``wait_s`` when to come back, ``model`` the model it was for."""

    def __init__(self, message: str, *, wait_s: float, limit: str, model: str) -> None:
        super().__init__(message, retryable=True, status=429)
        self.wait_s, self.limit, self.model = wait_s, limit, model


class RequestTooLarge(LLMError):
    """413: the request alone is over the model's tokens per minute. ``limit`` and
    ``requested`` are Groq's numbers (None when it did not say); a smaller request works."""

    def __init__(self, message: str, *, limit: int | None, requested: int | None,
                 model: str) -> None:
        super().__init__(message, retryable=False, status=413)
        self.limit, self.requested, self.model = limit, requested, model


class StreamBroken(LLMError):
    """A stream failed after content had arrived. Not retried by the client: the caller decides,
    as it may already have used (spoken) part of the answer."""


class ToolsRefused(LLMError):
    """The server will not take `tools` for this model (Ollama, llama.cpp, vLLM each say so in
    their own words). The same request without tools works; ``hint`` says (Korean) how to get
    tools from this server."""

    def __init__(self, message: str, *, status: int | None, hint: str) -> None:
        super().__init__(message, retryable=False, status=status)
        self.hint = hint


# --------------------------------------------------------------------------------------------
# Client
# --------------------------------------------------------------------------------------------


_STREAMING_WORDS = re.compile(r"stream|event-stream|\bsse\b", re.IGNORECASE)
# LM Studio's refusal of response_format json_object (400, {"error": "'response_format.type' must
# be 'json_schema' or 'text'"}; older versions: "... must be 'json_schema'"), as its users report it
# (lmstudio-ai/lmstudio-bug-tracker#189, #169).
_JSON_MODE_REFUSED = re.compile(r"response_format\.type'? must be", re.IGNORECASE)


class _JsonModeRefused(Exception):
    """The server will not take response_format json_object: ask without it."""


def _about_streaming(message: str) -> bool:
    """Whether a server's refusal is about streaming itself (then GROQ_STREAM=false helps)."""
    return bool(_STREAMING_WORDS.search(message))


def _clock(epoch_s: float) -> str:
    return time.strftime("%H:%M:%S", time.localtime(epoch_s))


@dataclass(slots=True)
class _Attempt:
    """Outcome of one HTTP attempt that should be retried."""

    cause: str
    wait_s: float | None = None  # None: use the jittered backoff
    status: int | None = None


class _Retry(Exception):
    """Raised inside one streamed attempt, before any content was yielded: try again."""

    def __init__(self, attempt: _Attempt) -> None:
        super().__init__(attempt.cause)
        self.attempt = attempt


class GroqClient:
    """Chat completions with Groq's retry rules. Create once, ``await aclose()`` at shutdown."""

    def __init__(
        self,
        *,
        api_key: str,
        base_url: str,
        model: str,
        reasoning_effort: str = "low",
        timeout_s: float = 5.0,
        max_retries: int = 3,
        on_status: Callable[[str], None] = lambda s: None,
        sleep: Sleep = asyncio.sleep,
        on_headers: Callable[[str, httpx.Headers], None] | None = None,
    ) -> None:
        if max_retries < 0:
            raise ValueError("max_retries must be >= 0")
        if not timeout_s > 0:
            raise ValueError("timeout_s must be > 0")
        self._api_key = api_key
        self._base_url = base_url.rstrip("/")
        self._url = self._base_url + "/chat/completions"
        self._model = model
        self._reasoning_effort = reasoning_effort
        self._timeout_s = timeout_s
        self._max_retries = max_retries
        self._on_status = on_status
        self._sleep = sleep
        self.rate_limits = RateLimits()
        # Every response's headers, with the model asked (ai/budget.py reads the limits there).
        self.on_headers = on_headers
        # A 429 asking for a longer wait fails the call (RateLimited) instead of sleeping: with
        # fallback models the caller answers with the next one rather than wait.
        self.max_rate_limit_wait_s = MAX_RATE_LIMIT_WAIT_S
        self._json_mode = True  # False once the server refused JSON mode
        self._http = httpx.AsyncClient(
            headers={"Authorization": f"Bearer {api_key}"},
            timeout=httpx.Timeout(timeout_s),
        )

    @property
    def model(self) -> str:
        return self._model

    @property
    def base_url(self) -> str:
        return self._base_url

    async def complete_json(
        self,
        messages: list[dict[str, str]],
        *,
        max_tokens: int = 512,
        temperature: float = 0.8,
        model: str | None = None,
    ) -> Completion:
        """A JSON-mode completion; ``content`` is the raw JSON text (parse it with prompts.py).
        Without JSON mode where the server refuses it: then the text may be anything.
        ``model``: another model than the client's for this request (a fallback)."""
        body = self._body(messages, max_tokens, temperature, model)
        if self._json_mode:
            try:
                return await self._complete({**body, "response_format": {"type": "json_object"}})
            except _JsonModeRefused as refused:
                self._json_mode = False
                log.warning("%s refused JSON mode (%s); asking without it from now on",
                            self._url, refused)
        return await self._complete(body)

    async def complete_tools(
        self,
        messages: list[dict[str, Any]],
        tools: list[dict[str, Any]],
        *,
        max_tokens: int = 512,
        temperature: float = 0.8,
        model: str | None = None,
    ) -> Completion:
        """A completion that may call `tools` (OpenAI format). Never JSON mode: Groq refuses
        JSON mode together with tools ("json mode cannot be combined with tool/function
        calling"); the prompt still asks for the JSON answer and prompts.parse_answer reads it."""
        body = self._body(messages, max_tokens, temperature, model)
        body["tools"], body["tool_choice"] = tools, "auto"
        return await self._complete(body)

    async def complete_text(
        self,
        messages: list[dict[str, str]],
        *,
        max_tokens: int = 1024,
        temperature: float = 0.3,
        model: str | None = None,
    ) -> Completion:
        """A plain-text completion (history summaries), same retry policy."""
        return await self._complete(self._body(messages, max_tokens, temperature, model))

    async def stream_chat(
        self,
        messages: list[dict[str, Any]],
        *,
        max_tokens: int = 512,
        temperature: float = 0.8,
        tools: list[dict[str, Any]] | None = None,
        model: str | None = None,
    ) -> AsyncGenerator[StreamEvent, None]:
        """Content deltas as they arrive, then StreamToolCalls if the model asked for `tools`,
        then one StreamDone. Close it (``aclosing``) if you stop early. Raises LLMError
        (StreamBroken once content was yielded)."""
        body = self._body(messages, max_tokens, temperature, model)
        body["stream"] = True
        if tools:
            body["tools"], body["tool_choice"] = tools, "auto"
        started = time.perf_counter()
        attempts = self._max_retries + 1
        last: _Attempt | None = None
        for attempt in range(attempts):
            try:
                async for event in self._stream_attempt(body, started):
                    yield event
                return
            except _Retry as retry:
                last = retry.attempt
            if attempt + 1 == attempts:
                break
            await self._wait_before_retry(attempt, last)
        raise self._gave_up(attempts, last)

    async def aclose(self) -> None:
        await self._http.aclose()

    # ----------------------------------------------------------------------------------------

    def _body(
        self, messages: list[dict[str, Any]], max_tokens: int, temperature: float,
        model: str | None = None,
    ) -> dict[str, Any]:
        model = model or self._model
        body: dict[str, Any] = {
            "model": model,
            "messages": messages,
            # Groq's current name (max_tokens is deprecated there); it also bounds reasoning tokens.
            "max_completion_tokens": max_tokens,
            "temperature": temperature,
        }
        if "gpt-oss" in model:
            body["reasoning_effort"] = self._reasoning_effort
            body["include_reasoning"] = False  # we never speak it; don't pay to transfer it
        elif "qwen3" in model and "api.groq.com" in self._base_url:
            # Groq's qwen3 thinks out loud by default: off (it costs tokens, is never spoken).
            body["reasoning_effort"] = "none"
            body["reasoning_format"] = "hidden"
        return body

    def _redact(self, text: str) -> str:
        text = " ".join(text.split())  # one line
        if self._api_key:
            text = text.replace(self._api_key, "***")
        if len(text) > _MAX_DETAIL_CHARS:
            text = text[: _MAX_DETAIL_CHARS - 1] + "…"
        return text

    async def _complete(self, body: dict[str, Any]) -> Completion:
        started = time.perf_counter()
        attempts = self._max_retries + 1
        last: _Attempt | None = None
        for attempt in range(attempts):
            result = await self._attempt(body)
            if isinstance(result, Completion):
                return replace(result, elapsed_s=time.perf_counter() - started)
            last = result
            if attempt + 1 == attempts:
                break
            await self._wait_before_retry(attempt, result)
        raise self._gave_up(attempts, last)

    async def _wait_before_retry(self, attempt: int, failed: _Attempt) -> None:
        """The server's own wait (retry-after, rate-limit reset) or backoff with jitter."""
        wait = failed.wait_s
        if wait is None:
            wait = backoff_delay(attempt, base_s=RETRY_BASE_S, cap_s=RETRY_CAP_S)
        await self._sleep(wait)

    @staticmethod
    def _gave_up(attempts: int, last: _Attempt | None) -> LLMError:
        assert last is not None
        return LLMError(f"LLM request failed after {attempts} attempts: {last.cause}",
                        retryable=True, status=last.status)

    async def _attempt(self, body: dict[str, Any]) -> Completion | _Attempt:
        """One POST. Returns the completion, or why to retry; raises LLMError when retry is futile."""
        timeout_s = self._timeout_s
        try:
            # httpx's timeout is per phase (a trickling server could outlast it); this caps the total.
            async with asyncio.timeout(timeout_s):
                response = await self._http.post(self._url, json=body)
        except (TimeoutError, httpx.TimeoutException):
            return _Attempt(f"timed out after {timeout_s:g} s")
        except httpx.RequestError as err:  # connect/read/protocol errors, bad encodings
            return self._connection_failed(err)

        self._saw_headers(body, response)
        if response.status_code == 200:
            return self._completion(response)
        return self._failure(response, tools=bool(body.get("tools")),
                             json_mode="response_format" in body, model=body.get("model"))

    def _saw_headers(self, body: dict[str, Any], response: httpx.Response) -> None:
        self.rate_limits = parse_rate_limits(response.headers, self.rate_limits)
        if self.on_headers is not None:
            self.on_headers(str(body.get("model") or self._model), response.headers)

    def _failure(self, response: httpx.Response, *, tools: bool,
                 json_mode: bool = False, model: str | None = None) -> _Attempt:
        """Why a non-200 answer should be retried; raises LLMError when retrying is futile."""
        status = response.status_code
        message, code = error_fields(response)
        detail = self._redact(message)
        suffix = f": {detail}" if detail else ""
        # Before the status rules: llama.cpp refuses with a 500, which would be retried.
        if tools and (hint := tools_refusal(message)) is not None:
            raise ToolsRefused(f"the server refused tools for {self._model!r} ({status}){suffix}",
                               status=status, hint=hint)
        if json_mode and status == 400 and _JSON_MODE_REFUSED.search(message):
            raise _JsonModeRefused(detail)
        if status == 429:
            return self._rate_limited(response, message, model or self._model)
        if status == 413:
            kind, limit, requested = limit_hit(message)
            raise RequestTooLarge(self._fatal_message(status, suffix), limit=limit,
                                  requested=requested, model=model or self._model)
        if status in _RETRYABLE_STATUS:
            return _Attempt(f"server error ({status}){suffix}", status=status)
        if status == 400 and code == "json_validate_failed":
            return _Attempt("model produced invalid JSON (400 json_validate_failed)", status=status)
        raise LLMError(self._fatal_message(status, suffix), retryable=False, status=status)

    async def _stream_attempt(self, body: dict[str, Any], started: float
                              ) -> AsyncIterator[StreamEvent]:
        """One streamed POST. Raises _Retry while nothing was yielded, StreamBroken after."""
        timeout_s = self._timeout_s
        request = self._http.build_request("POST", self._url, json=body,
                                           headers={"Accept": "text/event-stream"})
        try:
            # Up to the response headers; the first event gets its own timeout below.
            async with asyncio.timeout(timeout_s):
                response = await self._http.send(request, stream=True)
        except (TimeoutError, httpx.TimeoutException):
            raise _Retry(_Attempt(f"timed out after {timeout_s:g} s")) from None
        except httpx.RequestError as err:
            raise _Retry(self._connection_failed(err)) from None
        try:
            self._saw_headers(body, response)
            if response.status_code != 200 or "text/event-stream" not in response.headers.get(
                    "content-type", ""):
                for event in await self._whole_body(response, started,
                                                    tools=bool(body.get("tools")),
                                                    model=body.get("model")):
                    yield event
                return
            async for event in self._read_events(response, started):
                yield event
        finally:
            await response.aclose()

    async def _whole_body(self, response: httpx.Response, started: float, *,
                          tools: bool, model: str | None = None) -> list[StreamEvent]:
        """A non-streamed answer: an error, or a server that ignored ``stream`` and sent JSON."""
        try:
            async with asyncio.timeout(self._timeout_s):
                await response.aread()
        except (TimeoutError, httpx.TimeoutException):
            raise _Retry(_Attempt(f"timed out after {self._timeout_s:g} s")) from None
        except httpx.RequestError as err:
            raise _Retry(self._connection_failed(err)) from None
        if response.status_code != 200:
            try:
                raise _Retry(self._failure(response, tools=tools, model=model))
            except LLMError as err:
                if (isinstance(err, ToolsRefused) or err.status not in (400, 422)
                        or not _about_streaming(str(err))):
                    raise  # a wrong model name or key is not fixed by GROQ_STREAM=false
                # Servers that cannot stream say so with 400/422; name the switch for that.
                raise LLMError(f"{err} (GROQ_STREAM=false if this server cannot stream)",
                               retryable=False, status=err.status) from None
        completion = self._completion(response)
        if isinstance(completion, _Attempt):
            raise _Retry(completion)
        events: list[StreamEvent] = [StreamDelta(completion.content)] if completion.content else []
        if completion.tool_calls:
            events.append(StreamToolCalls(completion.tool_calls))
        events.append(StreamDone(completion.usage, completion.finish_reason,
                                 time.perf_counter() - started))
        return events

    async def _read_events(self, response: httpx.Response, started: float
                           ) -> AsyncIterator[StreamEvent]:
        timeout_s = self._timeout_s
        events = EventSource(response).aiter_sse()
        usage: dict[str, int] = {}
        finish: str | None = None
        received = 0  # content characters yielded
        calls = ToolCallAssembler()
        try:
            while True:
                try:
                    # Per event, not per answer: a long answer may take as long as it needs.
                    async with asyncio.timeout(timeout_s):
                        sse = await anext(events)
                except StopAsyncIteration:
                    cause = "the stream ended without [DONE]"
                    break
                except (TimeoutError, httpx.TimeoutException):
                    cause = f"no data for {timeout_s:g} s"
                    break
                except (httpx.HTTPError, SSEError) as err:
                    cause = self._connection_failed(err).cause
                    break
                if sse.data.strip() == "[DONE]":
                    self.rate_limits = replace(self.rate_limits, limited_until=None)
                    if calls:
                        yield StreamToolCalls(tuple(calls.calls()))
                    yield StreamDone(usage, finish, time.perf_counter() - started)
                    return
                try:
                    chunk = json.loads(sse.data)
                except ValueError:
                    chunk = None
                if not isinstance(chunk, dict):
                    cause = "malformed stream chunk (not a JSON object)"
                    break
                if chunk.get("error"):
                    error = chunk["error"]
                    detail = error.get("message") if isinstance(error, dict) else error
                    cause = f"error inside the stream: {self._redact(str(detail or ''))}"
                    break
                usage = chunk_usage(chunk) or usage
                content, finished = chunk_delta(chunk)
                finish = finished or finish
                calls.feed(chunk_tool_calls(chunk))
                if content:
                    received += len(content)
                    yield StreamDelta(content)
        finally:
            await events.aclose()
        if received:
            raise StreamBroken(f"answer stream broke after {received} characters: {cause}",
                               retryable=True)
        raise _Retry(_Attempt(cause))

    def _connection_failed(self, err: Exception) -> _Attempt:
        detail = self._redact(str(err))
        return _Attempt(f"connection failed ({type(err).__name__}{': ' if detail else ''}{detail})")

    def _completion(self, response: httpx.Response) -> Completion | _Attempt:
        try:
            data = response.json()
            choice = data["choices"][0]
            message = choice["message"]
        except (ValueError, KeyError, IndexError, TypeError):
            return _Attempt("malformed response (200 without choices[0].message)", status=200)
        content = message.get("content") if isinstance(message, dict) else None
        self.rate_limits = replace(self.rate_limits, limited_until=None)
        return Completion(
            content=content if isinstance(content, str) else "",
            usage=int_usage(data.get("usage")),
            elapsed_s=0.0,
            finish_reason=choice.get("finish_reason") if isinstance(choice, dict) else None,
            tool_calls=tuple(parse_tool_calls(message)),
        )

    def _rate_limited(self, response: httpx.Response, message: str, model: str) -> _Attempt:
        wait = rate_limit_wait(response.headers, message, self.rate_limits)
        until = time.time() + wait
        kind = limit_hit(message)[0]
        if model == self._model:
            self.rate_limits = replace(self.rate_limits, limited_until=until)
            self._on_status(f"rate limited until {_clock(until)}")
        if wait > self.max_rate_limit_wait_s:
            # Not this call's to wait out: the caller answers with another model or waits.
            raise RateLimited(
                f"Groq rate limit reached (429{', ' + kind if kind else ''}) for {model}; "
                f"try again after {_clock(until)}",
                wait_s=wait, limit=kind, model=model,
            )
        return _Attempt(f"rate limited (429, retry after {wait:g} s)", wait_s=wait, status=429)

    def _fatal_message(self, status: int, suffix: str) -> str:
        if status == 401:
            return f"Groq rejected the API key (401){suffix}; check GROQ_API_KEY"
        if status == 403:
            return f"Groq denied access (403){suffix}"
        if status == 404:
            return f"model {self._model!r} or URL {self._url} not found (404){suffix}"
        if status == 413:
            return f"request too large for the model (413){suffix}"
        if status == 422:
            return f"Groq could not process the request (422){suffix}"
        return f"Groq rejected the request ({status}){suffix}"
