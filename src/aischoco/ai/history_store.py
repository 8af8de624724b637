"""The history directory on disk: crash-safe saves, recovery from damaged files, backups.

Synchronous functions; the daemon calls them through asyncio.to_thread. Layout under HISTORY_DIR:

    summary.json                      {"summary", "timestamp", "message_count"} (PRD format);
                                      present only while there is a summary
    recent.json                       recent entries, token counts, schema version
    summaries/summary-YYYYMMDD-HHMMSS[-N].json   a copy each time the summary changes
    backups/backup-YYYYMMDD-HHMMSS[-N]/          summary.json + recent.json (`history backup`)
    <file>.corrupt-YYYYMMDD-HHMMSS[-N]           a damaged file moved aside by load()

Every write goes to a temp file in the same directory and is renamed over the target, so a
crash (even SIGKILL or power loss) leaves either the old or the new file, never a partial one.
Only conversation text, its token counts and timestamps are written.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..core.atomic_file import (TMP_SUFFIX, atomic_write_json, fsync_dir, quarantine, stamp,
                                unique_path)
from .history import (
    HistoryWindow,
    summary_doc,
    validate_recent_doc,
    validate_summary_doc,
)
from .tokens import TokenCounter

SUMMARY_FILE = "summary.json"
RECENT_FILE = "recent.json"
SUMMARIES_DIR = "summaries"
BACKUPS_DIR = "backups"


def save(directory: Path, window: HistoryWindow) -> None:
    """Persist the window. summary.json goes first: a crash between the two writes then leaves
    the new summary with the old (longer) recent list, which repeats context but loses none."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    data = window.to_dict()
    summary_path = directory / SUMMARY_FILE
    if data["summary"] is not None:
        atomic_write_json(summary_path, data["summary"])
    else:
        summary_path.unlink(missing_ok=True)
    recent = {key: data[key] for key in ("version", "encoding", "message_overhead", "entries")}
    atomic_write_json(directory / RECENT_FILE, recent)


def forget_in_backups(directory: Path, key: str) -> int:
    """`key`'s exchanges out of every backup's recent.json too (rewritten atomically); entries
    saved before viewers were recorded cannot be told apart and stay. Returns messages dropped."""
    dropped = 0
    for path in sorted((Path(directory) / BACKUPS_DIR).glob(f"*/{RECENT_FILE}")):
        try:
            doc = json.loads(path.read_text(encoding="utf-8"))
            entries = validate_recent_doc(doc)
        except (OSError, ValueError):
            continue  # a damaged backup is left for `history` to report, not rewritten here
        kept = [e for e in entries if key not in (e.get("viewers") or ())]
        if len(kept) != len(entries):
            dropped += len(entries) - len(kept)
            atomic_write_json(path, {**doc, "entries": kept})
    return dropped


def write_summary_copy(directory: Path, window: HistoryWindow) -> Path | None:
    """Keep a timestamped copy of the current summary in summaries/ (None: no summary)."""
    if not window.summary:
        return None
    folder = Path(directory) / SUMMARIES_DIR
    folder.mkdir(parents=True, exist_ok=True)
    path = unique_path(lambda suffix: folder / f"summary-{stamp()}{suffix}.json")
    atomic_write_json(path, summary_doc(window))
    return path


def backup(directory: Path) -> Path:
    """Copy summary.json and recent.json to backups/backup-<time>/; FileNotFoundError if neither
    exists. The folder appears under its final name only once complete."""
    directory = Path(directory)
    sources = [directory / name for name in (SUMMARY_FILE, RECENT_FILE)
               if (directory / name).is_file()]
    if not sources:
        raise FileNotFoundError(f"nothing to back up in {directory}")
    folder = directory / BACKUPS_DIR
    folder.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=folder, prefix=".backup-", suffix=TMP_SUFFIX))
    try:
        for source in sources:
            shutil.copy2(source, staging / source.name)
            with open(staging / source.name, "rb") as copied:
                os.fsync(copied.fileno())
        target = unique_path(lambda suffix: folder / f"backup-{stamp()}{suffix}")
        os.replace(staging, target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    fsync_dir(folder)
    return target


def reset(directory: Path, *, backup_first: bool = True) -> Path | None:
    """Remove summary.json and recent.json (backing them up first unless told not to).

    summaries/ and backups/ are archives and stay. Returns the backup folder, or None when
    there was nothing to back up or no backup was asked for.
    """
    directory = Path(directory)
    saved: Path | None = None
    if backup_first:
        try:
            saved = backup(directory)
        except FileNotFoundError:
            saved = None
    for name in (SUMMARY_FILE, RECENT_FILE):
        (directory / name).unlink(missing_ok=True)
    if directory.is_dir():
        fsync_dir(directory)
    return saved


# --- reading ----------------------------------------------------------------------------------
def load(directory: Path, counter: TokenCounter, *, keep_tokens: int, summarize_at: int,
         limit_tokens: int) -> tuple[HistoryWindow, list[str]]:
    """The saved window, and one warning line per file that was damaged and moved aside.

    A damaged file never stops start-up: it is renamed `<name>.corrupt-<time>` and loading goes
    on with what is left (e.g. a good summary and no recent entries). Temp files left by a
    writer that was killed mid-save are removed.
    """
    directory = Path(directory)
    warnings: list[str] = []
    data: dict[str, Any] = {"summary": None, "entries": None}
    if directory.is_dir():
        _remove_stale_temps(directory)
        summary = _read_checked(directory / SUMMARY_FILE, validate_summary_doc, warnings)
        if summary is not None:
            data["summary"] = summary
        recent = _read_checked(directory / RECENT_FILE, validate_recent_doc, warnings)
        if recent is not None:
            data.update(recent)
    window = HistoryWindow.from_dict(data, counter, keep_tokens=keep_tokens,
                                     summarize_at=summarize_at, limit_tokens=limit_tokens)
    return window, warnings


def _read_checked(path: Path, validate: Callable[[Any], object],
                  warnings: list[str]) -> dict[str, Any] | None:
    """The parsed, validated document, or None (absent, unreadable, or quarantined)."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as err:  # left in place: it may be fine once the permission issue is fixed
        warnings.append(f"{path} cannot be read ({err.strerror or err}); starting without it")
        return None
    try:
        doc: dict[str, Any] = json.loads(raw.decode("utf-8"))
        validate(doc)  # both validators reject anything but an object
    except ValueError as err:  # JSONDecodeError and UnicodeDecodeError are ValueErrors too
        reason = str(err).splitlines()[0][:120]
        try:
            moved = quarantine(path)
        except OSError as move_err:
            warnings.append(f"{path} is damaged ({reason}) and could not be moved aside "
                            f"({move_err.strerror or move_err}); starting without it")
        else:
            warnings.append(f"{path} is damaged ({reason}); moved aside to {moved.name}, "
                            "starting without it")
        return None
    return doc


def _remove_stale_temps(directory: Path) -> None:
    for name in (SUMMARY_FILE, RECENT_FILE):
        for tmp in directory.glob(f".{name}.*{TMP_SUFFIX}"):
            tmp.unlink(missing_ok=True)
