"""How many codec frames one sentence may take (pure): shared by the whole-sentence and the
streaming producer."""

from __future__ import annotations

import math

FRAMES_PER_S = 12.5  # Qwen3-TTS 12 Hz codec


def max_frames(text: str, cap: int | None) -> int:
    """A per-sentence codec frame budget: 3 s plus 0.35 s per character (≈2x normal Korean pace).
    Without it a sentence whose end token never comes babbles for minutes (2048 frames)."""
    frames = math.ceil(FRAMES_PER_S * (3.0 + 0.35 * len(text)))
    return min(frames, cap) if cap else frames
