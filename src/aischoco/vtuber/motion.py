"""Pure motion math: easing curves, per-parameter tweens, idle sway and blinks (no I/O, no clock:
every function takes `now` in seconds, so tests drive time by hand)."""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from dataclasses import dataclass

EASINGS: dict[str, Callable[[float], float]] = {
    "linear": lambda x: x,
    "ease_in_out_sine": lambda x: 0.5 - 0.5 * math.cos(math.pi * x),
    "ease_in_out_quad": lambda x: 2 * x * x if x < 0.5 else 1 - (-2 * x + 2) ** 2 / 2,
    "ease_in_out_cubic": lambda x: 4 * x ** 3 if x < 0.5 else 1 - (-2 * x + 2) ** 3 / 2,
    "ease_out_cubic": lambda x: 1 - (1 - x) ** 3,
    "ease_in_cubic": lambda x: x ** 3,
}


def ease(name: str, x: float) -> float:
    """The eased fraction for progress x (clamped to 0..1); 0 → 0 and 1 → 1 for every curve."""
    return EASINGS[name](min(1.0, max(0.0, x)))


def clamp(value: float, lo: float, hi: float) -> float:
    return max(lo, min(value, hi))


@dataclass(slots=True)
class Tween:
    """One parameter moving from `start` to `target` over `duration` with an easing curve. A new
    target starts from wherever the value is now, so interrupting a move never jumps."""

    value: float
    start: float = 0.0
    target: float = 0.0
    t0: float = 0.0
    duration: float = 0.3
    easing: str = "ease_in_out_sine"

    def __post_init__(self) -> None:
        self.start = self.target = self.value

    def retarget(self, target: float, now: float, duration: float, easing: str) -> None:
        if target == self.target:
            return
        self.start = self.sample(now)
        self.target, self.t0, self.duration, self.easing = target, now, duration, easing

    def sample(self, now: float) -> float:
        if self.duration <= 0 or now >= self.t0 + self.duration:
            self.value = self.target
        else:
            k = ease(self.easing, (now - self.t0) / self.duration)
            self.value = self.start + (self.target - self.start) * k
        return self.value

    @property
    def settled(self) -> bool:
        return self.value == self.target


class SwayWave:
    """A sine whose period and amplitude are re-drawn (±jitter) at every zero crossing of the
    phase, so the motion never looks looped and never jumps (sin is 0 where they change)."""

    def __init__(self, amplitude: float, period_s: float, jitter: float, rng: random.Random) -> None:
        self.base_amplitude, self.base_period, self.jitter = amplitude, period_s, jitter
        self._rng = rng
        self.phase = rng.random() * 2 * math.pi  # parameters do not start in lock-step
        self._draw()

    def _draw(self) -> None:
        self.amplitude = self.base_amplitude * self._spread()
        self.period = max(0.2, self.base_period * self._spread())

    def _spread(self) -> float:
        return 1 + self.jitter * (2 * self._rng.random() - 1)

    def advance(self, dt: float) -> float:
        before = self.phase
        self.phase += 2 * math.pi * dt / self.period
        if int(before // math.pi) != int(self.phase // math.pi):  # crossed a zero
            self.phase %= 2 * math.pi
            self._draw()
        return self.amplitude * math.sin(self.phase)


class Blinker:
    """Random blinks: closure 0 (open) → 1 (shut) → 0 over `duration_s`, every interval_s[0..1]."""

    def __init__(self, interval_s: tuple[float, float], duration_s: float, rng: random.Random,
                 now: float) -> None:
        self.interval_s, self.duration_s, self._rng = interval_s, duration_s, rng
        self.next_at = now + rng.uniform(*interval_s)

    def closure(self, now: float) -> float:
        if now < self.next_at:
            return 0.0
        x = (now - self.next_at) / self.duration_s
        if x >= 1.0:
            self.next_at = now + self._rng.uniform(*self.interval_s)
            return 0.0
        return 1.0 - abs(2 * x - 1)  # a triangle: shut at the middle


class Fader:
    """A weight that ramps linearly toward 0 or 1 over `fade_s` (idle motion pausing)."""

    def __init__(self, fade_s: float, value: float = 1.0) -> None:
        self.fade_s, self.value, self.target = fade_s, value, value

    def step(self, dt: float) -> float:
        step = dt / self.fade_s if self.fade_s > 0 else 1.0
        if self.value < self.target:
            self.value = min(self.target, self.value + step)
        elif self.value > self.target:
            self.value = max(self.target, self.value - step)
        return self.value
