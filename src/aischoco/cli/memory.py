"""`memory show [USER]`, `memory forget USER`, `memory export PATH.json`: the streamer's view of
long-term viewer memory. Works beside a running daemon (SQLite WAL: readers never block it)."""

from __future__ import annotations

import os
import time
from datetime import datetime
from pathlib import Path

from ..chat.platforms import PLATFORM_LABELS, donated_text
from ..core.atomic_file import atomic_write_json
from ..memory.cards import ago
from ..memory.component import viewer_card
from ..memory.store import MemoryStore
from ..settings.model import Settings

EXIT_OK, EXIT_PROBLEMS = 0, 1


def run_memory_command(settings: Settings, action: str, target: str | None) -> int:
    path = settings.memory_path
    if action in ("forget", "export") and not target:
        print(f"aischoco memory {action}: {'USER' if action == 'forget' else 'PATH.json'}가 필요합니다")
        return EXIT_PROBLEMS
    if not path.exists():
        print(f"기억 파일이 아직 없습니다: {path} (데몬이 시청자 채팅을 받으면 만들어집니다)")
        return EXIT_OK if action == "show" else EXIT_PROBLEMS
    store = MemoryStore(path, max_facts_per_viewer=settings.memory_facts_per_viewer)
    try:
        for warning in store.warnings:
            print(f"주의: {warning}")
        if action == "show":
            return _show(store, target)
        if action == "forget":
            assert target is not None
            viewers = store.find(target)
            for viewer in viewers:
                store.forget(viewer.user_id)
            print(f"{len(viewers)}명을 잊었습니다: {target}" if viewers
                  else f"'{target}'(이)라는 시청자를 기억하고 있지 않습니다")
            return EXIT_OK
        assert target is not None
        data = store.export()
        out = Path(target)
        out.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_json(out, data)
        if os.name != "nt":
            out.chmod(0o600)  # what viewers said: personal data
        print(f"{out}: 시청자 {len(data['viewers'])}명을 내보냈습니다")
        return EXIT_OK
    finally:
        store.close()


def _show(store: MemoryStore, who: str | None) -> int:
    now = time.time()
    if who is None:
        viewers = store.top_viewers(20)
        if not viewers:
            print("아직 기억하는 시청자가 없습니다")
        for v in viewers:
            print(f"{v.nickname} ({v.user_id}) · {_platform(v.platform)}: 메시지 {v.messages}개 · "
                  f"방문 {v.visits}번 · "
                  f"마지막 {ago(now - v.last_seen)}" + (f" · 후원 {donated_text(v.donated, v.platform)}" if v.donated else ""))
        return EXIT_OK
    viewers = store.find(who)
    if not viewers:
        print(f"'{who}'(이)라는 시청자를 기억하고 있지 않습니다")
        return EXIT_PROBLEMS
    for v in viewers:
        card = viewer_card(v, store)
        print(f"■ {v.nickname} ({v.user_id}) · {_platform(v.platform)}")
        print(f"  처음 {_date(v.first_seen)} · 마지막 {_date(v.last_seen)} ({ago(now - v.last_seen)}) · "
              f"방문 {v.visits}번 · 메시지 {v.messages}개 · 후원 {donated_text(v.donated, v.platform)}")
        if len(v.nicknames) > 1:
            print(f"  닉네임: {', '.join(v.nicknames)}")
        for fact in card["facts"]:
            print(f"  사실 #{fact['id']}: {fact['text']}")
        for said in card["said"]:
            print(f"  {ago(now - said['at'])}: {said['text']}")
    return EXIT_OK


def _platform(platform: str) -> str:
    return PLATFORM_LABELS.get(platform, platform)


def _date(epoch: float) -> str:
    return datetime.fromtimestamp(epoch).strftime("%Y-%m-%d %H:%M")
