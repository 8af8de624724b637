"""The avatar backend on real files: image-set rules and fallbacks, the VRM check, the store
(versions, reloads, status row), uploads (atomic, validated first, the shipped set never touched)
and the HTTP router with its password dependency."""

from __future__ import annotations

import asyncio
import hashlib
import io
import json
import os
import struct
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI, Header, HTTPException
from fastapi.testclient import TestClient
from PIL import Image

from aischoco.avatar.image_set import EMOTIONS, SLOTS, AvatarError, load_image_set
from aischoco.avatar.routes import avatar_router
from aischoco.avatar.store import MAX_IMAGE_BYTES, MAX_ZIP_BYTES, AvatarStore, TooBig, read_zip_set
from aischoco.avatar.vrm_check import check_vrm_bytes, check_vrm_file
from aischoco.core.status import State

SHIPPED = Path(__file__).resolve().parent.parent / "assets" / "avatar"
SIZE = (64, 48)


# --- helpers --------------------------------------------------------------------------------------
def png(size: tuple[int, int] = SIZE, colour: tuple[int, int, int] = (200, 120, 60)) -> bytes:
    out = io.BytesIO()
    Image.new("RGBA", size, (*colour, 255)).save(out, "PNG")
    return out.getvalue()


def make_set(root: Path, names: list[str] | None = None, size: tuple[int, int] = SIZE) -> Path:
    """`names` like "happy/open" (default: all 24), each a distinct colour."""
    names = names if names is not None else [f"{e}/{s}" for e in EMOTIONS for s in SLOTS]
    for i, name in enumerate(names):
        path = root / f"{name}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(png(size, (i * 10 % 256, 100, 200 - i * 5)))
    return root


def tree_hash(root: Path) -> dict[str, str]:
    return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def make_zip(entries: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        for name, data in entries.items():
            archive.writestr(name, data)
    return out.getvalue()


def glb(document: dict[str, Any] | bytes, version: int = 2, binary: bytes = b"\0\0\0\0") -> bytes:
    """A GLB container: header, JSON chunk (padded to 4 bytes), BIN chunk."""
    data = document if isinstance(document, bytes) else json.dumps(document).encode()
    data += b" " * (-len(data) % 4)
    chunks = (struct.pack("<II", len(data), 0x4E4F534A) + data
              + struct.pack("<II", len(binary), 0x004E4942) + binary)
    return struct.pack("<4sII", b"glTF", version, 12 + len(chunks)) + chunks


VRM1 = {"asset": {"version": "2.0"}, "extensionsUsed": ["VRMC_vrm"],
        "extensions": {"VRMC_vrm": {"specVersion": "1.0", "meta": {"name": "초코 테스트"}}}}
VRM0 = {"asset": {"version": "2.0"}, "extensionsUsed": ["VRM"],
        "extensions": {"VRM": {"specVersion": "0.0", "meta": {"title": "Old"}}}}


class Settings:
    """Stands in for the daemon's settings: what AVATAR / AVATAR_PATH say right now."""

    def __init__(self, mode: str, path: Path | str) -> None:
        self.mode, self.path = mode, str(path)


def store_for(settings: Settings, user: Path, **kwargs: Any) -> AvatarStore:
    return AvatarStore(lambda: settings.mode, lambda: settings.path, user,
                       shipped_dir=SHIPPED, **kwargs)


# --- image sets -----------------------------------------------------------------------------------
def test_a_full_set_resolves_every_slot_to_its_own_file(tmp_path: Path) -> None:
    images = load_image_set(make_set(tmp_path))
    assert (images.width, images.height) == SIZE
    assert images.drawn == EMOTIONS
    for e in EMOTIONS:
        for s in SLOTS:
            assert images.relative(e, s) == f"{e}/{s}.png"


def test_fallbacks_missing_emotions_use_neutral_missing_blinks_their_twin(tmp_path: Path) -> None:
    make_set(tmp_path, ["neutral/closed", "neutral/open", "neutral/closed_blink",
                        "happy/closed", "happy/open", "sad/closed"])
    images = load_image_set(tmp_path)
    # a missing emotion is neutral, blinks included
    assert {s: images.relative("angry", s) for s in SLOTS} == {
        "closed": "neutral/closed.png", "open": "neutral/open.png",
        "closed_blink": "neutral/closed_blink.png", "open_blink": "neutral/open.png"}
    # a missing blink image is the eyes-open twin of the same emotion
    assert images.relative("happy", "closed_blink") == "happy/closed.png"
    assert images.relative("happy", "open_blink") == "happy/open.png"
    # an emotion without its own open mouth borrows neutral's
    assert images.relative("sad", "open") == "neutral/open.png"
    assert images.relative("sad", "closed_blink") == "sad/closed.png"
    assert images.drawn == ("neutral", "happy", "sad")


@pytest.mark.parametrize("missing", ["closed", "open"])
def test_neutral_mouths_are_required(tmp_path: Path, missing: str) -> None:
    make_set(tmp_path, [f"neutral/{s}" for s in SLOTS if s != missing] + ["happy/closed"])
    with pytest.raises(AvatarError) as err:
        load_image_set(tmp_path)
    assert err.value.message == f"neutral/{missing}.png가 없어요"
    assert "neutral/closed.png와 neutral/open.png" in err.value.hint


def test_a_file_that_is_not_a_png_is_named(tmp_path: Path) -> None:
    make_set(tmp_path, ["neutral/closed", "neutral/open"])
    (tmp_path / "happy").mkdir()
    jpeg = io.BytesIO()
    Image.new("RGB", SIZE).save(jpeg, "JPEG")
    (tmp_path / "happy" / "open.png").write_bytes(jpeg.getvalue())
    with pytest.raises(AvatarError) as err:
        load_image_set(tmp_path)
    assert err.value.message == "PNG 파일이 아니에요: happy/open.png"
    assert "PNG로 저장" in err.value.hint


def test_a_truncated_png_is_caught(tmp_path: Path) -> None:
    make_set(tmp_path, ["neutral/closed", "neutral/open"])
    path = tmp_path / "neutral" / "open.png"
    path.write_bytes(path.read_bytes()[:-20])
    with pytest.raises(AvatarError, match="PNG 파일이 깨졌어요: neutral/open.png"):
        load_image_set(tmp_path)


def test_sizes_must_match(tmp_path: Path) -> None:
    make_set(tmp_path, ["neutral/closed", "neutral/open"])
    (tmp_path / "happy").mkdir()
    (tmp_path / "happy" / "open.png").write_bytes(png((40, 40)))
    with pytest.raises(AvatarError) as err:
        load_image_set(tmp_path)
    assert err.value.message == "이미지 크기가 서로 달라요: neutral 64×48, happy/open.png 40×40"


def test_a_missing_folder_or_a_file_path_is_explained(tmp_path: Path) -> None:
    with pytest.raises(AvatarError, match="이미지 세트 폴더가 없어요"):
        load_image_set(tmp_path / "nope")
    (tmp_path / "model.vrm").write_bytes(glb(VRM1))
    with pytest.raises(AvatarError, match="AVATAR_PATH가 파일이에요"):
        load_image_set(tmp_path / "model.vrm")


def test_the_shipped_default_set_is_complete_small_and_valid() -> None:
    images = load_image_set(SHIPPED)
    assert (images.width, images.height) == (512, 512) and images.drawn == EMOTIONS
    files = {images.files[e][s] for e in EMOTIONS for s in SLOTS}
    assert len(files) == 24  # every slot drawn, none borrowed
    for path in files:
        assert path.stat().st_size < 40_000, path
        with Image.open(path) as image:
            assert image.convert("RGBA").getpixel((0, 0))[3] == 0  # transparent background
    # every image differs from the others: each emotion and slot looks different
    assert len({hashlib.sha256(p.read_bytes()).digest() for p in files}) == 24


# --- VRM check ------------------------------------------------------------------------------------
def test_vrm_1_and_0x_are_recognised(tmp_path: Path) -> None:
    info = check_vrm_bytes(glb(VRM1))
    assert (info.version, info.title) == ("1.0", "초코 테스트")
    info = check_vrm_bytes(glb(VRM0))
    assert (info.version, info.title) == ("0.x", "Old")
    path = tmp_path / "m.vrm"
    path.write_bytes(glb(VRM1, binary=b"\1" * 4096))
    assert check_vrm_file(path).size == path.stat().st_size


@pytest.mark.parametrize("data,why", [
    (glb({"asset": {"version": "2.0"}, "extensions": {"KHR_materials_unlit": {}}}), "VRM 정보"),
    (bytes(range(256)) * 8, "GLB"),
    (glb(VRM1)[:-3], "파일 길이가 맞지 않아요"),
    (glb(VRM1, version=1), "버전 1"),
    (glb(b"{not json"), "JSON 부분을 읽을 수 없어요"),
    (glb(b"[1, 2]"), "glTF 문서가 아니에요"),
    (b"glTF", "GLB"),
])
def test_what_is_not_a_vrm_says_why(data: bytes, why: str) -> None:
    with pytest.raises(AvatarError) as err:
        check_vrm_bytes(data)
    assert err.value.message.startswith("VRM 파일이 아니에요: ")
    assert why in err.value.message
    assert "VRoid" in err.value.hint


def test_vrm_file_missing_or_a_folder(tmp_path: Path) -> None:
    with pytest.raises(AvatarError, match="VRM 파일이 없어요"):
        check_vrm_file(tmp_path / "none.vrm")
    with pytest.raises(AvatarError, match="AVATAR_PATH가 폴더예요"):
        check_vrm_file(tmp_path)


# --- the store ------------------------------------------------------------------------------------
def test_config_status_and_files_of_a_png_set(tmp_path: Path) -> None:
    make_set(tmp_path / "set", ["neutral/closed", "neutral/open", "happy/closed", "happy/open"])
    store = store_for(Settings("png", tmp_path / "set"), tmp_path / "user")
    config = store.config()
    v = config["version"]
    assert config["ok"] is True and config["mode"] == "png" and config["error"] is None
    assert config["png"]["width"] == 64 and config["png"]["height"] == 48 and config["vrm"] is None
    images = config["png"]["images"]
    assert set(images) == set(EMOTIONS) and all(set(s) == set(SLOTS) for s in images.values())
    assert images["happy"]["open"] == f"/avatar/files/happy/open.png?v={v}"
    assert images["angry"]["open_blink"] == f"/avatar/files/neutral/open.png?v={v}"  # resolved
    assert store.file_for(images["happy"]["open"]) == tmp_path / "set" / "happy" / "open.png"
    assert store.file_for("neutral/closed.png") == tmp_path / "set" / "neutral" / "closed.png"
    for bad in ("../set/neutral/closed.png", "neutral/../neutral/closed.png", "/etc/passwd",
                "angry/open.png", "neutral", "", "model.vrm"):
        assert store.file_for(bad) is None, bad
    status = store.status()
    assert (status.state, status.detail) == (State.RUNNING, "이미지 세트 64×48 · 2감정 (나머지는 neutral)")


def test_off_vrm_live2d_and_broken(tmp_path: Path) -> None:
    settings = Settings("off", SHIPPED)
    store = store_for(settings, tmp_path / "user")
    assert store.status().state == State.OFF
    assert store.config() | {"version": ""} == {"mode": "off", "version": "", "ok": False,
                                                 "error": None, "hint": None, "png": None,
                                                 "vrm": None}
    model = tmp_path / "m.vrm"
    model.write_bytes(glb(VRM1))
    settings.mode, settings.path = "vrm", str(model)
    store.load()
    config = store.config()
    assert config["ok"] and config["vrm"]["url"] == f"/avatar/files/model.vrm?v={config['version']}"
    assert config["vrm"]["version"] == "1.0" and config["vrm"]["camera"] == {}  # renderer's bust shot
    framed = store_for(settings, tmp_path / "user", camera=lambda: {"distance": 2.0, "fov": 20.0})
    assert framed.config()["vrm"]["camera"] == {"distance": 2.0, "fov": 20.0}
    assert store.file_for(config["vrm"]["url"]) == model
    assert store.status().detail == "VRM 1.0 모델 · 초코 테스트 · 0.0 MB"
    settings.mode, settings.path = "live2d", str(tmp_path / "x.model3.json")
    store.load()
    assert store.status().state == State.UNAVAILABLE and not store.config()["ok"]
    settings.mode, settings.path = "png", str(tmp_path / "missing")
    store.load()  # never raises
    status = store.status()
    assert status.state == State.DEGRADED and "이미지 세트 폴더가 없어요" in status.detail
    assert status.hint
    config = store.config()
    assert not config["ok"] and config["png"] is None and "폴더가 없어요" in config["error"]
    assert store.file_for("neutral/closed.png") is None
    settings.mode = "gif"
    store.load()
    assert store.status().state == State.DEGRADED and "gif" in store.status().detail


def test_relative_paths_are_relative_to_the_working_directory(tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    make_set(tmp_path / "mine")
    monkeypatch.chdir(tmp_path)
    store = store_for(Settings("png", "mine/"), tmp_path / "user")
    assert store.config()["ok"]
    assert store.file_for("sad/open.png") == tmp_path / "mine" / "sad" / "open.png"


def test_the_version_follows_mode_path_and_files_and_refresh_is_throttled(tmp_path: Path) -> None:
    a, b = make_set(tmp_path / "a"), make_set(tmp_path / "b")
    settings = Settings("png", a)
    now = [0.0]
    store = store_for(settings, tmp_path / "user", clock=lambda: now[0])

    async def refresh() -> str:
        await store.refresh()
        return store.version

    v1 = asyncio.run(refresh())
    assert asyncio.run(refresh()) == v1  # nothing changed
    settings.path = str(b)
    assert asyncio.run(refresh()) == v1  # within the throttle: not looked at yet
    now[0] += 1.5
    v2 = asyncio.run(refresh())
    assert v2 != v1
    target = b / "happy" / "open.png"
    target.write_bytes(png(SIZE, (1, 2, 3)))  # edited on disk
    os.utime(target, ns=(target.stat().st_atime_ns, target.stat().st_mtime_ns + 10**9))
    now[0] += 1.5
    v3 = asyncio.run(refresh())
    assert v3 not in (v1, v2)
    settings.mode = "off"
    now[0] += 1.5
    assert asyncio.run(refresh()) not in (v1, v2, v3)
    settings.mode, settings.path = "png", str(a)
    now[0] += 1.5
    assert asyncio.run(refresh()) == v1  # the same set again: the same version
    (a / "neutral" / "open.png").unlink()  # broken on disk: refresh says why, never raises
    now[0] += 1.5
    asyncio.run(refresh())
    assert store.config()["error"] == "neutral/open.png가 없어요"


# --- uploads --------------------------------------------------------------------------------------
@pytest.fixture
def shipped_guard() -> Iterator[None]:
    before = tree_hash(SHIPPED)
    yield
    assert tree_hash(SHIPPED) == before  # the shipped default set is never written


def test_a_slot_upload_on_the_shipped_set_copies_it_and_scales_it(tmp_path: Path,
                                                                   shipped_guard: None) -> None:
    settings = Settings("png", SHIPPED)
    store = store_for(settings, tmp_path / "user")
    shipped_version = store.version
    path = store.save_image("happy", "open", png((256, 256), (255, 0, 0)))
    assert path == tmp_path / "user" / "images"
    images = load_image_set(path)
    assert (images.width, images.height) == (256, 256)  # the shipped 512² scaled to the upload
    assert images.drawn == EMOTIONS
    with Image.open(path / "happy" / "open.png") as image:
        assert image.convert("RGBA").getpixel((128, 128)) == (255, 0, 0, 255)
    assert store.version == shipped_version  # the settings still point at the shipped set
    settings.path = str(path)  # what the lead's on_saved does through the settings editor
    store.load()
    v1 = store.version
    assert v1 != shipped_version
    store.save_image("sad", "closed_blink", png((256, 256), (0, 0, 255)))
    assert store.version != v1  # the page switches
    with Image.open(path / "sad" / "closed_blink.png") as image:
        assert image.convert("RGBA").getpixel((5, 5)) == (0, 0, 255, 255)
    with Image.open(path / "happy" / "open.png") as image:  # the earlier upload is kept
        assert image.convert("RGBA").getpixel((5, 5)) == (255, 0, 0, 255)


def test_slot_upload_refusals_change_nothing(tmp_path: Path, shipped_guard: None) -> None:
    settings = Settings("png", make_set(tmp_path / "user" / "images"))
    store = store_for(settings, tmp_path / "user")
    before, version = tree_hash(tmp_path / "user"), store.version
    cases = [
        (("joy", "open", png()), "모르는 감정이에요: joy"),
        (("happy", "mouth", png()), "모르는 칸이에요: mouth"),
        (("happy", "open", b"GIF89a" + bytes(50)), "PNG 파일이 아니에요: happy/open.png"),
        (("happy", "open", png((40, 40))), "이미지 크기가 서로 달라요: neutral 64×48, happy/open.png 40×40"),
    ]
    for args, message in cases:
        with pytest.raises(AvatarError) as err:
            store.save_image(*args)
        assert err.value.message == message
    with pytest.raises(TooBig, match="최대 10 MB"):
        store.save_image("happy", "open", bytes(MAX_IMAGE_BYTES + 1))
    assert tree_hash(tmp_path / "user") == before and store.version == version
    assert not list((tmp_path / "user").glob(".images-*"))  # no temporary folder left behind


def test_a_zip_with_one_top_folder_and_clutter_is_accepted(tmp_path: Path,
                                                           shipped_guard: None) -> None:
    settings = Settings("png", SHIPPED)
    store = store_for(settings, tmp_path / "user")
    entries = {f"MyChar/{e}/{s}.png": png(SIZE, (i, 50, 50))
               for i, (e, s) in enumerate((e, s) for e in ("neutral", "happy") for s in SLOTS)}
    entries |= {"MyChar/readme.txt": b"hi", "__MACOSX/MyChar/._neutral": b"x",
                "MyChar/.DS_Store": b"x", "MyChar/Happy/Open_Blink.PNG": png(SIZE, (9, 9, 9))}
    path = store.save_zip(make_zip(entries))
    settings.path = str(path)
    store.load()
    config = store.config()
    assert config["ok"] and config["png"]["width"] == 64
    assert store.status().detail == "이미지 세트 64×48 · 2감정 (나머지는 neutral)"
    assert sorted(p.name for p in (path / "happy").iterdir()) == sorted(f"{s}.png" for s in SLOTS)
    # files at the zip's root work too, and replace the whole set
    v = store.version
    store.save_zip(make_zip({f"neutral/{s}.png": png(SIZE, (1, 1, 1)) for s in ("closed", "open")}))
    assert store.version != v and not (path / "happy").exists()


@pytest.mark.parametrize("entries,message", [
    ({"neutral/closed.png": png(), "neutral/open.png": png(), "../x.png": png()},
     "ZIP 안에 폴더 밖을 가리키는 경로가 있어요: ../x.png"),
    ({"neutral/closed.png": png(), "neutral/open.png": png(), "/abs/x.png": png()},
     "ZIP 안에 폴더 밖을 가리키는 경로가 있어요: /abs/x.png"),
    ({"neutral/closed.png": png(), "neutral/open.png": png(), "happy/open.jpg": png()},
     "PNG 파일이 아니에요: happy/open.jpg"),
    ({"neutral/closed.png": png(), "neutral/open.png": b"not a png"},
     "PNG 파일이 아니에요: neutral/open.png"),
    ({"neutral/closed.png": png(), "neutral/open.png": png(), "happy/open.png": png((32, 32))},
     "이미지 크기가 서로 달라요: neutral 64×48, happy/open.png 32×32"),
    ({"happy/closed.png": png(), "happy/open.png": png()}, "neutral/closed.png가 없어요"),
    ({"neutral/closed.png": png(), "joy/open.png": png()}, "모르는 감정 폴더예요: joy/open.png"),
    ({"neutral/closed.png": png(), "neutral/smile.png": png()},
     "모르는 파일 이름이에요: neutral/smile.png"),
    ({"readme.txt": b"only this"}, "ZIP 안에 이미지가 없어요"),
])
def test_bad_zips_are_refused_and_the_old_set_stays(tmp_path: Path, shipped_guard: None,
                                                    entries: dict[str, bytes], message: str) -> None:
    old = make_set(tmp_path / "user" / "images")
    store = store_for(Settings("png", old), tmp_path / "user")
    before, version = tree_hash(old), store.version
    with pytest.raises(AvatarError) as err:
        store.save_zip(make_zip(entries))
    assert err.value.message == message and err.value.hint
    assert tree_hash(old) == before and store.version == version
    assert sorted(p.name for p in (tmp_path / "user").iterdir()) == ["images"]


def test_not_a_zip_and_too_big(tmp_path: Path) -> None:
    store = store_for(Settings("png", SHIPPED), tmp_path / "user")
    with pytest.raises(AvatarError, match="ZIP 파일이 아니에요"):
        store.save_zip(b"PK\x03\x04 definitely broken")
    with pytest.raises(TooBig, match="최대 100 MB"):
        store.save_zip(bytes(MAX_ZIP_BYTES + 1))
    # an entry over the cap is refused from its header, before it is inflated
    bomb = make_zip({"neutral/closed.png": bytes(MAX_IMAGE_BYTES + 10)})
    with pytest.raises(TooBig):
        read_zip_set(bomb)
    assert not (tmp_path / "user" / "images").exists()


def test_a_crash_between_the_renames_is_recovered(tmp_path: Path) -> None:
    user = tmp_path / "user"
    make_set(user / ".images-old-1234abcd")  # the old set moved aside, the new one never arrived
    store = store_for(Settings("png", user / "images"), user)
    assert store.config()["ok"] and (user / "images" / "neutral" / "closed.png").is_file()


def test_a_disk_error_while_saving_is_a_reason_not_a_crash(tmp_path: Path) -> None:
    (tmp_path / "user").write_text("a file where the folder should be", encoding="utf-8")
    store = store_for(Settings("png", SHIPPED), tmp_path / "user")
    for save in (lambda: store.save_vrm(glb(VRM1)), lambda: store.save_image("happy", "open", png())):
        with pytest.raises(AvatarError, match="아바타를 저장하지 못했어요"):
            save()


def test_vrm_upload(tmp_path: Path) -> None:
    settings = Settings("png", SHIPPED)
    store = store_for(settings, tmp_path / "user")
    path = store.save_vrm(glb(VRM0))
    assert path == tmp_path / "user" / "model.vrm" and path.read_bytes() == glb(VRM0)
    settings.mode, settings.path = "vrm", str(path)
    store.load()
    v = store.version
    assert store.status().detail.startswith("VRM 0.x 모델 · Old")
    with pytest.raises(AvatarError, match="VRM 파일이 아니에요"):
        store.save_vrm(glb({"asset": {"version": "2.0"}}))
    assert path.read_bytes() == glb(VRM0) and store.version == v  # the old model stays
    store.save_vrm(glb(VRM1))
    assert store.version != v and store.status().detail.startswith("VRM 1.0 모델")


# --- the router -----------------------------------------------------------------------------------
def require_password(x_panel_password: str = Header("")) -> None:
    if x_panel_password != "pw":
        raise HTTPException(401, "PANEL_PASSWORD가 필요합니다")


@pytest.fixture
def http(tmp_path: Path) -> Iterator[tuple[TestClient, Settings, list[tuple[str, Path]]]]:
    settings = Settings("png", make_set(tmp_path / "set"))
    store = store_for(settings, tmp_path / "user")
    saved: list[tuple[str, Path]] = []

    async def on_saved(mode: str, path: Path) -> None:
        saved.append((mode, path))
        settings.mode, settings.path = mode, str(path)

    app = FastAPI()
    app.include_router(avatar_router(store, require_password, on_saved=on_saved))
    with TestClient(app) as client:
        yield client, settings, saved


PW = {"x-panel-password": "pw"}


def test_router_page_config_and_files(http: tuple[TestClient, Settings, list[Any]],
                                      tmp_path: Path) -> None:
    client, _, _ = http
    page = client.get("/avatar")
    assert page.status_code == 200 and page.headers["cache-control"] == "no-store"
    assert '<script type="module" src="/static/avatar-core.js">' in page.text
    assert '"three": "/static/vendor/three.module.min.js"' in page.text
    config = client.get("/api/avatar").json()
    assert config["ok"] and config["mode"] == "png"
    url = config["png"]["images"]["sad"]["open"]
    image = client.get(url)
    assert image.status_code == 200 and image.headers["content-type"] == "image/png"
    assert image.headers["cache-control"] == "no-cache"
    assert image.content == (tmp_path / "set" / "sad" / "open.png").read_bytes()
    for bad in ("/avatar/files/%2e%2e/set/neutral/closed.png", "/avatar/files/..%2F..%2Fetc%2Fpasswd",
                "/avatar/files/neutral/closed.png%00", "/avatar/files/model.vrm"):
        assert client.get(bad).status_code == 404, bad


def test_router_uploads_need_the_password_and_explain_refusals(
        http: tuple[TestClient, Settings, list[Any]], tmp_path: Path) -> None:
    client, settings, saved = http
    for url in ("/api/avatar/image?emotion=happy&slot=open", "/api/avatar/zip", "/api/avatar/vrm"):
        assert client.post(url, content=png()).status_code == 401
    assert saved == []
    bad = client.post("/api/avatar/image?emotion=happy&slot=open", content=png((10, 10)), headers=PW)
    assert bad.status_code == 422
    assert bad.json() == {"error": "이미지 크기가 서로 달라요: neutral 64×48, happy/open.png 10×10",
                          "hint": "한 세트의 이미지는 모두 같은 크기여야 해요. 같은 캔버스 크기로 다시 저장해 주세요."}
    big = client.post("/api/avatar/image?emotion=happy&slot=open",
                      content=bytes(MAX_IMAGE_BYTES + 1), headers=PW)
    assert big.status_code == 413 and big.json()["error"] == "이미지 파일이 너무 커요 (최대 10 MB)"
    traversal = client.post("/api/avatar/zip", headers=PW,
                            content=make_zip({"neutral/closed.png": png(), "../x.png": png()}))
    assert traversal.status_code == 422 and "../x.png" in traversal.json()["error"]
    assert not (tmp_path / "x.png").exists() and not (tmp_path / "user" / "x.png").exists()
    assert client.post("/api/avatar/vrm", content=b"nope", headers=PW).status_code == 422
    assert saved == []
    version = client.get("/api/avatar").json()["version"]
    ok = client.post("/api/avatar/image?emotion=happy&slot=open", content=png(SIZE, (7, 7, 7)),
                     headers=PW)
    assert ok.status_code == 200
    body = ok.json()
    assert body["path"] == str(tmp_path / "user" / "images") and body["mode"] == "png"
    assert saved == [("png", tmp_path / "user" / "images")]
    assert body["config"]["version"] != version  # the settings followed: the page will switch
    assert client.get(body["config"]["png"]["images"]["happy"]["open"]).content == png(SIZE, (7, 7, 7))
    vrm = client.post("/api/avatar/vrm", content=glb(VRM1), headers=PW)
    assert vrm.status_code == 200 and vrm.json()["config"]["vrm"]["version"] == "1.0"
    assert settings.mode == "vrm"
