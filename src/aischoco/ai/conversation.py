"""The conversation memory the daemon keeps across turns and restarts.

Owns one HistoryWindow and its files. Every turn is saved (atomically, off the event loop); when
the window passes HISTORY_SUMMARIZE_AT the oldest part is summarised through the LLM in the
background, so a reply never waits for a summary.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from pathlib import Path

from . import history_store
from .history import HistoryWindow, summary_prompt

log = logging.getLogger(__name__)

Summarizer = Callable[[list[dict[str, str]]], Awaitable[str]]
FORGOTTEN_KEPT = 1000  # recent forgets remembered, to refuse a turn already under way for them


class ConversationMemory:
    def __init__(self, window: HistoryWindow, directory: Path, summarizer: Summarizer) -> None:
        self.window = window
        self._directory = directory
        self._summarize_with = summarizer
        self._save_lock = asyncio.Lock()  # one writer at a time, in order
        self._summary_task: asyncio.Task[None] | None = None
        self._forgotten: OrderedDict[str, float] = OrderedDict()  # key → perf_counter of forget
        self._scrubs: set[asyncio.Task[None]] = set()

    @classmethod
    async def open(cls, directory: Path, summarizer: Summarizer, **limits: int) -> ConversationMemory:
        from .tokens import load_counter

        counter = await asyncio.to_thread(load_counter)
        window, warnings = await asyncio.to_thread(history_store.load, directory, counter, **limits)
        for warning in warnings:
            log.warning("history: %s", warning)
        log.info("history restored: %d messages (%d tokens)%s", len(window), window.total_tokens,
                 ", with summary" if window.summary else "")
        return cls(window, directory, summarizer)

    def context(self, reserve_tokens: int) -> list[dict[str, str]]:
        messages = self.window.context_messages(reserve_tokens)
        if self.window.last_dropped:
            log.warning("history over the token limit: %d oldest messages left out of this request",
                        self.window.last_dropped)
        return messages

    async def record_turn(self, user_text: str | None, assistant_text: str, *,
                          viewers: tuple[str, ...] = (), asked_at: float | None = None) -> None:
        """One exchange; `user_text` None: a line the character said on its own (idle talk).
        `viewers` took part; a turn asked (`asked_at`, perf_counter) before one of them said
        "forget me" is not kept: it was under way when they asked."""
        if asked_at is not None and any(self._forgotten.get(v, -1.0) >= asked_at for v in viewers):
            log.info("history: a turn for a viewer who asked to be forgotten is not kept")
            return
        if user_text is not None:
            self.window.add("user", user_text, viewers=viewers)
        self.window.add("assistant", assistant_text, viewers=viewers)
        if self.window.needs_summary() and self._summary_task is None:
            self._summary_task = asyncio.create_task(self._summarize(), name="history-summary")
        await self.save()

    async def save(self) -> None:
        # Snapshot on the loop (the window keeps changing), write in a thread.
        snapshot = self._snapshot()
        async with self._save_lock:
            await asyncio.to_thread(history_store.save, self._directory, snapshot)

    def forget_viewer(self, key: str) -> int:
        """Out of the window now (the next request no longer carries them), then out of the
        saved files in the background. Returns the messages dropped from the window."""
        self._forgotten[key] = time.perf_counter()
        self._forgotten.move_to_end(key)
        while len(self._forgotten) > FORGOTTEN_KEPT:
            self._forgotten.popitem(last=False)
        dropped = self.window.forget_viewer(key)
        task = asyncio.get_running_loop().create_task(self._scrub_files(key),
                                                      name="history-forget")
        self._scrubs.add(task)
        task.add_done_callback(self._scrubs.discard)
        log.info("history: a viewer asked to be forgotten: %d messages dropped", dropped)
        return dropped

    async def _scrub_files(self, key: str) -> None:
        await self.save()
        async with self._save_lock:
            await asyncio.to_thread(history_store.forget_in_backups, self._directory, key)

    async def summarize_now(self) -> bool:
        """Summarise the part beyond HISTORY_KEEP_TOKENS now (the `history summarize` command)."""
        if self._summary_task is None:
            self._summary_task = asyncio.create_task(self._summarize(), name="history-summary")
        task = self._summary_task
        before = self.window.summarized_messages
        await task
        return self.window.summarized_messages > before

    async def aclose(self) -> None:
        """At shutdown: give a running summary a moment, then save what we have."""
        if self._summary_task is not None and not self._summary_task.done():
            done, _ = await asyncio.wait({self._summary_task}, timeout=1.0)
            if not done:
                self._summary_task.cancel()
        if self._scrubs:
            await asyncio.wait(set(self._scrubs), timeout=1.0)
        await self.save()

    async def _summarize(self) -> None:
        consumed = self.window.begin_summary()
        try:
            if not consumed:
                return
            prompt = summary_prompt(self.window.summary, consumed)
            text = await self._summarize_with(prompt)
            if self.window.finish_summary(text, consumed):
                log.info("history: summarised %d messages (window now %d tokens)", len(consumed),
                         self.window.total_tokens)
                snapshot = self._snapshot()
                async with self._save_lock:
                    await asyncio.to_thread(history_store.save, self._directory, snapshot)
                    await asyncio.to_thread(history_store.write_summary_copy, self._directory,
                                            snapshot)
        except asyncio.CancelledError:
            self.window.abort_summary(consumed)
            raise
        except Exception as exc:  # noqa: BLE001 - the request-size limit still holds without it
            self.window.abort_summary(consumed)
            log.warning("history summary failed (%s); will retry as the window grows", exc)
        finally:
            self._summary_task = None

    def _snapshot(self) -> HistoryWindow:
        w = self.window
        return HistoryWindow.from_dict(w.to_dict(), w.counter, keep_tokens=w.keep_tokens,
                                       summarize_at=w.summarize_at, limit_tokens=w.limit_tokens)
