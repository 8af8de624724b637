"""Image sets (PNGTuber style): `<root>/<emotion>/{closed,open,closed_blink,open_blink}.png`.

Pure reading and checking, no asyncio: the store calls it in a worker thread. Every rule of the
contract lives here (what is required, how missing images fall back), so the page never has to
guess: it gets one file for every emotion × slot.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass
from pathlib import Path

EMOTIONS = ("neutral", "happy", "sad", "angry", "surprised", "excited")
SLOTS = ("closed", "open", "closed_blink", "open_blink")
REQUIRED = ("closed", "open")  # of neutral: every other image can fall back to these
BLINK_TWIN = {"closed_blink": "closed", "open_blink": "open"}
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
MAX_SIDE = 4096  # bigger than any OBS canvas needs; 24 such images already take ~1.6 GB decoded
LAYOUT_HINT = ("폴더 안에 감정별 폴더(neutral, happy, sad, angry, surprised, excited)를 만들고 "
               "closed.png, open.png, closed_blink.png, open_blink.png를 넣으세요. "
               "neutral/closed.png와 neutral/open.png는 꼭 있어야 해요.")


class AvatarError(Exception):
    """A problem the streamer can fix: `message` says what is wrong, `hint` what to do (Korean)."""

    def __init__(self, message: str, hint: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint


@dataclass(frozen=True, slots=True)
class ImageSet:
    root: Path
    width: int
    height: int
    # emotion → slot → the file shown there (fallbacks already applied: all 6 × 4 present)
    files: dict[str, dict[str, Path]]
    drawn: tuple[str, ...]  # emotions with at least one image of their own

    def relative(self, emotion: str, slot: str) -> str:
        """The file's path inside the set, with forward slashes (`neutral/open.png`)."""
        return self.files[emotion][slot].relative_to(self.root).as_posix()


def slot_file(emotion: str, slot: str) -> str:
    return f"{emotion}/{slot}.png"


def png_size(head: bytes, name: str) -> tuple[int, int]:
    """(width, height) from a PNG's first 24 bytes (signature + IHDR); AvatarError otherwise."""
    if not head.startswith(PNG_SIGNATURE):
        raise AvatarError(f"PNG 파일이 아니에요: {name}",
                          "JPG·WEBP 등은 그림판이나 편집 프로그램에서 PNG로 저장해서 올려 주세요.")
    if len(head) < 24 or head[12:16] != b"IHDR":
        raise AvatarError(f"PNG 파일이 깨졌어요: {name}", "이미지를 다시 저장해서 올려 주세요.")
    width, height = struct.unpack(">II", head[16:24])
    if not (0 < width <= MAX_SIDE and 0 < height <= MAX_SIDE):
        raise AvatarError(f"이미지가 너무 커요: {name} {width}×{height}",
                          f"가로·세로 {MAX_SIDE}픽셀 이하로 줄여 주세요 (방송에는 1000픽셀 안팎이면 충분해요).")
    return width, height


def check_png(data: bytes, name: str) -> tuple[int, int]:
    """Signature, IHDR and every chunk's length and CRC up to IEND: a truncated or damaged
    upload is caught here, not as a broken image on stream. Returns (width, height)."""
    size = png_size(data[:24], name)
    pos = len(PNG_SIGNATURE)
    while pos + 8 <= len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        end = pos + 12 + length
        if end > len(data) or zlib.crc32(data[pos + 4:end - 4]) != int.from_bytes(data[end - 4:end]):
            break
        if kind == b"IEND":
            return size
        pos = end
    raise AvatarError(f"PNG 파일이 깨졌어요: {name}", "이미지를 다시 저장해서 올려 주세요.")


def _read_checked(path: Path, name: str) -> tuple[int, int]:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise AvatarError(f"이미지를 읽을 수 없어요: {name} ({exc.strerror or exc})",
                          "파일 권한을 확인하거나 다시 저장해 주세요.") from exc
    return check_png(data, name)


def candidate_files(root: Path) -> list[Path]:
    """Every path the set may use (present or not): what the store watches for edits."""
    return [root / emotion / f"{slot}.png" for emotion in EMOTIONS for slot in SLOTS]


def load_image_set(root: Path) -> ImageSet:
    """Read and check the set at `root`; AvatarError with a Korean message and hint otherwise."""
    if root.is_file():
        raise AvatarError(f"AVATAR_PATH가 파일이에요: {root}",
                          "AVATAR=png이면 AVATAR_PATH는 이미지 세트 폴더여야 해요 (.vrm 파일은 AVATAR=vrm).")
    if not root.is_dir():
        raise AvatarError(f"이미지 세트 폴더가 없어요: {root}",
                          "AVATAR_PATH를 이미지 세트 폴더로 맞추거나 설정 페이지에서 이미지를 올려 주세요.")
    own: dict[str, dict[str, Path]] = {}
    for emotion in EMOTIONS:
        own[emotion] = {slot: path for slot in SLOTS
                        if (path := root / emotion / f"{slot}.png").is_file()}
    for slot in REQUIRED:
        if slot not in own["neutral"]:
            raise AvatarError(f"{slot_file('neutral', slot)}가 없어요", LAYOUT_HINT)
    base = _read_checked(own["neutral"]["closed"], slot_file("neutral", "closed"))
    for emotion, slots in own.items():
        for slot, path in slots.items():
            name = slot_file(emotion, slot)
            size = _read_checked(path, name)
            if size != base:
                raise AvatarError(
                    f"이미지 크기가 서로 달라요: neutral {base[0]}×{base[1]}, {name} {size[0]}×{size[1]}",
                    "한 세트의 이미지는 모두 같은 크기여야 해요. 같은 캔버스 크기로 다시 저장해 주세요.")
    files: dict[str, dict[str, Path]] = {}
    for emotion in EMOTIONS:
        if not own[emotion]:  # a missing emotion is neutral, blinks included
            files[emotion] = dict(files["neutral"])
            continue
        resolved: dict[str, Path] = {}
        for slot in REQUIRED:  # a mouth image this emotion lacks: neutral's
            resolved[slot] = own[emotion].get(slot) or own["neutral"][slot]
        for slot, twin in BLINK_TWIN.items():  # a blink image it lacks: its own eyes-open twin
            resolved[slot] = own[emotion].get(slot) or resolved[twin]
        files[emotion] = resolved
    drawn = tuple(emotion for emotion in EMOTIONS if own[emotion])
    return ImageSet(root=root, width=base[0], height=base[1], files=files, drawn=drawn)
