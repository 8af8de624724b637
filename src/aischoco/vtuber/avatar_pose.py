"""The animator's frame as the built-in avatar reads it (`pose` on WS /ws/params): a few named
values that do not depend on how pose_mapping.json names the VTube Studio parameters.

Pure. Angles stay in degrees (VTube Studio's FaceAngleX/Y/Z: yaw, pitch, roll); positions and the
smile are normalised by the mapping's own min..max, so a streamer's wider range still reads
-1..1 (or 0..1) here."""

from __future__ import annotations

from collections.abc import Mapping

from .mapping import PoseMapping


def avatar_pose(values: Mapping[str, float], mapping: PoseMapping, *, mouth: float,
                eyes: float) -> dict[str, float]:
    def signed(*names: str) -> float:
        for name in names:
            if name in values and name in mapping.parameters:
                p = mapping.parameters[name]
                span = max(abs(p.min), abs(p.max)) or 1.0
                return round(max(-1.0, min(1.0, values[name] / span)), 4)
        return 0.0

    def unit(name: str, default: float) -> float:
        if name not in values or name not in mapping.parameters:
            return default
        p = mapping.parameters[name]
        return round((values[name] - p.min) / (p.max - p.min), 4)

    return {"mouth": round(mouth, 4), "eyes": round(eyes, 4),
            "yaw": round(values.get("FaceAngleX", 0.0), 3),
            "pitch": round(values.get("FaceAngleY", 0.0), 3),
            "roll": round(values.get("FaceAngleZ", 0.0), 3),
            "x": signed("FacePositionX", "MousePositionX"),
            "y": signed("FacePositionY", "MousePositionY"),
            "smile": unit("MouthSmile", 0.0)}
