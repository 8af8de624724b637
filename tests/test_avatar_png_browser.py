"""The /avatar page (image-set mode) in real headless Chromium, against the real router and store
served by uvicorn on loopback, with a parameter feed the test scripts (`WS /ws/params`).

Every image of the test sets is one solid colour, different from all others, so the pixel at the
centre of a screenshot says which image is on screen: idle, emotions, the mouth following a
pulsing value (and not flickering on a value wobbling between the thresholds), closed after
speech, blinks, broken sets, a new set swapped in without a reload, a daemon restart."""

from __future__ import annotations

import asyncio
import contextlib
import io
import itertools
import json
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from browser_helpers import require_browser
from daemon import free_port
from fastapi import FastAPI, WebSocket
from fastapi.staticfiles import StaticFiles
from PIL import Image

from aischoco.avatar.image_set import EMOTIONS, SLOTS
from aischoco.avatar.routes import avatar_router
from aischoco.avatar.store import AvatarStore

require_browser()

STATIC = Path(__file__).resolve().parent.parent / "src" / "aischoco" / "overlay" / "static"
SIZE = (64, 48)  # not square: the page must fit it (contain), not stretch it
HIGH, LOW = 0.8, 0.0


# --- solid-colour sets ----------------------------------------------------------------------------
def palette(levels: tuple[int, int, int]) -> dict[str, tuple[int, int, int]]:
    """24 colours, one per emotion/slot, at least 90 apart on some channel."""
    keys = [f"{e}/{s}" for e in EMOTIONS for s in SLOTS]
    return {key: (levels[i % 3], levels[(i // 3) % 3], levels[(i // 9) % 3])
            for i, key in enumerate(keys)}


SET_A = palette((40, 130, 220))
SET_B = palette((85, 175, 255))  # 45 off set A on every channel: never confused with it


def solid_png(colour: tuple[int, int, int], size: tuple[int, int] = SIZE) -> bytes:
    out = io.BytesIO()
    Image.new("RGBA", size, (*colour, 255)).save(out, "PNG")
    return out.getvalue()


def write_set(root: Path, colours: dict[str, tuple[int, int, int]]) -> Path:
    for key, colour in colours.items():
        path = root / f"{key}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(solid_png(colour))
    return root


def which(rgba: tuple[int, ...]) -> str:
    """The image a pixel belongs to: 'A:happy/open', 'B:neutral/closed', or 'none'."""
    if rgba[3] < 200:
        return "none"
    best, name = 1e9, "none"
    for tag, colours in (("A", SET_A), ("B", SET_B)):
        for key, colour in colours.items():
            d = sum(abs(a - b) for a, b in zip(rgba[:3], colour, strict=True))
            if d < best:
                best, name = d, f"{tag}:{key}"
    return name if best <= 24 else f"unknown{tuple(rgba)}"


# --- the scripted parameter feed and the server ---------------------------------------------------
def frame(emotion: str = "neutral", mouth: float = 0.0, eyes: float = 1.0, speaking: bool = False,
          x: float = 0.0, roll: float = 0.0) -> dict[str, Any]:
    return {"t": time.time(), "emotion": emotion, "speaking": speaking,
            "pose": {"mouth": mouth, "eyes": eyes, "yaw": 0, "pitch": 0, "roll": roll, "x": x,
                     "y": 0, "smile": 0}, "params": {"MouthOpen": mouth}}


Source = Callable[[float], dict[str, Any] | None]  # seconds since play() → frame (None: send nothing)


class Feed:
    def __init__(self) -> None:
        self._source: Source = lambda t: frame()
        self._t0 = time.monotonic()

    def play(self, source: Source) -> None:
        self._t0 = time.monotonic()
        self._source = source

    def hold(self, **values: Any) -> None:
        self.play(lambda t: frame(**values))

    def next(self) -> dict[str, Any] | None:
        return self._source(time.monotonic() - self._t0)


@dataclass
class Site:
    root: Path
    cfg: dict[str, Any]
    feed: Feed
    store: AvatarStore
    port: int
    server: uvicorn.Server | None = None
    thread: threading.Thread | None = None
    sets: dict[str, Path] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def build_app(self) -> FastAPI:
        app = FastAPI()
        app.include_router(avatar_router(self.store, require_password=lambda: None))
        app.mount("/static", StaticFiles(directory=STATIC), name="static")
        feed = self.feed

        @app.websocket("/ws/params")
        async def params(ws: WebSocket) -> None:
            await ws.accept()
            with contextlib.suppress(Exception):  # the page went away or the server stops
                while True:
                    data = feed.next()
                    if data is not None:
                        await ws.send_text(json.dumps(data))
                    await asyncio.sleep(1 / 60)
        return app

    def start(self) -> None:
        config = uvicorn.Config(self.build_app(), host="127.0.0.1", port=self.port,
                                log_level="warning", timeout_graceful_shutdown=1, lifespan="off")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            assert time.monotonic() < deadline, "uvicorn did not start"
            time.sleep(0.02)

    def stop(self) -> None:
        assert self.server is not None and self.thread is not None
        self.server.should_exit = True
        self.thread.join(10)
        assert not self.thread.is_alive()

    def use(self, mode: str, path: Path) -> None:
        self.cfg["mode"], self.cfg["path"] = mode, str(path)


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    root = tmp_path_factory.mktemp("avatar-page")
    cfg: dict[str, Any] = {"mode": "png", "path": ""}
    store = AvatarStore(lambda: cfg["mode"], lambda: cfg["path"], root / "user")
    s = Site(root=root, cfg=cfg, feed=Feed(), store=store, port=free_port())
    s.sets["a"] = write_set(root / "a", SET_A)
    s.sets["b"] = write_set(root / "b", SET_B)
    s.sets["broken"] = write_set(root / "broken", {"neutral/closed": SET_A["neutral/closed"]})
    s.use("png", s.sets["a"])
    s.start()
    try:
        yield s
    finally:
        s.stop()


@pytest.fixture
def reset(site: Site) -> Iterator[Site]:
    """Set A, idle; loaded now, so a page opened next never sees the last test's set (the store
    looks at the disk at most once a second)."""
    site.use("png", site.sets["a"])
    site.store.load()
    site.feed.hold()
    yield site
    site.use("png", site.sets["a"])
    site.store.load()
    site.feed.hold()


# --- page helpers ---------------------------------------------------------------------------------
@dataclass
class Page:
    page: Any
    errors: list[str]

    def shown(self) -> str:
        return self.page.evaluate("window.__avatarDebug && window.__avatarDebug.shown")

    def wait_shown(self, key: str, timeout_ms: int = 5000) -> None:
        self.page.wait_for_function("k => window.__avatarDebug && window.__avatarDebug.shown === k",
                                    arg=key, timeout=timeout_ms)

    def pixel(self, x: float | None = None, y: float | None = None) -> tuple[int, ...]:
        size = self.page.viewport_size
        x = size["width"] / 2 if x is None else x
        y = size["height"] / 2 if y is None else y
        png = self.page.screenshot(clip={"x": x, "y": y, "width": 1, "height": 1},
                                   omit_background=True)
        return Image.open(io.BytesIO(png)).convert("RGBA").getpixel((0, 0))

    def on_screen(self) -> str:
        return which(self.pixel())

    def record(self) -> None:
        """Log every change of the shown image with the renderer's own timestamp."""
        self.page.evaluate("""() => {
          const log = window.__shownLog = [];
          let last = null;
          const step = () => {
            const d = window.__avatarDebug;
            if (d.shown !== last) { log.push([d.changedAt, d.shown]); last = d.shown; }
            requestAnimationFrame(step);
          };
          step();
        }""")

    def log(self) -> list[tuple[float, str]]:
        return [tuple(entry) for entry in self.page.evaluate("window.__shownLog")]


@contextlib.contextmanager
def avatar_page(browser: Any, site: Site, width: int = 960, height: int = 540,
                query: str = "") -> Iterator[Page]:
    ctx = browser.new_context(viewport={"width": width, "height": height})
    ctx.set_default_timeout(10_000)
    page = ctx.new_page()
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    try:
        page.goto(f"{site.url}/avatar{query}")
        page.wait_for_function("window.__avatarDebug && window.__avatarDebug.shown !== ''")
        yield Page(page, errors)
    finally:
        ctx.close()


def no_scrollbars(page: Any) -> bool:
    return page.evaluate("""() => {
      const d = document.documentElement;
      return d.scrollWidth <= innerWidth && d.scrollHeight <= innerHeight
        && document.body.scrollWidth <= innerWidth && document.body.scrollHeight <= innerHeight;
    }""")


def image_box(page: Any) -> dict[str, float]:
    return page.evaluate("""() => {
      const img = [...document.querySelectorAll('#stage img')].find(i => i.style.visibility === 'visible');
      const r = img.getBoundingClientRect();
      return {x: r.x, y: r.y, width: r.width, height: r.height};
    }""")


# --- tests ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("width,height", [(1920, 1080), (480, 270)])
def test_idle_is_neutral_closed_centred_transparent_without_scrollbars(
        browser: Any, reset: Site, width: int, height: int) -> None:
    with avatar_page(browser, reset, width, height) as p:
        p.wait_shown("neutral/closed")
        assert p.on_screen() == "A:neutral/closed"
        assert p.pixel(1, 1)[3] == 0 and p.pixel(width - 2, height - 2)[3] == 0  # transparent
        assert no_scrollbars(p.page)
        box = image_box(p.page)
        # contain: the whole image inside the window, its aspect kept, ~94 % of the tight side
        assert 0 <= box["x"] and box["x"] + box["width"] <= width
        assert 0 <= box["y"] and box["y"] + box["height"] <= height
        assert box["width"] / box["height"] == pytest.approx(SIZE[0] / SIZE[1], rel=0.02)
        assert box["height"] == pytest.approx(0.94 * height, rel=0.04)
        assert p.page.is_hidden("#placeholder") and p.page.is_hidden("#debug")
        if width == 1920:
            start = p.page.evaluate("[performance.now(), window.__avatarDebug.frames]")
            time.sleep(2)
            end = p.page.evaluate("[performance.now(), window.__avatarDebug.frames]")
            fps = (end[1] - start[1]) * 1000 / (end[0] - start[0])
            print(f"\navatar page (png) FPS over 2 s at 1920×1080 in headless Chromium: {fps:.1f}")
            assert fps > 30
        assert p.errors == []


def test_every_emotion_and_slot_shows_its_own_image(browser: Any, reset: Site) -> None:
    with avatar_page(browser, reset) as p:
        for emotion in EMOTIONS:
            for slot in SLOTS:
                reset.feed.hold(emotion=emotion, mouth=HIGH if slot.startswith("open") else LOW,
                                eyes=0.1 if slot.endswith("blink") else 1.0,
                                speaking=slot.startswith("open"))
                p.wait_shown(f"{emotion}/{slot}")
                assert p.on_screen() == f"A:{emotion}/{slot}"
        reset.feed.hold(emotion="confused")  # not one of ours: neutral
        p.wait_shown("neutral/closed")
        assert p.errors == []


def test_the_mouth_follows_a_pulsing_level_and_closes_after_speech(browser: Any,
                                                                   reset: Site) -> None:
    period, seconds = 0.3, 2.4  # 150 ms loud, 150 ms quiet: syllables
    with avatar_page(browser, reset) as p:
        p.wait_shown("neutral/closed")
        p.record()

        def talking(t: float) -> dict[str, Any]:
            if t >= seconds:
                return frame("happy")  # the answer is over: quiet, not speaking
            return frame("happy", mouth=HIGH if (t % period) < period / 2 else 0.05,
                         speaking=True)

        reset.feed.play(talking)
        time.sleep(seconds / 2)
        mid = p.on_screen()
        time.sleep(seconds / 2 + 0.4)
        log = p.log()
        opens = [t for t, shown in log if shown == "happy/open"]
        assert abs(len(opens) - seconds / period) <= 2, log  # one open per pulse
        gaps = [b - a for a, b in itertools.pairwise(opens)]
        assert all(0.2 * 1000 < g < 0.45 * 1000 for g in gaps), gaps  # in step with the pulses
        assert mid in ("A:happy/open", "A:happy/closed")
        assert log[-1][1] == "happy/closed"  # closed after speech ...
        assert p.on_screen() == "A:happy/closed"  # ... and on screen
        assert p.errors == []


def test_no_flicker_between_the_thresholds_or_faster_than_the_hold(browser: Any,
                                                                   reset: Site) -> None:
    with avatar_page(browser, reset) as p:
        p.wait_shown("neutral/closed")
        p.record()
        # a value wobbling inside the gap (0.15-0.30) never opens a closed mouth
        reset.feed.play(lambda t: frame(mouth=0.2 if int(t * 60) % 2 else 0.28, speaking=True))
        time.sleep(0.8)
        assert [s for _, s in p.log()] == ["neutral/closed"]
        # once open, a value wobbling around the open threshold keeps it open: one change
        reset.feed.play(lambda t: frame(mouth=0.32 if int(t * 60) % 2 else 0.2, speaking=True))
        time.sleep(0.8)
        assert [s for _, s in p.log()] == ["neutral/closed", "neutral/open"]
        # a level flipping every frame (16 ms) changes the image at most every 60 ms
        reset.feed.play(lambda t: frame(mouth=0.9 if int(t * 60) % 2 else 0.0, speaking=True))
        time.sleep(1.0)
        times = [t for t, _ in p.log()[1:]]
        assert len(times) >= 5
        assert min(b - a for a, b in itertools.pairwise(times)) >= 59
        assert p.errors == []


def test_blinks_and_a_stalled_feed_rests_the_face(browser: Any, reset: Site) -> None:
    with avatar_page(browser, reset) as p:
        reset.feed.hold(eyes=0.2)
        p.wait_shown("neutral/closed_blink")
        assert p.on_screen() == "A:neutral/closed_blink"
        reset.feed.hold(eyes=0.7)  # half open counts as open
        p.wait_shown("neutral/closed")
        reset.feed.hold(emotion="sad", mouth=HIGH, eyes=0.0, speaking=True)
        p.wait_shown("sad/open_blink")
        assert p.on_screen() == "A:sad/open_blink"
        # the daemon stops sending mid-word: after a moment the mouth shuts, eyes open
        reset.feed.play(lambda t: None)
        p.wait_shown("neutral/closed", timeout_ms=2000)
        assert p.errors == []


def test_a_broken_set_shows_the_reason_and_a_fixed_one_comes_back(browser: Any,
                                                                  reset: Site) -> None:
    with avatar_page(browser, reset) as p:
        p.wait_shown("neutral/closed")
        p.page.evaluate("window.__marker = 7")
        reset.use("png", reset.sets["broken"])
        p.page.wait_for_selector("#placeholder:not([hidden])", timeout=8000)
        assert "neutral/open.png가 없어요" in p.page.inner_text("#placeholder")
        shot = Image.open(io.BytesIO(p.page.screenshot(omit_background=True))).convert("RGBA")
        assert shot.getchannel("A").getextrema()[1] > 0  # not a blank page
        assert p.page.evaluate("window.__avatarDebug.shown") == ""
        reset.use("off", reset.sets["a"])
        p.page.wait_for_function(
            "document.querySelector('#placeholder .text').textContent === '아바타 꺼짐'",
            timeout=8000)
        reset.use("png", reset.sets["a"])
        p.wait_shown("neutral/closed", timeout_ms=8000)
        assert p.page.is_hidden("#placeholder")
        assert p.on_screen() == "A:neutral/closed"
        assert p.page.evaluate("window.__marker") == 7  # no reload
        assert p.errors == []


def test_a_new_set_or_an_edited_file_swaps_in_without_a_reload(browser: Any, reset: Site,
                                                               tmp_path: Path) -> None:
    edited = write_set(tmp_path / "edited", SET_A)
    reset.use("png", edited)
    reset.store.load()  # now, not after the 1 s refresh throttle: `version` below is this set's
    with avatar_page(browser, reset) as p:
        p.wait_shown("neutral/closed")
        assert p.on_screen() == "A:neutral/closed"
        version = p.page.evaluate("window.__avatarDebug.version")
        p.page.evaluate("window.__marker = 1")
        reset.use("png", reset.sets["b"])
        p.page.wait_for_function(f"window.__avatarDebug.version !== {version!r}", timeout=8000)
        p.wait_shown("neutral/closed")
        assert p.on_screen() == "B:neutral/closed"
        # an image edited in place on disk (same name) is noticed too
        reset.use("png", edited)
        p.page.wait_for_function(f"window.__avatarDebug.version === {version!r}", timeout=8000)
        assert p.on_screen() == "A:neutral/closed"
        (edited / "neutral" / "closed.png").write_bytes(solid_png(SET_B["happy/open"]))
        p.page.wait_for_function(f"window.__avatarDebug.version !== {version!r}", timeout=8000)
        deadline = time.monotonic() + 3
        while p.on_screen() != "B:happy/open":
            assert time.monotonic() < deadline, p.on_screen()
            time.sleep(0.05)
        assert p.page.evaluate("window.__marker") == 1
        assert p.errors == []


def test_debug_corner_on_request(browser: Any, reset: Site) -> None:
    with avatar_page(browser, reset, query="?debug=1") as p:
        p.page.wait_for_function(
            "document.getElementById('debug').textContent.includes('neutral/closed')")
        assert p.page.is_visible("#debug")
        assert "FPS" in p.page.inner_text("#debug")


def test_align_bottom_stands_the_bust_on_the_bottom_edge(browser: Any, reset: Site) -> None:
    with avatar_page(browser, reset, 800, 600, query="?align=bottom") as p:
        p.wait_shown("neutral/closed")
        box = image_box(p.page)
        assert box["y"] + box["height"] > 600  # the cut edge hangs below the window
        assert box["y"] > 0 and abs(box["x"] + box["width"] / 2 - 400) < 20  # centred across
        assert no_scrollbars(p.page)
        assert which(p.pixel(400, 590)) == "A:neutral/closed"
        assert p.errors == []


def test_the_page_follows_a_daemon_restart(browser: Any, reset: Site) -> None:
    with avatar_page(browser, reset) as p:
        reset.feed.hold(emotion="happy")
        p.wait_shown("happy/closed")
        p.page.evaluate("window.__marker = 3")
        reset.stop()
        try:
            # gone: the avatar stays on screen at rest (no blank, no frozen open mouth)
            p.wait_shown("neutral/closed", timeout_ms=3000)
            time.sleep(1.5)
            assert p.on_screen() == "A:neutral/closed"
            assert p.page.evaluate("window.__avatarDebug.socket") == "closed"
        finally:
            reset.feed.hold(emotion="excited", mouth=HIGH, speaking=True)
            reset.start()
        p.wait_shown("excited/open", timeout_ms=10_000)  # the socket came back by itself
        assert p.on_screen() == "A:excited/open"
        assert p.page.evaluate("window.__marker") == 3
        # only the browser's own lines about the refused connections while it was down
        assert all("ERR_CONNECTION_REFUSED" in e or "WebSocket connection" in e
                   for e in p.errors), p.errors
