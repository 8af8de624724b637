"""Crash-safe files: write to a temp file beside the target, fsync, rename over it.

A crash (even SIGKILL or power loss) leaves either the old or the new file, never a partial one.
Shared by the conversation history, the CHZZK token file and anything else the daemon persists.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

TMP_SUFFIX = ".tmp"
_IS_WINDOWS = os.name == "nt"


# --- writing ----------------------------------------------------------------------------------
def atomic_write_json(path: Path, data: Any) -> None:
    """Write `data` as UTF-8 JSON so that `path` is always either the old or the new file."""
    atomic_write_bytes(path, json.dumps(data, ensure_ascii=False, indent=2).encode("utf-8"))


def atomic_write_bytes(path: Path, payload: bytes) -> None:
    """`path` is always either the old or the new content. The new file is readable by its owner
    only (mkstemp's 0600): fine for history, needed for a .env that holds keys."""
    path = Path(path)
    fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=TMP_SUFFIX)
    try:
        with os.fdopen(fd, "wb") as tmp:
            tmp.write(payload)
            tmp.flush()
            os.fsync(tmp.fileno())  # data on disk before the rename makes it visible
        replace_file(tmp_name, path)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise
    fsync_dir(path.parent)  # the rename itself survives power loss


def replace_file(src: str, dst: Path) -> None:
    # Windows refuses to replace a file another process (indexer, antivirus) holds open for a
    # moment: retry briefly there. POSIX rename never fails that way.
    attempts = 10 if _IS_WINDOWS else 1
    for attempt in range(attempts):
        try:
            os.replace(src, dst)
            return
        except PermissionError:
            if attempt == attempts - 1:
                raise
            time.sleep(0.02 * (attempt + 1))


def fsync_dir(directory: Path) -> None:
    if _IS_WINDOWS:  # directories cannot be opened for fsync there; NTFS journals the rename
        return
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:  # some filesystems (e.g. network mounts) reject fsync on directories
        pass
    finally:
        os.close(fd)


def quarantine(path: Path) -> Path:
    """Rename a damaged file to `<name>.corrupt-<time>[-N]` so it is kept for inspection."""
    target = unique_path(lambda suffix: path.with_name(f"{path.name}.corrupt-{stamp()}{suffix}"))
    os.replace(path, target)
    return target


# --- names ------------------------------------------------------------------------------------
def stamp() -> str:
    return datetime.now().strftime("%Y%m%d-%H%M%S")


def unique_path(make: Callable[[str], Path]) -> Path:
    """make("") if free, else make("-1"), make("-2"), ... (several saves within one second)."""
    n = 0
    while True:
        candidate = make(f"-{n}" if n else "")
        if not candidate.exists():
            return candidate
        n += 1
