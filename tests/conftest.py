"""Shared fixtures. Tests never read the developer's own .env or environment settings, and never
write into the working copy (a session guard compares `git status` before and after the run)."""

from __future__ import annotations

import atexit
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from browser_helpers import browser  # noqa: F401 - the shared headless Chromium fixture
from hypothesis.configuration import set_hypothesis_home_dir
from tts_server_helpers import make_engine, serve  # noqa: F401 - shared fixtures: RemoteEngine clients, serve_tts
from turn_peers import llm_peer, llm_server, peers, servers  # noqa: F401 - shared fixtures: the LLM and speech peers

from aischoco.settings.model import Settings

# Hypothesis keeps its example database and caches in ./.hypothesis by default: in a temporary
# folder instead, removed at exit, so the suite writes nothing into the working copy.
_HYPOTHESIS_HOME = tempfile.mkdtemp(prefix="aischoco-hypothesis-")
set_hypothesis_home_dir(_HYPOTHESIS_HOME)
atexit.register(shutil.rmtree, _HYPOTHESIS_HOME, ignore_errors=True)

SETTING_KEYS = {name.upper() for name in Settings.model_fields}
ROOT = Path(__file__).resolve().parent.parent
# What the tools themselves keep in a checkout (bytecode, caches, installed test peers): not a
# test's doing.
TOOL_PATHS = frozenset({"__pycache__", ".pytest_cache", ".ruff_cache", ".mypy_cache", ".hypothesis",
                        "node_modules", ".venv", "venv", "build", "dist"})
# Source and documentation files are what people edit while a run goes on; what a stray test
# writes is data (a database, a token, audio, a picture, a .env, a log), and that is watched.
SOURCE_SUFFIXES = (".py", ".html", ".js", ".css", ".md", ".toml", ".bat", ".sh", ".example",
                   ".gitignore", ".gitattributes")
# A database's own passing files come and go with whoever has it open; the database file itself
# (appearing, or in strict mode changing) is what tells.
SQLITE_SIDECARS = ("-wal", "-shm", "-journal")


@pytest.fixture(autouse=True)
def clean_settings_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for key in list(os.environ):
        if key in SETTING_KEYS:
            monkeypatch.delenv(key, raising=False)
    yield


def _not_watched(path: str) -> bool:
    parts = path.split("/")
    return (any(part in TOOL_PATHS or part.endswith(".egg-info") for part in parts)
            or path.endswith((".pyc", ".pyo") + SOURCE_SUFFIXES)
            or path.endswith(SQLITE_SIDECARS) or parts[-1].startswith(".coverage"))


def working_copy_snapshot(root: Path = ROOT, *, strict: bool = False
                          ) -> dict[str, tuple[object, ...]] | None:
    """What `git status` says of every path it lists (modified, untracked and ignored files; tool
    caches and source files left out): a file a test creates (history/memory.sqlite3, a token, a
    .env, a .wav) or a tracked file it changes shows up. `strict` adds size and modification time
    of ignored files, so a write into one that already existed shows too (off by default: a
    daemon or bench someone runs from the checkout writes its own history/). None where git or a
    checkout is missing."""
    git = shutil.which("git")
    if git is None:
        return None
    try:
        out = subprocess.run([git, "-C", str(root), "status", "--porcelain=v1", "-z",
                              "--untracked-files=all", "--ignored"], capture_output=True,
                             stdin=subprocess.DEVNULL, timeout=60, check=True).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    snapshot: dict[str, tuple[object, ...]] = {}
    items = iter(out.split(b"\0"))
    for item in items:
        if len(item) < 4:
            continue
        status, path = item[:2].decode("ascii", "replace"), os.fsdecode(item[3:])
        if status[0] in "RC":
            next(items, None)  # a rename's old name follows
        if _not_watched(path):
            continue
        entry: tuple[object, ...] = (status,)
        if status == "!!" and strict:
            try:
                st = (root / path).stat()
                entry = (status, st.st_size, st.st_mtime_ns)
            except OSError:
                entry = (status, None)
        snapshot[path] = entry
    return snapshot


@pytest.fixture(scope="session", autouse=True)
def working_copy_untouched() -> Iterator[None]:
    """Fail the run when a test wrote into the checkout instead of its tmp_path. Compares the
    start with the end (work in progress already in the tree is fine). Skipped without git;
    AISCHOCO_TREE_GUARD=0 turns it off (e.g. while files are being added during a run),
    AISCHOCO_TREE_GUARD=strict also watches writes into ignored files that already exist, and
    AISCHOCO_UPDATE_SCREENSHOTS=1 (the docs' pictures are meant to change) spares docs/screenshots/."""
    mode = os.environ.get("AISCHOCO_TREE_GUARD", "")
    strict = mode == "strict"
    before = None if mode == "0" else working_copy_snapshot(strict=strict)
    yield
    after = working_copy_snapshot(strict=strict) if before is not None else None
    if before is None or after is None:
        return
    spared = ("docs/screenshots/",) if os.environ.get("AISCHOCO_UPDATE_SCREENSHOTS") == "1" else ()
    changed = sorted(path for path in before.keys() | after.keys()
                     if before.get(path) != after.get(path) and not path.startswith(spared))
    if changed:
        shown = ", ".join(changed[:20]) + (f" … (+{len(changed) - 20})" if len(changed) > 20 else "")
        pytest.fail(f"tests wrote into the working copy ({ROOT}): {shown} — a test must write "
                    "only under its tmp_path (chdir there, and give absolute paths to what opens "
                    "files later). If you changed these yourself during the run, "
                    "AISCHOCO_TREE_GUARD=0 turns this check off", pytrace=False)
