"""The memory file: viewers, what they said, what is true about them, in one SQLite database.

Synchronous; one instance is used from one thread (the memory component's worker). WAL with
synchronous=NORMAL: a crash or kill -9 never loses a committed message (power loss may lose the
last few), and readers (the CLI beside a running daemon) never block the writer.

Search: every message is indexed as its Korean-aware terms (korean.py), each term suffixed with
the sender's row id (고양·2s), so a per-viewer search reads only that viewer's posting lists and
bm25's statistics come from those small lists too. Measured at 200,000 messages / 10,000
viewers, per-viewer p95: 2.4 ms this way, 38 ms filtering a channel-wide match by a join, 11 ms
AND-ing an owner column (bm25 then reads every posting list of a common term). A channel-wide
search uses prefix queries ("고양·"*): slower, and only the streamer's tools use it.

Platforms: ids come namespaced (chat/platforms.py), so one id is one viewer on one platform; each
row also records its platform (chzzk, youtube, soop, local), set when the row is made, never
changed.
"""

from __future__ import annotations

import json
import os
import re
import sqlite3
import time
import unicodedata
from collections.abc import Callable, Collection, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from ..chat.platforms import NAMESPACED
from . import korean
from .korean import index_terms, match_expression, query_terms
from .schema import SCHEMA_VERSION, open_database

__all__ = ["SCHEMA_VERSION", "Fact", "MemoryStore", "Said", "Viewer", "platform_of_id"]

FACT_MAX_CHARS = 200
# A per-viewer search reads the viewer's latest messages only: bm25 costs per matching row, and
# a regular with 20,000 messages would take 15 ms instead of 1 ms.
SEARCH_HORIZON = 2000
NEAR_DUPLICATE = 0.6  # character-bigram Jaccard at which a new fact replaces an old one
_OWNER_SEP = "\u00b7"  # not ASCII: the ascii tokenizer keeps term·owner as one token
_INDEX_VERSION = f"terms-{korean.TERMS_VERSION}/owner-1"
_DIGITS = "0123456789abcdefghijklmnopqrstuvwxyz"
_NOT_ALNUM = re.compile(r"[\W_]+")
_SURROGATE = re.compile("[\ud800-\udfff]")


@dataclass(frozen=True, slots=True)
class Viewer:
    user_id: str
    platform: str  # chzzk | youtube | soop | local
    nickname: str  # the latest nickname
    nicknames: tuple[str, ...]  # every nickname seen, oldest first, distinct
    first_seen: float  # epoch seconds
    last_seen: float
    visits: int  # stream sessions in which they chatted
    messages: int
    donated: int  # total cheese


@dataclass(frozen=True, slots=True)
class Said:
    id: int
    user_id: str
    nickname: str
    text: str
    at: float
    answer: str | None  # the character's answer to it, if recorded


@dataclass(frozen=True, slots=True)
class Fact:
    id: int
    user_id: str
    text: str
    learned_at: float
    used_at: float | None


def platform_of_id(user_id: str, platform: str | None = None) -> str:
    """A viewer's platform: a namespaced id says it (and cannot be overruled), else the caller's
    `platform`, else chzzk, whose ids come bare."""
    head, colon, _ = user_id.partition(":")
    if colon and head in NAMESPACED:
        return head
    return platform or "chzzk"


def _owner(viewer: int) -> str:
    out = ""
    while True:
        viewer, digit = divmod(viewer, 36)
        out = _DIGITS[digit] + out
        if not viewer:
            return _OWNER_SEP + out


def _owned_terms(text: str, viewer: int) -> str:
    """The index row of a message: its terms, each tied to the sender."""
    owner = _owner(viewer)
    return " ".join(term + owner for term in index_terms(text).split())


def _clean(text: str) -> str:
    # A lone surrogate (possible from JSON "\ud800") cannot be stored as UTF-8: replace it.
    return _SURROGATE.sub("\ufffd", text)


def _fact_key(text: str) -> str:
    return _NOT_ALNUM.sub("", unicodedata.normalize("NFKC", text).casefold())


def _similarity(a: set[str], b: set[str]) -> float:
    """Jaccard of two facts' character bigrams (korean.py's terms: no bigram spans two words)."""
    return len(a & b) / len(a | b) if a or b else 0.0


_VIEWER = ("SELECT v.user_id, v.platform, v.nickname, (SELECT json_group_array(nickname) FROM "
           "(SELECT nickname FROM nicknames n WHERE n.viewer = v.id ORDER BY n.rowid)), "
           "v.first_seen, v.last_seen, v.visits, v.messages, v.donated, v.id FROM viewers v ")
_SAID = ("SELECT m.id, v.user_id, m.nickname, m.text, m.at, m.answer "
         "FROM messages m JOIN viewers v ON v.id = m.viewer ")
_FACT = "SELECT f.id, v.user_id, f.text, f.learned_at, f.used_at FROM facts f " \
        "JOIN viewers v ON v.id = f.viewer "
_IDS = "(SELECT value FROM json_each(?))"  # a list of ids as one parameter


def _viewer(row: tuple[Any, ...]) -> Viewer:
    return Viewer(row[0], row[1], row[2], tuple(json.loads(row[3])), *row[4:9])  # row[9]: row id


class MemoryStore:
    def __init__(self, path: Path, *, max_facts_per_viewer: int = 20,
                 clock: Callable[[], float] = time.time) -> None:
        self.path = Path(path)
        self.warnings: list[str] = []
        self._max_facts = max_facts_per_viewer
        self._clock = clock
        self._db = open_database(self.path, self.warnings, terms=("said_terms", _owned_terms),
                                 index_version=_INDEX_VERSION)

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield self._db
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    def _viewer_id(self, user_id: str) -> int | None:
        row = self._db.execute("SELECT id FROM viewers WHERE user_id = ?", (user_id,)).fetchone()
        return None if row is None else row[0]

    def _drop_from_index(self, where: str, params: Sequence[Any]) -> None:
        # A contentless FTS5 row is deleted by giving back exactly the terms it was indexed with.
        self._db.execute("INSERT INTO said_index(said_index, rowid, terms) "
                         f"SELECT 'delete', id, said_terms(text, viewer) FROM messages WHERE {where}",
                         params)

    # --- chat ---------------------------------------------------------------------------------
    def record_message(self, user_id: str, nickname: str, text: str, *, session: str,
                       platform: str | None = None, at: float | None = None,
                       donated: int = 0) -> int:
        """`platform`: the message's (chat/platforms.py names); see platform_of_id."""
        at = self._clock() if at is None else at
        user_id, nickname, text = _clean(user_id), _clean(nickname), _clean(text)
        with self._tx() as db:
            # Out-of-order timestamps never move first_seen later or last_seen earlier. The
            # platform is the first message's: ids are namespaced, so a later one cannot differ.
            (viewer,), = db.execute(
                "INSERT INTO viewers(user_id, platform, nickname, first_seen, last_seen, visits, "
                "messages, donated, last_session) VALUES (?, ?, ?, ?, ?, 1, 1, ?, ?) "
                "ON CONFLICT(user_id) DO UPDATE SET nickname = excluded.nickname, "
                "first_seen = min(first_seen, excluded.first_seen), "
                "last_seen = max(last_seen, excluded.last_seen), "
                "visits = visits + (last_session IS NOT excluded.last_session), "
                "messages = messages + 1, donated = donated + excluded.donated, "
                "last_session = excluded.last_session RETURNING id",
                (user_id, platform_of_id(user_id, platform), nickname, at, at, donated,
                 session)).fetchall()
            db.execute("INSERT OR IGNORE INTO nicknames(viewer, nickname, folded) VALUES (?, ?, ?)",
                       (viewer, nickname, nickname.casefold()))
            message = db.execute("INSERT INTO messages(viewer, nickname, text, at) "
                                 "VALUES (?, ?, ?, ?)", (viewer, nickname, text, at)).lastrowid
            db.execute("INSERT INTO said_index(rowid, terms) VALUES (?, ?)",
                       (message, _owned_terms(text, viewer)))
        assert message is not None
        return message

    def record_answer(self, message_ids: Sequence[int], answer: str) -> None:
        with self._tx() as db:
            db.execute(f"UPDATE messages SET answer = ? WHERE id IN {_IDS}",
                       (_clean(answer), json.dumps([int(i) for i in message_ids])))

    # --- viewers ------------------------------------------------------------------------------
    def viewer(self, user_id: str) -> Viewer | None:
        row = self._db.execute(_VIEWER + "WHERE v.user_id = ?", (user_id,)).fetchone()
        return None if row is None else _viewer(row)

    def find(self, who: str) -> list[Viewer]:
        """The viewer with this user id, else everyone who ever used this nickname."""
        exact = self.viewer(who)
        if exact is not None:
            return [exact]
        rows = self._db.execute(
            _VIEWER + "WHERE v.id IN (SELECT viewer FROM nicknames WHERE folded = ?) "
            "ORDER BY v.last_seen DESC", (who.casefold(),))
        return [_viewer(row) for row in rows]

    def top_viewers(self, limit: int = 10) -> list[Viewer]:
        rows = self._db.execute(_VIEWER + "ORDER BY v.messages DESC, v.last_seen DESC LIMIT ?",
                                (limit,))
        return [_viewer(row) for row in rows]

    # --- what they said -----------------------------------------------------------------------
    def search(self, query: str, *, user_id: str | None = None, limit: int = 5,
               exclude_ids: Collection[int] = ()) -> list[Said]:
        """Past messages matching `query`, best match (bm25) first."""
        terms = query_terms(query)
        if not terms or limit <= 0:
            return []
        horizon = 0
        if user_id is None:
            # Every owner of each term: "term·"* (quoted, so still never parsed as syntax).
            match = " OR ".join(match_expression([term + _OWNER_SEP]) + "*" for term in terms)
        else:
            viewer = self._viewer_id(user_id)
            if viewer is None:
                return []
            owner = _owner(viewer)
            match = match_expression([term + owner for term in terms])
            row = self._db.execute("SELECT id FROM messages WHERE viewer = ? ORDER BY id DESC "
                                   "LIMIT 1 OFFSET ?", (viewer, SEARCH_HORIZON - 1)).fetchone()
            horizon = 0 if row is None else row[0]
        # Rank inside the index first and join only the winners: bm25 costs per matching row,
        # and a join per matching row would cost as much again.
        rows = self._db.execute(
            "SELECT m.id, v.user_id, m.nickname, m.text, m.at, m.answer FROM "
            "(SELECT rowid AS id, bm25(said_index) AS score FROM said_index "
            f"WHERE said_index MATCH ? AND rowid >= ? AND rowid NOT IN {_IDS} "
            "ORDER BY score, rowid DESC LIMIT ?) AS hit "
            "JOIN messages m ON m.id = hit.id JOIN viewers v ON v.id = m.viewer "
            "ORDER BY hit.score, m.id DESC",
            (match, horizon, json.dumps([int(i) for i in exclude_ids]), limit))
        return [Said(*row) for row in rows]

    def recent(self, user_id: str, limit: int = 5) -> list[Said]:
        rows = self._db.execute(_SAID + "WHERE v.user_id = ? ORDER BY m.id DESC LIMIT ?",
                                (user_id, limit))
        return [Said(*row) for row in rows]

    # --- facts --------------------------------------------------------------------------------
    def facts(self, user_id: str) -> list[Fact]:
        rows = self._db.execute(_FACT + "WHERE v.user_id = ? ORDER BY f.learned_at DESC, "
                                "f.id DESC", (user_id,))
        return [Fact(*row) for row in rows]

    def add_facts(self, user_id: str, facts: Sequence[str], *,
                  at: float | None = None) -> list[Fact]:
        """Learn facts: exact repeats only refresh, near-duplicates replace (newer wins), then
        the least recently learned/used beyond the cap go. Returns the facts added or changed."""
        at = self._clock() if at is None else at
        viewer = self._viewer_id(user_id)
        if viewer is None:
            return []
        changed: list[int] = []
        with self._tx() as db:
            known = {row[0]: (_fact_key(row[1]), set(index_terms(row[1]).split())) for row in
                     db.execute("SELECT id, text FROM facts WHERE viewer = ?", (viewer,))}
            for raw in facts:
                text = _clean(raw).strip()[:FACT_MAX_CHARS].strip()
                key, grams = _fact_key(text), set(index_terms(text).split())
                if not key:
                    continue
                same = next((i for i, (k, _) in known.items() if k == key), None)
                if same is not None:
                    db.execute("UPDATE facts SET learned_at = max(learned_at, ?) WHERE id = ?",
                               (at, same))
                    continue
                near = max(known, key=lambda i: _similarity(known[i][1], grams), default=None)
                if near is not None and _similarity(known[near][1], grams) >= NEAR_DUPLICATE:
                    db.execute("UPDATE facts SET text = ?, learned_at = ? WHERE id = ?",
                               (text, at, near))
                    fact = near
                else:
                    fact = db.execute("INSERT INTO facts(viewer, text, learned_at) "
                                      "VALUES (?, ?, ?)", (viewer, text, at)).lastrowid
                    assert fact is not None
                known[fact] = (key, grams)
                changed.append(fact)
            db.execute("DELETE FROM facts WHERE id IN (SELECT id FROM facts WHERE viewer = ? "
                       "ORDER BY max(learned_at, coalesce(used_at, 0)) DESC, id DESC "
                       "LIMIT -1 OFFSET ?)", (viewer, max(0, self._max_facts)))
            kept = {row[0]: Fact(*row) for row in db.execute(
                _FACT + f"WHERE f.id IN {_IDS}", (json.dumps(changed),))}
        return [kept[i] for i in dict.fromkeys(changed) if i in kept]  # in the order given

    def touch_facts(self, ids: Sequence[int], *, at: float | None = None) -> None:
        at = self._clock() if at is None else at
        with self._tx() as db:
            db.execute(f"UPDATE facts SET used_at = ? WHERE id IN {_IDS}",
                       (at, json.dumps([int(i) for i in ids])))

    def delete_fact(self, fact_id: int) -> bool:
        with self._tx() as db:
            return db.execute("DELETE FROM facts WHERE id = ?", (fact_id,)).rowcount > 0

    # --- distilling ---------------------------------------------------------------------------
    def undistilled(self, user_id: str, limit: int = 20) -> list[Said]:
        rows = self._db.execute(_SAID + "WHERE v.user_id = ? AND m.id > v.distilled_upto "
                                "ORDER BY m.id LIMIT ?", (user_id, limit))
        return [Said(*row) for row in rows]

    def mark_distilled(self, user_id: str, upto_message_id: int) -> None:
        with self._tx() as db:  # the mark never moves back
            db.execute("UPDATE viewers SET distilled_upto = max(distilled_upto, ?) "
                       "WHERE user_id = ?", (upto_message_id, user_id))

    def pending_distill(self, min_messages: int = 3, limit: int = 10) -> list[str]:
        """Viewers with at least `min_messages` unread messages, the longest waiting first."""
        rows = self._db.execute(
            "SELECT v.user_id FROM viewers v JOIN messages m "
            "ON m.viewer = v.id AND m.id > v.distilled_upto GROUP BY v.id "
            "HAVING count(*) >= ? ORDER BY min(m.id) LIMIT ?", (max(1, min_messages), limit))
        return [row[0] for row in rows]

    # --- forgetting ---------------------------------------------------------------------------
    def delete_message(self, message_id: int) -> bool:
        """One message (the platform hid it): gone from the index and the table."""
        with self._tx() as db:
            self._drop_from_index("id = ?", (message_id,))
            return db.execute("DELETE FROM messages WHERE id = ?", (message_id,)).rowcount > 0

    def forget(self, user_id: str) -> bool:
        """Everything about this viewer: their row, nicknames, messages (and index), facts."""
        viewer = self._viewer_id(user_id)
        if viewer is None:
            return False
        with self._tx() as db:
            self._drop_from_index("viewer = ?", (viewer,))
            db.execute("DELETE FROM viewers WHERE id = ?", (viewer,))  # cascades to the rest
        return True

    def prune(self, older_than: float) -> int:
        """Drop messages and facts older than `older_than`, and viewers not seen since then
        (with all of theirs). Returns the number of messages, facts and viewers removed."""
        with self._tx() as db:
            self._drop_from_index("at < ?", (older_than,))
            removed = db.execute("DELETE FROM messages WHERE at < ?", (older_than,)).rowcount
            removed += db.execute("DELETE FROM facts WHERE max(learned_at, coalesce(used_at, 0)) "
                                  "< ?", (older_than,)).rowcount
            gone = "SELECT id FROM viewers WHERE last_seen < ?"
            self._drop_from_index(f"viewer IN ({gone})", (older_than,))
            removed += db.execute(f"DELETE FROM messages WHERE viewer IN ({gone})",
                                  (older_than,)).rowcount
            removed += db.execute(f"DELETE FROM facts WHERE viewer IN ({gone})",
                                  (older_than,)).rowcount
            removed += db.execute("DELETE FROM viewers WHERE last_seen < ?",
                                  (older_than,)).rowcount
        return removed

    # --- the streamer's view ------------------------------------------------------------------
    def export(self) -> dict[str, Any]:
        """Everything, JSON-ready (the viewer's right to see what is kept about them)."""
        viewers = []
        for row in self._db.execute(_VIEWER + "ORDER BY v.first_seen, v.id").fetchall():
            v = _viewer(row)
            viewers.append({
                "user_id": v.user_id, "platform": v.platform, "nickname": v.nickname,
                "nicknames": list(v.nicknames),
                "first_seen": v.first_seen, "last_seen": v.last_seen, "visits": v.visits,
                "messages": v.messages, "donated": v.donated,
                "facts": [{"text": f.text, "learned_at": f.learned_at, "used_at": f.used_at}
                          for f in self.facts(v.user_id)],
                "said": [{"text": text, "at": at, "answer": answer} for text, at, answer in
                         self._db.execute("SELECT text, at, answer FROM messages WHERE viewer = "
                                          "? ORDER BY id", (row[-1],))],
            })
        exported = datetime.fromtimestamp(self._clock()).astimezone()
        return {"schema_version": SCHEMA_VERSION,
                "exported_at": exported.isoformat(timespec="seconds"), "viewers": viewers}

    def stats(self) -> dict[str, int]:
        count = {table: self._db.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
                 for table in ("viewers", "messages", "facts")}
        size = 0
        for suffix in ("", "-wal"):
            try:
                size += os.path.getsize(f"{self.path}{suffix}")
            except OSError:
                pass
        return {**count, "bytes": size}

    def close(self) -> None:
        db, self._db = self._db, None  # type: ignore[assignment]
        if db is None:
            return
        try:
            db.execute("PRAGMA optimize")
        except sqlite3.Error:
            pass
        db.close()

    def __enter__(self) -> MemoryStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
