from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from aischoco.ai import history_store as store
from aischoco.ai.history import HistoryWindow, validate_recent_doc, validate_summary_doc

LIMITS = {"keep_tokens": 500, "summarize_at": 700, "limit_tokens": 800}
WRITER = Path(__file__).with_name("history_writer.py")


@dataclass(frozen=True)
class CharCounter:
    name: str = "chars"

    def count(self, text: str) -> int:
        return len(text)


def filled_window(turns: int = 12, summarize: bool = True) -> HistoryWindow:
    w = HistoryWindow(CharCounter(), **LIMITS)
    for i in range(turns):
        w.add("user", f"시청자 채팅 {i} " * 5)
        w.add("assistant", f"버튜버 답변 {i} " * 5)
        if summarize and w.needs_summary():
            w.finish_summary(f"요약 {i}", w.begin_summary())
    return w


def load(directory: Path) -> tuple[HistoryWindow, list[str]]:
    return store.load(directory, CharCounter(), **LIMITS)


def test_atomic_write_round_trip_and_overwrite(tmp_path: Path) -> None:
    path = tmp_path / "x.json"
    store.atomic_write_json(path, {"summary": "한글 그대로", "n": 1})
    assert json.loads(path.read_text("utf-8")) == {"summary": "한글 그대로", "n": 1}
    assert "한글 그대로" in path.read_text("utf-8")  # not \\u-escaped
    store.atomic_write_json(path, [1, 2, 3])
    assert json.loads(path.read_text("utf-8")) == [1, 2, 3]
    assert [p.name for p in tmp_path.iterdir()] == ["x.json"]  # no temp files left


def test_failed_write_keeps_the_old_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "x.json"
    store.atomic_write_json(path, {"old": True})

    def broken_replace(src: str, dst: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(store.os, "replace", broken_replace)
    with pytest.raises(OSError, match="disk full"):
        store.atomic_write_json(path, {"new": True})
    assert json.loads(path.read_text("utf-8")) == {"old": True}
    assert [p.name for p in tmp_path.iterdir()] == ["x.json"]


def test_save_load_round_trip(tmp_path: Path) -> None:
    w = filled_window()
    assert w.summary
    store.save(tmp_path, w)
    summary = json.loads((tmp_path / "summary.json").read_text("utf-8"))
    assert set(summary) == {"summary", "timestamp", "message_count"}
    assert summary["message_count"] == w.summarized_messages > 0
    back, warnings = load(tmp_path)
    assert warnings == []
    assert back.to_dict() == w.to_dict()


def test_missing_directory_loads_empty_without_creating_it(tmp_path: Path) -> None:
    w, warnings = load(tmp_path / "nope")
    assert warnings == [] and len(w) == 0 and w.summary == ""
    assert not (tmp_path / "nope").exists()


def test_no_summary_means_no_summary_file(tmp_path: Path) -> None:
    store.save(tmp_path, filled_window())
    w = filled_window(summarize=False)
    w.reset()
    w.add("user", "새 시작")
    store.save(tmp_path, w)
    assert not (tmp_path / "summary.json").exists()
    back, warnings = load(tmp_path)
    assert warnings == [] and back.summary == "" and len(back) == 1


def test_corrupt_summary_is_moved_aside_and_recent_still_loads(tmp_path: Path) -> None:
    w = filled_window()
    store.save(tmp_path, w)
    (tmp_path / "summary.json").write_text("{not json", "utf-8")
    back, warnings = load(tmp_path)
    assert len(warnings) == 1 and "summary.json" in warnings[0] and "moved aside" in warnings[0]
    assert back.summary == "" and back.entries == w.entries
    moved = list(tmp_path.glob("summary.json.corrupt-*"))
    assert len(moved) == 1 and moved[0].read_text("utf-8") == "{not json"
    assert not (tmp_path / "summary.json").exists()
    assert load(tmp_path)[1] == []  # quarantined once; the next start is clean


def test_truncated_recent_is_moved_aside_and_summary_kept(tmp_path: Path) -> None:
    w = filled_window()
    store.save(tmp_path, w)
    recent = tmp_path / "recent.json"
    recent.write_bytes(recent.read_bytes()[: recent.stat().st_size // 2])
    back, warnings = load(tmp_path)
    assert len(warnings) == 1 and "recent.json" in warnings[0]
    assert back.summary == w.summary and len(back) == 0
    assert len(list(tmp_path.glob("recent.json.corrupt-*"))) == 1


@pytest.mark.parametrize("content", [
    b'{"version": 99, "encoding": "chars", "entries": []}',  # unknown schema
    b'{"version": 1, "encoding": "chars", "entries": [{"role": "system"}]}',
    b"[]",
    b"\xff\xfe not utf-8",
    b"",
])
def test_invalid_recent_documents_are_quarantined(tmp_path: Path, content: bytes) -> None:
    (tmp_path / "recent.json").write_bytes(content)
    back, warnings = load(tmp_path)
    assert len(warnings) == 1 and len(back) == 0
    assert not (tmp_path / "recent.json").exists()


def test_invalid_summary_schema_is_quarantined(tmp_path: Path) -> None:
    (tmp_path / "summary.json").write_text('{"summary": 3, "timestamp": "", "message_count": 0}', encoding="utf-8")
    _, warnings = load(tmp_path)
    assert len(warnings) == 1 and list(tmp_path.glob("summary.json.corrupt-*"))


def test_two_quarantines_in_one_second_get_distinct_names(tmp_path: Path) -> None:
    for _ in range(2):
        (tmp_path / "summary.json").write_text("garbage", encoding="utf-8")
        load(tmp_path)
    assert len(list(tmp_path.glob("summary.json.corrupt-*"))) == 2


def test_stale_temp_files_are_removed_on_load(tmp_path: Path) -> None:
    store.save(tmp_path, filled_window())
    (tmp_path / ".recent.json.abc123.tmp").write_text('{"half', encoding="utf-8")
    (tmp_path / "notes.tmp").write_text("not ours", encoding="utf-8")
    _, warnings = load(tmp_path)
    assert warnings == []
    assert not (tmp_path / ".recent.json.abc123.tmp").exists()
    assert (tmp_path / "notes.tmp").exists()


def test_summary_copies(tmp_path: Path) -> None:
    w = filled_window()
    first = store.write_summary_copy(tmp_path, w)
    second = store.write_summary_copy(tmp_path, w)
    assert first and second and first != second
    assert first.parent == tmp_path / "summaries"
    assert first.name.startswith("summary-") and first.suffix == ".json"
    assert json.loads(first.read_text("utf-8")) == {
        "summary": w.summary, "timestamp": w.summary_timestamp,
        "message_count": w.summarized_messages}
    assert store.write_summary_copy(tmp_path, filled_window(summarize=False)) is None


def test_backup_copies_both_files(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        store.backup(tmp_path)
    store.save(tmp_path, filled_window())
    first = store.backup(tmp_path)
    second = store.backup(tmp_path)
    assert first != second and first.parent == tmp_path / "backups"
    assert first.name.startswith("backup-")
    for name in ("summary.json", "recent.json"):
        assert (first / name).read_bytes() == (tmp_path / name).read_bytes()
    assert sorted(p.name for p in (tmp_path / "backups").iterdir()) == sorted(
        [first.name, second.name])  # no staging folders left


def test_reset_backs_up_then_clears(tmp_path: Path) -> None:
    w = filled_window()
    store.save(tmp_path, w)
    store.write_summary_copy(tmp_path, w)
    saved = store.reset(tmp_path)
    assert saved is not None and (saved / "recent.json").exists()
    assert not (tmp_path / "summary.json").exists() and not (tmp_path / "recent.json").exists()
    assert list((tmp_path / "summaries").iterdir())  # archives stay
    back, warnings = load(tmp_path)
    assert warnings == [] and len(back) == 0 and back.summary == ""
    assert store.reset(tmp_path) is None  # nothing left to back up
    store.save(tmp_path, w)
    assert store.reset(tmp_path, backup_first=False) is None
    assert len(list((tmp_path / "backups").iterdir())) == 1


@pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL is POSIX")
def test_sigkill_during_saves_never_leaves_a_partial_file(tmp_path: Path) -> None:
    rng = random.Random(1234)
    directory = tmp_path / "history"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        [str(Path(store.__file__).parents[2]), os.environ.get("PYTHONPATH", "")])}
    deadline = time.monotonic() + 12
    rounds = temps_seen = 0
    while rounds < 30 and time.monotonic() < deadline:
        proc = subprocess.Popen([sys.executable, str(WRITER), str(directory)],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
        try:
            assert proc.stdout is not None
            line = proc.stdout.readline()
            assert line == b"ready\n", (line, proc.stderr.read() if proc.stderr else b"")
            time.sleep(rng.uniform(0.005, 0.080))
            proc.send_signal(signal.SIGKILL)
        finally:
            proc.kill()
            proc.wait()
            for stream in (proc.stdout, proc.stderr):
                if stream:
                    stream.close()
        rounds += 1
        temps_seen += bool(list(directory.glob(".*.tmp")))
        for name, validate in (("summary.json", validate_summary_doc),
                               ("recent.json", validate_recent_doc)):
            path = directory / name
            if path.exists():
                validate(json.loads(path.read_text("utf-8")))
        assert (directory / "recent.json").exists()
        _, warnings = load(directory)
        assert warnings == []
        assert not list(directory.glob("*.corrupt-*"))
    assert rounds >= 10
    window, _ = load(directory)
    assert window.summary  # the writer got far enough to summarise
    print(f"{rounds} kills, {temps_seen} landed mid-write")
