"""Writes tests/data/memory_v0.14.0.sqlite3: a viewer-memory file as v0.14.0 (schema 1) wrote it,
for tests/test_memory_migration.py. Run it with that release's code, never today's:

    git worktree add /tmp/v0.14.0 9ce173a   # the v0.14.0 release commit
    PYTHONPATH=/tmp/v0.14.0/src python tests/data/make_memory_v1.py

Only the release's public MemoryStore API writes it, so the file holds what a streamer's does.
Fixed timestamps and a fixed clock: rerunning gives the same rows.
"""

from __future__ import annotations

import sqlite3
import sys
from pathlib import Path

from aischoco.memory.store import SCHEMA_VERSION, MemoryStore

OUT = Path(__file__).with_name("memory_v0.14.0.sqlite3")
T0 = 1_750_000_000.0  # 2025-06-15
DAY = 86400.0
MINSU = "0123456789abcdef0123456789abcdef"  # CHZZK ids: 32-hex hashes, no ':'
YOUNGHEE = "fedcba9876543210fedcba9876543210"
CHULSU = "00112233445566778899aabbccddeeff"
FORGOTTEN = "ffeeddccbbaa99887766554433221100"
YOUTUBE = "youtube:UCabcdefghijklmnopqrstuv"
SOOP = "soop:minsu2024"
LOCAL = "로컬손님"  # local terminal chat: the id is the typed name


def main() -> None:
    if SCHEMA_VERSION != 1:
        sys.exit(f"run this with v0.14.0's code (schema 1), not schema {SCHEMA_VERSION}")
    for suffix in ("", "-wal", "-shm"):
        Path(f"{OUT}{suffix}").unlink(missing_ok=True)
    with MemoryStore(OUT, clock=lambda: T0 + 30 * DAY) as store:
        said = [
            (MINSU, "민수", "우리 고양이 나비가 오늘 생일이에요", "a", 0, 0),
            (MINSU, "민수", "나비는 치즈를 좋아해요", "a", 60, 0),
            (MINSU, "민수", "오늘도 라면 먹으면서 보는 중", "b", DAY, 5000),
            (MINSU, "민수짱", "닉네임 바꿨어요 ㅎㅎ", "c", 2 * DAY, 0),
            (YOUNGHEE, "영희", "처음 왔어요 반가워요", "a", 120, 0),
            (YOUNGHEE, "영희", "떡볶이 맛집 추천해 주세요", "b", DAY + 30, 1000),
            (CHULSU, "철수", "게임 방송 언제 해요?", "b", DAY + 60, 0),
            (FORGOTTEN, "잊힌사람", "제 얘기는 지워 주세요", "b", DAY + 90, 2000),
            (YOUTUBE, "민수", "유튜브에서 보고 있어요 고양이 최고", "c", 2 * DAY + 10, 14000),
            (SOOP, "스프민수", "별풍선 쏘고 갑니다 강아지도 키워요", "c", 2 * DAY + 20, 1000),
            (LOCAL, LOCAL, "터미널에서 시험 삼아 보내요", "c", 2 * DAY + 30, 0),
        ]
        ids = [store.record_message(uid, nick, text, session=session, at=T0 + dt, donated=won)
               for uid, nick, text, session, dt, won in said]
        store.record_answer(ids[:1], "나비 생일 축하해요!")
        store.add_facts(MINSU, ["고양이 나비를 키운다", "라면을 좋아한다"], at=T0 + DAY)
        store.add_facts(YOUNGHEE, ["떡볶이를 좋아한다"], at=T0 + DAY)
        store.add_facts(FORGOTTEN, ["잊어 달라고 했다"], at=T0 + DAY)
        store.add_facts(YOUTUBE, ["유튜브로 본다"], at=T0 + 2 * DAY)
        store.mark_distilled(MINSU, ids[2])
        store.forget(FORGOTTEN)
    # One complete, smallest file: the WAL folded in, no free pages from the forget. Rollback-
    # journal mode, so merely reading the checked-in file never leaves a -wal/-shm beside it;
    # the store switches it back to WAL on opening, before it migrates.
    db = sqlite3.connect(OUT, isolation_level=None)
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.execute("PRAGMA journal_mode = DELETE")
    db.execute("VACUUM")
    db.close()
    left = [p.name for p in OUT.parent.glob(OUT.name + "-*")]
    if left:
        sys.exit(f"left behind: {left}")
    print(f"{OUT}: {OUT.stat().st_size} bytes")


if __name__ == "__main__":
    main()
