"""Helper process for the kill test: save a growing history to DIR as fast as possible, forever.

    python tests/history_writer.py DIR

Starts from what DIR holds (exits 2 if loading it warned), prints "ready" after its first save,
then keeps adding turns, summarising (with a made-up summary) and saving until it is killed.
Uses a one-token-per-character counter so start-up does not pay for the real vocabulary.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

from aischoco.ai import history_store

LIMITS = {"keep_tokens": 5000, "summarize_at": 7000, "limit_tokens": 8000}


@dataclass(frozen=True)
class CharCounter:
    name: str = "chars"

    def count(self, text: str) -> int:
        return len(text)


def main(directory: Path) -> int:
    window, warnings = history_store.load(directory, CharCounter(), **LIMITS)
    if warnings:
        print("\n".join(warnings), file=sys.stderr)
        return 2
    turn = len(window)
    history_store.save(directory, window)
    print("ready", flush=True)
    while True:
        turn += 1
        window.add("user", f"시청자{turn % 97}: 오늘 방송 {turn}번째 채팅이에요 " * (1 + turn % 5))
        window.add("assistant", f"고마워요! {turn}번째 답변이에요~ " * (1 + turn % 3))
        if window.needs_summary():
            consumed = window.begin_summary()
            summary = f"{window.summary[-300:]} 대화 {len(consumed)}개를 요약함 ({turn})."
            window.finish_summary(summary, consumed)
            history_store.write_summary_copy(directory, window)
        history_store.save(directory, window)


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1])))
