"""The animator without VTube Studio: its motion (mapping, ticker) runs alone for the built-in
avatar, the avatar's frames carry emotion, speaking and a pose named independently of the
mapping, and a finished turn's emotion gives way to neutral."""

from __future__ import annotations

import asyncio
import json
import shutil
from pathlib import Path

import numpy as np

from aischoco.vtuber.animator import EMOTION_HOLD_S, VtsAnimator
from aischoco.vtuber.avatar_pose import avatar_pose
from aischoco.vtuber.mapping import parse_mapping
from aischoco.vtuber.params_feed import ParamsFeed

ROOT = Path(__file__).resolve().parents[1]
MAPPING = ROOT / "config" / "pose_mapping.json"


def _animator(tmp_path: Path, clock: list[float], feed: ParamsFeed) -> VtsAnimator:
    shutil.copy(MAPPING, tmp_path / "pose_mapping.json")
    return VtsAnimator(url="ws://127.0.0.1:9/", token_path=tmp_path / "token.txt",
                       mapping_path=tmp_path / "pose_mapping.json", fps=30, feed=feed,
                       clock=lambda: clock[0])


def test_the_pose_reads_named_values_whatever_the_mapping_calls_them() -> None:
    mapping = parse_mapping(MAPPING.read_bytes())
    pose = avatar_pose({"FaceAngleX": 12.0, "FaceAngleY": -3.0, "FaceAngleZ": 4.5,
                        "FacePositionX": -7.5, "MousePositionY": 0.5, "MouthSmile": 0.25},
                       mapping, mouth=0.7, eyes=0.2)
    assert pose == {"mouth": 0.7, "eyes": 0.2, "yaw": 12.0, "pitch": -3.0, "roll": 4.5,
                    "x": -0.5, "y": 0.5, "smile": 0.25}
    empty = avatar_pose({}, mapping, mouth=0.0, eyes=1.0)
    assert empty["x"] == 0.0 and empty["smile"] == 0.0 and empty["yaw"] == 0.0


def test_avatar_frames_follow_emotion_speech_and_return_to_neutral(tmp_path: Path) -> None:
    clock, feed = [100.0], ParamsFeed()
    animator = _animator(tmp_path, clock, feed)
    animator._watcher.check()  # the mapping, as run_motion does first
    plain, rich = feed.subscribe(), feed.subscribe(avatar=True)

    def frames() -> tuple[dict, dict]:
        return json.loads(plain.frame), json.loads(rich.frame)

    animator.tick(clock[0])
    basic, full = frames()
    assert set(basic) == {"t", "params"}  # the contract's frame is unchanged
    assert full["emotion"] == "neutral" and full["pose"]["mouth"] == 0

    animator.set_emotion("happy")
    animator.set_speaking(True)
    rate = 24_000
    loud = (0.5 * np.sin(np.arange(rate // 2) * 2 * np.pi * 220 / rate)).astype(np.float32)
    animator.audio_tap(loud, rate, heard_at=clock[0])
    clock[0] += 0.3
    animator.tick(clock[0])
    _, talking = frames()
    assert talking["emotion"] == "happy" and talking["speaking"] is True
    assert talking["pose"]["mouth"] > 0.5  # the lip-sync of the audio that is playing

    animator.set_speaking(False)  # the turn is over: the face lingers, then neutral
    clock[0] += EMOTION_HOLD_S - 0.1
    animator.tick(clock[0])
    assert frames()[1]["emotion"] == "happy"
    clock[0] += 0.2
    animator.tick(clock[0])
    assert frames()[1]["emotion"] == "neutral"


async def test_run_motion_streams_frames_without_vtube_studio(tmp_path: Path) -> None:
    feed = ParamsFeed()
    shutil.copy(MAPPING, tmp_path / "pose_mapping.json")
    animator = VtsAnimator(url="ws://127.0.0.1:9/", token_path=tmp_path / "token.txt",
                           mapping_path=tmp_path / "pose_mapping.json", fps=30, feed=feed)
    slot = feed.subscribe(avatar=True)
    task = asyncio.create_task(animator.run_motion())
    try:
        seen = [json.loads(await asyncio.wait_for(slot.next(), 2)) for _ in range(5)]
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    assert [f["t"] for f in seen] == sorted(f["t"] for f in seen)
    assert all(0.0 <= f["pose"]["eyes"] <= 1.0 for f in seen)
    assert animator.link.client is None  # nothing tried to reach VTube Studio
