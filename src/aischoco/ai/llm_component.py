"""The LLM as a supervised component: loads the memory off the loop, flushes it at shutdown."""

from __future__ import annotations

import asyncio
from pathlib import Path

from ..core.status import State, StatusHandle
from .conversation import ConversationMemory
from .responder import GroqResponder


class LlmComponent:
    name = "llm"

    def __init__(self, responder: GroqResponder, history_dir: Path, *, keep_tokens: int,
                 summarize_at: int, limit_tokens: int) -> None:
        self.responder = responder
        self._history_dir = history_dir
        self._limits = {"keep_tokens": keep_tokens, "summarize_at": summarize_at,
                        "limit_tokens": limit_tokens}

    async def run(self, status: StatusHandle) -> None:
        self.responder.status = status
        if self.responder.memory is None:
            status.set(State.STARTING, "대화 기록을 불러오는 중")
            self.responder.memory = await ConversationMemory.open(
                self._history_dir, self.responder.summarize, **self._limits)
        status.set(State.RUNNING, f"{self.responder.client.model} 준비됨")
        await asyncio.Event().wait()

    async def aclose(self) -> None:
        if self.responder.memory is not None:
            await self.responder.memory.aclose()
        await self.responder.client.aclose()
