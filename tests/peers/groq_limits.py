"""A Groq peer that enforces the free plan: per-model requests and tokens per minute and per day,
answered with Groq's own 429 and 413 bodies and `x-ratelimit-*` headers, on a settable clock.

    limits = {"openai/gpt-oss-120b": Limits(rpm=30, rpd=1000, tpm=8000, tpd=200_000)}
    with GroqLimitsServer(limits, speed=86_400 / 20) as peer:    # a "day" passes in 20 s
        ... GROQ_BASE_URL=peer.base_url ...
        peer.served_by  # model of each answered request, in order

Each limit is a bucket that refills evenly over its period (a minute or a day on the peer's
clock), as Groq's limits behave: a spent day comes back a little at a time. A request is charged
what it asks for against the minute and the day (prompt tokens, counted with o200k, plus
`max_completion_tokens`), then what it used; one whose ask alone is over the model's TPM is refused
with 413 "Request too large". Durations in headers and messages are real seconds (the peer's clock
divided by `speed`), so a client that waits as told waits the right time. `clock` may be replaced
(`peer.clock = lambda: now`) for a fully virtual run (bench/bench_free_plan.py).

Answers echo the last viewer line as `{"emotion", "response"}` (plain text for summaries), with
`usage.prompt_tokens_details.cached_tokens`: the tokens of the leading messages (and tools) that
were the same in this model's previous request (Groq's prompt caching is by prefix).
Scripted behaviours (OpenAIServer.script) still work and are not charged.

As a process: ``python tests/peers/groq_limits.py --port 0 --day-s 20 --tpd openai/gpt-oss-120b=3000``.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

try:
    from peers.openai_server import (Echo, OpenAIServer, Recorded, Reply, _error, _respond,
                                     last_viewer_line)
    from peers.threaded_server import read_request
except ImportError:  # run as a script
    from openai_server import (Echo, OpenAIServer, Recorded, Reply,  # type: ignore[no-redef]
                               _error, _respond, last_viewer_line)
    from threaded_server import read_request  # type: ignore[no-redef]
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

__all__ = ["FREE_PLAN", "GroqLimitsServer", "Limits", "groq_duration"]

MINUTE, DAY = 60.0, 86_400.0
ORG = "org_01peerpeerpeerpeerpeerpeer"
UPGRADE = "Need more tokens? Upgrade to Dev Tier today at https://console.groq.com/settings/billing"


@dataclass(frozen=True)
class Limits:
    rpm: int = 30
    rpd: int = 1000
    tpm: int = 8000
    tpd: int = 200_000


# console.groq.com/docs/rate-limits (free plan), the models of the default chain
FREE_PLAN: dict[str, Limits] = {
    "openai/gpt-oss-120b": Limits(30, 1000, 8000, 200_000),
    "moonshotai/kimi-k2-instruct": Limits(60, 1000, 10_000, 300_000),
    "qwen/qwen3-32b": Limits(60, 1000, 6000, 500_000),
    "meta-llama/llama-4-scout-17b-16e-instruct": Limits(30, 1000, 30_000, 500_000),
    "llama-3.1-8b-instant": Limits(30, 14_400, 6000, 500_000),
}


def groq_duration(seconds: float) -> str:
    """Groq's way of writing a duration: "7.66s", "1m26.4s", "2h3m4.5s", "120ms"."""
    if seconds < 1:
        return f"{max(round(seconds * 1000), 1)}ms"
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    text = f"{round(secs, 2):g}s"
    if minutes or hours:
        text = f"{int(minutes)}m" + text
    if hours:
        text = f"{int(hours)}h" + text
    return text


@dataclass
class _Bucket:
    capacity: int
    period: float
    level: float = -1.0
    at: float = 0.0

    def refill(self, now: float) -> None:
        if self.level < 0:
            self.level, self.at = float(self.capacity), now
        self.level = min(self.capacity, self.level + (now - self.at) * self.capacity / self.period)
        self.at = now

    def wait_for(self, amount: float) -> float:
        """Seconds (peer clock) until `amount` is there."""
        return max(amount - self.level, 0.0) * self.period / self.capacity

    def to_full(self) -> float:
        return self.wait_for(self.capacity)


@dataclass
class _Model:
    limits: Limits
    rpm: _Bucket = field(init=False)
    rpd: _Bucket = field(init=False)
    tpm: _Bucket = field(init=False)
    tpd: _Bucket = field(init=False)
    last_prefix: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.rpm = _Bucket(self.limits.rpm, MINUTE)
        self.rpd = _Bucket(self.limits.rpd, DAY)
        self.tpm = _Bucket(self.limits.tpm, MINUTE)
        self.tpd = _Bucket(self.limits.tpd, DAY)


class GroqLimitsServer(OpenAIServer):
    """OpenAIServer whose chat completions are limited per model like Groq's free plan."""

    thread_name = "groq-limits-peer"

    def __init__(self, limits: Mapping[str, Limits] | None = None, *, speed: float = 1.0,
                 clock: Callable[[], float] = time.monotonic, unknown: Limits | None = None,
                 host: str = "127.0.0.1", port: int = 0) -> None:
        from aischoco.ai.tokens import load_counter

        self._counter = load_counter()
        self.speed = speed
        self._clock = clock
        self._start = clock()
        self._unknown = unknown or Limits()
        self._models = {m: _Model(lim) for m, lim in (limits or FREE_PLAN).items()}
        self.served_by: list[str] = []  # model of each answered (charged) request
        self.refused: list[tuple[str, int, str]] = []  # (model, status, limit) of each refusal
        self.answers: list[dict[str, Any]] = []  # per charged request: model, usage, at, answer
        self.refused_at: list[float] = []  # the peer time of each refusal
        super().__init__(default=Echo(), host=host, port=port)

    # --- the clock ----------------------------------------------------------------------------
    @property
    def clock(self) -> Callable[[], float]:
        return self._clock

    @clock.setter
    def clock(self, clock: Callable[[], float]) -> None:
        """A new clock: the peer's time goes on from where it was."""
        now = self.now()
        self._clock = clock
        self._start = clock() - now / self.speed

    def now(self) -> float:
        """The peer's time (seconds, sped up by `speed`)."""
        return (self.clock() - self._start) * self.speed

    def advance(self, seconds: float) -> None:
        """Move the peer's clock on by `seconds` of its own time (a day: 86400)."""
        self._start -= seconds / self.speed

    def set_limits(self, model: str, limits: Limits) -> None:
        self._models[model] = _Model(limits)

    def model_state(self, model: str) -> dict[str, float]:
        m = self._model(model)
        now = self.now()
        for b in (m.rpm, m.rpd, m.tpm, m.tpd):
            b.refill(now)
        return {"rpm": m.rpm.level, "rpd": m.rpd.level, "tpm": m.tpm.level, "tpd": m.tpd.level}

    def _model(self, name: str) -> _Model:
        if name not in self._models:
            self._models[name] = _Model(self._unknown)
        return self._models[name]

    # --- counting -----------------------------------------------------------------------------
    def _items(self, body: dict[str, Any]) -> list[str]:
        items = [json.dumps(body.get("tools"), ensure_ascii=False, sort_keys=True)] \
            if body.get("tools") else []
        for message in body.get("messages") or []:
            items.append(json.dumps(message, ensure_ascii=False, sort_keys=True))
        return items

    def _tokens(self, item: str) -> int:
        """A message costs its content plus harmony's framing (4); the tools their JSON."""
        value = json.loads(item)
        if isinstance(value, dict) and "role" in value:
            content = value.get("content")
            text = content if isinstance(content, str) else json.dumps(content or "")
            extra = json.dumps(value["tool_calls"]) if value.get("tool_calls") else ""
            return self._counter.count(text + extra) + 4
        return self._counter.count(item)

    def _headers(self, m: _Model) -> dict[str, str]:
        return {
            "x-ratelimit-limit-requests": str(m.limits.rpd),
            "x-ratelimit-limit-tokens": str(m.limits.tpm),
            "x-ratelimit-remaining-requests": str(int(m.rpd.level)),
            "x-ratelimit-remaining-tokens": str(max(int(m.tpm.level), 0)),
            "x-ratelimit-reset-requests": groq_duration(m.rpd.to_full() / self.speed),
            "x-ratelimit-reset-tokens": groq_duration(m.tpm.to_full() / self.speed),
        }

    def _refuse(self, model: str, m: _Model, status: int, kind: str, limit: int, used: int,
                requested: int, wait: float) -> Response:
        headers = self._headers(m)
        if status == 413:
            message = (f"Request too large for model `{model}` in organization `{ORG}` service "
                       f"tier `on_demand` on tokens per minute (TPM): Limit {limit}, Requested "
                       f"{requested}, please reduce your message size and try again. {UPGRADE}")
            type_ = "tokens"
        else:
            words = {"TPM": "tokens per minute", "TPD": "tokens per day",
                     "RPM": "requests per minute", "RPD": "requests per day"}[kind]
            real = wait / self.speed
            message = (f"Rate limit reached for model `{model}` in organization `{ORG}` service "
                       f"tier `on_demand` on {words} ({kind}): Limit {limit}, Used {used}, "
                       f"Requested {requested}. Please try again in {groq_duration(real)}. "
                       f"{UPGRADE}")
            type_ = "tokens" if kind.startswith("T") else "requests"
            headers["retry-after"] = str(max(int(real + 0.999), 1))
        self.refused.append((model, status, kind or "TPM"))
        self.refused_at.append(self.now())
        return JSONResponse(_error(status, message, type_, "rate_limit_exceeded"),
                            status_code=status, headers=headers)

    def _check(self, body: dict[str, Any]) -> tuple[Response | None, list[str], int]:
        """A refusal, or (None, the request's items, its prompt tokens)."""
        model = str(body.get("model") or "")
        m = self._model(model)
        now = self.now()
        for b in (m.rpm, m.rpd, m.tpm, m.tpd):
            b.refill(now)
        items = self._items(body)
        prompt = sum(self._tokens(i) for i in items)
        asked = prompt + int(body.get("max_completion_tokens") or body.get("max_tokens") or 0)
        if asked > m.limits.tpm:
            return self._refuse(model, m, 413, "TPM", m.limits.tpm, 0, asked, 0.0), items, prompt
        for kind, bucket, need, limit in (("RPD", m.rpd, 1, m.limits.rpd),
                                          ("TPD", m.tpd, asked, m.limits.tpd),
                                          ("RPM", m.rpm, 1, m.limits.rpm),
                                          ("TPM", m.tpm, asked, m.limits.tpm)):
            if bucket.level < need:
                used = int(limit - bucket.level)
                return (self._refuse(model, m, 429, kind, limit, used, need,
                                     bucket.wait_for(need)), items, prompt)
        return None, items, prompt

    def _charge(self, model: str, items: list[str], prompt: int, completion: int) -> dict[str, Any]:
        m = self._model(model)
        cached = 0
        for old, new in zip(m.last_prefix, items, strict=False):
            if old != new:
                break
            cached += self._tokens(new)
        m.last_prefix = items
        total = prompt + completion
        m.rpm.level -= 1
        m.rpd.level -= 1
        m.tpm.level -= total
        m.tpd.level -= total
        usage = {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": total,
                 "prompt_tokens_details": {"cached_tokens": cached}}
        self.served_by.append(model)
        self.answers.append({"model": model, "usage": usage, "at": self.now()})
        return usage

    # --- ASGI ---------------------------------------------------------------------------------
    def app(self) -> Starlette:
        base = super().app()

        async def completions(request: Request) -> Response:
            headers, body = await read_request(request)
            recorded = Recorded(request.url.path, headers, body)
            behaviour = self._next(recorded)
            if not isinstance(body, dict):
                return JSONResponse(_error(400, "request body is not a JSON object",
                                           "invalid_request_error", None), status_code=400)
            if not isinstance(behaviour, Echo | Reply):
                return await _respond(behaviour, body, recorded)  # scripted: not charged
            refusal, items, prompt = self._check(body)
            if refusal is not None:
                return refusal
            model = str(body.get("model") or "")
            answer = isinstance(body.get("response_format"), dict) or body.get("stream") \
                or body.get("tools")
            if isinstance(behaviour, Reply):
                content: Any = behaviour.content
            elif answer:
                echoed = last_viewer_line(body.get("messages") or []) or "안녕하세요!"
                content = {"emotion": behaviour.emotion, "response": echoed}
            else:
                content = f"요약: 시청자들과 {len(body.get('messages') or [])}개의 메시지로 대화했다."
            text = content if isinstance(content, str) else json.dumps(content, ensure_ascii=False)
            usage = self._charge(model, items, prompt, self._counter.count(text))
            self.answers[-1]["answer"] = bool(answer)
            return await _respond(Reply(content, usage=usage,
                                        headers=self._headers(self._model(model))),
                                  body, recorded)

        routes = [Route("/v1/chat/completions", completions, methods=["POST"]),
                  *[r for r in base.routes if getattr(r, "path", "") != "/v1/chat/completions"]]
        return Starlette(routes=routes)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Groq free-plan limits peer.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--day-s", type=float, default=DAY, help="real seconds a day lasts")
    parser.add_argument("--tpd", action="append", default=[], help="model=tokens per day")
    args = parser.parse_args(argv)
    limits = dict(FREE_PLAN)
    for item in args.tpd:
        model, _, value = item.partition("=")
        old = limits.get(model, Limits())
        limits[model] = Limits(old.rpm, old.rpd, old.tpm, int(value))
    peer = GroqLimitsServer(limits, speed=DAY / args.day_s, host=args.host, port=args.port)
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: None)
    print(f"listening on {peer.base_url}", flush=True)
    peer._server.run(sockets=[peer._sock])
    return 0


if __name__ == "__main__":
    sys.exit(main())
