"""config/pose_mapping.json: the typed model, validation with an exact JSON path, and hot reload.

The pydantic model is the one source of truth: config/pose_mapping.schema.json is generated
from it (`python -m aischoco.vtuber.mapping > config/pose_mapping.schema.json`; a test keeps
them equal), and every error names the JSON path and the reason.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

log = logging.getLogger(__name__)

Easing = Literal["linear", "ease_in_out_sine", "ease_in_out_quad", "ease_in_out_cubic",
                 "ease_out_cubic", "ease_in_cubic"]
ParamName = Annotated[str, Field(pattern=r"^[A-Za-z0-9]{4,32}$")]
Value = Annotated[float, Field(ge=-1_000_000, le=1_000_000, allow_inf_nan=False)]
Seconds = Annotated[float, Field(ge=0.1, le=0.5, allow_inf_nan=False)]
POLL_S = 0.25  # hot reload: an edit applies within POLL_S + one read


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Parameter(_Strict):
    """One VTS input parameter we control: its range, rest value and transition."""

    min: Value
    max: Value
    default: Value = 0.0
    create: bool = Field(False, description="a custom parameter this plugin creates in VTS")
    explanation: str = Field("", max_length=200)
    interpolation_s: Seconds | None = Field(None, description="overrides interpolation.duration_s")
    easing: Easing | None = None

    @model_validator(mode="after")
    def _range(self) -> Parameter:
        if not self.min < self.max:
            raise ValueError("min must be below max")
        if not self.min <= self.default <= self.max:
            raise ValueError("default must lie within min..max")
        return self


class Interpolation(_Strict):
    duration_s: Seconds = 0.3
    easing: Easing = "ease_in_out_sine"


class Expression(_Strict):
    file: str = Field(min_length=1, max_length=200, pattern=r"\.exp3\.json$")
    fade_s: float = Field(0.5, ge=0, le=2)


class EmotionPose(_Strict):
    pose: dict[ParamName, Value] = Field(default_factory=dict)
    hotkey: str | None = Field(None, min_length=1, max_length=64,
                               description="hotkey name or id triggered with this emotion")
    expression: Expression | None = None


class DonationReaction(_Strict):
    """How the avatar reacts to a donation of one DONATION_TIERS step (the first entry is the
    first step): the emotion held for the thank-you, and optionally a hotkey or expression."""

    emotion: Literal["happy", "sad", "angry", "surprised", "neutral", "excited"]
    hotkey: str | None = Field(None, min_length=1, max_length=64,
                               description="hotkey name or id triggered for this tier")
    expression: Expression | None = None


class Emotions(_Strict):
    happy: EmotionPose
    sad: EmotionPose
    angry: EmotionPose
    surprised: EmotionPose
    neutral: EmotionPose
    excited: EmotionPose


class Sway(_Strict):
    parameter: ParamName
    amplitude: Annotated[float, Field(ge=0, le=1_000_000, allow_inf_nan=False)]
    period_s: Annotated[float, Field(ge=0.5, le=120, allow_inf_nan=False)]
    jitter: Annotated[float, Field(0.3, ge=0, le=0.9)] = 0.3


class Blink(_Strict):
    parameters: list[ParamName] = Field(min_length=1, max_length=4)
    interval_s: tuple[Annotated[float, Field(ge=0.5, le=60)],
                      Annotated[float, Field(ge=0.5, le=60)]] = (2.5, 6.0)
    duration_s: Annotated[float, Field(ge=0.05, le=1.0)] = 0.15
    while_speaking: bool = True

    @model_validator(mode="after")
    def _order(self) -> Blink:
        if self.interval_s[0] > self.interval_s[1]:
            raise ValueError("interval_s is [shortest, longest]")
        return self


class Idle(_Strict):
    enabled: bool = True
    fade_s: Seconds = 0.3
    sway: list[Sway] = Field(default_factory=list, max_length=32)
    blink: Blink | None = None


class LookAway(_Strict):
    enabled: bool = True
    offsets: dict[ParamName, Value] = Field(default_factory=dict)
    max_s: Annotated[float, Field(ge=0.2, le=10)] = 2.0
    look_back_s: Seconds | None = None


class LipSync(_Strict):
    source: Literal["ours", "vts"] = Field(
        "ours", description="ours: driven from the audio we play; vts: VTube Studio's microphone "
                            "lip-sync drives the mouth and we never send the parameter")
    parameter: ParamName = "MouthOpen"
    smile_parameter: ParamName | None = None
    smile_amount: Annotated[float, Field(ge=0, le=1)] = 0.0
    gain: Annotated[float, Field(gt=0, le=100)] = 5.0
    noise_floor: Annotated[float, Field(ge=0, le=0.5)] = 0.01
    attack_s: Annotated[float, Field(ge=0.005, le=0.5)] = 0.03
    release_s: Annotated[float, Field(ge=0.01, le=1.0)] = 0.12


class Speaking(_Strict):
    look_away: LookAway = LookAway()
    lipsync: LipSync = LipSync()


class PoseMapping(_Strict):
    model_config = ConfigDict(extra="forbid", frozen=True,
                              json_schema_extra={"$schema": "https://json-schema.org/draft/2020-12/schema"})

    schema_ref: str | None = Field(None, alias="$schema")
    version: Literal[1] = 1
    description: str = ""
    parameters: dict[ParamName, Parameter] = Field(min_length=1, max_length=100)
    interpolation: Interpolation = Interpolation()
    emotions: Emotions
    idle: Idle = Idle()
    speaking: Speaking = Speaking()
    donation_tiers: list[DonationReaction] = Field(
        default_factory=list, max_length=10,
        description="reaction per DONATION_TIERS step; a higher step uses the last entry")

    def donation_reaction(self, tier: int) -> DonationReaction | None:
        if tier < 1 or not self.donation_tiers:
            return None
        return self.donation_tiers[min(tier, len(self.donation_tiers)) - 1]

    def duration(self, name: str) -> float:
        p = self.parameters[name]
        return p.interpolation_s or self.interpolation.duration_s

    def easing(self, name: str) -> str:
        return self.parameters[name].easing or self.interpolation.easing

    def emotion(self, name: str) -> EmotionPose:
        return getattr(self.emotions, name)


class MappingError(Exception):
    """str(): `<file>: $.json.path: reason` — one line for the log and the control panel."""

    def __init__(self, path: Path, where: str, reason: str) -> None:
        self.where, self.reason = where, reason
        super().__init__(f"{path.name}: {where}: {reason}")


def _json_path(loc: tuple[Any, ...]) -> str:
    out = "$"
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif str(part).isidentifier():
            out += f".{part}"
        else:
            out += f"[{json.dumps(str(part))}]"
    return out


def _references(m: PoseMapping) -> list[tuple[tuple[Any, ...], str]]:
    """Every parameter name used outside `parameters`, with where it is used."""
    refs: list[tuple[tuple[Any, ...], str]] = []
    for emotion in Emotions.model_fields:
        refs += [(("emotions", emotion, "pose", n), n) for n in m.emotion(emotion).pose]
    refs += [(("idle", "sway", i, "parameter"), s.parameter) for i, s in enumerate(m.idle.sway)]
    if m.idle.blink:
        refs += [(("idle", "blink", "parameters", i), n)
                 for i, n in enumerate(m.idle.blink.parameters)]
    refs += [(("speaking", "look_away", "offsets", n), n) for n in m.speaking.look_away.offsets]
    lip = m.speaking.lipsync
    if lip.source == "ours":
        refs.append((("speaking", "lipsync", "parameter"), lip.parameter))
        if lip.smile_parameter:
            refs.append((("speaking", "lipsync", "smile_parameter"), lip.smile_parameter))
    return refs


def parse_mapping(raw: bytes | str, path: Path = Path("pose_mapping.json")) -> PoseMapping:
    try:
        doc = json.loads(raw, parse_constant=lambda c: math.nan)  # NaN/Infinity: caught below
    except ValueError as exc:
        where = (f"line {exc.lineno} column {exc.colno}" if isinstance(exc, json.JSONDecodeError)
                 else "$")
        raise MappingError(path, where, f"not valid JSON ({getattr(exc, 'msg', exc)})") from None
    try:
        mapping = PoseMapping.model_validate(doc)
    except ValidationError as exc:
        first = exc.errors()[0]
        loc, reason = tuple(first["loc"]), first["msg"].removeprefix("Value error, ")
        if first["type"] == "string_pattern_mismatch":
            reason = f"{reason} (names are 4-32 letters or digits)"
        if loc and loc[-1] == "[key]":  # a bad name, not a bad value
            loc, reason = loc[:-1], f"invalid name: {reason}"
        raise MappingError(path, _json_path(loc), reason) from None
    for loc, name in _references(mapping):
        if name not in mapping.parameters:
            raise MappingError(path, _json_path(loc),
                               f"parameter {name!r} is not declared in $.parameters")
    for emotion in Emotions.model_fields:
        for name, value in mapping.emotion(emotion).pose.items():
            p = mapping.parameters[name]
            if not p.min <= value <= p.max:
                raise MappingError(path, _json_path(("emotions", emotion, "pose", name)),
                                   f"{value} is outside {p.min}..{p.max}")
    return mapping


def load_mapping(path: Path) -> PoseMapping:
    try:
        raw = Path(path).read_bytes()
    except OSError as exc:
        raise MappingError(Path(path), "$", f"cannot read the file ({exc.strerror or exc})") from None
    return parse_mapping(raw, Path(path))


def json_schema() -> dict[str, Any]:
    schema = PoseMapping.model_json_schema(by_alias=True)
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "aischoco pose mapping (VTube Studio)"
    return schema


class MappingWatcher:
    """Re-reads the file every POLL_S; a valid change is handed to `on_change`, an invalid one to
    `on_error` (the last good mapping stays active). Reading bytes, not mtimes: coarse mtime
    clocks and editors that rewrite in place cannot hide an edit."""

    def __init__(self, path: Path, on_change: Callable[[PoseMapping], None],
                 on_error: Callable[[MappingError | None], None]) -> None:
        self.path = Path(path)
        self._on_change, self._on_error = on_change, on_error
        self._last: bytes | None = None
        self.error: MappingError | None = None

    def check(self) -> PoseMapping | None:
        """One poll; the new mapping when the file changed and is valid."""
        try:
            raw = self.path.read_bytes()
        except OSError as exc:
            raw = f"unreadable: {exc.strerror or exc}".encode()  # never equal to a JSON file
        if raw == self._last:
            return None
        self._last = raw
        try:
            if raw.startswith(b"unreadable: "):
                raise MappingError(self.path, "$", raw.decode())
            mapping = parse_mapping(raw, self.path)
        except MappingError as exc:
            self.error = exc
            log.error("pose mapping rejected, keeping the last good one: %s", exc)
            self._on_error(exc)
            return None
        if self.error is not None:
            self.error = None
            self._on_error(None)
        log.info("pose mapping loaded: %s (%d parameters)", self.path, len(mapping.parameters))
        self._on_change(mapping)
        return mapping

    async def run(self) -> None:
        while True:
            await asyncio.sleep(POLL_S)
            self.check()


if __name__ == "__main__":
    print(json.dumps(json_schema(), ensure_ascii=False, indent=2))
