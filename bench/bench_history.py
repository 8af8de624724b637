"""Benchmark: history bookkeeping at a full window (target: add < 0.5 ms per message).

Real o200k_harmony counter, default limits (keep 5K, summarize at 7K, limit 8K). The window is
filled to just under 8K tokens with Korean chat-like turns and kept there: whenever it passes
SUMMARIZE_AT a summary is applied at once (untimed), so every timed call sees a full window.

Figures:
  * add()               tokenising one message and updating the running total
  * context_messages()  building the request's history part at a full window
  * ... summaries failing  the same when summaries keep failing and the window has grown to
                        twice the limit, so the oldest half is left out of every request
  * vocabulary load     building the encoding from the shipped file (once per process)
  * save()              writing summary.json + recent.json with fsync (to a temp directory)

Run:  python bench/bench_history.py [--adds 2000] [--seed 7]
"""

from __future__ import annotations

import argparse
import random
import statistics
import tempfile
import time
from pathlib import Path

from aischoco.ai import history_store
from aischoco.ai.history import HistoryWindow
from aischoco.ai.tokens import build_encoding, load_counter

LIMITS = {"keep_tokens": 5000, "summarize_at": 7000, "limit_tokens": 8000}
PHRASES = [
    "ㅋㅋㅋㅋ 오늘 방송 너무 재밌어요", "초코야 안녕!", "다음 게임 뭐 해요?",
    "목소리 너무 귀여워요",
    "방금 그거 진짜 웃겼다 ㅋㅋ", "오늘 저녁 뭐 먹었어요?", "노래 한 곡 불러주세요!!",
    "와 대박", "처음 왔는데 재밌네요", "GG 잘했어요", "공포 게임 해주세요 제발",
    "초코 최고 👍", "구독 눌렀어요~", "어제 방송 놓쳤어요 ㅠㅠ", "이 게임 엔딩 알려줘요",
]
REPLIES = [
    "고마워요~ 오늘도 와줘서 정말 기뻐요!", "헉 그건 비밀이에요 ㅎㅎ", "다음엔 공포 게임 해볼까요?",
    "에헤헤 칭찬 고마워요!", "저녁은 초코 케이크 먹었어요! 농담이에요 ㅋㅋ",
]


def chat_text(rng: random.Random, role: str) -> str:
    pool = PHRASES if role == "user" else REPLIES
    return " ".join(rng.choice(pool) for _ in range(rng.randint(1, 4)))


def pct(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def row(name: str, samples_s: list[float]) -> str:
    ms = [s * 1000 for s in samples_s]
    return (f"{name:<22} {len(ms):>6} {statistics.median(ms):>9.4f} {pct(ms, 0.95):>9.4f} "
            f"{max(ms):>9.4f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--adds", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    rng = random.Random(args.seed)

    t0 = time.perf_counter()
    build_encoding()
    load_s = time.perf_counter() - t0
    counter = load_counter()

    window = HistoryWindow(counter, **LIMITS)
    roles = ("user", "assistant")
    i = 0
    while window.total_tokens < LIMITS["summarize_at"]:  # fill, untimed
        window.add(roles[i % 2], chat_text(rng, roles[i % 2]))
        i += 1

    add_s: list[float] = []
    ctx_s: list[float] = []
    sizes: list[int] = []
    for n in range(args.adds):
        role = roles[(i + n) % 2]
        text = chat_text(rng, role)
        t0 = time.perf_counter()
        window.add(role, text)
        add_s.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        window.context_messages(reserve_tokens=0)
        ctx_s.append(time.perf_counter() - t0)
        sizes.append(window.total_tokens)
        if window.needs_summary():  # keep the window full: summarise instantly (untimed)
            window.finish_summary("시청자들과 게임과 저녁 메뉴 이야기를 했다. " * 10,
                                  window.begin_summary())

    # Summaries failing: grow to 2x the limit with no summary, then time request builds.
    failing = HistoryWindow(counter, **LIMITS)
    while failing.total_tokens < 2 * LIMITS["limit_tokens"]:
        failing.add(roles[i % 2], chat_text(rng, roles[i % 2]))
        i += 1
    fail_s: list[float] = []
    for _ in range(args.adds):
        t0 = time.perf_counter()
        failing.context_messages(reserve_tokens=0)
        fail_s.append(time.perf_counter() - t0)
    dropped = failing.last_dropped

    with tempfile.TemporaryDirectory() as tmp:
        save_s = []
        for _ in range(50):
            t0 = time.perf_counter()
            history_store.save(Path(tmp), window)
            save_s.append(time.perf_counter() - t0)

    print(f"window: {min(sizes)}-{max(sizes)} recent tokens (+{window.summary_tokens} summary), "
          f"{len(window)} entries at the end; limits {LIMITS}")
    print(f"{'operation':<22} {'n':>6} {'p50 ms':>9} {'p95 ms':>9} {'max ms':>9}")
    print(row("add()", add_s))
    print(row("context_messages()", ctx_s))
    print(row("... summaries failing", fail_s) + f"   ({dropped} of {len(failing)} left out)")
    print(row("save() (fsync)", save_s))
    print(f"{'vocabulary load':<22} {1:>6} {load_s * 1000:>9.1f}")
    verdict = "PASS" if pct([s * 1000 for s in add_s], 0.95) < 0.5 else "FAIL"
    print(f"target add() p95 < 0.5 ms: {verdict}")


if __name__ == "__main__":
    main()
