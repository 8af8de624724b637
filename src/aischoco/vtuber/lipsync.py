"""Our own lip-sync: the envelope of the audio actually being heard → a mouth value.

`tap()` runs on the audio thread for every block as it will be heard (AudioOutput.add_tap): it
only computes a few RMS values and appends them, stamped with their heard-at time, to a deque
(append/popleft are thread-safe, nothing blocks). The animator calls `value(now)` once per tick:
it consumes every level heard up to `now` through an attack/release follower, so the mouth
moves with the sound the viewers hear, not with synthesis, and falls to exactly 0 in silence.
"""

from __future__ import annotations

import math
from collections import deque

import numpy as np

WINDOW_S = 0.01  # level resolution inside a block
SILENT_AFTER_S = 0.04  # levels are queued ahead of time: a gap this long is silence
ZERO_BELOW = 0.01  # below 1 % the mouth is shut: exactly 0, not a creeping tail


class LipSync:
    def __init__(self, *, gain: float = 5.0, noise_floor: float = 0.01, attack_s: float = 0.03,
                 release_s: float = 0.12, max_backlog: int = 2000) -> None:
        self.configure(gain=gain, noise_floor=noise_floor, attack_s=attack_s, release_s=release_s)
        self._levels: deque[tuple[float, float]] = deque(maxlen=max_backlog)
        self.mouth = 0.0
        self._at = 0.0  # time of the last level folded into `mouth`
        self._last_heard = -math.inf

    def configure(self, *, gain: float, noise_floor: float, attack_s: float,
                  release_s: float) -> None:
        self.gain, self.noise_floor = gain, noise_floor
        self.attack_s, self.release_s = attack_s, release_s

    # --- audio thread ------------------------------------------------------------------------
    def tap(self, block: np.ndarray, rate: int, heard_at: float) -> None:
        samples = block.reshape(-1) if block.ndim == 1 else block.mean(axis=1)
        window = max(1, int(rate * WINDOW_S))
        for start in range(0, samples.shape[0], window):
            chunk = samples[start:start + window]
            rms = float(np.sqrt(np.mean(np.square(chunk, dtype=np.float32))))
            self._levels.append((heard_at + (start + chunk.shape[0]) / rate, rms))

    # --- animator ------------------------------------------------------------------------------
    def target(self, rms: float) -> float:
        if not math.isfinite(rms) or rms <= self.noise_floor:
            return 0.0
        return min(1.0, (rms - self.noise_floor) * self.gain)

    def _follow(self, target: float, dt: float) -> None:
        tau = self.attack_s if target > self.mouth else self.release_s
        self.mouth += (target - self.mouth) * (1 - math.exp(-max(0.0, dt) / tau))

    def value(self, now: float) -> float:
        """The mouth value heard at `now` (0..1), folding in every level up to `now`."""
        levels = self._levels
        while levels and levels[0][0] <= now:
            at, rms = levels.popleft()
            self._follow(self.target(rms), at - self._at if self._at else WINDOW_S)
            self._at = self._last_heard = at
        if now - self._last_heard > SILENT_AFTER_S:
            self._follow(0.0, now - max(self._at, self._last_heard + SILENT_AFTER_S))
            self._at = now
        if self.mouth < ZERO_BELOW:
            self.mouth = 0.0
        return self.mouth

    def reset(self) -> None:
        self._levels.clear()
        self.mouth = 0.0
