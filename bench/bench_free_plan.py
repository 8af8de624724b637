"""Benchmark: a three-hour stream on Groq's free plan (issue 36).

720 answers (4 a minute for 3 hours) from the real responder (streamed, history + summaries,
GROQ_MODEL + the default GROQ_FALLBACK_MODELS) against tests/peers/groq_limits.py: a Groq peer
that enforces each model's free-plan RPM/RPD/TPM/TPD with Groq's own 429/413 bodies and headers,
counts tokens with o200k and reports cached prompt tokens by prefix. The clock is virtual: chat i
arrives at i × 15 s, every wait the client or responder is told to make moves the clock, and no
real time passes in between, so three hours take a minute or two.

Figures: answers served / late (waited for a limit; by how long) / dropped; tokens per answer
p50/p95 (prompt + completion, as Groq counts them); the share of prompt tokens the peer found
cacheable (same leading messages as that model's previous request); when each model's day (or
minute) ran out; which model answered how many, from when to when.

Run:  python bench/bench_free_plan.py [--answers 720] [--gap-s 15] [--primary-tpd 200000]
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import random
import statistics
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from aischoco.ai.budget import DEFAULT_FALLBACK_MODELS, ModelChain, parse_fallback_models  # noqa: E402
from aischoco.ai.character import CharacterPrompt  # noqa: E402
from aischoco.ai.conversation import ConversationMemory  # noqa: E402
from aischoco.ai.groq_client import GroqClient, LLMError  # noqa: E402
from aischoco.ai.prompts import OutputFilter  # noqa: E402
from aischoco.ai.responder import GroqResponder  # noqa: E402
from aischoco.core.messages import ChatMessage  # noqa: E402
from aischoco.core.segmenter import SegmenterConfig  # noqa: E402
from peers.groq_limits import FREE_PLAN, GroqLimitsServer, Limits  # noqa: E402

PRIMARY = "openai/gpt-oss-120b"
VIEWERS = [f"시청자{i}" for i in range(1, 18)]
CHATS = [
    "ㅋㅋㅋㅋ 오늘 방송 너무 재밌어요", "초코야 안녕! 오늘 뭐 해?", "다음 게임 뭐 해요?",
    "목소리 너무 귀여워요", "방금 그거 진짜 웃겼다 ㅋㅋ", "오늘 저녁 뭐 먹었어요?",
    "노래 한 곡 불러주세요!!", "처음 왔는데 재밌네요", "공포 게임 해주세요 제발",
    "구독 눌렀어요~ 앞으로 자주 올게요", "어제 방송 놓쳤어요 ㅠㅠ 무슨 일 있었어요?",
    "이 게임 엔딩 알려줘요", "초코는 좋아하는 음식이 뭐야?", "주말에 합방 해요?",
    "보스 패턴 너무 어렵다 ㅠ", "오늘 컨디션 어때요?", "고양이 키우고 싶다는 얘기 또 해줘",
]


class Clock:
    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t

    async def sleep(self, seconds: float) -> None:
        self.t += max(seconds, 0.0)
        await asyncio.sleep(0)


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(int(q * len(ordered)), len(ordered) - 1)] if ordered else 0.0


def hhmm(seconds: float) -> str:
    return f"{int(seconds // 3600)}:{int(seconds % 3600 // 60):02d}"


async def run(args: argparse.Namespace) -> None:
    clock = Clock()
    limits = dict(FREE_PLAN)
    old = limits[PRIMARY]
    limits[PRIMARY] = Limits(old.rpm, old.rpd, old.tpm, args.primary_tpd)
    rng = random.Random(args.seed)
    with tempfile.TemporaryDirectory() as tmp, GroqLimitsServer(limits) as peer:
        peer.clock = clock
        client = GroqClient(api_key="gsk_bench", base_url=peer.base_url, model=PRIMARY,
                            timeout_s=10, sleep=clock.sleep)
        responder = GroqResponder(client, CharacterPrompt(Path(tmp) / "character.txt"),
                                  OutputFilter(()), max_answer_chars=300, stream=True)
        responder.memory = await ConversationMemory.open(
            Path(tmp) / "history", responder.summarize, keep_tokens=5000, summarize_at=7000,
            limit_tokens=8000)
        responder.chain = ModelChain([PRIMARY, *parse_fallback_models(args.fallbacks)])
        responder.clock = clock
        responder.sleep = clock.sleep
        segmenter = SegmenterConfig(min_chars=2)
        served = dropped = 0
        delays: list[float] = []
        by_model: dict[str, list[float]] = {}
        for i in range(args.answers):
            due = i * args.gap_s
            clock.t = max(clock.t, due)
            user = rng.choice(VIEWERS)
            batch = [ChatMessage(user=user, message=rng.choice(CHATS))]
            count = len(peer.answers)
            try:
                said = []
                async for event in responder.reply_stream(batch, segmenter):
                    said.append(getattr(event, "shown", ""))
                await responder.remember(batch, _done(responder, said), "".join(said))
            except LLMError as exc:
                dropped += 1
                logging.warning("dropped %d: %s", i, exc)
                continue
            served += 1
            delays.append(clock.t - due)
            model = responder.turn_model or PRIMARY
            by_model.setdefault(model, []).append(clock.t)
            if len(peer.answers) == count:
                logging.warning("answer %d not charged?", i)
            for _ in range(3):
                await asyncio.sleep(0)  # let a background summary run
        await asyncio.sleep(0.05)
        await client.aclose()

    answers = [a for a in peer.answers if a.get("answer")]
    totals = [a["usage"]["total_tokens"] for a in answers]
    prompts = sum(a["usage"]["prompt_tokens"] for a in answers)
    cached = sum(a["usage"]["prompt_tokens_details"]["cached_tokens"] for a in answers)
    background = [a for a in peer.answers if not a.get("answer")]
    late = [d for d in delays if d > 0.5]
    print(f"free-plan stream: {args.answers} chats, one every {args.gap_s:g} s "
          f"({hhmm(args.answers * args.gap_s)} h), chain {PRIMARY} → {args.fallbacks}")
    print(f"  served {served}  dropped {dropped}  late {len(late)} "
          f"(max {max(late, default=0):.1f} s, p95 of all {pct(delays, 0.95):.1f} s)")
    print(f"  tokens per answer p50 {pct(totals, 0.5):.0f}  p95 {pct(totals, 0.95):.0f}  "
          f"mean {statistics.fmean(totals) if totals else 0:.0f}  "
          f"(answers {sum(totals):,} tokens; summaries {len(background)} requests, "
          f"{sum(a['usage']['total_tokens'] for a in background):,} tokens)")
    print(f"  cacheable share of prompt tokens {cached / prompts:.1%}" if prompts else "")
    print("  limits hit (peer time):")
    seen: set[tuple[str, str]] = set()
    for (model, status, kind), at in zip(peer.refused, peer.refused_at, strict=True):
        if (model, kind) in seen:
            continue
        seen.add((model, kind))
        n = sum(1 for m, s, k in peer.refused if m == model and k == kind)
        print(f"    {hhmm(at)}  {model}: {status} {kind} (×{n} in all)")
    print("  answered by:")
    for model, times in by_model.items():
        print(f"    {model:45s} {len(times):4d}  {hhmm(times[0])}–{hhmm(times[-1])}")


def _done(responder: GroqResponder, said: list[str]):  # type: ignore[no-untyped-def]
    from aischoco.core.stages import AIResponse

    return AIResponse(response="".join(said), emotion="neutral", processing_time=0.0,
                      spoken="".join(said))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--answers", type=int, default=720)
    parser.add_argument("--gap-s", type=float, default=15.0)
    parser.add_argument("--primary-tpd", type=int, default=FREE_PLAN[PRIMARY].tpd)
    parser.add_argument("--fallbacks", default=DEFAULT_FALLBACK_MODELS)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR, format="%(levelname)s %(name)s: %(message)s")
    asyncio.run(run(args))


if __name__ == "__main__":
    main()
