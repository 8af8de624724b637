"""The VRM renderer (static/avatar-vrm.js) in headless Chromium, on generated VRM 1.0 and 0.x models.

A tiny Starlette app serves static/ at /static/ (the vendored three.js and three-vrm included) and the
models at /avatar/files/; a harness page with the import map calls createVrmAvatar and feeds it frames
through window.pushFrame. WebGL is SwiftShader's (software): no GPU on CI."""

from __future__ import annotations

import io
import itertools
import json
import struct
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from browser_helpers import LAUNCH_ARGS, require_browser
from peers.threaded_server import ThreadedServer
from PIL import Image
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, PlainTextResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from system_deps import CHROMIUM
from vrm_fixture import make_vrm

sync_api = require_browser()

STATIC = Path(__file__).resolve().parents[1] / "src" / "aischoco" / "overlay" / "static"
# Playwright already passes --enable-unsafe-swiftshader; named here too so WebGL (SwiftShader through
# ANGLE) does not hang on a default of the driver. --disable-gpu alone still leaves SwiftShader WebGL.
GL_ARGS = [*LAUNCH_ARGS, "--enable-unsafe-swiftshader", "--use-angle=swiftshader"]
VIEW = {"width": 480, "height": 480}

IMPORT_MAP = {"imports": {
    "three": "/static/vendor/three.module.min.js",
    "three/addons/": "/static/vendor/three-addons/",
    "@pixiv/three-vrm": "/static/vendor/three-vrm.module.min.js",
}}
HARNESS = """<!doctype html>
<html><head><meta charset="utf-8">
<script type="importmap">IMPORT_MAP</script>
<style>html, body { margin: 0; background: transparent; overflow: hidden; }
#stage { position: fixed; inset: 0; }</style>
</head><body><div id="stage"></div>
<script type="module">
import { createVrmAvatar } from '/static/avatar-vrm.js';
const q = new URLSearchParams(location.search);
let frame = null;
window.pushFrame = (f) => { frame = f; };
window.rafCount = 0;
window.trace = null;  // set to [] to record every rendered frame's weights
try {
  const avatar = await createVrmAvatar(document.getElementById('stage'),
      {url: q.get('url'), camera: JSON.parse(q.get('camera') || '{}')});
  let last = performance.now();
  const loop = (now) => {
    avatar.update(frame, (now - last) / 1000);
    last = now;
    window.rafCount += 1;
    if (window.trace) window.trace.push({t: now, w: window.__vrmDebug.expressionWeights()});
    requestAnimationFrame(loop);
  };
  requestAnimationFrame(loop);
  window.avatar = avatar;
  window.loadState = 'ready';
} catch (error) {
  window.loadError = {message: error.message, isError: error instanceof Error,
                      canvases: document.querySelectorAll('canvas').length};
  window.loadState = 'failed';
}
</script></body></html>""".replace("IMPORT_MAP", json.dumps(IMPORT_MAP))


class Site(ThreadedServer):
    thread_name = "vrm-site"

    def __init__(self, files: Path) -> None:
        async def harness(request: Request) -> Response:
            return HTMLResponse(HARNESS)

        async def model(request: Request) -> Response:
            path = files / request.path_params["name"]
            if not path.is_file():
                return PlainTextResponse("없음", status_code=404)
            return FileResponse(path, media_type="model/gltf-binary")

        self._bind_and_serve(Starlette(routes=[
            Route("/harness", harness),
            Route("/favicon.ico", lambda request: Response(status_code=204)),  # no 404 in the console
            Route("/avatar/files/{name}", model),
            Mount("/static", StaticFiles(directory=STATIC)),
        ]))

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"


def strip_vrm(src: Path, dst: Path) -> Path:
    """The same GLB without its VRM extension: a valid glTF that is not a VRM."""
    data = src.read_bytes()
    json_len = struct.unpack_from("<I", data, 12)[0]
    doc = json.loads(data[20:20 + json_len])
    doc.pop("extensions")
    doc.pop("extensionsUsed")
    text = json.dumps(doc).encode()
    text += b" " * (-len(text) % 4)
    body = struct.pack("<II", len(text), 0x4E4F534A) + text + data[20 + json_len:]
    dst.write_bytes(struct.pack("<III", 0x46546C67, 2, 12 + len(body)) + body)
    return dst


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    files = tmp_path_factory.mktemp("avatar_files")
    make_vrm(files / "model1.vrm", "1.0")
    make_vrm(files / "model0.vrm", "0.0")
    strip_vrm(files / "model1.vrm", files / "plain.glb")
    (files / "broken.vrm").write_bytes(np.random.default_rng(7).integers(0, 256, 4096, np.uint8).tobytes())
    with Site(files) as server:
        yield server


@pytest.fixture(scope="module")
def gl_browser() -> Iterator[Any]:
    with sync_api.sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=GL_ARGS)
        try:
            yield b
        finally:
            b.close()


class AvatarPage:
    def __init__(self, page: Any) -> None:
        self.page = page
        self.errors: list[str] = []
        self.warnings: list[str] = []
        self.version = ""
        page.on("console", self._console)
        page.on("pageerror", lambda exc: self.errors.append(f"pageerror: {exc}"))

    def _console(self, msg: Any) -> None:
        if msg.type == "error":
            self.errors.append(msg.text)
        elif msg.type == "warning":
            self.warnings.append(msg.text)

    def open(self, base: str, model: str, camera: dict | None = None) -> str:
        query = f"url=/avatar/files/{model}%3Fv%3D3"  # as the avatar page asks, with a cache-busting query
        if camera is not None:
            query += "&camera=" + urllib.parse.quote(json.dumps(camera))
        self.page.goto(f"{base}/harness?{query}")
        self.page.wait_for_function("() => window.loadState", timeout=30_000)
        return self.page.evaluate("() => window.loadState")

    def js(self, expression: str, arg: Any = None) -> Any:
        return self.page.evaluate(expression, arg)

    @property
    def frames(self) -> int:
        return int(self.js("() => window.__vrmDebug.frames"))

    def push(self, emotion: str = "neutral", **pose: float) -> None:
        full = {"mouth": 0.0, "eyes": 1.0, "yaw": 0.0, "pitch": 0.0, "roll": 0.0, "x": 0.0, "y": 0.0,
                "smile": 0.0, **pose}
        self.js("(f) => window.pushFrame(f)", {"t": 0, "emotion": emotion, "speaking": full["mouth"] > 0,
                                              "pose": full, "params": {"MouthOpen": full["mouth"]}})

    def wait_frames(self, n: int = 2) -> None:
        """Wait until `n` more frames have been rendered (a pushed frame shows from the next one)."""
        self.page.wait_for_function("(n) => window.__vrmDebug.frames >= n", arg=self.frames + n,
                                    timeout=10_000)

    def weights(self) -> dict[str, float]:
        return self.js("() => window.__vrmDebug.expressionWeights()")

    def head(self) -> dict[str, float]:
        return self.js("() => window.__vrmDebug.headRotation()")

    def wait_weight(self, name: str, above: float | None = None, below: float | None = None) -> None:
        cond = f"w.{name} > {above}" if above is not None else f"w.{name} < {below}"
        self.page.wait_for_function(
            f"() => {{ const w = window.__vrmDebug.expressionWeights(); return {cond}; }}", timeout=10_000)

    def screenshot(self) -> np.ndarray:
        """What OBS would composite: RGBA, the page's own background left transparent."""
        png = self.page.screenshot(omit_background=True)
        return np.asarray(Image.open(io.BytesIO(png)).convert("RGBA"))


@pytest.fixture(scope="module", params=["1.0", "0.0"], ids=["vrm1", "vrm0"])
def avatar(request: pytest.FixtureRequest, gl_browser: Any, site: Site) -> Iterator[AvatarPage]:
    context = gl_browser.new_context(viewport=VIEW)
    page = AvatarPage(context.new_page())
    model = "model1.vrm" if request.param == "1.0" else "model0.vrm"
    state = page.open(site.url, model)
    assert state == "ready", page.js("() => window.loadError")
    page.version = request.param
    try:
        yield page
    finally:
        context.close()


def test_loads_without_console_errors(avatar: AvatarPage) -> None:
    avatar.wait_frames(3)
    assert avatar.js("() => window.__vrmDebug.version") == avatar.version[0]
    assert avatar.js("() => document.querySelectorAll('#stage canvas').length") == 1
    assert avatar.errors == []
    # three-vrm warns about anything in the model it skips: the fixture must be a clean VRM
    assert [w for w in avatar.warnings if "VRM" in w] == []
    weights = avatar.weights()
    assert set(weights) == {"aa", "blink", "happy", "sad", "angry", "surprised", "relaxed", "neutral"}


def test_mouth_follows_a_pulsing_sequence(avatar: AvatarPage) -> None:
    for mouth in (0.8, 0.0, 0.8, 0.3, 0.0, 1.0, 0.0):
        avatar.push(mouth=mouth)
        avatar.wait_frames(2)
        assert avatar.weights()["aa"] == pytest.approx(mouth, abs=1e-6)


def test_blink_follows_the_eyes(avatar: AvatarPage) -> None:
    avatar.push(eyes=0.0)
    avatar.wait_frames(2)
    assert avatar.weights()["blink"] == pytest.approx(1.0)
    avatar.push(eyes=0.25)
    avatar.wait_frames(2)
    assert avatar.weights()["blink"] == pytest.approx(0.75)
    avatar.push(eyes=1.0)
    avatar.wait_frames(2)
    assert avatar.weights()["blink"] == pytest.approx(0.0)


def _trace_until(avatar: AvatarPage, emotion: str, name: str, above: float | None = None,
                 below: float | None = None) -> list[dict]:
    avatar.js("() => { window.trace = []; }")
    avatar.push(emotion)
    avatar.wait_weight(name, above=above, below=below)
    avatar.wait_frames(1)
    return avatar.js("() => { const t = window.trace; window.trace = null; return t; }")


def test_emotion_eases_in_and_out(avatar: AvatarPage) -> None:
    avatar.push("neutral")
    avatar.wait_weight("happy", below=0.01)

    trace = _trace_until(avatar, "happy", "happy", above=0.95)
    happy = [f["w"]["happy"] for f in trace]
    assert all(b >= a - 1e-9 for a, b in itertools.pairwise(happy)), happy  # rises, never dips
    assert any(0.02 < w < 0.9 for w in happy), happy  # passes through in-between weights: no snap
    start = next(f["t"] for f in trace if f["w"]["happy"] > 0)
    reach = next(f["t"] for f in trace if f["w"]["happy"] > 0.9)
    assert reach - start >= 80, (reach - start, happy)  # ms: eased over ~0.2 s, not one frame
    assert max(f["w"]["sad"] for f in trace) == 0

    trace = _trace_until(avatar, "neutral", "happy", below=0.02)
    happy = [f["w"]["happy"] for f in trace]
    assert all(b <= a + 1e-9 for a, b in itertools.pairwise(happy)), happy
    assert any(0.1 < w < 0.98 for w in happy), happy


@pytest.mark.parametrize("emotion, expected", [
    ("sad", {"sad": 1.0}), ("angry", {"angry": 1.0}), ("surprised", {"surprised": 1.0}),
    ("excited", {"happy": 1.0, "surprised": 0.3}), ("nonsense", {}),
])
def test_each_emotion_reaches_its_expressions(avatar: AvatarPage, emotion: str, expected: dict) -> None:
    avatar.push(emotion)
    avatar.js("() => new Promise((r) => setTimeout(r, 50))")
    avatar.page.wait_for_function(
        """(want) => { const w = window.__vrmDebug.expressionWeights();
            return ['happy', 'sad', 'angry', 'surprised', 'relaxed'].every(
              (k) => Math.abs(w[k] - (want[k] || 0)) < 0.02); }""", arg=expected, timeout=10_000)
    avatar.push("neutral")


@pytest.mark.parametrize("pose, axis, expected", [
    ({"yaw": 20.0}, "y", 20.0), ({"yaw": -25.0}, "y", -25.0),
    ({"pitch": 12.0}, "x", -12.0), ({"roll": 10.0}, "z", -10.0), ({"yaw": 90.0}, "y", 45.0),
])
def test_head_turns_with_the_pose(avatar: AvatarPage, pose: dict, axis: str, expected: float) -> None:
    """World rotation of the head, the model facing the camera (+Z) for both versions. The pose uses
    Live2D's ParamAngleX/Y/Z signs (+ = the screen's right, up, top to the screen's right); in three.js
    terms +y turns to the model's left, -x looks up, -z tilts clockwise as the viewer sees it."""
    avatar.push(**pose)
    avatar.wait_frames(2)
    rotation = avatar.head()
    assert rotation[axis] == pytest.approx(expected, abs=3.0), rotation  # breathing adds ~1.6° of pitch
    for other in {"x", "y", "z"} - {axis}:
        assert abs(rotation[other]) < 3.0, rotation
    avatar.push()
    avatar.wait_frames(2)
    assert all(abs(v) < 3.0 for v in avatar.head().values())


def _mouth_pixels(rgba: np.ndarray) -> np.ndarray:
    r, g, b, a = (rgba[..., i].astype(int) for i in range(4))
    return (a > 200) & (r > 100) & (r - g > 60) & (r - b > 40)  # the fixture's red mouth, lit


def test_transparent_background_and_visible_model(avatar: AvatarPage) -> None:
    avatar.push()
    avatar.wait_frames(3)
    rest = avatar.screenshot()
    h, w = rest.shape[:2]
    for y, x in ((2, 2), (2, w - 3), (h - 3, 2), (h - 3, w - 3)):
        assert rest[y, x, 3] == 0, (y, x, rest[y, x])
    opaque = rest[..., 3] > 200
    assert opaque.mean() > 0.05  # the bust fills a good part of the frame
    assert opaque[h // 2 - 20:h // 2 + 20, w // 2 - 20:w // 2 + 20].all()  # the middle is the model
    mouth_rest = _mouth_pixels(rest)
    assert mouth_rest.sum() > 10

    avatar.push(mouth=1.0)
    avatar.wait_frames(3)
    mouth_open = _mouth_pixels(avatar.screenshot())
    assert mouth_open.sum() > 2.5 * mouth_rest.sum()  # the aa morph grows the mouth box fivefold

    avatar.push(yaw=30.0)
    avatar.wait_frames(3)
    turned = _mouth_pixels(avatar.screenshot())
    shift = np.nonzero(turned)[1].mean() - np.nonzero(mouth_rest)[1].mean()
    assert shift > 10, shift  # +yaw: the face turns to the model's left, the viewer's right
    avatar.push()
    avatar.wait_frames(2)


def test_frame_rate(avatar: AvatarPage) -> None:
    fps = avatar.js("""async () => { const c0 = window.rafCount, t0 = performance.now();
        await new Promise((r) => setTimeout(r, 2000));
        return (window.rafCount - c0) * 1000 / (performance.now() - t0); }""")
    ms = avatar.js("""() => { const t0 = performance.now();
        for (let i = 0; i < 20; i++) window.avatar.update(null, 1 / 60);
        return (performance.now() - t0) / 20; }""")
    print(f"\nVRM {avatar.version} (SwiftShader, {VIEW['width']}x{VIEW['height']}): "
          f"{fps:.1f} FPS by requestAnimationFrame, update() {ms:.1f} ms of JS a frame (GPU work is async)")
    assert fps > 0


def test_dispose_removes_the_canvas(gl_browser: Any, site: Site) -> None:
    context = gl_browser.new_context(viewport=VIEW)
    try:
        page = AvatarPage(context.new_page())
        assert page.open(site.url, "model1.vrm") == "ready"
        page.js("() => window.avatar.dispose()")
        assert page.js("() => document.querySelectorAll('canvas').length") == 0
        assert page.js("() => window.__vrmDebug === undefined")
        assert page.errors == []
    finally:
        context.close()


@pytest.mark.parametrize("model, detail", [
    ("broken.vrm", ""), ("missing.vrm", "404"), ("plain.glb", "VRM 정보"),
])
def test_a_bad_file_rejects_in_korean(gl_browser: Any, site: Site, model: str, detail: str) -> None:
    context = gl_browser.new_context(viewport=VIEW)
    try:
        page = AvatarPage(context.new_page())
        assert page.open(site.url, model) == "failed"
        error = page.js("() => window.loadError")
        assert error["isError"] is True
        assert error["message"].startswith("VRM 파일을 읽지 못했어요: "), error
        assert detail in error["message"]
        assert error["canvases"] == 0  # nothing half-built left on the page
        assert page.js("() => window.__vrmDebug === undefined")
    finally:
        context.close()


def test_no_webgl_rejects_in_korean(gl_browser: Any, site: Site) -> None:
    """OBS with its browser source's hardware acceleration off can lack WebGL: say so, leave no canvas."""
    context = gl_browser.new_context(viewport=VIEW)
    try:
        context.add_init_script("""{ const get = HTMLCanvasElement.prototype.getContext;
            HTMLCanvasElement.prototype.getContext = function (kind, ...rest) {
              return /webgl/.test(kind) ? null : get.call(this, kind, ...rest); }; }""")
        page = AvatarPage(context.new_page())
        assert page.open(site.url, "model1.vrm") == "failed"
        error = page.js("() => window.loadError")
        assert error["message"].startswith("VRM 모델을 그리지 못했어요: 이 브라우저에서 WebGL을 쓸 수 없어요"), error
        assert "하드웨어 가속" in error["message"]
        assert error["canvases"] == 0
    finally:
        context.close()


def test_camera_fields_are_honoured(gl_browser: Any, site: Site) -> None:
    """A far, wide camera shows the whole small figure; the default bust shot fills the frame."""
    coverage = {}
    for name, camera in (("bust", None), ("far", {"distance": 4.0, "height": 0.9, "fov": 40})):
        context = gl_browser.new_context(viewport=VIEW)
        try:
            page = AvatarPage(context.new_page())
            assert page.open(site.url, "model1.vrm", camera) == "ready"
            page.wait_frames(3)
            rgba = page.screenshot()
            coverage[name] = (rgba[..., 3] > 200).mean()
            if name == "far":
                rows = np.nonzero((rgba[..., 3] > 200).any(axis=1))[0]
                assert rows.min() > 5 and rows.max() < VIEW["height"] - 5  # head to feet inside the frame
        finally:
            context.close()
    assert coverage["bust"] > 2 * coverage["far"], coverage
