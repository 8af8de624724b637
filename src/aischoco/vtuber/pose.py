"""The pose engine: emotion + speaking state + idle life + lip-sync → one value per parameter.

Pure and clock-free (`now` is passed in), so it is tested without sockets. Every controlled
parameter is a Tween: any change of target (emotion, look-away, look-back, a reloaded mapping)
moves from where the value is now, over that parameter's 0.1-0.5 s with its easing.
"""

from __future__ import annotations

import math
import random

from .lipsync import LipSync
from .mapping import PoseMapping
from .motion import Blinker, Fader, SwayWave, Tween, clamp


class PoseEngine:
    def __init__(self, mapping: PoseMapping, *, now: float, rng: random.Random | None = None,
                 lipsync: LipSync | None = None) -> None:
        self._rng = rng or random.Random()
        self.lipsync = lipsync or LipSync()
        self.emotion = "neutral"
        self.speaking = False
        self._look_away_until: float | None = None  # looking away (answer in, not heard yet)
        self._last_now = now
        self._tweens: dict[str, Tween] = {}
        self.disabled: set[str] = set()  # unknown to VTS, or owned by another plugin for now
        self.mouth_open = 0.0  # the last frame's lip-sync (0..1) and eye opening (1 = open),
        self.eyes_open = 1.0  # whatever parameters the mapping drives with them (avatar pose)
        self.apply_mapping(mapping, now)

    # --- configuration -------------------------------------------------------------------------
    def apply_mapping(self, mapping: PoseMapping, now: float) -> None:
        """Take a (re)loaded mapping: values glide from where they are to the new targets."""
        self.mapping = mapping
        old = self._tweens
        self._tweens = {name: old[name] if name in old else Tween(p.default)
                        for name, p in mapping.parameters.items()}
        for tween in self._tweens.values():
            tween.sample(now)  # `value` is current before retargeting
        idle = mapping.idle
        self._fader = Fader(idle.fade_s, getattr(self, "_fader", Fader(idle.fade_s)).value)
        self._sways = [(s.parameter, SwayWave(s.amplitude, s.period_s, s.jitter, self._rng))
                       for s in idle.sway]
        blink = idle.blink
        self._blinker = Blinker(blink.interval_s, blink.duration_s, self._rng, now) if blink else None
        lip = mapping.speaking.lipsync
        self.lipsync.configure(gain=lip.gain, noise_floor=lip.noise_floor,
                               attack_s=lip.attack_s, release_s=lip.release_s)
        self._retarget(now)

    @property
    def mouth_parameter(self) -> str | None:
        lip = self.mapping.speaking.lipsync
        return lip.parameter if lip.source == "ours" else None

    def controlled(self) -> list[str]:
        """Parameters sent every tick (VTS's mic lip-sync keeps the mouth when source is vts)."""
        lip = self.mapping.speaking.lipsync
        skip = {lip.parameter} if lip.source == "vts" else set()
        return [n for n in self.mapping.parameters if n not in skip and n not in self.disabled]

    # --- state from the turn --------------------------------------------------------------------
    def set_emotion(self, emotion: str, now: float) -> None:
        """The answer arrived (before speech): take its pose and look away until it is heard."""
        self.emotion = emotion
        look = self.mapping.speaking.look_away
        if look.enabled and look.offsets and not self.speaking:
            self._look_away_until = now + look.max_s
        self._retarget(now)

    def relax(self, now: float) -> None:
        """The turn is over: back to the neutral pose (no look-away: nothing new was said)."""
        self.emotion = "neutral"
        self._look_away_until = None
        self._retarget(now)

    def set_speaking(self, speaking: bool, now: float) -> None:
        if speaking == self.speaking:
            return
        self.speaking = speaking
        looked_away = self._look_away_until is not None
        self._look_away_until = None  # speaking: look back (interpolated)
        self._fader.target = 0.0 if speaking and self.mapping.idle.enabled else 1.0
        self._retarget(now, look_back=looked_away)

    def _retarget(self, now: float, *, look_back: bool = False) -> None:
        m = self.mapping
        pose = m.emotion(self.emotion).pose
        offsets = m.speaking.look_away.offsets if self._look_away_until is not None else {}
        back_s = m.speaking.look_away.look_back_s if look_back else None
        for name, tween in self._tweens.items():
            p = m.parameters[name]
            target = clamp(pose.get(name, p.default) + offsets.get(name, 0.0), p.min, p.max)
            duration = back_s if back_s and name in m.speaking.look_away.offsets else m.duration(name)
            tween.retarget(target, now, duration, m.easing(name))

    # --- one frame -----------------------------------------------------------------------------
    def frame(self, now: float) -> dict[str, float]:
        """Every controlled parameter's value at `now`: clamped, finite, ready to send."""
        dt = max(0.0, min(0.5, now - self._last_now))  # a stalled loop must not fling the sway
        self._last_now = now
        if self._look_away_until is not None and now >= self._look_away_until:
            self._look_away_until = None  # speech never came (TTS off or failed): look back
            self._retarget(now, look_back=True)
        m = self.mapping
        weight = self._fader.step(dt) if m.idle.enabled else 0.0
        values = {name: tween.sample(now) for name, tween in self._tweens.items()}
        if weight > 0.0:
            for name, wave in self._sways:
                values[name] += weight * wave.advance(dt)
        blink = m.idle.blink
        shut = 0.0
        if self._blinker is not None and blink and (blink.while_speaking or weight > 0.0):
            shut = self._blinker.closure(now) * (1.0 if blink.while_speaking else weight)
            for name in blink.parameters:
                values[name] *= 1.0 - shut
        self.eyes_open = 1.0 - shut
        opened = self.mouth_open = self.lipsync.value(now)  # only speech is played; 0 in silence
        mouth = self.mouth_parameter
        if mouth is not None:
            values[mouth] = m.parameters[mouth].min + opened * (
                m.parameters[mouth].max - m.parameters[mouth].min)
            lip = m.speaking.lipsync
            if lip.smile_parameter and lip.smile_amount:
                values[lip.smile_parameter] += lip.smile_amount * opened
        out: dict[str, float] = {}
        for name in self.controlled():
            p = m.parameters[name]
            value = values[name]
            out[name] = clamp(value, p.min, p.max) if math.isfinite(value) else p.default
        return out
