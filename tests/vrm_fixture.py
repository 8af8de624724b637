"""A tiny VRM (0.x or 1.0) written from scratch for the avatar tests: no third-party model, no network.

A box figure about 1.6 m tall in T-pose: a skinned body (hips … head, arms, legs: every humanoid bone
three-vrm requires, plus neck and chest, which the renderer turns) and a face mesh skinned to the head
with one morph target per expression. Each morph moves face boxes by centimetres (the mouth box grows
fivefold for `aa`), so a screenshot sees an expression, not only the weight.

VRM 1.0 models face +Z, VRM 0.x models face -Z (UniVRM's export): the 0.x file is the same figure
turned 180° about Y, which is what `VRMUtils.rotateVRM0` undoes in the renderer."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import numpy as np

# name, parent, head position in metres (VRM 1.0 frame: +X is the model's left, +Z its front)
BONES: list[tuple[str, str | None, tuple[float, float, float]]] = [
    ("hips", None, (0.0, 0.90, 0.0)),
    ("spine", "hips", (0.0, 1.00, 0.0)),
    ("chest", "spine", (0.0, 1.12, 0.0)),
    ("neck", "chest", (0.0, 1.30, 0.0)),
    ("head", "neck", (0.0, 1.36, 0.0)),
    ("leftUpperArm", "chest", (0.17, 1.26, 0.0)),
    ("leftLowerArm", "leftUpperArm", (0.42, 1.26, 0.0)),
    ("leftHand", "leftLowerArm", (0.64, 1.26, 0.0)),
    ("rightUpperArm", "chest", (-0.17, 1.26, 0.0)),
    ("rightLowerArm", "rightUpperArm", (-0.42, 1.26, 0.0)),
    ("rightHand", "rightLowerArm", (-0.64, 1.26, 0.0)),
    ("leftUpperLeg", "hips", (0.09, 0.86, 0.0)),
    ("leftLowerLeg", "leftUpperLeg", (0.09, 0.48, 0.0)),
    ("leftFoot", "leftLowerLeg", (0.09, 0.08, 0.0)),
    ("rightUpperLeg", "hips", (-0.09, 0.86, 0.0)),
    ("rightLowerLeg", "rightUpperLeg", (-0.09, 0.48, 0.0)),
    ("rightFoot", "rightLowerLeg", (-0.09, 0.08, 0.0)),
]
BONE_INDEX = {name: i for i, (name, _, _) in enumerate(BONES)}

# body boxes: (bone, centre, size, material)
BODY = [
    ("hips", (0.0, 0.92, 0.0), (0.30, 0.16, 0.18), "cloth"),
    ("spine", (0.0, 1.06, 0.0), (0.28, 0.14, 0.17), "cloth"),
    ("chest", (0.0, 1.21, 0.0), (0.32, 0.18, 0.19), "cloth"),
    ("neck", (0.0, 1.33, 0.0), (0.08, 0.07, 0.08), "skin"),
    ("head", (0.0, 1.47, 0.0), (0.20, 0.24, 0.20), "skin"),
    ("head", (0.0, 1.60, -0.01), (0.22, 0.05, 0.22), "hair"),
    ("leftUpperArm", (0.295, 1.26, 0.0), (0.25, 0.07, 0.07), "cloth"),
    ("leftLowerArm", (0.53, 1.26, 0.0), (0.22, 0.06, 0.06), "skin"),
    ("leftHand", (0.69, 1.26, 0.0), (0.09, 0.03, 0.07), "skin"),
    ("rightUpperArm", (-0.295, 1.26, 0.0), (0.25, 0.07, 0.07), "cloth"),
    ("rightLowerArm", (-0.53, 1.26, 0.0), (0.22, 0.06, 0.06), "skin"),
    ("rightHand", (-0.69, 1.26, 0.0), (0.09, 0.03, 0.07), "skin"),
    ("leftUpperLeg", (0.09, 0.67, 0.0), (0.11, 0.38, 0.11), "cloth"),
    ("leftLowerLeg", (0.09, 0.28, 0.0), (0.09, 0.40, 0.09), "skin"),
    ("leftFoot", (0.09, 0.04, 0.04), (0.09, 0.06, 0.18), "cloth"),
    ("rightUpperLeg", (-0.09, 0.67, 0.0), (0.11, 0.38, 0.11), "cloth"),
    ("rightLowerLeg", (-0.09, 0.28, 0.0), (0.09, 0.40, 0.09), "skin"),
    ("rightFoot", (-0.09, 0.04, 0.04), (0.09, 0.06, 0.18), "cloth"),
]

# face boxes on the head's front (z = 0.10), all skinned to the head
FACE_Z = 0.106
FACE = {
    "eyeL": ((0.045, 1.49, FACE_Z), (0.030, 0.032, 0.012)),
    "eyeR": ((-0.045, 1.49, FACE_Z), (0.030, 0.032, 0.012)),
    "browL": ((0.045, 1.530, FACE_Z), (0.040, 0.008, 0.012)),
    "browR": ((-0.045, 1.530, FACE_Z), (0.040, 0.008, 0.012)),
    "mouth": ((0.0, 1.415, FACE_Z), (0.060, 0.010, 0.012)),
}
FACE_MATERIAL = {"eyeL": "eye", "eyeR": "eye", "browL": "hair", "browR": "hair", "mouth": "mouth"}

MATERIALS = {  # linear RGBA base colours
    "skin": (0.95, 0.76, 0.66, 1.0),
    "cloth": (0.20, 0.28, 0.65, 1.0),
    "hair": (0.30, 0.18, 0.10, 1.0),
    "eye": (0.05, 0.05, 0.08, 1.0),
    "mouth": (0.60, 0.08, 0.12, 1.0),
}

# VRM 1.0 preset → (VRM 0.x group name, presetName); 0.x has no "surprised" preset, so, as VRoid Studio
# exports it, it is a custom group named "Surprised" (presetName "unknown").
EXPRESSIONS = {
    "aa": ("A", "a"),
    "blink": ("Blink", "blink"),
    "happy": ("Joy", "joy"),
    "sad": ("Sorrow", "sorrow"),
    "angry": ("Angry", "angry"),
    "surprised": ("Surprised", "unknown"),
    "relaxed": ("Fun", "fun"),
}

# box corners: 6 faces × 4 vertices, each face with its own normal (flat shading)
_FACES = [((1, 0, 0), [(1, -1, -1), (1, 1, -1), (1, 1, 1), (1, -1, 1)]),
          ((-1, 0, 0), [(-1, -1, 1), (-1, 1, 1), (-1, 1, -1), (-1, -1, -1)]),
          ((0, 1, 0), [(-1, 1, -1), (-1, 1, 1), (1, 1, 1), (1, 1, -1)]),
          ((0, -1, 0), [(-1, -1, 1), (-1, -1, -1), (1, -1, -1), (1, -1, 1)]),
          ((0, 0, 1), [(-1, -1, 1), (1, -1, 1), (1, 1, 1), (-1, 1, 1)]),
          ((0, 0, -1), [(1, -1, -1), (-1, -1, -1), (-1, 1, -1), (1, 1, -1)])]
_UNIT = np.array([c for _, corners in _FACES for c in corners], dtype=np.float32) * 0.5
_NORMALS = np.repeat(np.array([n for n, _ in _FACES], dtype=np.float32), 4, axis=0)
_INDICES = np.array([i * 4 + k for i in range(6) for k in (0, 1, 2, 0, 2, 3)], dtype=np.uint16)


def _box(centre: tuple[float, ...], size: tuple[float, ...]) -> np.ndarray:
    return _UNIT * np.array(size, dtype=np.float32) + np.array(centre, dtype=np.float32)


def _face_morphs(face_pos: dict[str, np.ndarray]) -> dict[str, dict[str, np.ndarray]]:
    """Per expression, per face box: vertex offsets (the same shape as the box's positions)."""
    def scale(name: str, sx: float = 1.0, sy: float = 1.0) -> np.ndarray:
        pos = face_pos[name]
        centre = np.array(FACE[name][0], dtype=np.float32)
        return (pos - centre) * np.array([sx - 1.0, sy - 1.0, 0.0], dtype=np.float32)

    def move(name: str, dy: float) -> np.ndarray:
        return np.tile(np.array([0.0, dy, 0.0], dtype=np.float32), (len(face_pos[name]), 1))

    return {
        "aa": {"mouth": scale("mouth", 1.1, 5.0)},
        "blink": {"eyeL": scale("eyeL", 1.0, 0.1), "eyeR": scale("eyeR", 1.0, 0.1)},
        "happy": {"mouth": scale("mouth", 1.7, 1.2), "eyeL": scale("eyeL", 1.0, 0.45),
                  "eyeR": scale("eyeR", 1.0, 0.45)},
        "sad": {"browL": move("browL", 0.010), "browR": move("browR", 0.010), "mouth": move("mouth", -0.008)},
        "angry": {"browL": move("browL", -0.012), "browR": move("browR", -0.012),
                  "eyeL": scale("eyeL", 1.0, 0.7), "eyeR": scale("eyeR", 1.0, 0.7)},
        "surprised": {"eyeL": scale("eyeL", 1.5, 1.5), "eyeR": scale("eyeR", 1.5, 1.5),
                      "browL": move("browL", 0.015), "browR": move("browR", 0.015),
                      "mouth": scale("mouth", 0.7, 2.5)},
        "relaxed": {"eyeL": scale("eyeL", 1.0, 0.3), "eyeR": scale("eyeR", 1.0, 0.3),
                    "mouth": scale("mouth", 1.3, 1.0)},
    }


class _Glb:
    """Collects buffer views and accessors into one binary chunk."""

    def __init__(self) -> None:
        self.bin = bytearray()
        self.views: list[dict] = []
        self.accessors: list[dict] = []

    def add(self, array: np.ndarray, kind: str, component: int, target: int | None = None,
            minmax: bool = False) -> int:
        while len(self.bin) % 4:
            self.bin.append(0)
        data = np.ascontiguousarray(array).tobytes()
        view: dict = {"buffer": 0, "byteOffset": len(self.bin), "byteLength": len(data)}
        if target is not None:
            view["target"] = target
        self.bin += data
        self.views.append(view)
        accessor: dict = {"bufferView": len(self.views) - 1, "componentType": component,
                          "count": int(array.shape[0]), "type": kind}
        if minmax:  # glTF requires min/max on POSITION accessors, morph targets included
            accessor["min"] = [float(v) for v in array.min(axis=0)]
            accessor["max"] = [float(v) for v in array.max(axis=0)]
        self.accessors.append(accessor)
        return len(self.accessors) - 1


FLOAT, USHORT, UBYTE = 5126, 5123, 5121
ARRAY_BUFFER, ELEMENT_ARRAY_BUFFER = 34962, 34963


def _primitive(glb: _Glb, pos: np.ndarray, normals: np.ndarray, joints: np.ndarray, indices: np.ndarray,
               material: int, targets: list[np.ndarray] | None = None) -> dict:
    weights = np.zeros((len(pos), 4), dtype=np.float32)
    weights[:, 0] = 1.0  # every box follows one bone rigidly
    joints4 = np.zeros((len(pos), 4), dtype=np.uint8)
    joints4[:, 0] = joints
    prim: dict = {
        "attributes": {
            "POSITION": glb.add(pos, "VEC3", FLOAT, ARRAY_BUFFER, minmax=True),
            "NORMAL": glb.add(normals, "VEC3", FLOAT, ARRAY_BUFFER),
            "JOINTS_0": glb.add(joints4, "VEC4", UBYTE, ARRAY_BUFFER),
            "WEIGHTS_0": glb.add(weights, "VEC4", FLOAT, ARRAY_BUFFER),
        },
        "indices": glb.add(indices, "SCALAR", USHORT, ELEMENT_ARRAY_BUFFER),
        "material": material,
        "mode": 4,
    }
    if targets:
        prim["targets"] = [{"POSITION": glb.add(t, "VEC3", FLOAT, ARRAY_BUFFER, minmax=True)}
                           for t in targets]
    return prim


def _vrm1_extension(face_node: int, bone_nodes: dict[str, int]) -> dict:
    binds = {name: {"morphTargetBinds": [{"node": face_node, "index": i, "weight": 1.0}],
                    "isBinary": False, "overrideBlink": "none", "overrideLookAt": "none",
                    "overrideMouth": "none"}
             for i, name in enumerate(EXPRESSIONS)}
    return {
        "specVersion": "1.0",
        "meta": {
            "name": "aischoco test figure", "version": "1", "authors": ["aischoco tests"],
            "licenseUrl": "https://vrm.dev/licenses/1.0/", "avatarPermission": "everyone",
            "allowExcessivelyViolentUsage": False, "allowExcessivelySexualUsage": False,
            "commercialUsage": "personalNonProfit", "allowPoliticalOrReligiousUsage": False,
            "allowAntisocialOrHateUsage": False, "creditNotation": "unnecessary",
            "allowRedistribution": True, "modification": "allowModificationRedistribution",
        },
        "humanoid": {"humanBones": {name: {"node": node} for name, node in bone_nodes.items()}},
        "expressions": {"preset": binds},
    }


def _vrm0_extension(face_mesh: int, bone_nodes: dict[str, int], materials: list[str]) -> dict:
    groups = [{"name": group, "presetName": preset, "isBinary": False, "materialValues": [],
               "binds": [{"mesh": face_mesh, "index": i, "weight": 100}]}
              for i, (group, preset) in enumerate(EXPRESSIONS.values())]
    return {
        "exporterVersion": "aischoco-tests",
        "specVersion": "0.0",
        "meta": {
            "title": "aischoco test figure", "version": "1", "author": "aischoco tests",
            "contactInformation": "", "reference": "", "texture": -1,
            "allowedUserName": "Everyone", "violentUssageName": "Disallow", "sexualUssageName": "Disallow",
            "commercialUssageName": "Disallow", "otherPermissionUrl": "", "licenseName": "CC0",
            "otherLicenseUrl": "",
        },
        "humanoid": {
            "humanBones": [{"bone": name, "node": node, "useDefaultValues": True}
                           for name, node in bone_nodes.items()],
            "armStretch": 0.05, "legStretch": 0.05, "upperArmTwist": 0.5, "lowerArmTwist": 0.5,
            "upperLegTwist": 0.5, "lowerLegTwist": 0.5, "feetSpacing": 0, "hasTranslationDoF": False,
        },
        "blendShapeMaster": {"blendShapeGroups": groups},
        "secondaryAnimation": {"boneGroups": [], "colliderGroups": []},
        # glTF PBR materials stand in for MToon: "VRM_USE_GLTFSHADER" tells loaders to keep them
        "materialProperties": [{"name": name, "shader": "VRM_USE_GLTFSHADER", "renderQueue": 2000,
                                "floatProperties": {}, "vectorProperties": {}, "textureProperties": {},
                                "keywordMap": {}, "tagMap": {}} for name in materials],
    }


def make_vrm(path: str | Path, version: str = "1.0") -> Path:
    """Write the test figure as a VRM `version` ("1.0" or "0.0") GLB at `path`; return the path."""
    if version not in ("1.0", "0.0"):
        raise ValueError(f"version must be '1.0' or '0.0', not {version!r}")
    # 0.x faces -Z: turn every position 180° about Y (x → -x, z → -z); morph offsets turn the same way
    flip = np.array([-1.0, 1.0, -1.0] if version == "0.0" else [1.0, 1.0, 1.0], dtype=np.float32)

    glb = _Glb()
    material_names = list(MATERIALS)
    mat_index = {name: i for i, name in enumerate(material_names)}

    # nodes: bones first (node i = BONES[i]), then the two mesh nodes
    world = {name: np.array(p, dtype=np.float32) * flip for name, _, p in BONES}
    nodes: list[dict] = []
    for name, parent, _ in BONES:
        local = world[name] - (world[parent] if parent else 0.0)
        nodes.append({"name": name, "translation": [float(v) for v in local]})
    for i, (_, parent, _) in enumerate(BONES):
        if parent:
            nodes[BONE_INDEX[parent]].setdefault("children", []).append(i)
    # the joints' bind pose: translations only, so each inverse bind matrix is a translation by -world
    ibm = np.zeros((len(BONES), 16), dtype=np.float32)
    for i, (name, _, _) in enumerate(BONES):
        m = np.eye(4, dtype=np.float32)
        m[:3, 3] = -world[name]
        ibm[i] = m.T.reshape(16)  # glTF matrices are column-major
    skin = {"joints": list(range(len(BONES))), "skeleton": 0,
            "inverseBindMatrices": glb.add(ibm, "MAT4", FLOAT)}

    body_prims = []
    by_material: dict[str, list[tuple[str, tuple, tuple]]] = {}
    for bone, centre, size, material in BODY:
        by_material.setdefault(material, []).append((bone, centre, size))
    for material, boxes in by_material.items():
        pos = np.concatenate([_box(c, s) for _, c, s in boxes]) * flip
        normals = np.concatenate([_NORMALS for _ in boxes]) * flip
        joints = np.concatenate([np.full(24, BONE_INDEX[b]) for b, _, _ in boxes])
        indices = np.concatenate([_INDICES + 24 * k for k in range(len(boxes))]).astype(np.uint16)
        body_prims.append(_primitive(glb, pos, normals, joints, indices, mat_index[material]))

    # the face: one primitive per material; every primitive carries all targets in EXPRESSIONS order
    face_pos = {name: _box(c, s) for name, (c, s) in FACE.items()}
    morphs = _face_morphs(face_pos)
    face_prims = []
    by_face_material: dict[str, list[str]] = {}
    for name in FACE:
        by_face_material.setdefault(FACE_MATERIAL[name], []).append(name)
    for material, names in by_face_material.items():
        pos = np.concatenate([face_pos[n] for n in names]) * flip
        normals = np.concatenate([_NORMALS for _ in names]) * flip
        joints = np.full(len(pos), BONE_INDEX["head"])
        indices = np.concatenate([_INDICES + 24 * k for k in range(len(names))]).astype(np.uint16)
        targets = [np.concatenate([morphs[expr].get(n, np.zeros((24, 3), np.float32)) for n in names]) * flip
                   for expr in EXPRESSIONS]
        face_prims.append(_primitive(glb, pos, normals, joints, indices, mat_index[material], targets))

    meshes = [{"name": "Body", "primitives": body_prims},
              {"name": "Face", "primitives": face_prims, "weights": [0.0] * len(EXPRESSIONS),
               "extras": {"targetNames": list(EXPRESSIONS)}}]
    body_node, face_node = len(nodes), len(nodes) + 1
    nodes.append({"name": "Body", "mesh": 0, "skin": 0})
    nodes.append({"name": "Face", "mesh": 1, "skin": 0})

    bone_nodes = {name: BONE_INDEX[name] for name, _, _ in BONES}
    if version == "1.0":
        ext_name, extension = "VRMC_vrm", _vrm1_extension(face_node, bone_nodes)
    else:
        ext_name, extension = "VRM", _vrm0_extension(1, bone_nodes, material_names)

    while len(glb.bin) % 4:
        glb.bin.append(0)
    gltf = {
        "asset": {"version": "2.0", "generator": "aischoco tests/vrm_fixture.py"},
        "scene": 0,
        "scenes": [{"nodes": [0, body_node, face_node]}],
        "nodes": nodes,
        "meshes": meshes,
        "skins": [skin],
        "materials": [{"name": name, "pbrMetallicRoughness": {"baseColorFactor": list(rgba),
                                                              "metallicFactor": 0.0, "roughnessFactor": 0.9}}
                      for name, rgba in MATERIALS.items()],
        "accessors": glb.accessors,
        "bufferViews": glb.views,
        "buffers": [{"byteLength": len(glb.bin)}],
        "extensionsUsed": [ext_name],
        "extensions": {ext_name: extension},
    }
    text = json.dumps(gltf, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 4)
    body = (struct.pack("<II", len(text), 0x4E4F534A) + text
            + struct.pack("<II", len(glb.bin), 0x004E4942) + bytes(glb.bin))
    path = Path(path)
    path.write_bytes(struct.pack("<III", 0x46546C67, 2, 12 + len(body)) + body)
    return path
