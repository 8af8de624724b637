"""Long-term viewer memory as a supervised component: the SQLite store lives on its own thread,
so the event loop never waits on disk; the loop side only queues writes and awaits recalls.

    intake ──note(msg)──► [memory thread: record] ◄──recall(batch)── responder (bounded wait)
    turn ──note_answer──► [record answer]          distiller: a steady trickle of fact extraction

Jobs run in submission order, so a message noted by the intake is stored before the recall of
the turn that answers it. Nothing a viewer said is logged at INFO.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import time
import uuid
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

from ..core.messages import ChatMessage, Kind, Role
from ..core.status import State, StatusHandle
from ..core.worker_thread import WorkerThread
from .cards import Cards, ViewerRecall, render_cards
from .distill import Complete, DistillError, DistillPacer, distill_prompt, parse_facts
from .store import MemoryStore, Viewer

log = logging.getLogger(__name__)

RECALL_TIMEOUT_S = 0.25  # a reply goes out without memory rather than wait longer
RECALL_SAID = 3  # matching past messages per sender
PRUNE_EVERY_S = 6 * 3600
DISTILL_MIN_MESSAGES = 3  # undistilled messages before a viewer is worth one extraction
PENDING_IDS = 2000  # chat message id → stored row id, for answers and recall exclusion
SETTLE_EVERY = 64  # notes between swaps of finished writes' futures (~1.8 KB each) for row ids


class MemoryClosed(RuntimeError):
    pass


def is_viewer(msg: ChatMessage) -> bool:
    """The streamer (chat or voice) is not a viewer to remember."""
    return msg.role is not Role.STREAMER and msg.kind is not Kind.VOICE


class ViewerMemory:
    name = "memory"

    def __init__(self, path: Path, *, prompt_tokens: int, retention_days: int,
                 facts_per_viewer: int, count_tokens: Callable[[str], int],
                 distill: Complete | None = None, distill_pacer: DistillPacer | None = None,
                 on_close: Callable[[], Awaitable[None]] | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        self.path = path
        self._prompt_tokens = prompt_tokens
        self._retention_s = retention_days * 86400
        self._facts_per_viewer = facts_per_viewer
        self._count = count_tokens
        self._distill = distill
        self._pacer = distill_pacer
        self._on_close = on_close  # the distiller's own LLM client
        self._clock = clock
        self.session = uuid.uuid4().hex  # one daemon run = one stream session (visits)
        self._thread = WorkerThread("memory", lambda: MemoryClosed("memory is closed"))
        self._store: MemoryStore | None = None  # set on the memory thread by its first job
        self._opening: concurrent.futures.Future[MemoryStore] | None = None
        # a queued write's future until it is settled into its row id (None: the write failed)
        self._rows: OrderedDict[str, _Row] = OrderedDict()
        self._since_settle = 0  # notes since the last _settle_rows
        self.stats: dict[str, int] = {"recorded": 0, "recalls": 0, "recall_timeouts": 0,
                                      "facts_learned": 0, "distill_calls": 0,
                                      "distill_failures": 0, "forgotten": 0}
        self.last_recall_ms: float | None = None

    # --- the component --------------------------------------------------------------------------
    async def run(self, status: StatusHandle) -> None:
        status.set(State.STARTING, "시청자 기억을 여는 중")
        store = await asyncio.wrap_future(self._ensure_opening())
        for warning in store.warnings:
            log.warning("memory: %s", warning)
        counts = await self._thread.run(store.stats)
        status.set(State.RUNNING, f"시청자 {counts['viewers']}명 · 메시지 {counts['messages']}개 기억 중")
        next_prune = 0.0
        while True:
            if self._retention_s and time.monotonic() >= next_prune:
                removed = await self._thread.run(store.prune, self._clock() - self._retention_s)
                if removed:
                    log.info("memory: pruned %d rows older than %d days", removed,
                             self._retention_s // 86400)
                next_prune = time.monotonic() + PRUNE_EVERY_S
            if self._distill is not None and self._pacer is not None and self._pacer.ready():
                await self._distill_one(store)
            await asyncio.sleep(0.5)

    def _ensure_opening(self) -> concurrent.futures.Future[MemoryStore]:
        """Queue the open as the memory thread's next job unless it is queued or done: whatever
        is submitted later (a chat noted before the component ran) finds the store open."""
        if self._opening is None or (self._opening.done() and self._opening.exception()):
            self._opening = self._thread.submit(self._open)
        return self._opening

    def _open(self) -> MemoryStore:
        if self._store is None:
            self._store = MemoryStore(self.path, max_facts_per_viewer=self._facts_per_viewer,
                                      clock=self._clock)
        return self._store

    async def aclose(self) -> None:
        if self._opening is not None:
            try:
                self._thread.submit(self._close_store)  # after the writes already queued
            except MemoryClosed:
                pass
        self._thread.stop()
        await self._thread.join(3.0)
        if self._on_close is not None:
            await self._on_close()

    # --- writes (fire and forget; errors are logged, never raised into the chat path) -----------
    def note(self, msg: ChatMessage) -> None:
        """An accepted chat message: who sent it, what they said (viewers only)."""
        if not is_viewer(msg):
            return
        at = msg.timestamp.timestamp()
        text = msg.text_for_llm()
        donated = (msg.amount or 0) if msg.kind is Kind.DONATION else 0
        future = self._submit(lambda s: s.record_message(msg.memory_key, msg.user, text,
                                                         session=self.session,
                                                         platform=msg.platform, at=at,
                                                         donated=donated))
        if future is not None:
            self._rows[msg.message_id] = future
            while len(self._rows) > PENDING_IDS:
                self._rows.popitem(last=False)
            self._since_settle += 1
            if self._since_settle >= SETTLE_EVERY:  # one pass per 64 notes, even on a stuck disk
                self._settle_rows()
            self.stats["recorded"] += 1

    def _settle_rows(self) -> None:
        """Keep a finished write's row id, not its future: a done Future still holds a Condition,
        an RLock and a deque (~1.6 KB): the full map held 3.2 MB, with row ids 0.3 MB (issue 37)."""
        self._since_settle = 0
        for key, row in self._rows.items():  # values only: the dict's size and order stay
            if isinstance(row, concurrent.futures.Future) and row.done():
                self._rows[key] = _row_id(row)

    def note_answer(self, batch: Sequence[ChatMessage], answer: str) -> None:
        """What the character said back (what was heard), stored with the messages it answers."""
        rows = [f for m in batch if (f := self._rows.pop(m.message_id, None)) is not None]
        if not rows or not answer:
            return
        self._submit(lambda s: s.record_answer(
            [i for r in rows if (i := _row_id(r, wait=True)) is not None], answer))

    def _close_store(self) -> None:
        if self._store is not None:
            self._store.close()
            self._store = None

    def _submit(self, job: Callable[[MemoryStore], Any]) -> concurrent.futures.Future[Any] | None:
        def run() -> Any:
            if self._store is None:
                raise MemoryClosed("the memory file could not be opened")
            return job(self._store)
        try:
            self._ensure_opening()
            future = self._thread.submit(run)
        except MemoryClosed:
            return None
        future.add_done_callback(_log_failure)
        return future

    # --- recall (on the reply path) -------------------------------------------------------------
    async def recall(self, batch: Sequence[ChatMessage]) -> str:
        """The cards for this batch's senders within MEMORY_PROMPT_TOKENS ("" if none). A slow
        disk never holds up the reply: past RECALL_TIMEOUT_S it answers without memory."""
        if self._prompt_tokens <= 0 or self._store is None:
            return ""
        senders: dict[str, list[ChatMessage]] = {}
        for msg in batch:
            if is_viewer(msg):
                senders.setdefault(msg.memory_key, []).append(msg)
        if not senders:
            return ""
        own = [f for m in batch if (f := self._rows.get(m.message_id)) is not None]
        started = time.perf_counter()
        try:
            future = self._thread.submit(self._recall_job, senders, own)
            cards: Cards = await asyncio.wait_for(asyncio.wrap_future(future), RECALL_TIMEOUT_S)
        except (asyncio.TimeoutError, MemoryClosed):
            self.stats["recall_timeouts"] += 1
            log.warning("memory: recall took longer than %.0f ms; answering without it",
                        RECALL_TIMEOUT_S * 1000)
            return ""
        except Exception:  # noqa: BLE001 - memory must never break a reply
            log.exception("memory: recall failed; answering without it")
            return ""
        self.last_recall_ms = (time.perf_counter() - started) * 1000
        self.stats["recalls"] += 1
        return cards.text

    def _recall_job(self, senders: dict[str, list[ChatMessage]],
                    own: list[_Row]) -> Cards:
        store = self._store
        assert store is not None, "recall before the store was opened"
        exclude = {i for r in own if (i := _row_id(r)) is not None}
        recalls = []
        for key, messages in senders.items():
            viewer = store.viewer(key)
            if viewer is None:
                continue
            query = " ".join(m.text_for_llm() for m in messages)
            said = store.search(query, user_id=key, limit=RECALL_SAID, exclude_ids=exclude)
            recalls.append(ViewerRecall(viewer, tuple(store.facts(key)), tuple(said)))
        cards = render_cards(recalls, budget_tokens=self._prompt_tokens,
                             count_tokens=self._count, now=self._clock())
        if cards.fact_ids:
            store.touch_facts(cards.fact_ids)
        return cards

    # --- distilling -----------------------------------------------------------------------------
    async def _distill_one(self, store: MemoryStore) -> None:
        assert self._distill is not None and self._pacer is not None
        pending = await self._thread.run(store.pending_distill, DISTILL_MIN_MESSAGES, 1)
        if not pending:
            self._pacer.succeeded()  # nothing to do: look again after one interval
            return
        user_id = pending[0]
        viewer, known, said = await self._thread.run(
            lambda: (store.viewer(user_id), [f.text for f in store.facts(user_id)],
                     store.undistilled(user_id, 20)))
        if viewer is None or not said:
            return
        self.stats["distill_calls"] += 1
        try:
            facts = parse_facts(await self._distill(distill_prompt(viewer.nickname, known, said)))
        except DistillError as exc:
            # The text was read; asking again would cost the same for the same garbage.
            log.warning("memory: fact extraction answer unusable (%s); skipped", exc)
            facts = []
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - LLMError (429, 5xx, timeout): back off, retry later
            self.stats["distill_failures"] += 1
            self._pacer.failed()
            log.warning("memory: fact extraction failed (%s); retrying in %.0f s",
                        str(exc).splitlines()[0][:200], self._pacer.next_at - time.monotonic())
            return
        self._pacer.succeeded()
        last = said[-1].id
        learned = await self._thread.run(lambda: (store.add_facts(user_id, facts),
                                                  store.mark_distilled(user_id, last))[0])
        self.stats["facts_learned"] += len(learned)
        log.info("memory: %d fact(s) learned about one viewer", len(learned))

    # --- the streamer's controls (CLI, panel, forget command) -----------------------------------
    async def forget(self, who: str) -> int:
        """Forget every viewer `who` names (user id or any nickname they used). Returns how many."""
        return len(await self.forget_viewers(who))

    async def forget_viewers(self, who: str) -> list[str]:
        """`forget`, returning the forgotten viewers' keys (the conversation drops them too)."""
        def job(store: MemoryStore) -> list[str]:
            return [v.user_id for v in store.find(who) if store.forget(v.user_id)]
        keys = await self._call(job)
        self.stats["forgotten"] += len(keys)
        for key in [k for k, r in self._rows.items()
                    if not isinstance(r, concurrent.futures.Future) or r.done()]:
            self._rows.pop(key, None)  # their row ids are gone
        return keys

    def unnote(self, message_id: str) -> None:
        """A message the platform hid is not remembered (its row, if it was written)."""
        row = self._rows.pop(message_id, None)
        if row is not None:
            self._submit(lambda s: (i := _row_id(row, wait=True)) is not None
                         and s.delete_message(i))

    async def regulars(self, user_ids: Sequence[str], min_visits: int = 2) -> list[str]:
        """Those of these viewers who came on at least `min_visits` streams (idle talk greets)."""
        def job(store: MemoryStore) -> list[str]:
            return [uid for uid in user_ids
                    if (v := store.viewer(uid)) is not None and v.visits >= min_visits]
        return await self._call(job) if self._store is not None else []

    def forget_sender(self, msg: ChatMessage) -> None:
        """The forget command: erase this sender (by their stable key) before anything else."""
        self._submit(lambda s: s.forget(msg.memory_key))
        self.stats["forgotten"] += 1

    async def lookup(self, who: str) -> list[dict[str, Any]]:
        def job(store: MemoryStore) -> list[dict[str, Any]]:
            return [viewer_card(v, store) for v in store.find(who)]
        return await self._call(job)

    async def top(self, limit: int = 10) -> list[dict[str, Any]]:
        return await self._call(lambda s: [viewer_card(v, s, said=0)
                                           for v in s.top_viewers(limit)])

    async def delete_fact(self, fact_id: int) -> bool:
        return await self._call(lambda s: s.delete_fact(fact_id))

    async def _call(self, job: Callable[[MemoryStore], Any]) -> Any:
        future = self._submit(job)
        if future is None:
            raise MemoryClosed("memory is closed")
        return await asyncio.wrap_future(future)

    def snapshot(self) -> dict[str, Any]:
        return {"enabled": True, "open": self._store is not None, **self.stats,
                "last_recall_ms": (round(self.last_recall_ms, 2)
                                   if self.last_recall_ms is not None else None)}


def viewer_card(viewer: Viewer, store: MemoryStore, *, said: int = 10) -> dict[str, Any]:
    """A viewer as the panel, the API and `memory show` present them (JSON-ready)."""
    return {
        "user_id": viewer.user_id, "platform": viewer.platform, "nickname": viewer.nickname,
        "nicknames": list(viewer.nicknames), "first_seen": viewer.first_seen,
        "last_seen": viewer.last_seen, "visits": viewer.visits, "messages": viewer.messages,
        "donated": viewer.donated,
        "facts": [{"id": f.id, "text": f.text, "learned_at": f.learned_at, "used_at": f.used_at}
                  for f in store.facts(viewer.user_id)],
        "said": [{"text": s.text, "at": s.at, "answer": s.answer}
                 for s in (store.recent(viewer.user_id, said) if said else [])],
    }


_Row = concurrent.futures.Future[int] | int | None


def _row_id(row: _Row, *, wait: bool = False) -> int | None:
    """A written message's row id; None if its write failed (or, unless `wait`, is still
    queued: on the memory thread, the earlier writes are always done)."""
    if not isinstance(row, concurrent.futures.Future):
        return row
    if not (wait or row.done()) or row.cancelled() or row.exception() is not None:
        return None
    return row.result()


def _log_failure(future: concurrent.futures.Future[Any]) -> None:
    if not future.cancelled() and (exc := future.exception()) is not None:
        log.error("memory: a write failed: %s", type(exc).__name__)
