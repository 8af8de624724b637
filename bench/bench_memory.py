"""Benchmark: long-term viewer memory at channel scale (targets: recall p95 < 5 ms; the reply's
chat → first LLM request no slower with memory on).

Builds a memory file the way the daemon fills it (one `record_message` per chat, one commit
each) with `--viewers` viewers and `--messages` messages (a few regulars say most, as on a real
stream), then measures:

  * insert       one record_message (message + viewer + nickname + index rows, one commit)
  * recall       what one reply needs per sender, on the memory thread: viewer + facts + the
                 viewer's best-matching past messages + the prompt card (tokens counted);
                 and the same through ViewerMemory.recall() from the event loop (thread hop)
  * channel      search across every viewer's messages
  * size         the file (WAL checkpointed) per 100,000 messages, and its open time
  * reply path   GroqResponder building and sending a request to a local OpenAI-compatible
                 server (a thread in this process): start of the reply → the server has it,
                 memory off vs on (same run, alternating)

Run:  python bench/bench_memory.py [--viewers 10000] [--messages 200000] [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import random
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from peers.openai_server import OpenAIServer, Recorded, Reply  # noqa: E402

from aischoco.ai.character import CharacterPrompt  # noqa: E402
from aischoco.ai.groq_client import GroqClient  # noqa: E402
from aischoco.ai.conversation import ConversationMemory  # noqa: E402
from aischoco.ai.prompts import OutputFilter  # noqa: E402
from aischoco.ai.responder import GroqResponder  # noqa: E402
from aischoco.ai.tokens import load_counter  # noqa: E402
from aischoco.core.messages import ChatMessage  # noqa: E402
from aischoco.core.metrics import percentile  # noqa: E402
from aischoco.core.status import StatusBoard  # noqa: E402
from aischoco.memory.cards import ViewerRecall, render_cards  # noqa: E402
from aischoco.memory.component import ViewerMemory  # noqa: E402
from aischoco.memory.store import MemoryStore  # noqa: E402

NOUNS = ("고양이 강아지 나비 초코 라면 떡볶이 치킨 피자 게임 노래 방송 학교 회사 친구 엄마 동생 주말 여행 "
         "부산 서울 제주도 커피 케이크 공부 시험 운동 축구 야구 영화 드라마 음악 기타 피아노 그림 "
         "사진 카메라 컴퓨터 키보드 마우스 모니터 의자 침대 겨울 여름 바다 산 눈 비 생일 선물 "
         "월급 알바 대학 졸업 면접 출근 퇴근 저녁 점심 아침 간식 과자 아이스크림 김치 삼겹살").split()
PARTICLES = ("은 는 이 가 을 를 도 랑 하고 에서 에 으로 로 의 만 까지").split()
TAILS = ("좋아해요 먹었어요 보고 싶어요 했어요 샀어요 갔다 왔어요 키워요 재밌어요 최고예요 너무 좋다 "
         "언제 해요? 어때요? 진짜 ㅋㅋㅋ 힘들어요 ㅠㅠ 기다렸어요 사랑해요").split()


def chat_line(rng: random.Random) -> str:
    words = [rng.choice(NOUNS) + rng.choice(PARTICLES) for _ in range(rng.randint(1, 3))]
    return " ".join(words + [rng.choice(TAILS)])


def build(path: Path, viewers: int, messages: int, seed: int = 7) -> tuple[list[str], list[float]]:
    rng = random.Random(seed)
    # A few regulars say most: weight ∝ 1/rank (Zipf-like), every viewer at least once.
    ids = [f"chzzk-{n:06d}" for n in range(viewers)]
    weights = [1 / (n + 1) for n in range(viewers)]
    senders = ids + rng.choices(ids, weights, k=messages - viewers)
    rng.shuffle(senders)
    store = MemoryStore(path)
    costs = []
    t0 = 1_700_000_000.0
    for n, uid in enumerate(senders):
        text = chat_line(rng)
        started = time.perf_counter()
        store.record_message(uid, f"시청자{uid[-6:]}", text, session=f"s{n // 20_000}",
                             at=t0 + n)
        costs.append((time.perf_counter() - started) * 1e6)
    for uid in ids[:2000]:  # the regulars have facts
        store.add_facts(uid, [f"{rng.choice(NOUNS)}{rng.choice(['을', '를'])} 좋아한다",
                              f"{rng.choice(NOUNS)}에 자주 간다"])
    store._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    store.close()
    return ids, costs


def stats(values: list[float]) -> str:
    ordered = sorted(values)
    return (f"p50 {percentile(ordered, 50):.3f} · p95 {percentile(ordered, 95):.3f} · "
            f"max {ordered[-1]:.3f}")


def recall_figures(path: Path, ids: list[str], rounds: int) -> dict[str, list[float]]:
    store = MemoryStore(path)
    count = load_counter().count
    rng = random.Random(11)
    weights = [1 / (n + 1) for n in range(len(ids))]
    per_sender, channel = [], []
    for _ in range(rounds):
        uid = rng.choices(ids, weights)[0]
        query = chat_line(rng)
        started = time.perf_counter()
        viewer = store.viewer(uid)
        assert viewer is not None
        said = store.search(query, user_id=uid, limit=3)
        cards = render_cards([ViewerRecall(viewer, tuple(store.facts(uid)), tuple(said))],
                             budget_tokens=400, count_tokens=count, now=time.time())
        per_sender.append((time.perf_counter() - started) * 1000)
        assert cards.text
        started = time.perf_counter()
        store.search(query, limit=5)
        channel.append((time.perf_counter() - started) * 1000)
    store.close()
    return {"per_sender": per_sender, "channel": channel}


async def loop_recall(path: Path, ids: list[str], rounds: int) -> list[float]:
    memory = ViewerMemory(path, prompt_tokens=400, retention_days=0, facts_per_viewer=20,
                          count_tokens=load_counter().count)
    board = StatusBoard()
    task = asyncio.create_task(memory.run(board.register("memory", "m")))
    while memory._store is None:
        await asyncio.sleep(0.01)
    rng = random.Random(13)
    times = []
    for _ in range(rounds):
        msg = ChatMessage(user="x", message=chat_line(rng), user_id=rng.choice(ids[:3000]))
        started = time.perf_counter()
        await memory.recall([msg])
        times.append((time.perf_counter() - started) * 1000)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    await memory.aclose()
    return times


class ClockedPeer(OpenAIServer):
    def _next(self, recorded: Recorded) -> Reply:  # type: ignore[override]
        super()._next(recorded)
        return Reply({"emotion": "happy", "response": "네!"})


async def reply_path(path: Path, ids: list[str], rounds: int, workdir: Path) -> dict[str, list[float]]:
    """Start of the reply → the LLM server has the request, memory off/on alternating."""
    out: dict[str, list[float]] = {"off": [], "on": []}
    with ClockedPeer() as peer:
        client = GroqClient(api_key="bench", base_url=peer.base_url, model="openai/gpt-oss-120b",
                            timeout_s=5)
        responder = GroqResponder(client, CharacterPrompt(workdir / "character.txt"),
                                  OutputFilter(()), max_answer_chars=300, stream=False)
        responder.memory = await ConversationMemory.open(workdir / "history", responder.summarize,
                                                         keep_tokens=5000, summarize_at=7000,
                                                         limit_tokens=8000)
        memory = ViewerMemory(path, prompt_tokens=400, retention_days=0, facts_per_viewer=20,
                              count_tokens=load_counter().count)
        task = asyncio.create_task(memory.run(StatusBoard().register("memory", "m")))
        while memory._store is None:
            await asyncio.sleep(0.01)
        rng = random.Random(17)
        for n in range(rounds * 2 + 10):
            mode = "on" if n % 2 else "off"
            responder.viewers = memory if mode == "on" else None
            msg = ChatMessage(user="x", message=chat_line(rng), user_id=rng.choice(ids[:3000]),
                              llm_text=None)
            before = len(peer.requests)
            started = time.monotonic()
            await responder.reply([msg])
            request = peer.requests[before]
            if n >= 10:  # warm-up: connection, token counter, caches
                out[mode].append((request.received_at - started) * 1000)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await memory.aclose()
        await client.aclose()
    return out


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--viewers", type=int, default=10_000)
    parser.add_argument("--messages", type=int, default=200_000)
    parser.add_argument("--rounds", type=int, default=1000)
    parser.add_argument("--quick", action="store_true", help="1/20 of the sizes")
    args = parser.parse_args()
    if args.quick:
        args.viewers, args.messages, args.rounds = args.viewers // 20, args.messages // 20, 200
    print(f"# bench_memory  Python {platform.python_version()}  {platform.machine()}  "
          f"{os.cpu_count()} CPU  viewers {args.viewers:,}  messages {args.messages:,}")
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        path = workdir / "memory.sqlite3"
        started = time.perf_counter()
        ids, insert = build(path, args.viewers, args.messages)
        print(f"build: {time.perf_counter() - started:.1f} s")
        size = path.stat().st_size
        started = time.perf_counter()
        MemoryStore(path).close()
        opened = (time.perf_counter() - started) * 1000
        recall = recall_figures(path, ids, args.rounds)
        hop = asyncio.run(loop_recall(path, ids, args.rounds))
        reply = asyncio.run(reply_path(path, ids, min(args.rounds, 300), workdir))
    print()
    print("| figure | value |")
    print("|---|---|")
    print(f"| insert one message (µs) | {stats(insert)} |")
    print(f"| recall per sender, memory thread (ms) | {stats(recall['per_sender'])} |")
    print(f"| recall from the loop, ViewerMemory.recall (ms) | {stats(hop)} |")
    print(f"| channel-wide search (ms) | {stats(recall['channel'])} |")
    print(f"| file size per 100,000 messages | {size / 1e6 * 100_000 / args.messages:.1f} MB "
          f"({size / 1e6:.1f} MB in all) |")
    print(f"| open (quick_check included) | {opened:.0f} ms |")
    print(f"| reply start → LLM server has it, memory off (ms) | {stats(reply['off'])} |")
    print(f"| reply start → LLM server has it, memory on (ms) | {stats(reply['on'])} |")
    p95 = percentile(sorted(recall["per_sender"]), 95)
    print(f"\nrecall p95 {p95:.2f} ms: {'PASS' if p95 < 5 else 'FAIL'} (target < 5 ms)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
