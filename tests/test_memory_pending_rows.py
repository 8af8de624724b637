"""The memory component's message id → row id map stays bounded, in entries and in bytes, over a
stream (issue 37: done futures, ~1.6 KB each, made the full map 3.2 MB of Python heap)."""

from __future__ import annotations

import concurrent.futures
import threading
import tracemalloc
from pathlib import Path

import pytest
from test_memory_component import _memory, _msg, _running, _stop

from aischoco.memory import component as component_mod


async def _flush(memory: component_mod.ViewerMemory) -> None:
    await memory.lookup("nobody")  # a job behind every queued write


async def test_the_row_map_keeps_ids_not_futures_and_never_passes_its_cap(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(component_mod, "PENDING_IDS", 200)
    memory = _memory(tmp_path)
    task = await _running(memory)
    try:
        sent = [_msg(f"시청자{i % 40}", f"말 {i} 고양이 나비", f"u{i % 40}") for i in range(2000)]
        for i, msg in enumerate(sent):  # 10× the cap
            memory.note(msg)
            if i % 100 == 99:
                await _flush(memory)
            assert len(memory._rows) <= 200
        await _flush(memory)
        for i in range(component_mod.SETTLE_EVERY):  # one settling pass after the flush
            memory.note(_msg("민수", f"끝 {i}", "u1"))
        futures = [r for r in memory._rows.values() if isinstance(r, concurrent.futures.Future)]
        assert len(memory._rows) == 200
        assert len(futures) <= component_mod.SETTLE_EVERY
        assert all(isinstance(r, int) for r in memory._rows.values()
                   if not isinstance(r, concurrent.futures.Future))
    finally:
        await _stop(memory, task)


async def test_settled_ids_still_serve_answers_recall_and_unnote(tmp_path: Path) -> None:
    memory = _memory(tmp_path)
    task = await _running(memory)
    try:
        first = _msg("민수", "우리 고양이 나비는 세 살이에요", "u1")
        hidden = _msg("민수", "지워질 말", "u1")
        now = _msg("민수", "나비 보고 싶다", "u1")
        for msg in (first, hidden, now):
            memory.note(msg)
        await _flush(memory)
        memory._settle_rows()
        assert all(isinstance(memory._rows[m.message_id], int) for m in (first, hidden, now))
        cards = await memory.recall([now])  # its own message is still left out
        assert "우리 고양이 나비는 세 살이에요" in cards and "나비 보고 싶다" not in cards
        memory.note_answer([now], "나비 너무 귀여워요!")
        memory.unnote(hidden.message_id)
        said = (await memory.lookup("u1"))[0]["said"]
        assert [s["text"] for s in said] == ["나비 보고 싶다", "우리 고양이 나비는 세 살이에요"]
        assert said[0]["answer"] == "나비 너무 귀여워요!"
    finally:
        await _stop(memory, task)


async def test_a_full_row_map_costs_well_under_a_megabyte(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    memory = _memory(tmp_path)
    task = await _running(memory)
    try:
        msgs = [_msg(f"시청자{i % 40}", f"말 {i}", f"u{i % 40}")
                for i in range(component_mod.PENDING_IDS * 2)]
        tracemalloc.start()
        try:
            before = tracemalloc.take_snapshot()
            for i, msg in enumerate(msgs):
                memory.note(msg)
                if i % 250 == 249:
                    await _flush(memory)
            await _flush(memory)
            memory._settle_rows()
            after = tracemalloc.take_snapshot()
        finally:
            tracemalloc.stop()
        held_by = {component_mod.__file__, concurrent.futures._base.__file__, threading.__file__}
        grown = sum(s.size_diff for s in after.compare_to(before, "filename")
                    if s.traceback[0].filename in held_by)
        assert len(memory._rows) == component_mod.PENDING_IDS
        assert grown < 512 * 1024, f"{grown / 1024:.0f} KB held by the row map"
    finally:
        await _stop(memory, task)
