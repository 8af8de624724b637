"""Groq's wire format, read without I/O: rate-limit headers, durations, error bodies, usage and
streamed chunks (pure functions over already received data)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

import httpx

__all__ = [
    "DEFAULT_RATE_LIMIT_WAIT_S",
    "RateLimits",
    "chunk_delta",
    "chunk_usage",
    "error_fields",
    "int_usage",
    "parse_duration",
    "parse_rate_limits",
    "rate_limit_wait",
    "tools_refusal",
]

DEFAULT_RATE_LIMIT_WAIT_S = 1.0  # a 429 that says nothing about when to come back

_DURATION_PART_RE = re.compile(r"(\d+(?:\.\d+)?)(ms|h|m|s)")
_TRY_AGAIN_RE = re.compile(r"try again in\s+((?:\d+(?:\.\d+)?(?:ms|h|m|s))+)", re.IGNORECASE)
_UNIT_S = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001}


@dataclass(frozen=True, slots=True)
class RateLimits:
    """Latest ``x-ratelimit-*`` values seen (None: never reported)."""

    remaining_requests: int | None = None  # Groq: requests left today
    remaining_tokens: int | None = None  # Groq: tokens left this minute
    reset_requests_s: float | None = None
    reset_tokens_s: float | None = None
    limited_until: float | None = None  # wall-clock epoch seconds a 429 told us to wait until


def parse_duration(text: str | None) -> float | None:
    """Seconds in a Groq duration ("7.66s", "2m59.56s", "1h2m3s", "120ms") or a plain number."""
    if text is None:
        return None
    text = text.strip()
    try:
        value = float(text)
    except ValueError:
        pass
    else:
        return value if value >= 0 else None  # also rejects NaN
    total = 0.0
    pos = 0
    for match in _DURATION_PART_RE.finditer(text):
        if match.start() != pos:
            return None
        total += float(match.group(1)) * _UNIT_S[match.group(2)]
        pos = match.end()
    return total if pos == len(text) and pos > 0 else None


def _parse_int(text: str | None) -> int | None:
    if text is None:
        return None
    try:
        return int(text.strip())
    except ValueError:
        return None


def parse_rate_limits(headers: Mapping[str, str], previous: RateLimits) -> RateLimits:
    """Merge the rate-limit headers of one response into ``previous`` (absent headers keep it)."""
    found: dict[str, Any] = {
        "remaining_requests": _parse_int(headers.get("x-ratelimit-remaining-requests")),
        "remaining_tokens": _parse_int(headers.get("x-ratelimit-remaining-tokens")),
        "reset_requests_s": parse_duration(headers.get("x-ratelimit-reset-requests")),
        "reset_tokens_s": parse_duration(headers.get("x-ratelimit-reset-tokens")),
    }
    return replace(previous, **{k: v for k, v in found.items() if v is not None})


def rate_limit_wait(headers: Mapping[str, str], message: str, limits: RateLimits) -> float:
    """Seconds a 429 asks us to wait: retry-after, else an exhausted bucket's reset, else the text."""
    after = parse_duration(headers.get("retry-after"))
    if after is not None:
        return after
    # Only a bucket that is actually empty tells us when the limit lifts; the other reset is noise.
    exhausted = [
        reset
        for remaining, reset in (
            (limits.remaining_tokens, limits.reset_tokens_s),
            (limits.remaining_requests, limits.reset_requests_s),
        )
        if remaining == 0 and reset is not None
    ]
    if exhausted:
        return max(exhausted)
    match = _TRY_AGAIN_RE.search(message)
    parsed = parse_duration(match.group(1)) if match else None
    return parsed if parsed is not None else DEFAULT_RATE_LIMIT_WAIT_S


def error_fields(response: httpx.Response) -> tuple[str, str]:
    """(error.message, error.code) from an OpenAI-style error body; empty strings if absent."""
    try:
        body = response.json()
    except ValueError:
        return response.text, ""
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict):
        return str(error.get("message") or ""), str(error.get("code") or "")
    if isinstance(error, str):
        return error, ""
    if isinstance(body, dict) and body.get("object") == "error":
        # older vLLM sent its ErrorResponse flat: {"object": "error", "message", ...}
        return str(body.get("message") or ""), ""
    return "", ""


# How OpenAI-compatible servers refuse a request that offers `tools`, read from their source:
# - Ollama (server/routes.go ChatHandler → handleScheduleError, middleware/openai.go writeError):
#   400 {"error": {"message": "registry.ollama.ai/library/gemma3:4b does not support tools",
#   "type": "invalid_request_error", "param": null, "code": null}} for a model whose template has
#   no tools (gemma3, llava, phi3...). Streamed or not: the check comes before any output.
# - llama.cpp llama-server without --jinja (tools/server/server-common.cpp
#   oaicompat_chat_params_parse throws std::runtime_error, which ex_wrapper answers as a server
#   error): 500 {"error": {"code": 500, "message": "tools param requires --jinja flag",
#   "type": "server_error"}}; "tool_choice param requires --jinja flag" for a tool_choice.
# - vLLM without --enable-auto-tool-choice (renderers/online_renderer.py render_chat, older:
#   serving_chat.py): 400 {"error": {"message": "\"auto\" tool choice requires
#   --enable-auto-tool-choice and --tool-call-parser to be set", "type": "BadRequestError",
#   "param": null, "code": 400}} (older vLLM: the same fields flat, with "object": "error").
# Each maps to what the streamer can do about it (Korean, for the AI row's hint).
_TOOLS_REFUSALS = (
    (re.compile(r"does not support tools", re.IGNORECASE),
     "도구를 쓰려면 도구를 지원하는 모델(예: qwen3, llama3.1)로 GROQ_MODEL을 바꾸세요 (아니면 TOOLS=off)"),
    (re.compile(r"param requires --jinja", re.IGNORECASE),
     "도구를 쓰려면 llama-server를 --jinja로 다시 켜고 데몬을 다시 시작하세요 (아니면 TOOLS=off)"),
    (re.compile(r"requires --enable-auto-tool-choice", re.IGNORECASE),
     ("도구를 쓰려면 vLLM을 --enable-auto-tool-choice --tool-call-parser <이름>으로 다시 켜고 "
      "데몬을 다시 시작하세요 (아니면 TOOLS=off)")),
)


def tools_refusal(message: str) -> str | None:
    """What to do (Korean) if this server error means "this server/model takes no tools", else
    None. Only these exact refusals count: a bare 400 is as often a malformed request or a long
    context, and answering without tools would hide that."""
    for pattern, hint in _TOOLS_REFUSALS:
        if pattern.search(message):
            return hint
    return None


def int_usage(usage: object) -> dict[str, int]:
    """The integer counters of a usage object; the prompt's cached tokens
    (`prompt_tokens_details.cached_tokens`, where the server says) as `cached_tokens`."""
    if not isinstance(usage, dict):
        return {}
    found = {str(k): v for k, v in usage.items() if isinstance(v, int) and not isinstance(v, bool)}
    details = usage.get("prompt_tokens_details")
    cached = details.get("cached_tokens") if isinstance(details, dict) else None
    if isinstance(cached, int) and not isinstance(cached, bool) and "cached_tokens" not in found:
        found["cached_tokens"] = cached
    return found


def chunk_usage(chunk: dict[str, Any]) -> dict[str, int]:
    """Groq puts the stream's usage under x_groq.usage; OpenAI-style servers under usage."""
    x_groq = chunk.get("x_groq")
    if isinstance(x_groq, dict) and isinstance(x_groq.get("usage"), dict):
        return int_usage(x_groq["usage"])
    return int_usage(chunk.get("usage"))


def chunk_delta(chunk: dict[str, Any]) -> tuple[str, str | None]:
    """(delta.content or "", finish_reason) of choices[0]; delta.reasoning is ignored on purpose."""
    choices = chunk.get("choices")
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
        return "", None
    choice = choices[0]
    delta = choice.get("delta")
    content = delta.get("content") if isinstance(delta, dict) else None
    finish = choice.get("finish_reason")
    text = content if isinstance(content, str) else ""
    return text, (finish if isinstance(finish, str) else None)


def chunk_tool_calls(chunk: dict[str, Any]) -> object:
    """`delta.tool_calls` of choices[0] (pieces of streamed tool calls), or None."""
    choices = chunk.get("choices")
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
        return None
    delta = choices[0].get("delta")
    return delta.get("tool_calls") if isinstance(delta, dict) else None
