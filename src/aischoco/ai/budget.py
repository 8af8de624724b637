"""What each model may still spend, and which model answers now (pure: no I/O, no asyncio).

Groq's free plan limits every model on its own: requests per minute (RPM) and per day (RPD),
tokens per minute (TPM) and per day (TPD). The responses say part of it (`x-ratelimit-*`:
requests left today, tokens left this minute, when each refills); the day's tokens are not in
the headers, so each model's tokens are also counted here, over a rolling day. A 429 says which
limit it hit and when to come back: that model is then left alone until then.

`ModelChain` picks the model for the next request: the first of GROQ_MODEL +
GROQ_FALLBACK_MODELS that is not spent, so the stream goes on with the next model and comes back
to the first once it resets. It also sizes each request from the TPM it read (`prompt_cap`), keeps
a reserve of the day for answers (`background_ok`), and says it all in Korean for the panel.
"""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .groq_wire import parse_duration

__all__ = [
    "DAY_S",
    "DEFAULT_FALLBACK_MODELS",
    "FREE_PLAN",
    "MINUTE_S",
    "ModelBudget",
    "ModelChain",
    "PlanLimits",
    "limit_hit",
    "parse_fallback_models",
    "trim_history",
]

DAY_S = 86_400.0
MINUTE_S = 60.0
# The rolling day's own count keeps at most this many entries: requests within day_s / DAY_BUCKETS
# (a minute) share one, which is counted until its last request is a day old (issue 37: one entry
# per request grew ~0.1 KB a request for the whole day, hours of stream).
DAY_BUCKETS = 1440
DEFAULT_FALLBACK_MODELS = ("moonshotai/kimi-k2-instruct,qwen/qwen3-32b,"
                           "meta-llama/llama-4-scout-17b-16e-instruct,llama-3.1-8b-instant")
# A request should stay well inside the plan's tokens per minute, so that several answers a
# minute fit: its prompt may use this share of TPM (8,000 TPM: 1,600 prompt tokens).
PROMPT_SHARE_OF_TPM = 0.2
# Background work (summaries, memory facts, vision) stops while what is left today on a model
# is less than this share of its day: the rest is for answers.
BACKGROUND_RESERVE = 0.25
# The panel warns when fewer answers than this are left today (all models together).
WARN_ANSWERS = 60
# A minute limit that lifts within this many seconds is waited for; a longer one (or a day
# limit) makes the next model answer.
MINUTE_WAIT_S = 3.0
# Tokens per answer assumed before any answer was counted.
DEFAULT_ANSWER_TOKENS = 1500


@dataclass(frozen=True, slots=True)
class PlanLimits:
    rpm: int | None = None
    rpd: int | None = None
    tpm: int | None = None
    tpd: int | None = None


# console.groq.com/docs/rate-limits, free plan (per model and organization).
FREE_PLAN: dict[str, PlanLimits] = {
    "openai/gpt-oss-120b": PlanLimits(30, 1000, 8000, 200_000),
    "openai/gpt-oss-20b": PlanLimits(30, 1000, 8000, 200_000),
    "moonshotai/kimi-k2-instruct": PlanLimits(60, 1000, 10_000, 300_000),
    "moonshotai/kimi-k2-instruct-0905": PlanLimits(60, 1000, 10_000, 300_000),
    "qwen/qwen3-32b": PlanLimits(60, 1000, 6000, 500_000),
    "meta-llama/llama-4-scout-17b-16e-instruct": PlanLimits(30, 1000, 30_000, 500_000),
    "meta-llama/llama-4-maverick-17b-128e-instruct": PlanLimits(30, 1000, 6000, 500_000),
    "llama-3.3-70b-versatile": PlanLimits(30, 1000, 12_000, 100_000),
    "llama-3.1-8b-instant": PlanLimits(30, 14_400, 6000, 500_000),
}

_LIMIT_RE = re.compile(r"\((RPM|RPD|TPM|TPD)\)")
_LIMIT_WORDS = (("tokens per day", "TPD"), ("requests per day", "RPD"),
                ("tokens per minute", "TPM"), ("requests per minute", "RPM"))
_REQUESTED_RE = re.compile(r"Limit\s+([\d,]+),\s*(?:Used\s+[\d,]+,\s*)?Requested\s+([\d,]+)",
                           re.IGNORECASE)

# Korean, for the AI row and the panel.
WHY_KO = {"TPD": "오늘 토큰 한도 소진", "RPD": "오늘 요청 한도 소진",
          "TPM": "분당 토큰 한도", "RPM": "분당 요청 한도"}


def limit_hit(message: str) -> tuple[str, int | None, int | None]:
    """Which limit a Groq 429/413 names ("TPD", "RPD", "TPM", "RPM" or ""), and its
    (limit, requested) numbers when the message gives them."""
    kind = ""
    if found := _LIMIT_RE.search(message):
        kind = found.group(1)
    else:
        lowered = message.lower()
        kind = next((k for words, k in _LIMIT_WORDS if words in lowered), "")
    numbers = _REQUESTED_RE.search(message)
    if numbers is None:
        return kind, None, None
    return kind, int(numbers.group(1).replace(",", "")), int(numbers.group(2).replace(",", ""))


def parse_fallback_models(text: str | None) -> tuple[str, ...]:
    """GROQ_FALLBACK_MODELS: a comma list; "none" (or empty) = no fallback, wait instead."""
    if text is None:
        return ()
    names = tuple(dict.fromkeys(p.strip() for p in text.split(",") if p.strip()))
    return () if names in ((), ("none",)) else names


def _int(text: str | None) -> int | None:
    if text is None:
        return None
    try:
        return int(str(text).strip())
    except ValueError:
        return None


class ModelBudget:
    """One model's limits and spending. Times are seconds on the caller's clock."""

    def __init__(self, model: str, limits: PlanLimits | None = None, *,
                 day_s: float = DAY_S, minute_s: float = MINUTE_S) -> None:
        self.model = model
        self.plan = limits if limits is not None else FREE_PLAN.get(model, PlanLimits())
        self.day_s, self.minute_s = day_s, minute_s
        # from the headers (None: never said)
        self.limit_requests: int | None = None  # per day
        self.limit_tokens: int | None = None  # per minute
        self.requests_left: int | None = None  # today
        self.tokens_left_minute: int | None = None
        self.requests_reset_at: float | None = None
        self.tokens_reset_at: float | None = None
        # counted here
        self._day: deque[tuple[float, int, int]] = deque()  # (last time, tokens, requests)
        self._day_bucket_s = day_s / DAY_BUCKETS
        self._day_bucket_start = 0.0  # when the newest entry of _day began
        self._minute: deque[tuple[float, int]] = deque()
        self.day_tokens = 0
        self.requests_today = 0
        self.cached_tokens = 0
        self.prompt_tokens = 0
        # told by a 429
        self.blocked_until: float | None = None
        self.blocked_why = ""
        self.spent_at: float | None = None  # when its day (or minute) last ran out

    # --- limits -------------------------------------------------------------------------------
    @property
    def rpd(self) -> int | None:
        return self.limit_requests or self.plan.rpd

    @property
    def tpm(self) -> int | None:
        return self.limit_tokens or self.plan.tpm

    @property
    def tpd(self) -> int | None:
        return self.plan.tpd

    # --- what happened ------------------------------------------------------------------------
    def observe_headers(self, headers: Mapping[str, str], now: float) -> None:
        """One response's `x-ratelimit-*` (Groq: requests per day, tokens per minute)."""
        if (v := _int(headers.get("x-ratelimit-limit-requests"))) is not None:
            self.limit_requests = v
        if (v := _int(headers.get("x-ratelimit-limit-tokens"))) is not None:
            self.limit_tokens = v
        if (v := _int(headers.get("x-ratelimit-remaining-requests"))) is not None:
            self.requests_left = v
        if (v := _int(headers.get("x-ratelimit-remaining-tokens"))) is not None:
            self.tokens_left_minute = v
        if (d := parse_duration(headers.get("x-ratelimit-reset-requests"))) is not None:
            self.requests_reset_at = now + d
        if (d := parse_duration(headers.get("x-ratelimit-reset-tokens"))) is not None:
            self.tokens_reset_at = now + d

    def record(self, usage: Mapping[str, Any], now: float) -> None:
        """One answered request's usage (its tokens count against the day and the minute)."""
        tokens = usage.get("total_tokens")
        if not isinstance(tokens, int):
            tokens = sum(v for k, v in usage.items()
                         if k in ("prompt_tokens", "completion_tokens") and isinstance(v, int))
        self._expire(now)
        if self._day and now - self._day_bucket_start < self._day_bucket_s:
            last, bucket_tokens, requests = self._day[-1]
            self._day[-1] = (max(last, now), bucket_tokens + tokens, requests + 1)
        else:
            self._day.append((now, tokens, 1))
            self._day_bucket_start = now
        self._minute.append((now, tokens))
        self.day_tokens += tokens
        self.requests_today += 1
        prompt = usage.get("prompt_tokens")
        self.prompt_tokens += prompt if isinstance(prompt, int) else 0
        cached = usage.get("cached_tokens")
        self.cached_tokens += cached if isinstance(cached, int) else 0
        if self.blocked_until is not None and self.blocked_until <= now:
            self.blocked_until, self.blocked_why = None, ""

    def block(self, kind: str, wait_s: float, now: float) -> None:
        """A 429 for `kind` (TPD, RPD, TPM, RPM): leave this model alone for `wait_s`."""
        self.blocked_until = now + max(wait_s, 0.0)
        self.blocked_why = kind or "TPM"
        self.spent_at = now

    def _expire(self, now: float) -> None:
        while self._day and self._day[0][0] <= now - self.day_s:
            _, tokens, requests = self._day.popleft()
            self.day_tokens -= tokens
            self.requests_today -= requests
        while self._minute and self._minute[0][0] <= now - self.minute_s:
            self._minute.popleft()

    # --- what is left -------------------------------------------------------------------------
    def tokens_left_today(self, now: float) -> int | None:
        self._expire(now)
        return None if self.tpd is None else max(self.tpd - self.day_tokens, 0)

    def requests_left_today(self, now: float) -> int | None:
        self._expire(now)
        counted = None if self.rpd is None else max(self.rpd - self.requests_today, 0)
        told = self.requests_left
        if told is not None and self.requests_reset_at is not None and told == 0 \
                and self.requests_reset_at <= now:
            told = None  # one request has refilled since
        if told is None:
            return counted
        return told if counted is None else min(told, counted)

    def unavailable(self, now: float, need_tokens: int = 0) -> tuple[str, float | None]:
        """Why this model cannot take a request of `need_tokens` now ("" = it can), and until
        when (None: unknown)."""
        self._expire(now)
        if self.blocked_until is not None:
            if self.blocked_until > now:
                return self.blocked_why, self.blocked_until
            self.blocked_until, self.blocked_why = None, ""
        if self.requests_left == 0 and (self.requests_reset_at or 0) > now:
            return "RPD", self.requests_reset_at
        if self.tpd is not None and self.day_tokens + need_tokens > self.tpd and self._day:
            # our own count: the day is spent until enough of it is a day old
            free = self.day_tokens + need_tokens - self.tpd
            for at, tokens, _ in self._day:
                free -= tokens
                if free <= 0:
                    return "TPD", at + self.day_s
            return "TPD", self._day[-1][0] + self.day_s
        if self.rpm is not None and len(self._minute) >= self.rpm:
            return "RPM", self._minute[0][0] + self.minute_s
        if (self.tokens_left_minute is not None and need_tokens > self.tokens_left_minute
                and (self.tokens_reset_at or 0) > now):
            return "TPM", self.tokens_reset_at
        return "", None

    @property
    def rpm(self) -> int | None:
        return self.plan.rpm

    def prompt_cap(self) -> int | None:
        """The prompt size that keeps a request well inside this model's TPM."""
        return None if self.tpm is None else int(self.tpm * PROMPT_SHARE_OF_TPM)

    def background_ok(self, now: float, need_tokens: int = 0) -> bool:
        """Whether background work may spend on this model without touching the reserve."""
        if self.unavailable(now, need_tokens)[0]:
            return False
        tokens = self.tokens_left_today(now)
        if tokens is not None and self.tpd and tokens - need_tokens < self.tpd * BACKGROUND_RESERVE:
            return False
        requests = self.requests_left_today(now)
        return not (requests is not None and self.rpd and
                    requests - 1 < self.rpd * BACKGROUND_RESERVE)


@dataclass(frozen=True, slots=True)
class Choice:
    model: str
    why: str  # "" for the first model; else why the ones before it are skipped (Korean)
    wait_s: float = 0.0  # > 0: nothing can answer now; the first model frees up in this long


class ModelChain:
    """GROQ_MODEL first, then GROQ_FALLBACK_MODELS, each with its own budget."""

    def __init__(self, models: Sequence[str], *, day_s: float = DAY_S,
                 minute_s: float = MINUTE_S,
                 limits: Mapping[str, PlanLimits] | None = None) -> None:
        if not models:
            raise ValueError("a model chain needs at least one model")
        self.models = tuple(dict.fromkeys(models))
        self.day_s = day_s
        self._budgets = {m: ModelBudget(m, (limits or {}).get(m), day_s=day_s, minute_s=minute_s)
                         for m in self.models}
        self.answered_by: dict[str, int] = {}
        self.answer_tokens: deque[int] = deque(maxlen=50)  # recent answers' total tokens
        self.last: Choice | None = None

    @property
    def primary(self) -> str:
        return self.models[0]

    def budget(self, model: str) -> ModelBudget:
        if model not in self._budgets:
            self._budgets[model] = ModelBudget(model, day_s=self.day_s)
        return self._budgets[model]

    def budgets(self) -> Iterable[ModelBudget]:
        return self._budgets.values()

    def choose(self, now: float, need_tokens: int = 0, skip: Iterable[str] = ()) -> Choice:
        """The model for the next answer: the first one not spent (a minute limit that lifts
        within MINUTE_WAIT_S is waited for instead of switching); `skip`: not these."""
        skipped: list[str] = []
        soonest: tuple[float, str] | None = None
        skip = set(skip)
        for model in self.models:
            if model in skip:
                continue
            why, until = self.budget(model).unavailable(now, need_tokens)
            if not why or (why in ("TPM", "RPM") and until is not None
                           and until - now <= MINUTE_WAIT_S):
                wait = 0.0 if not why else max((until or now) - now, 0.0)
                choice = Choice(model, "; ".join(skipped), wait)
                self.last = choice
                return choice
            skipped.append(f"{model} {WHY_KO.get(why, why)}")
            at = until if until is not None else now + MINUTE_S
            if soonest is None or at < soonest[0]:
                soonest = (at, model)
        if soonest is None:  # every model skipped
            return Choice(self.primary, "; ".join(skipped), MINUTE_S)
        choice = Choice(soonest[1], "; ".join(skipped), max(soonest[0] - now, 0.0))
        self.last = choice
        return choice

    def note_answer(self, model: str, total_tokens: int) -> None:
        self.answered_by[model] = self.answered_by.get(model, 0) + 1
        if total_tokens > 0:
            self.answer_tokens.append(total_tokens)

    def per_answer(self) -> int:
        if not self.answer_tokens:
            return DEFAULT_ANSWER_TOKENS
        ordered = sorted(self.answer_tokens)
        return max(ordered[len(ordered) // 2], 1)

    def answers_left(self, now: float) -> int | None:
        """About how many answers are left today, all models of the chain together (None:
        no model says its limits: a local server, or a model not in the free-plan table)."""
        per = self.per_answer()
        total, known = 0, False
        for b in self._budgets.values():
            if b.model not in self.models:
                continue
            tokens, requests = b.tokens_left_today(now), b.requests_left_today(now)
            if tokens is None and requests is None:
                continue
            known = True
            why, until = b.unavailable(now)
            if why in ("TPD", "RPD") and (until is None or until - now > MINUTE_S):
                continue
            n = tokens // per if tokens is not None else None
            if requests is not None:
                n = requests if n is None else min(n, requests)
            total += n or 0
        return total if known else None

    def background_ok(self, model: str, now: float, need_tokens: int = 0) -> bool:
        """Background work may use `model` only above its reserve, and never while the
        answers already run on a fallback (the day is short)."""
        if self.last is not None and self.last.model != self.primary and model == self.last.model:
            return False
        return self.budget(model).background_ok(now, need_tokens)

    def snapshot(self, now: float) -> dict[str, Any]:
        """For /api/state `llm.budget` and the panel line."""
        left = self.answers_left(now)
        choice = self.last or Choice(self.primary, "")
        models = []
        for b in self._budgets.values():
            why, until = b.unavailable(now)
            models.append({
                "model": b.model,
                "requests_left_today": b.requests_left_today(now),
                "tokens_left_today": b.tokens_left_today(now),
                "tokens_left_minute": b.tokens_left_minute,
                "tokens_today": b.day_tokens,
                "limits": {"rpm": b.rpm, "rpd": b.rpd, "tpm": b.tpm, "tpd": b.tpd},
                "spent": why, "until_s": None if until is None else round(until - now, 1),
                "answers": self.answered_by.get(b.model, 0),
                "cached_tokens": b.cached_tokens, "prompt_tokens": b.prompt_tokens,
            })
        prompt = sum(b.prompt_tokens for b in self._budgets.values())
        cached = sum(b.cached_tokens for b in self._budgets.values())
        return {
            "model": choice.model,
            "why": choice.why,
            "answers_left": left,
            "per_answer_tokens": self.per_answer(),
            "warning": left is not None and left < WARN_ANSWERS,
            "cached_share": round(cached / prompt, 3) if prompt else None,
            "fallbacks": list(self.models[1:]),
            "models": models,
        }


def trim_history(messages: list[dict[str, Any]], start: int, end: int, drop_tokens: int,
                 cost: Any) -> tuple[list[dict[str, Any]], int]:
    """`messages[start:end]` is the history: drop its oldest messages until at least
    `drop_tokens` (by `cost(message)`) are gone. Returns (messages, how many were dropped)."""
    dropped, freed = 0, 0
    while start + dropped < end and freed < drop_tokens:
        freed += cost(messages[start + dropped])
        dropped += 1
    return messages[:start] + messages[start + dropped:], dropped
