"""A cheap check that a file is a VRM model, without a 3D library: the GLB container (magic
`glTF`, version 2, consistent lengths), its JSON chunk, and the VRM extension in it.

It catches the usual mistakes (a .glb or .fbx renamed, a broken download) with a Korean reason;
whether the model renders is the page's business (three-vrm), not ours."""

from __future__ import annotations

import io
import json
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from .image_set import AvatarError

GLB_MAGIC = b"glTF"
JSON_CHUNK = 0x4E4F534A  # "JSON" little-endian
HEADER = struct.Struct("<4sII")  # magic, version, total length
CHUNK = struct.Struct("<II")  # length, type
MAX_JSON_BYTES = 64 * 1024 * 1024  # VRoid models carry ~1 MB of JSON; more is not a model
HINT = "VRoid Studio 등에서 VRM으로 내보낸 .vrm 파일을 올려 주세요 (.glb·.fbx는 VRM이 아니에요)."


@dataclass(frozen=True, slots=True)
class VrmInfo:
    version: str  # "1.0" (VRMC_vrm) or "0.x" (VRM)
    title: str  # the model's name from its meta, "" when it has none
    size: int  # bytes


def _bad(why: str) -> AvatarError:
    return AvatarError(f"VRM 파일이 아니에요: {why}", HINT)


def check_vrm_stream(stream: BinaryIO, size: int) -> VrmInfo:
    """Read the header and the JSON chunk from `stream` (at offset 0) of a `size`-byte file."""
    head = stream.read(HEADER.size)
    if len(head) < HEADER.size or head[:4] != GLB_MAGIC:
        raise _bad("glTF 바이너리(GLB) 형식이 아니에요")
    _, version, length = HEADER.unpack(head)
    if version != 2:
        raise _bad(f"glTF 버전 {version}은 지원하지 않아요 (2만 돼요)")
    if length != size:
        raise _bad(f"파일 길이가 맞지 않아요 (헤더 {length}바이트, 실제 {size}바이트): 받다가 잘렸을 수 있어요")
    chunk = stream.read(CHUNK.size)
    if len(chunk) < CHUNK.size:
        raise _bad("JSON 부분이 없어요")
    chunk_length, chunk_type = CHUNK.unpack(chunk)
    if chunk_type != JSON_CHUNK or chunk_length > MAX_JSON_BYTES \
            or HEADER.size + CHUNK.size + chunk_length > size:
        raise _bad("JSON 부분이 깨졌어요")
    try:
        document = json.loads(stream.read(chunk_length).decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise _bad("JSON 부분을 읽을 수 없어요") from exc
    if not isinstance(document, dict):
        raise _bad("JSON 부분이 glTF 문서가 아니에요")
    extensions = document.get("extensions")
    extensions = extensions if isinstance(extensions, dict) else {}
    if isinstance(extensions.get("VRMC_vrm"), dict):
        return VrmInfo("1.0", _title(extensions["VRMC_vrm"], "name"), size)
    if isinstance(extensions.get("VRM"), dict):
        return VrmInfo("0.x", _title(extensions["VRM"], "title"), size)
    raise _bad("glTF 모델이지만 VRM 정보(VRMC_vrm·VRM 확장)가 없어요")


def _title(extension: dict[str, Any], key: str) -> str:
    meta = extension.get("meta")
    value = meta.get(key) if isinstance(meta, dict) else None
    return value.strip()[:80] if isinstance(value, str) else ""


def check_vrm_bytes(data: bytes) -> VrmInfo:
    return check_vrm_stream(io.BytesIO(data), len(data))


def check_vrm_file(path: Path) -> VrmInfo:
    """Reads only the header and the JSON chunk, not the (often 20 MB) binary chunk."""
    if path.is_dir():
        raise AvatarError(f"AVATAR_PATH가 폴더예요: {path}",
                          "AVATAR=vrm이면 AVATAR_PATH는 .vrm 파일이어야 해요 (이미지 세트는 AVATAR=png).")
    try:
        with path.open("rb") as stream:
            return check_vrm_stream(stream, path.stat().st_size)
    except FileNotFoundError as exc:
        raise AvatarError(f"VRM 파일이 없어요: {path}",
                          "AVATAR_PATH를 .vrm 파일로 맞추거나 설정 페이지에서 VRM을 올려 주세요.") from exc
    except OSError as exc:
        raise AvatarError(f"VRM 파일을 읽을 수 없어요: {path} ({exc.strerror or exc})",
                          "파일 권한을 확인해 주세요.") from exc
