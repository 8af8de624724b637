"""The memory file on disk: opening it safely, its tables, and their migrations.

A file that is not a database or fails `PRAGMA quick_check` is moved aside (kept for
inspection, one warning) and an empty one is started; a locked or unreadable file is an error,
never "damaged". Tables are versioned with PRAGMA user_version.

MIGRATIONS[n] takes a database from version n to n + 1, so a new version is one more function at
the end of the list; each runs in its own transaction together with the version bump, so a step
that fails leaves the file at the version before it. A migration is frozen once released: it
reads the data as that release wrote it, never through today's code.

Versions: 1 (v0.14) the tables below; 2 (v0.15) `viewers.platform`, filled from the id.

The full-text index (`said_index`) is contentless: it stores no copy of the text, only the
search terms, which keeps the file small. Deleting a row from a contentless FTS5 table needs the
exact terms it was indexed with; the store derives them again from `messages.text`, so the term
scheme's version is recorded in `meta` and the index is rebuilt whenever it changes.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Callable
from pathlib import Path

from ..core.atomic_file import quarantine

_DAMAGED = {11, 26}  # SQLITE_CORRUPT, SQLITE_NOTADB; never BUSY/LOCKED/IOERR/FULL

_V1 = """
CREATE TABLE viewers (
    id INTEGER PRIMARY KEY,
    user_id TEXT NOT NULL UNIQUE,
    nickname TEXT NOT NULL,             -- the latest one
    first_seen REAL NOT NULL,
    last_seen REAL NOT NULL,
    visits INTEGER NOT NULL DEFAULT 0,  -- sessions in which they chatted
    messages INTEGER NOT NULL DEFAULT 0,
    donated INTEGER NOT NULL DEFAULT 0,
    last_session TEXT,
    distilled_upto INTEGER NOT NULL DEFAULT 0  -- messages up to this id were read for facts
);
CREATE INDEX viewers_by_messages ON viewers(messages);
CREATE TABLE nicknames (               -- every nickname a viewer used, in order of first use
    viewer INTEGER NOT NULL REFERENCES viewers(id) ON DELETE CASCADE,
    nickname TEXT NOT NULL,
    folded TEXT NOT NULL,               -- casefolded, for find()
    UNIQUE (viewer, nickname)
);
CREATE INDEX nicknames_by_folded ON nicknames(folded);
-- AUTOINCREMENT: ids never come back after a forget, so distill marks and the ids the
-- component holds for answers can never point at someone else's message.
CREATE TABLE messages (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    viewer INTEGER NOT NULL REFERENCES viewers(id) ON DELETE CASCADE,
    nickname TEXT NOT NULL,
    text TEXT NOT NULL,
    at REAL NOT NULL,
    answer TEXT
);
CREATE INDEX messages_by_viewer ON messages(viewer, id);
CREATE INDEX messages_by_time ON messages(at);
CREATE TABLE facts (
    id INTEGER PRIMARY KEY,
    viewer INTEGER NOT NULL REFERENCES viewers(id) ON DELETE CASCADE,
    text TEXT NOT NULL,
    learned_at REAL NOT NULL,
    used_at REAL
);
CREATE INDEX facts_by_viewer ON facts(viewer);
-- rowid = messages.id. The ascii tokenizer splits on ASCII separators only, so every
-- space-separated term written by the store is exactly one token.
CREATE VIRTUAL TABLE said_index USING fts5(terms, content='', tokenize='ascii', detail=full);
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""


def _execute(db: sqlite3.Connection, script: str) -> None:
    # Not executescript(): it commits first, and this must run inside the migration's
    # transaction. (So no ';' inside the DDL's comments.)
    for statement in script.split(";"):
        if statement.strip():
            db.execute(statement)


def _v0_to_v1(db: sqlite3.Connection) -> None:
    _execute(db, _V1)


# v1 ids: CHZZK's as given, YouTube's and SOOP's namespaced ("youtube:UC…", "soop:<id>"), and
# local terminal chat's the typed name. A local name cannot be told from a CHZZK viewer keyed by
# nickname (a message with no user id), so every un-prefixed row becomes chzzk: what v1 showed
# for all of them (no platform label), and local chat is the streamer's own testing anyway.
_V2 = """
ALTER TABLE viewers ADD COLUMN platform TEXT NOT NULL DEFAULT 'chzzk';
UPDATE viewers SET platform = CASE
    WHEN user_id GLOB 'youtube:*' THEN 'youtube'
    WHEN user_id GLOB 'soop:*' THEN 'soop'
    ELSE 'chzzk' END
"""  # no index on platform: nothing looks viewers up by it


def _v1_to_v2(db: sqlite3.Connection) -> None:
    _execute(db, _V2)


MIGRATIONS: list[Callable[[sqlite3.Connection], None]] = [_v0_to_v1, _v1_to_v2]
SCHEMA_VERSION = len(MIGRATIONS)


class NewerSchemaError(RuntimeError):
    """The file was written by a newer aischoco; it is left untouched."""


def migrate(db: sqlite3.Connection) -> None:
    """Bring `db` (autocommit connection) up to SCHEMA_VERSION, one transaction per step."""
    version = db.execute("PRAGMA user_version").fetchone()[0]
    if version > SCHEMA_VERSION:
        raise NewerSchemaError(f"memory database schema {version} is newer than this version "
                               f"understands ({SCHEMA_VERSION}); upgrade aischoco")
    for step in range(version, SCHEMA_VERSION):
        db.execute("BEGIN IMMEDIATE")
        try:
            MIGRATIONS[step](db)
            db.execute(f"PRAGMA user_version = {step + 1}")  # an int: PRAGMA takes no parameters
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise


def ensure_index(db: sqlite3.Connection, version: str, terms_sql: str) -> bool:
    """Rebuild `said_index` when the recorded term scheme differs from `version`.

    `terms_sql` is the SQL expression (over `messages`) that gives a row's terms. Returns whether
    the index was rebuilt. A new file records the version and has nothing to rebuild.
    """
    row = db.execute("SELECT value FROM meta WHERE key = 'index_version'").fetchone()
    if row is not None and row[0] == version:
        return False
    db.execute("BEGIN IMMEDIATE")
    try:
        db.execute("INSERT INTO said_index(said_index) VALUES ('delete-all')")
        db.execute(f"INSERT INTO said_index(rowid, terms) SELECT id, {terms_sql} FROM messages")
        db.execute("INSERT OR REPLACE INTO meta(key, value) VALUES ('index_version', ?)",
                   (version,))
        db.execute("COMMIT")
    except BaseException:
        db.execute("ROLLBACK")
        raise
    return row is not None


class _Damaged(Exception):
    pass


def open_database(path: Path, warnings: list[str], *,
                  terms: tuple[str, Callable[[str, int], str]],
                  index_version: str) -> sqlite3.Connection:
    """An autocommit connection to an up-to-date memory file at `path`. `terms` is the SQL
    function (name, python function(text, viewer)) that gives a message's index row."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        return _connect(path, terms, index_version)
    except (sqlite3.DatabaseError, _Damaged) as exc:
        if isinstance(exc, sqlite3.DatabaseError) and \
                (getattr(exc, "sqlite_errorcode", 0) & 0xFF) not in _DAMAGED:
            raise  # locked, unreadable, disk full: not the file's fault, leave it alone
        moved = _move_aside(path)
        warnings.append(f"memory database {path} was damaged ({exc}); moved it to "
                        f"{moved.name} and started an empty one")
    return _connect(path, terms, index_version)


def _connect(path: Path, terms: tuple[str, Callable[[str, int], str]],
             index_version: str) -> sqlite3.Connection:
    db = sqlite3.connect(path, isolation_level=None)  # transactions are explicit
    try:
        db.execute("PRAGMA busy_timeout = 5000")
        db.execute("PRAGMA journal_mode = WAL")
        db.execute("PRAGMA synchronous = NORMAL")  # WAL: a crash never loses a commit
        db.execute("PRAGMA foreign_keys = ON")
        db.execute("PRAGMA journal_size_limit = 16777216")  # a big prune's WAL shrinks back
        problems = [row[0] for row in db.execute("PRAGMA quick_check")]
        if problems != ["ok"]:
            raise _Damaged("; ".join(problems[:3]))
        db.create_function(terms[0], 2, terms[1], deterministic=True)
        migrate(db)
        ensure_index(db, index_version, f"{terms[0]}(text, viewer)")
    except BaseException:
        db.close()
        raise
    return db


def _move_aside(path: Path) -> Path:
    """Keep the damaged file (and its WAL, if SQLite left one) for inspection; drop the -shm."""
    moved = quarantine(path)
    wal = path.with_name(path.name + "-wal")
    if wal.exists():
        os.replace(wal, moved.with_name(moved.name + "-wal"))
    path.with_name(path.name + "-shm").unlink(missing_ok=True)
    return moved
