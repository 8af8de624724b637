"""A model's own rolling-day count stays bounded over a long stream (issue 37: it kept one entry
per request for a whole day), and stays exact to within one minute's requests, on the safe side."""

from __future__ import annotations

from collections import deque

from aischoco.ai import budget as budget_mod
from aischoco.ai.budget import DAY_S, ModelBudget, PlanLimits


def test_the_day_count_keeps_at_most_one_entry_a_minute_and_counts_conservatively() -> None:
    b = ModelBudget("m", PlanLimits(tpd=10**9))
    exact: deque[tuple[float, int]] = deque()
    bucket_s = DAY_S / budget_mod.DAY_BUCKETS
    for i in range(150_000):  # one request every 0.75 s for 31 hours: ~100× the cap
        now = i * 0.75
        tokens = 500 + i % 700
        b.record({"total_tokens": tokens}, now=now)
        exact.append((now, tokens))
        while exact[0][0] <= now - DAY_S:
            exact.popleft()
        if i % 997 == 0 or i > 149_990:
            assert len(b._day) <= budget_mod.DAY_BUCKETS + 1
            true_requests, true_tokens = len(exact), sum(t for _, t in exact)
            per_bucket = int(bucket_s / 0.75) + 1
            assert true_requests <= b.requests_today <= true_requests + per_bucket
            assert true_tokens <= b.day_tokens <= true_tokens + per_bucket * 1200
    assert len(b._day) <= budget_mod.DAY_BUCKETS + 1


def test_a_spent_day_comes_back_at_most_a_minute_late() -> None:
    b = ModelBudget("m", PlanLimits(tpd=100_000))
    for i in range(100):  # 100 × 1,000 tokens, one every 10 s: the day is spent
        b.record({"total_tokens": 1000}, now=1000.0 + i * 10)
    why, until = b.unavailable(3000.0, need_tokens=1000)
    exact = 1000.0 + DAY_S  # when the first request is a day old
    assert why == "TPD" and until is not None and exact <= until <= exact + DAY_S / 1440
    assert b.unavailable(until + 0.01, need_tokens=1000) == ("", None)
