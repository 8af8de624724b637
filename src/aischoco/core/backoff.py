"""Exponential backoff with jitter, shared by every reconnecting part (pure)."""

from __future__ import annotations

import random


def backoff_delay(
    attempt: int,
    *,
    base_s: float = 0.5,
    cap_s: float = 30.0,
    rng: random.Random | None = None,
) -> float:
    """Delay before retry number ``attempt`` (0-based): base*2^attempt capped, with 50–100 % jitter.

    Jitter keeps many clients (or many components) from retrying in lock-step after a shared outage.
    """
    ceiling = min(cap_s, base_s * (2 ** min(attempt, 32)))
    return ceiling * (0.5 + 0.5 * (rng or random).random())
