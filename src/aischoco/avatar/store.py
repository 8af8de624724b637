"""The current avatar: what `AVATAR` / `AVATAR_PATH` point at, checked, versioned, and served.

The settings are read through callables, so a change made in the settings page is seen on the
next refresh without wiring. Disk work runs in a worker thread when called from the event loop
(`refresh()`); `load()` is the same work, synchronous, for tests and start-up. A broken set or
model never raises out of either: it becomes `ok=false` with a Korean reason and what to do.

Uploads land only under `user_dir` (the shipped default set is never written) and are checked
in full before anything is replaced: a new image set is written to a temporary sibling folder,
validated, then swapped in with renames, so the page only ever sees the old set or the new one.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import io
import logging
import os
import shutil
import tempfile
import threading
import time
import uuid
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..core.atomic_file import atomic_write_bytes, fsync_dir, replace_file
from ..core.status import State
from .image_set import (
    EMOTIONS,
    LAYOUT_HINT,
    SLOTS,
    AvatarError,
    ImageSet,
    candidate_files,
    check_png,
    load_image_set,
    png_size,
    slot_file,
)
from .vrm_check import VrmInfo, check_vrm_bytes, check_vrm_file

log = logging.getLogger(__name__)

MODES = ("off", "png", "vrm", "live2d")
MB = 1024 * 1024
MAX_IMAGE_BYTES = 10 * MB  # a 2048×2048 drawing is ~2-4 MB
MAX_ZIP_BYTES = 100 * MB
MAX_ZIP_UNPACKED = 300 * MB  # a zip bomb stops here, not in memory
MAX_ZIP_ENTRIES = 500
MAX_VRM_BYTES = 200 * MB  # VRoid exports are 10-40 MB; heavy commissions reach ~150 MB
REFRESH_EVERY_S = 1.0  # GET /api/avatar is polled by every open page; one disk check a second
USER_SET = "images"  # user_dir/images/<emotion>/<slot>.png
USER_VRM = "model.vrm"  # user_dir/model.vrm
FILES_PREFIX = "/avatar/files/"
SHIPPED_DIR = Path("assets/avatar")  # the default set, relative to the working directory
# The VRM page's camera: {"distance" (m), "height" (m), "fov" (deg)}, each optional; the renderer
# fits a bust shot to the model for what is left out. The `camera` callable lets settings adjust it.
DEFAULT_CAMERA: dict[str, float] = {}
OFF_HINT = "AVATAR=png(이미지 세트)나 AVATAR=vrm으로 켜고 OBS 브라우저 소스에 /avatar를 넣으세요."

Fingerprint = tuple[Any, ...]


class TooBig(AvatarError):
    """An upload over its size cap (HTTP 413)."""


def too_big(what: str, limit: int) -> TooBig:
    return TooBig(f"{what} 파일이 너무 커요 (최대 {limit // MB} MB)",
                  "크기를 줄이거나 (이미지는 가로·세로 1000픽셀 안팎이면 충분해요) 다시 저장해 주세요.")


@dataclass(frozen=True, slots=True)
class AvatarStatus:
    """The `avatar` status row (label 아바타): the lead maps it onto the StatusBoard."""
    state: State
    detail: str
    hint: str = ""


@dataclass(frozen=True, slots=True)
class _Snapshot:
    """One loaded avatar; replaced whole, so readers on the loop never see half a reload."""
    mode: str
    path: Path
    key: Fingerprint
    version: str
    images: ImageSet | None = None
    vrm: VrmInfo | None = None
    error: AvatarError | None = None
    files: dict[str, Path] = field(default_factory=dict)  # served name → file

    @property
    def ok(self) -> bool:
        return self.error is None and self.mode in ("png", "vrm")


def _stat(path: Path) -> tuple[int, int, int] | None:
    try:
        st = path.stat()
    except OSError:
        return None
    # inode too: a swapped-in set may keep sizes and (coarse) mtimes but never the inodes
    return (st.st_mtime_ns, st.st_size, st.st_ino)


def fingerprint(mode: str, path: Path) -> Fingerprint:
    """Changes whenever a file the avatar uses is added, removed, replaced or edited."""
    if mode == "png":
        return (path.is_dir(), *(_stat(p) for p in candidate_files(path)))
    if mode in ("vrm", "live2d"):
        return (_stat(path),)
    return ()


class AvatarStore:
    def __init__(self, mode: Callable[[], str], path: Callable[[], str | os.PathLike[str]],
                 user_dir: Path, *, shipped_dir: Path = SHIPPED_DIR,
                 camera: Callable[[], dict[str, float]] | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        """`mode`/`path`: the current AVATAR and AVATAR_PATH (relative paths are relative to the
        working directory). `user_dir`: where uploads are saved (e.g. config/avatar/)."""
        self._mode = mode
        self._path = path
        self.user_dir = Path(user_dir)
        self._shipped_dir = Path(shipped_dir)
        self._camera = camera or (lambda: dict(DEFAULT_CAMERA))
        self._clock = clock
        self._snap: _Snapshot | None = None
        self._checked_at = float("-inf")
        self._refresh_lock = asyncio.Lock()
        self._save_lock = threading.Lock()  # one upload at a time (they share user_dir)

    # --- reading ------------------------------------------------------------------------------
    @property
    def user_set(self) -> Path:
        return self.user_dir / USER_SET

    @property
    def user_vrm(self) -> Path:
        return self.user_dir / USER_VRM

    @property
    def version(self) -> str:
        return self._current().version

    def load(self) -> _Snapshot:
        """Check the settings and the disk now (blocking); reload only what changed."""
        return self._check(str(self._mode()).strip().lower(), self._resolve(self._path()))

    async def refresh(self, *, max_age_s: float = REFRESH_EVERY_S) -> None:
        """`load()` in a worker thread, at most once per `max_age_s` (0: now)."""
        if self._snap is not None and self._clock() - self._checked_at < max_age_s:
            return
        async with self._refresh_lock:
            if self._snap is not None and self._clock() - self._checked_at < max_age_s:
                return  # another request refreshed while this one waited
            mode, path = str(self._mode()).strip().lower(), self._resolve(self._path())
            await asyncio.to_thread(self._check, mode, path)

    def _check(self, mode: str, path: Path) -> _Snapshot:
        self._recover_user_set()
        key = fingerprint(mode, path)
        snap = self._snap
        if snap is None or (snap.mode, snap.path, snap.key) != (mode, path, key):
            snap = self._build(mode, path, key)
            if self._snap is None or snap.version != self._snap.version:
                log.info("avatar: %s %s (version %s)%s", mode, path, snap.version,
                         f": {snap.error.message}" if snap.error else "")
            self._snap = snap
        self._checked_at = self._clock()
        return snap

    def _build(self, mode: str, path: Path, key: Fingerprint) -> _Snapshot:
        version = hashlib.sha1(repr((mode, str(path), key)).encode()).hexdigest()[:12]
        base = {"mode": mode, "path": path, "key": key, "version": version}
        try:
            if mode == "off":
                return _Snapshot(**base)
            if mode == "png":
                images = load_image_set(path)
                files = {images.relative(e, s): images.files[e][s] for e in EMOTIONS for s in SLOTS}
                return _Snapshot(**base, images=images, files=files)
            if mode == "vrm":
                return _Snapshot(**base, vrm=check_vrm_file(path), files={USER_VRM: path})
            if mode == "live2d":
                raise AvatarError("Live2D는 아직 이 버전의 /avatar에서 그릴 수 없어요",
                                  "AVATAR=png(이미지 세트)나 AVATAR=vrm을 쓰세요. Live2D 모델은 "
                                  "VTube Studio로 움직일 수 있어요.")
            raise AvatarError(f"AVATAR 값을 모르겠어요: {mode}", "off, png, vrm 중 하나로 정해 주세요.")
        except AvatarError as exc:
            return _Snapshot(**base, error=exc)
        except Exception as exc:  # never out of refresh(): a reason on the row instead
            log.warning("avatar: reading %s failed", path, exc_info=True)
            return _Snapshot(**base, error=AvatarError(f"아바타를 읽다가 오류가 났어요: {exc}",
                                                       "파일을 다시 저장하거나 올려 주세요."))

    def _current(self) -> _Snapshot:
        return self._snap if self._snap is not None else self.load()

    @staticmethod
    def _resolve(raw: str | os.PathLike[str]) -> Path:
        path = Path(raw).expanduser()
        return path if path.is_absolute() else Path.cwd() / path

    def config(self) -> dict[str, Any]:
        """The JSON of GET /api/avatar."""
        snap = self._current()
        png = vrm = None
        if snap.ok and snap.images is not None:
            png = {"width": snap.images.width, "height": snap.images.height,
                   "images": {e: {s: self._url(snap, snap.images.relative(e, s)) for s in SLOTS}
                              for e in EMOTIONS}}
        if snap.ok and snap.vrm is not None:
            vrm = {"url": self._url(snap, USER_VRM), "version": snap.vrm.version,
                   "title": snap.vrm.title, "camera": self._camera()}
        error = snap.error
        return {"mode": snap.mode, "version": snap.version, "ok": snap.ok,
                "error": error.message if error else None, "hint": error.hint if error else None,
                "png": png, "vrm": vrm}

    @staticmethod
    def _url(snap: _Snapshot, name: str) -> str:
        return f"{FILES_PREFIX}{name}?v={snap.version}"

    def file_for(self, url_path: str) -> Path | None:
        """The file behind `/avatar/files/<name>` (or just `<name>`), or None: only the files
        of the loaded set or model are ever served, so `../` and friends find nothing."""
        name = url_path.split("?", 1)[0]
        name = name.removeprefix(FILES_PREFIX)
        return self._current().files.get(name)

    def status(self) -> AvatarStatus:
        snap = self._current()
        if snap.mode == "off":
            return AvatarStatus(State.OFF, "AVATAR=off", OFF_HINT)
        if snap.mode == "live2d" and snap.error is not None:
            return AvatarStatus(State.UNAVAILABLE, snap.error.message, snap.error.hint)
        if snap.error is not None:
            return AvatarStatus(State.DEGRADED, snap.error.message, snap.error.hint)
        if snap.images is not None:
            drawn = len(snap.images.drawn)
            rest = "" if drawn == len(EMOTIONS) else " (나머지는 neutral)"
            return AvatarStatus(State.RUNNING, f"이미지 세트 {snap.images.width}×"
                                f"{snap.images.height} · {drawn}감정{rest}")
        assert snap.vrm is not None
        title = f" · {snap.vrm.title}" if snap.vrm.title else ""
        return AvatarStatus(State.RUNNING,
                            f"VRM {snap.vrm.version} 모델{title} · {snap.vrm.size / MB:.1f} MB")

    # --- uploads ------------------------------------------------------------------------------
    def save_image(self, emotion: str, slot: str, data: bytes) -> Path:
        """Put one image into a slot of the user's set; returns the set folder (for AVATAR_PATH).
        The first upload copies the current set (or the shipped one) into user_dir; the shipped
        set is scaled to the new image's size when they differ, so per-slot uploads of a bigger
        drawing work from the first image on."""
        if emotion not in EMOTIONS:
            raise AvatarError(f"모르는 감정이에요: {emotion}", f"{', '.join(EMOTIONS)} 중 하나예요.")
        if slot not in SLOTS:
            raise AvatarError(f"모르는 칸이에요: {slot}", f"{', '.join(SLOTS)} 중 하나예요.")
        if len(data) > MAX_IMAGE_BYTES:
            raise too_big("이미지", MAX_IMAGE_BYTES)
        size = check_png(data, slot_file(emotion, slot))
        with self._save_lock:
            base, shipped = self._image_base()

            def fill(new: Path) -> None:
                base_size = _set_size(base)
                _copy_set(base, new, scale_to=size if shipped and base_size not in (None, size)
                          else None)
                _write(new / emotion / f"{slot}.png", data)

            self._replace_user_set(fill)
        self.load()
        return self.user_set

    def save_zip(self, data: bytes) -> Path:
        """Replace the user's set with a zip of one (files at its root or inside one folder)."""
        if len(data) > MAX_ZIP_BYTES:
            raise too_big("ZIP", MAX_ZIP_BYTES)
        images = read_zip_set(data)
        with self._save_lock:
            def fill(new: Path) -> None:
                for name, content in images.items():
                    _write(new / name, content)

            self._replace_user_set(fill)
        self.load()
        return self.user_set

    def save_vrm(self, data: bytes) -> Path:
        """Replace the user's VRM model; returns its path (for AVATAR_PATH)."""
        if len(data) > MAX_VRM_BYTES:
            raise too_big("VRM", MAX_VRM_BYTES)
        check_vrm_bytes(data)
        with self._save_lock, _disk_errors():
            self.user_dir.mkdir(parents=True, exist_ok=True)
            atomic_write_bytes(self.user_vrm, data)
        self.load()
        return self.user_vrm

    def _image_base(self) -> tuple[Path | None, bool]:
        """(the set a slot upload starts from, whether it is the shipped one)."""
        current = self._resolve(self._path())
        shipped = self._resolve(self._shipped_dir).resolve()
        if str(self._mode()).strip().lower() == "png" and current.is_dir():
            return current, current.resolve() == shipped
        if self.user_set.is_dir():
            return self.user_set, False
        return (shipped, True) if shipped.is_dir() else (None, False)

    def _replace_user_set(self, fill: Callable[[Path], None]) -> None:
        with _disk_errors():
            self._swap_in_user_set(fill)

    def _swap_in_user_set(self, fill: Callable[[Path], None]) -> None:
        """Build the new set in a temporary sibling, check it, swap it in with two renames."""
        self.user_dir.mkdir(parents=True, exist_ok=True)
        for stale in self.user_dir.glob(f".{USER_SET}-new-*"):  # left by a crash mid-save
            shutil.rmtree(stale, ignore_errors=True)
        new = Path(tempfile.mkdtemp(dir=self.user_dir, prefix=f".{USER_SET}-new-"))
        try:
            fill(new)
            load_image_set(new)  # validated before anything is replaced
            old = self.user_dir / f".{USER_SET}-old-{uuid.uuid4().hex[:8]}"
            had_old = self.user_set.exists()
            if had_old:
                replace_file(str(self.user_set), old)
            try:
                replace_file(str(new), self.user_set)
            except BaseException:
                if had_old:
                    replace_file(str(old), self.user_set)
                raise
            fsync_dir(self.user_dir)
            if had_old:
                shutil.rmtree(old, ignore_errors=True)
        except BaseException:
            shutil.rmtree(new, ignore_errors=True)
            raise

    def _recover_user_set(self) -> None:
        """A crash between the two renames leaves only `.images-old-*`: put it back."""
        if self.user_set.exists() or not self.user_dir.is_dir():
            return
        try:
            olds = sorted(self.user_dir.glob(f".{USER_SET}-old-*"), key=lambda p: p.stat().st_mtime)
            if olds:
                replace_file(str(olds[-1]), self.user_set)
                log.warning("avatar: restored %s after an interrupted save", self.user_set)
        except OSError:
            log.warning("avatar: could not restore %s", self.user_set, exc_info=True)


# --- helpers (pure or file-level) ---------------------------------------------------------------
@contextlib.contextmanager
def _disk_errors() -> Iterator[None]:
    """A full disk, a read-only folder or (Windows) a file held open: a reason, not a 500."""
    try:
        yield
    except OSError as exc:
        log.warning("avatar: saving failed", exc_info=True)
        raise AvatarError(f"아바타를 저장하지 못했어요: {exc.strerror or exc}",
                          "잠시 뒤 다시 올려 보세요. 디스크 공간과 config 폴더의 권한도 확인해 주세요.") from exc


def _write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(path, data)


def _set_size(root: Path | None) -> tuple[int, int] | None:
    if root is None:
        return None
    try:
        with (root / "neutral" / "closed.png").open("rb") as f:
            return png_size(f.read(24), "neutral/closed.png")
    except (OSError, AvatarError):
        return None


def _copy_set(base: Path | None, new: Path, *, scale_to: tuple[int, int] | None) -> None:
    """Copy the set's images (only the layout's files) into `new`, scaled to fit `scale_to`."""
    if base is None:
        return
    for source in candidate_files(base):
        if not source.is_file():
            continue
        target = new / source.relative_to(base)
        if scale_to is None:
            _write(target, source.read_bytes())
        else:
            _write(target, _scaled_png(source, scale_to))


def _scaled_png(source: Path, size: tuple[int, int]) -> bytes:
    from PIL import Image  # only for the rare shipped-set rescale

    with Image.open(source) as image:
        rgba = image.convert("RGBA")
    scale = min(size[0] / rgba.width, size[1] / rgba.height)
    fitted = rgba.resize((max(1, round(rgba.width * scale)), max(1, round(rgba.height * scale))),
                         Image.Resampling.LANCZOS)
    canvas = Image.new("RGBA", size, (0, 0, 0, 0))
    canvas.paste(fitted, ((size[0] - fitted.width) // 2, size[1] - fitted.height))  # bottom: a bust
    out = io.BytesIO()
    canvas.save(out, "PNG", optimize=True)
    return out.getvalue()


def read_zip_set(data: bytes) -> dict[str, bytes]:
    """The images of a zipped set as {"<emotion>/<slot>.png": bytes}, every entry checked:
    no path leaving the folder, only the layout's names, only PNGs within the caps. Files at
    the set's root (a readme, a licence) and OS clutter (__MACOSX, .DS_Store) are skipped."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, ValueError) as exc:
        raise AvatarError("ZIP 파일이 아니에요", "이미지 세트 폴더를 ZIP으로 압축해서 올려 주세요.") from exc
    with archive:
        infos = archive.infolist()
        if len(infos) > MAX_ZIP_ENTRIES:
            raise AvatarError(f"ZIP 안에 파일이 너무 많아요 ({len(infos)}개)", LAYOUT_HINT)
        entries: list[tuple[list[str], zipfile.ZipInfo]] = []
        for info in infos:
            raw = info.filename.replace("\\", "/")
            parts = [p for p in raw.split("/") if p not in ("", ".")]
            if raw.startswith("/") or ".." in parts or (parts and ":" in parts[0]):
                raise AvatarError(f"ZIP 안에 폴더 밖을 가리키는 경로가 있어요: {info.filename}",
                                  "그런 ZIP은 받을 수 없어요. 이미지 폴더만 다시 압축해 주세요.")
            if info.is_dir() or not parts or any(p.startswith(".") or p == "__MACOSX" for p in parts) \
                    or parts[-1].lower() in ("thumbs.db", "desktop.ini"):
                continue
            entries.append((parts, info))
        tops = {parts[0].lower() for parts, _ in entries}
        if len(tops) == 1 and tops.pop() not in EMOTIONS and all(len(p) > 1 for p, _ in entries):
            entries = [(parts[1:], info) for parts, info in entries]  # one top folder: its content
        images: dict[str, bytes] = {}
        unpacked = 0
        for parts, info in entries:
            if len(parts) == 1:
                continue  # a readme or licence beside the emotion folders
            name = "/".join(parts)
            emotion, file = parts[0].lower(), parts[-1].lower()
            if emotion not in EMOTIONS:
                raise AvatarError(f"모르는 감정 폴더예요: {name}",
                                  f"감정 폴더 이름은 {', '.join(EMOTIONS)} 중 하나예요.")
            if not file.endswith(".png"):
                raise AvatarError(f"PNG 파일이 아니에요: {name}", "이미지는 모두 PNG로 저장해 주세요.")
            if len(parts) > 2 or file[:-4] not in SLOTS:
                raise AvatarError(f"모르는 파일 이름이에요: {name}",
                                  f"파일 이름은 {', '.join(s + '.png' for s in SLOTS)} 중 하나예요.")
            if info.file_size > MAX_IMAGE_BYTES:
                raise too_big(f"이미지({name})", MAX_IMAGE_BYTES)
            unpacked += info.file_size
            if unpacked > MAX_ZIP_UNPACKED:
                raise too_big("압축을 푼", MAX_ZIP_UNPACKED)
            try:
                with archive.open(info) as member:
                    content = member.read(MAX_IMAGE_BYTES + 1)  # a lying header stops here too
            except (zipfile.BadZipFile, NotImplementedError, RuntimeError, OSError) as exc:
                raise AvatarError(f"ZIP에서 꺼낼 수 없어요: {name}",
                                  "암호 없이 보통 ZIP으로 다시 압축해 주세요.") from exc
            if len(content) > MAX_IMAGE_BYTES:
                raise too_big(f"이미지({name})", MAX_IMAGE_BYTES)
            key = slot_file(emotion, file[:-4])
            check_png(content, key)
            images[key] = content
    if not images:
        raise AvatarError("ZIP 안에 이미지가 없어요", LAYOUT_HINT)
    return images

