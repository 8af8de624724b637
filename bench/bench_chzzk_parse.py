"""Benchmark: how many official CHZZK events per second `parse_official` turns into ChatMessages.

Input mimics the wire: JSON-string payloads shaped like the observed CHAT example (mixed viewers,
managers, the streamer, emoji placeholders, a few long lines) with ~10% observed DONATION
payloads. Each message is parsed on its own and timed with perf_counter_ns (p50/p95 per message);
throughput is measured separately as one tight loop over the whole batch.

Run:  python bench/bench_chzzk_parse.py [--count 20000] [--rounds 3]
Pure CPU, no network. Target: >= 5,000 messages/s. Always exits 0.
"""

from __future__ import annotations

import argparse
import json
import platform
import random
import statistics
import sys
import time

from aischoco.chat.chzzk_parse import parse_official

TARGET_PER_S = 5_000
CHANNEL = "f00dbeefcafe0123456789abcdef0123"
PHRASES = (
    "초코야 안녕!", "ㅋㅋㅋㅋㅋㅋ", "오늘 방송 재밌다 {:d_47:}", "노래 불러줘", "점심 뭐 먹었어?",
    "ㄹㅇ 개웃기네 {:d_12:}{:d_12:}", "하이하이", "초코 귀여워", "이거 무슨 게임이야?",
    "Hello from abroad!", "🍫🍫🍫", "?", "<b>html</b> & stuff", "첫 방송부터 봤어요 " * 12,
)  # fmt: skip
ROLES = ("common_user",) * 16 + ("streaming_chat_manager", "streaming_channel_manager", "streamer")
EMOJIS = {
    "d_47": "https://ssl.pstatic.net/static/nng/glive/icon/d_47.gif",
    "d_12": "https://ssl.pstatic.net/static/nng/glive/icon/d_12.gif",
}


def make_payloads(count: int, seed: int = 7) -> list[tuple[str, str]]:
    rng = random.Random(seed)
    out: list[tuple[str, str]] = []
    base_ms = 1_785_003_258_567
    for i in range(count):
        sender = f"{rng.getrandbits(128):032x}"
        if rng.random() < 0.1:
            payload = {
                "donationType": "CHAT",
                "channelId": CHANNEL,
                "donatorChannelId": sender,
                "donatorNickname": f"후원자{i % 500}",
                "payAmount": rng.choice((1000, 5000, "10000")),
                "donationText": rng.choice(PHRASES),
                "emojis": EMOJIS,
                "eventSentAt": "2026-07-26T03:14:18.629843820",
            }
            out.append(("DONATION", json.dumps(payload, ensure_ascii=False)))
            continue
        role = rng.choice(ROLES)
        payload = {
            "channelId": CHANNEL,
            "chatChannelId": "N1JJh0",
            "senderChannelId": CHANNEL if role == "streamer" else sender,
            "profile": {
                "nickname": f"시청자{i % 1000}",
                "verifiedMark": False,
                "badges": [{"imageUrl": "https://ssl.pstatic.net/static/nng/glive/badge/x.png"}],
                "userRoleCode": role,
            },
            "content": rng.choice(PHRASES),
            "emojis": EMOJIS if rng.random() < 0.3 else {},
            "messageTime": base_ms + i * 37,
            "eventSentAt": "2026-07-26T03:14:18.629843820",
        }
        out.append(("CHAT", json.dumps(payload, ensure_ascii=False)))
    return out


def pct(sorted_values: list[int], q: float) -> float:
    idx = min(len(sorted_values) - 1, max(0, round(q * (len(sorted_values) - 1))))
    return sorted_values[idx] / 1000.0  # ns -> µs


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)

    payloads = make_payloads(args.count)
    donations = sum(1 for event, _ in payloads if event == "DONATION")
    mean_bytes = statistics.fmean(len(p.encode()) for _, p in payloads)
    print(f"python {platform.python_version()} on {platform.machine()} / {platform.system()}")
    print(f"{len(payloads)} payloads ({donations} donations), mean {mean_bytes:.0f} bytes each")

    for event, payload in payloads[:1000]:  # warm-up
        parse_official(event, payload, channel_id=CHANNEL)

    perf = time.perf_counter_ns
    samples: list[int] = []
    for event, payload in payloads:
        t0 = perf()
        parse_official(event, payload, channel_id=CHANNEL)
        samples.append(perf() - t0)
    samples.sort()

    rates = []
    for _ in range(args.rounds):
        t0 = time.perf_counter()
        for event, payload in payloads:
            parse_official(event, payload, channel_id=CHANNEL)
        rates.append(len(payloads) / (time.perf_counter() - t0))
    best, worst = max(rates), min(rates)

    print(f"{'per message':<22}{'p50':>10}{'p95':>10}{'p99':>10}{'max':>10}")
    print(
        f"{'parse_official (µs)':<22}{pct(samples, 0.50):>10.1f}{pct(samples, 0.95):>10.1f}"
        f"{pct(samples, 0.99):>10.1f}{samples[-1] / 1000:>10.1f}"
    )
    print(f"throughput: {worst:,.0f} .. {best:,.0f} messages/s over {args.rounds} rounds")
    verdict = "PASS" if worst >= TARGET_PER_S else "FAIL"
    print(f"{verdict}: worst round {worst:,.0f}/s vs target >= {TARGET_PER_S:,}/s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
