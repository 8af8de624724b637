"""A memory file written by v0.14.0 (schema 1, tests/data/make_memory_v1.py) opens in today's
store: every row kept, each viewer's platform filled from the id, search intact, and a failing
migration leaves the file as it was."""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

import pytest

from aischoco.memory import schema
from aischoco.memory.store import SCHEMA_VERSION, MemoryStore

FIXTURE = Path(__file__).parent / "data" / "memory_v0.14.0.sqlite3"
MINSU = "0123456789abcdef0123456789abcdef"
YOUTUBE = "youtube:UCabcdefghijklmnopqrstuv"
PLATFORMS = {MINSU: "chzzk", "fedcba9876543210fedcba9876543210": "chzzk",
             "00112233445566778899aabbccddeeff": "chzzk", YOUTUBE: "youtube",
             "soop:minsu2024": "soop", "로컬손님": "chzzk"}  # v1 cannot tell local from CHZZK
T1 = 1_760_000_000.0


def _census(path: Path) -> dict[str, object]:
    """What the file holds, read with plain sqlite3 (no store code)."""
    db = sqlite3.connect(path)
    try:
        count = {t: db.execute(f"SELECT count(*) FROM {t}").fetchone()[0]
                 for t in ("viewers", "nicknames", "messages", "facts")}
        return {**count, "version": db.execute("PRAGMA user_version").fetchone()[0],
                "totals": db.execute("SELECT user_id, nickname, visits, messages, donated, "
                                     "distilled_upto FROM viewers ORDER BY id").fetchall(),
                "said": db.execute("SELECT id, viewer, text, answer FROM messages "
                                   "ORDER BY id").fetchall()}
    finally:
        db.close()


@pytest.fixture
def v1(tmp_path: Path) -> Path:
    path = tmp_path / "memory.sqlite3"
    shutil.copyfile(FIXTURE, path)
    return path


def test_the_fixture_is_a_complete_v1_file(v1: Path) -> None:
    assert SCHEMA_VERSION == 2 and FIXTURE.stat().st_size < 100_000
    assert not FIXTURE.with_name(FIXTURE.name + "-wal").exists()
    before = _census(v1)  # the copy: opening the checked-in file could leave files beside it
    assert before["version"] == 1 and before["viewers"] == len(PLATFORMS)
    assert before["messages"] == 10 and before["facts"] == 4  # the forgotten viewer's are gone


def test_a_v1_file_migrates_without_loss(v1: Path) -> None:
    before = _census(v1)
    with MemoryStore(v1) as store:
        assert store.warnings == []
        assert {v["user_id"]: v["platform"] for v in store.export()["viewers"]} == PLATFORMS
        assert store.export()["schema_version"] == 2
        minsu = store.viewer(MINSU)
        assert minsu is not None and minsu.platform == "chzzk"
        assert minsu.nicknames == ("민수", "민수짱") and minsu.donated == 5000
        assert {f.text for f in store.facts(MINSU)} == {"고양이 나비를 키운다", "라면을 좋아한다"}
        assert store.undistilled(MINSU)[0].text == "닉네임 바꿨어요 ㅎㅎ"  # the mark kept
        assert store.find("잊힌사람") == []
        # The contentless FTS index is still the one v0.14.0 wrote, and still finds Korean words.
        assert [s.text for s in store.search("고양이", user_id=MINSU)] == [
            "우리 고양이 나비가 오늘 생일이에요"]
        assert {s.user_id for s in store.search("고양이")} == {MINSU, YOUTUBE}
        assert store.recent(MINSU, 4)[-1].answer == "나비 생일 축하해요!"
    after = _census(v1)
    assert after["version"] == 2
    assert {k: after[k] for k in before if k != "version"} == \
        {k: before[k] for k in before if k != "version"}
    with sqlite3.connect(v1) as db:
        db.execute("INSERT INTO said_index(said_index, rank) VALUES ('integrity-check', 0)")
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    db.close()


def test_after_migrating_new_messages_land_on_the_right_rows(v1: Path) -> None:
    with MemoryStore(v1) as store:
        old = store.viewer(MINSU)
        assert old is not None
        store.record_message(MINSU, "민수", "다시 왔어요 고양이 밥 줬어요", session="new",
                             platform="chzzk", at=T1)
        again = store.viewer(MINSU)
        assert again is not None and again.messages == old.messages + 1
        assert again.visits == old.visits + 1 and again.platform == "chzzk"
        assert len(store.search("고양이", user_id=MINSU)) == 2
        # Same nickname, another platform: another viewer. A new YouTube id makes its own row.
        store.record_message("youtube:UCnewnewnewnewnewnewnewn", "민수", "안녕하세요",
                             session="new", platform="youtube", at=T1)
        youtube_minsu = [v for v in store.find("민수") if v.platform == "youtube"]
        assert {v.user_id for v in youtube_minsu} == {YOUTUBE, "youtube:UCnewnewnewnewnewnewnewn"}
        assert [v.platform for v in store.find(MINSU)] == ["chzzk"]
        # A row's platform never moves: the namespaced id wins over what the caller says.
        store.record_message(YOUTUBE, "민수", "또 왔어요", session="new", platform="chzzk", at=T1)
        assert (v := store.viewer(YOUTUBE)) is not None and v.platform == "youtube"
        store.record_message("민트", "민트", "터미널 시험", session="new", platform="local", at=T1)
        assert (v := store.viewer("민트")) is not None and v.platform == "local"


def test_reopening_a_migrated_file_changes_nothing(v1: Path) -> None:
    MemoryStore(v1).close()
    first = _census(v1)
    with MemoryStore(v1) as store:
        assert store.warnings == []
    assert _census(v1) == first


def test_a_migration_that_fails_midway_leaves_the_v1_file_intact(v1: Path) -> None:
    before = _census(v1)
    db = sqlite3.connect(v1)
    # Fires on the migration's UPDATE, after its ALTER TABLE already ran in the same transaction.
    db.execute("CREATE TRIGGER refuse BEFORE UPDATE ON viewers BEGIN "
               "SELECT RAISE(ABORT, 'refused'); END")
    db.commit()
    db.close()
    with pytest.raises(sqlite3.IntegrityError, match="refused"):
        MemoryStore(v1)
    assert _census(v1) == before  # still version 1, every row
    db = sqlite3.connect(v1)
    columns = [row[1] for row in db.execute("PRAGMA table_info(viewers)")]
    db.execute("DROP TRIGGER refuse")
    db.commit()
    db.close()
    assert "platform" not in columns
    assert list(v1.parent.glob("*.corrupt-*")) == []  # a failed migration is not damage
    with MemoryStore(v1) as store:  # the next start migrates it
        assert (v := store.viewer("soop:minsu2024")) is not None and v.platform == "soop"


def test_a_failing_step_is_rolled_back(v1: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    before = _census(v1)

    def half_then_fail(db: sqlite3.Connection) -> None:
        schema._v1_to_v2(db)
        raise RuntimeError("disk pulled")

    monkeypatch.setattr(schema, "MIGRATIONS", [schema._v0_to_v1, half_then_fail])
    with pytest.raises(RuntimeError, match="disk pulled"):
        MemoryStore(v1)
    assert _census(v1) == before


def test_a_file_from_a_newer_release_is_refused_untouched(v1: Path) -> None:
    # (test_memory_store checks an empty one.) In WAL mode, as every release writes its files.
    db = sqlite3.connect(v1)
    db.execute("PRAGMA journal_mode = WAL")
    db.execute("PRAGMA user_version = 3")
    db.close()
    before = v1.read_bytes()
    with pytest.raises(schema.NewerSchemaError):
        MemoryStore(v1)
    assert v1.read_bytes() == before and _census(v1)["version"] == 3
