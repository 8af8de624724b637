"""The LLM stage: a chat batch in, an in-character AIResponse out, remembered for next time."""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence

from ..chat.models import ChatMessage
from ..core.stages import AIResponse
from ..core.status import State, StatusHandle
from .character import CharacterPrompt
from .groq_client import GroqClient, LLMError
from .memory import ConversationMemory
from .prompts import AnswerError, OutputFilter, format_batch, parse_answer
from .speech_text import spoken_text

log = logging.getLogger(__name__)

ANSWER_MAX_TOKENS = 512
# The model sometimes ignores JSON mode without the server noticing: ask again, then give up.
PARSE_ATTEMPTS = 2


class GroqResponder:
    """Implements core.stages.LanguageModel. `available` turns true once memory is loaded."""

    def __init__(self, client: GroqClient, character: CharacterPrompt, output_filter: OutputFilter,
                 *, max_answer_chars: int) -> None:
        self.client = client
        self.memory: ConversationMemory | None = None
        self._character = character
        self._filter = output_filter
        self._max_answer_chars = max_answer_chars
        self.usage: dict[str, int] = {}  # summed over the run, for the control panel
        self.status: StatusHandle | None = None

    def report_rate_limit(self, text: str) -> None:
        """GroqClient's on_status: a 429 made us wait."""
        if self.status is not None:
            self.status.set(State.DEGRADED, text, "Groq 요청 한도에 걸려 잠시 기다립니다 (자동으로 이어짐)")

    def _report_ok(self) -> None:
        if self.status is not None and self.status.current.state is not State.RUNNING:
            self.status.set(State.RUNNING, f"{self.client.model} 준비됨")

    @property
    def available(self) -> bool:
        return self.memory is not None

    async def reply(self, batch: Sequence[ChatMessage]) -> AIResponse:
        assert self.memory is not None, "reply() before the memory was loaded"
        started = time.perf_counter()
        system = await self._character.get()
        user_text = format_batch(batch)
        # HISTORY_LIMIT_TOKENS bounds history + summary; system prompt and chat come on top.
        messages = [{"role": "system", "content": system}, *self.memory.context(0),
                    {"role": "user", "content": user_text}]
        for attempt in range(1, PARSE_ATTEMPTS + 1):
            completion = await self.client.complete_json(messages, max_tokens=ANSWER_MAX_TOKENS)
            self._add_usage(completion.usage)
            try:
                answer = parse_answer(completion.content, max_chars=self._max_answer_chars)
                break
            except AnswerError as exc:
                if attempt == PARSE_ATTEMPTS:
                    raise LLMError(f"unusable answer after {attempt} tries: {exc}",
                                   retryable=True) from None
                log.warning("unusable answer (%s); asking again", exc)
        if answer.cut:
            log.info("answer longer than %d characters: cut at a sentence boundary",
                     self._max_answer_chars)
        shown, masked = self._filter.apply(answer.response)
        if masked:
            log.warning("banned words masked in the AI's answer")
        self._report_ok()
        return AIResponse(response=shown, emotion=answer.emotion,
                          processing_time=time.perf_counter() - started,
                          spoken=spoken_text(shown))

    async def remember(self, batch: Sequence[ChatMessage], answer: AIResponse, heard: str) -> None:
        """Called by the turn once speech is over, with only what was heard (or shown)."""
        assert self.memory is not None, "remember() before the memory was loaded"
        await self.memory.record_turn(format_batch(batch), heard)

    async def summarize(self, prompt: list[dict[str, str]]) -> str:
        completion = await self.client.complete_text(prompt)
        self._add_usage(completion.usage)
        return completion.content

    def snapshot(self) -> dict[str, object]:
        """Headroom and usage for /api/state and the control panel."""
        limits = self.client.rate_limits
        window = self.memory.window if self.memory else None
        return {
            "model": self.client.model,
            "remaining_requests": limits.remaining_requests,
            "remaining_tokens": limits.remaining_tokens,
            "limited_until": limits.limited_until,
            "usage": dict(self.usage),
            "history_tokens": window.total_tokens if window else None,
            "history_messages": len(window) if window else None,
            "has_summary": bool(window and window.summary),
        }

    def _add_usage(self, usage: dict[str, int]) -> None:
        for key, value in usage.items():
            self.usage[key] = self.usage.get(key, 0) + value
