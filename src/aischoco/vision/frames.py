"""Frames as the vision model gets them (pure, CPU-bound: they run in a worker process).

A frame is scaled so its long side is at most MAX_SIDE (1280: enough to read game text, and
well under the provider's 4 MB base64 request limit as JPEG), encoded as JPEG, and compared with
the last frame sent by a cheap perceptual difference: both as 32×18 grey thumbnails, the mean
absolute difference of their pixels (0 = the same picture, 1 = black ↔ white everywhere).
"""

from __future__ import annotations

import base64
import io

from PIL import Image

MAX_SIDE = 1280
JPEG_QUALITY = 75
SIGNATURE_SIZE = (32, 18)
CHANGED_AT = 0.04  # mean grey difference above which the picture "changed" (a cut, a new menu)
THUMBNAIL_SIDE = 320  # the panel's preview of the last frame sent


def scaled(image: Image.Image, max_side: int = MAX_SIDE) -> Image.Image:
    rgb = image.convert("RGB")
    if max(rgb.size) <= max_side:
        return rgb
    ratio = max_side / max(rgb.size)
    return rgb.resize((max(1, round(rgb.width * ratio)), max(1, round(rgb.height * ratio))),
                      Image.Resampling.BILINEAR)


def jpeg(image: Image.Image, quality: int = JPEG_QUALITY) -> bytes:
    out = io.BytesIO()
    image.save(out, format="JPEG", quality=quality, optimize=False)
    return out.getvalue()


def data_uri(jpeg_bytes: bytes) -> str:
    return "data:image/jpeg;base64," + base64.b64encode(jpeg_bytes).decode("ascii")


def signature(image: Image.Image) -> bytes:
    """A tiny grey version of the picture, for `difference`."""
    return image.convert("L").resize(SIGNATURE_SIZE, Image.Resampling.BILINEAR).tobytes()


def difference(a: bytes, b: bytes) -> float:
    """0..1: how different two signatures are (mean absolute grey difference)."""
    if len(a) != len(b) or not a:
        return 1.0
    return sum(abs(x - y) for x, y in zip(a, b, strict=True)) / (255 * len(a))


def decode_data_uri(uri: str) -> Image.Image:
    """An image from a `data:image/...;base64,...` URI (OBS's GetSourceScreenshot answer)."""
    header, _, payload = uri.partition(",")
    if not header.startswith("data:image/") or ";base64" not in header:
        raise ValueError("not a base64 image data URI")
    image = Image.open(io.BytesIO(base64.b64decode(payload, validate=True)))
    image.load()
    return image


def prepare(image: Image.Image) -> tuple[bytes, bytes, bytes]:
    """(JPEG for the model, signature, small JPEG for the panel) of one captured frame."""
    frame = scaled(image)
    return jpeg(frame), signature(frame), jpeg(scaled(frame, THUMBNAIL_SIDE), 60)


Prepared = tuple[bytes, bytes, bytes]  # (JPEG for the model, signature, panel thumbnail)


# --- jobs for the worker process (module-level, picklable): the pixels never cross into the
# daemon's process, only the small JPEGs do; Pillow's JPEG encoder holds the GIL for several ms,
# which in a thread would make the animator's 30 fps ticks late.


def watch_parent() -> None:
    """The worker's initializer: leave when the daemon is gone, even if it was killed (a
    killed daemon cannot shut its pool down, and an orphan would live on)."""
    import multiprocessing
    import os
    import threading
    from multiprocessing.connection import wait

    parent = multiprocessing.parent_process()
    if parent is None:
        return

    def watch() -> None:
        wait([parent.sentinel])
        os._exit(0)

    threading.Thread(target=watch, name="watch-parent", daemon=True).start()


def prepare_data_uri(uri: str) -> Prepared:
    return prepare(decode_data_uri(uri))


def prepare_screen(monitor: int) -> Prepared:
    import mss  # loaded only for VISION=screen

    with mss.MSS() as sct:
        monitors = sct.monitors
        if not 1 <= monitor < len(monitors):
            raise OSError(f"모니터 {monitor}이(가) 없습니다 (1~{len(monitors) - 1})")
        shot = sct.grab(monitors[monitor])
        return prepare(Image.frombytes("RGB", shot.size, shot.bgra, "raw", "BGRX"))


def prepare_raw(mode: str, size: tuple[int, int], pixels: bytes) -> Prepared:
    return prepare(Image.frombytes(mode, size, pixels))
