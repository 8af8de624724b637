"""Pure pose math (no sockets, no clock): easing, tweens, idle life, lip-sync, the pose engine."""

from __future__ import annotations

import itertools
import json
import math
import random
from pathlib import Path

import numpy as np
import pytest

from aischoco.vtuber.lipsync import LipSync
from aischoco.vtuber.mapping import PoseMapping, parse_mapping
from aischoco.vtuber.motion import EASINGS, Blinker, SwayWave, Tween, ease
from aischoco.vtuber.pose import PoseEngine

ROOT = Path(__file__).resolve().parents[1]
SHIPPED = ROOT / "config" / "pose_mapping.json"
TICK = 1 / 30


def shipped(**changes: object) -> PoseMapping:
    doc = json.loads(SHIPPED.read_text("utf-8"))
    for path, value in changes.items():
        node = doc
        *parents, last = path.split("__")
        for key in parents:
            node = node[key]
        node[last] = value
    return parse_mapping(json.dumps(doc))


@pytest.mark.parametrize("name", sorted(EASINGS))
def test_every_easing_starts_at_0_ends_at_1_and_never_goes_back(name: str) -> None:
    xs = [i / 100 for i in range(101)]
    ys = [ease(name, x) for x in xs]
    assert ys[0] == pytest.approx(0) and ys[-1] == pytest.approx(1)
    assert all(b >= a - 1e-12 for a, b in itertools.pairwise(ys))
    assert ease(name, -3) == ys[0] and ease(name, 7) == ys[-1]


def test_a_tween_interrupted_midway_continues_from_where_it_is() -> None:
    tween = Tween(0.0)
    tween.retarget(10.0, now=0.0, duration=0.4, easing="linear")
    assert tween.sample(0.2) == pytest.approx(5.0)
    tween.retarget(-10.0, now=0.2, duration=0.4, easing="linear")
    assert tween.sample(0.2) == pytest.approx(5.0)  # no jump at the change
    assert tween.sample(0.4) == pytest.approx(-2.5)
    assert tween.sample(0.61) == -10.0 and tween.settled


def test_sway_redraws_period_and_amplitude_within_jitter_and_never_jumps() -> None:
    wave = SwayWave(amplitude=1.0, period_s=2.0, jitter=0.3, rng=random.Random(4))
    values, amplitudes, periods = [], set(), set()
    for _ in range(3000):
        values.append(wave.advance(1 / 60))
        amplitudes.add(round(wave.amplitude, 6))
        periods.add(round(wave.period, 6))
    assert len(amplitudes) > 5 and len(periods) > 5  # it is not a loop
    assert all(0.7 - 1e-9 <= a <= 1.3 + 1e-9 for a in amplitudes)
    assert all(1.4 - 1e-9 <= p <= 2.6 + 1e-9 for p in periods)
    biggest_step = max(abs(b - a) for a, b in itertools.pairwise(values))
    assert biggest_step < 1.3 * 2 * math.pi / (1.4 * 60) * 1.05  # bounded by slope, no jumps


def test_blinks_come_at_random_intervals_and_shut_fully() -> None:
    blinker = Blinker((2.0, 4.0), 0.2, random.Random(1), now=0.0)
    closures = [(i / 100, blinker.closure(i / 100)) for i in range(3000)]
    starts = [t for (t, c), (_, prev) in zip(closures[1:], closures) if c > 0 and prev == 0]
    gaps = [b - a for a, b in itertools.pairwise(starts)]
    assert len(starts) >= 6 and all(2.0 <= g <= 4.3 for g in gaps) and len(set(gaps)) > 2
    assert max(c for _, c in closures) > 0.9


def tone(seconds: float, amp: float, rate: int = 24000) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    return (amp * np.sin(2 * np.pi * 220 * t)).astype(np.float32)


def feed_blocks(lip: LipSync, signal: np.ndarray, start: float, rate: int = 24000,
                block_ms: int = 20) -> None:
    n = rate * block_ms // 1000
    for i in range(0, signal.size, n):
        lip.tap(signal[i:i + n], rate, start + i / rate)


def test_lipsync_follows_the_envelope_within_one_tick_and_is_zero_in_silence() -> None:
    lip = LipSync(gain=5.0, noise_floor=0.01, attack_s=0.02, release_s=0.08)
    signal = np.concatenate([np.zeros(4800, np.float32), tone(0.5, 0.2), tone(0.3, 0.05),
                             np.zeros(12000, np.float32)])
    feed_blocks(lip, signal, start=10.0)
    ticks = [10.0 + i * TICK for i in range(int(1.6 / TICK))]
    mouth = [(t, lip.value(t)) for t in ticks]
    steady_loud = min(1.0, (0.2 / math.sqrt(2) - 0.01) * 5)
    steady_soft = (0.05 / math.sqrt(2) - 0.01) * 5
    assert all(v == 0.0 for t, v in mouth if t < 10.2)  # silence before: exactly 0
    onset = next(t for t, v in mouth if v >= 0.5 * steady_loud)
    assert onset - 10.2 <= TICK + 1e-9  # follows the onset within one tick
    loud = [v for t, v in mouth if 10.35 <= t <= 10.69]
    assert all(abs(v - steady_loud) < 0.05 for v in loud)
    soft = [v for t, v in mouth if 10.9 <= t <= 10.99]
    assert all(abs(v - steady_soft) < 0.05 for v in soft)
    assert all(v == 0.0 for t, v in mouth if t > 11.0 + 0.5)  # silence after: back to 0


def test_lipsync_closes_when_the_player_stops_sending_blocks() -> None:
    lip = LipSync()
    feed_blocks(lip, tone(0.2, 0.3), start=0.0)
    assert lip.value(0.2) > 0.5
    assert lip.value(0.4) < 0.5 and lip.value(1.5) == 0.0


def engine(mapping: PoseMapping | None = None, now: float = 0.0) -> PoseEngine:
    return PoseEngine(mapping or shipped(), now=now, rng=random.Random(7))


def run_frames(eng: PoseEngine, start: float, seconds: float) -> list[tuple[float, dict[str, float]]]:
    return [(start + i * TICK, eng.frame(start + i * TICK)) for i in range(int(seconds / TICK) + 1)]


def test_emotion_change_moves_each_parameter_smoothly_in_its_own_time() -> None:
    mapping = shipped(idle__enabled=False, speaking__look_away__enabled=False)
    eng = engine(mapping)
    run_frames(eng, 0.0, 1.0)
    eng.set_emotion("excited", now=1.0)
    frames = run_frames(eng, 1.0, 1.0)
    for name in ("FaceAngleZ", "MouthSmile", "FaceAngleX"):
        target = mapping.emotions.excited.pose[name]
        path = [f[name] for _, f in frames]
        assert all(b >= a for a, b in itertools.pairwise(path)) or all(b <= a for a, b in itertools.pairwise(path))
        done = next(t for t, f in frames if f[name] == pytest.approx(target))
        assert done - 1.0 <= mapping.duration(name) + TICK
        middle = [v for v in path if min(path[0], target) < v < max(path[0], target)]
        assert len(middle) >= 2, name  # it glides, it does not jump
        steps = [abs(b - a) for a, b in itertools.pairwise(path)]
        assert max(steps) < abs(target - path[0]) * 0.5


def test_values_are_clamped_and_never_nan() -> None:
    mapping = shipped(idle__enabled=False)
    eng = engine(mapping)
    eng._tweens["FaceAngleX"].value = eng._tweens["FaceAngleX"].target = 500.0
    eng._tweens["MouthSmile"].value = eng._tweens["MouthSmile"].target = math.nan
    frame = eng.frame(0.1)
    assert frame["FaceAngleX"] == 30.0
    assert frame["MouthSmile"] == mapping.parameters["MouthSmile"].default
    assert all(math.isfinite(v) for v in frame.values())


def test_idle_sway_pauses_while_speaking_and_comes_back_after() -> None:
    eng = engine(shipped(speaking__look_away__enabled=False))
    idle = run_frames(eng, 0.0, 3.0)
    assert np.ptp([f["MousePositionX"] for _, f in idle]) > 0.05
    eng.set_speaking(True, now=3.0)
    speaking = run_frames(eng, 3.5, 3.0)  # after the 0.3 s fade
    assert np.ptp([f["MousePositionX"] for _, f in speaking]) < 1e-9
    assert np.ptp([f["FacePositionX"] for _, f in speaking]) < 1e-9
    eng.set_speaking(False, now=6.5)
    after = run_frames(eng, 7.0, 3.0)
    assert np.ptp([f["MousePositionX"] for _, f in after]) > 0.05


def test_look_away_when_the_answer_arrives_and_back_when_speech_is_heard() -> None:
    mapping = shipped(idle__enabled=False)
    eng = engine(mapping)
    eng.set_emotion("happy", now=0.0)
    away = run_frames(eng, 0.0, 0.6)[-1][1]
    assert away["MousePositionX"] == pytest.approx(0.6) and away["FaceAngleX"] == pytest.approx(12)
    eng.set_speaking(True, now=0.6)
    back = run_frames(eng, 0.6, 0.6)
    xs = [f["FaceAngleX"] for _, f in back]
    assert any(0.5 < x < 11.5 for x in xs)  # interpolated, not snapped
    assert xs[-1] == pytest.approx(0.0)


def test_look_away_ends_by_itself_when_speech_never_comes() -> None:
    eng = engine(shipped(idle__enabled=False))
    eng.set_emotion("sad", now=0.0)
    frames = run_frames(eng, 0.0, 3.0)
    assert frames[-1][1]["MousePositionX"] == pytest.approx(0.0)  # max_s is 2 s


def test_mouth_follows_audio_and_source_vts_leaves_the_mouth_alone() -> None:
    eng = engine(shipped(idle__enabled=False))
    feed_blocks(eng.lipsync, tone(0.3, 0.3), start=1.0)
    eng.set_speaking(True, now=1.0)
    assert eng.frame(0.99)["MouthOpen"] == 0.0
    assert eng.frame(1.2)["MouthOpen"] > 0.8
    assert eng.frame(2.0)["MouthOpen"] == 0.0
    vts_driven = engine(shipped(speaking__lipsync__source="vts"))
    assert "MouthOpen" not in vts_driven.frame(0.1)


def test_a_reloaded_mapping_glides_to_its_new_targets() -> None:
    eng = engine(shipped(idle__enabled=False, speaking__look_away__enabled=False))
    run_frames(eng, 0.0, 0.5)
    changed = shipped(idle__enabled=False, speaking__look_away__enabled=False,
                      emotions__neutral={"pose": {"FaceAngleZ": 20}})
    eng.apply_mapping(changed, now=0.5)
    path = [f["FaceAngleZ"] for _, f in run_frames(eng, 0.5, 0.6)]
    assert path[0] == pytest.approx(0.0) and path[-1] == pytest.approx(20.0)
    assert any(1 < v < 19 for v in path)


def test_disabled_parameters_are_left_out_of_frames() -> None:
    eng = engine()
    eng.disabled = {"Brows"}
    frame = eng.frame(0.1)
    assert "Brows" not in frame and "FaceAngleX" in frame
