"""pose_mapping.json: the shipped file, its schema, exact error paths, hot reload."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from aischoco.vtuber.mapping import (
    MappingError,
    MappingWatcher,
    PoseMapping,
    json_schema,
    load_mapping,
    parse_mapping,
)

ROOT = Path(__file__).resolve().parents[1]
SHIPPED = ROOT / "config" / "pose_mapping.json"
SCHEMA = ROOT / "config" / "pose_mapping.schema.json"


def doc() -> dict[str, Any]:
    return json.loads(SHIPPED.read_text("utf-8"))


def test_the_shipped_mapping_is_valid_and_uses_only_inputs_a_stock_model_has() -> None:
    from peers.vts_server import DEFAULT_INPUTS

    mapping = load_mapping(SHIPPED)
    stock = {n for n, p in mapping.parameters.items() if not p.create}
    assert stock <= set(DEFAULT_INPUTS)
    assert all(len(n) <= 32 and n.isalnum() for n in mapping.parameters)
    assert {"MouthOpen", "MousePositionX", "FaceAngleZ", "MouthSmile"} <= stock
    assert any(p.create for p in mapping.parameters.values())


def test_the_shipped_schema_is_generated_from_the_model() -> None:
    assert json.loads(SCHEMA.read_text("utf-8")) == json_schema(), (
        "regenerate: python -m aischoco.vtuber.mapping > config/pose_mapping.schema.json")


def test_the_schema_accepts_the_shipped_file_and_rejects_an_unknown_emotion() -> None:
    jsonschema = pytest.importorskip("jsonschema")
    schema = json.loads(SCHEMA.read_text("utf-8"))
    jsonschema.validate(doc(), schema)
    bad = doc()
    bad["emotions"]["joyful"] = {"pose": {}}
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(bad, schema)


def mutate(path: str, value: Any) -> str:
    data = doc()
    node: Any = data
    *parents, last = path.split("/")
    for key in parents:
        node = node[int(key)] if key.isdigit() else node[key]
    if value is KeyError:
        del node[last]
    else:
        node[last] = value
    return json.dumps(data)


@pytest.mark.parametrize(("text", "where", "reason"), [
    ("{\"version\": 1,\n  oops}", "line 2 column 3", "not valid JSON"),
    (mutate("emotions/joyful", {"pose": {}}), "$.emotions.joyful", "Extra inputs are not permitted"),
    (mutate("emotions/happy", KeyError), "$.emotions.happy", "Field required"),
    (mutate("emotions/happy/pose/FaceAngleX", "left"), "$.emotions.happy.pose.FaceAngleX",
     "valid number"),
    (mutate("parameters/FaceAngleX/interpolation_s", 0.9), "$.parameters.FaceAngleX.interpolation_s",
     "less than or equal to 0.5"),
    (mutate("interpolation/duration_s", 0.05), "$.interpolation.duration_s",
     "greater than or equal to 0.1"),
    (mutate("parameters/Brow-L", {"min": 0, "max": 1}), '$.parameters["Brow-L"]', "pattern"),
    (mutate("emotions/sad/pose/Nope1", 1), "$.emotions.sad.pose.Nope1", "not declared"),
    (mutate("emotions/sad/pose/FaceAngleX", 45), "$.emotions.sad.pose.FaceAngleX",
     "outside -30.0..30.0"),
    (mutate("idle/sway/1/parameter", "Ghost1"), "$.idle.sway[1].parameter", "not declared"),
    (mutate("parameters/MouthOpen/min", 2), "$.parameters.MouthOpen", "min must be below max"),
    (mutate("interpolation/easing", "bounce"), "$.interpolation.easing", "Input should be"),
    (mutate("parameters/FaceAngleX/max", 1e7), "$.parameters.FaceAngleX.max", "less than"),
])
def test_an_invalid_mapping_names_the_json_path_and_the_reason(text: str, where: str,
                                                               reason: str) -> None:
    with pytest.raises(MappingError) as caught:
        parse_mapping(text, Path("pose_mapping.json"))
    assert caught.value.where == where, str(caught.value)
    assert reason in caught.value.reason
    assert str(caught.value).startswith(f"pose_mapping.json: {where}: ")


def test_nan_in_the_file_is_rejected_with_its_path() -> None:
    text = mutate("emotions/sad/pose/FaceAngleX", 0).replace('"FaceAngleX": 0,', '"FaceAngleX": NaN,', 1)
    with pytest.raises(MappingError) as caught:
        parse_mapping(text)
    assert caught.value.where == "$.emotions.neutral.pose.FaceAngleX"
    assert "finite" in caught.value.reason


def test_hot_reload_applies_a_valid_edit_and_keeps_the_last_good_mapping_on_error(
        tmp_path: Path) -> None:
    path = tmp_path / "pose_mapping.json"
    path.write_text(SHIPPED.read_text("utf-8"), encoding="utf-8")
    loaded: list[PoseMapping] = []
    errors: list[MappingError | None] = []
    watcher = MappingWatcher(path, loaded.append, errors.append)
    assert watcher.check() is not None and len(loaded) == 1
    assert watcher.check() is None  # unchanged: nothing to do
    path.write_text(mutate("emotions/happy/pose/FaceAngleZ", 15), encoding="utf-8")
    watcher.check()
    assert loaded[-1].emotions.happy.pose["FaceAngleZ"] == 15
    path.write_text(mutate("emotions/happy/pose/FaceAngleZ", "x"), encoding="utf-8")
    assert watcher.check() is None and len(loaded) == 2  # the last good one stays
    assert errors[-1] is not None and errors[-1].where == "$.emotions.happy.pose.FaceAngleZ"
    assert watcher.error is errors[-1]
    path.write_text(mutate("emotions/happy/pose/FaceAngleZ", 10), encoding="utf-8")
    watcher.check()
    assert errors[-1] is None and watcher.error is None  # fixed: the error clears
    assert loaded[-1].emotions.happy.pose["FaceAngleZ"] == 10
    path.unlink()
    watcher.check()
    assert errors[-1] is not None and "unreadable" in errors[-1].reason
