"""Vision: frames (scale, encode, perceptual difference), the OBS WebSocket v5 peer (auth, scenes,
wrong password, a socket closed mid-session), a real X display (Xvfb) with a window of known
colours captured through mss, and the vision component against the OpenAI peer (the image decoded
back, unchanged frames not sent, the note in the next reply, 429 handling, pause)."""

from __future__ import annotations

import asyncio
import base64
import io
import os
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from aischoco.ai.groq_client import GroqClient
from aischoco.ai.prompts import SCREEN_CLOSE, SCREEN_OPEN
from aischoco.core.status import State, StatusBoard
from aischoco.vision.component import Vision
from aischoco.vision.describer import SceneDescriber
from aischoco.vision.frames import (CHANGED_AT, decode_data_uri, difference, prepare, prepare_raw,
                                    scaled, signature)
from aischoco.vision.obs_ws import ObsAuthError, ObsError
from aischoco.vision.sources import ObsSource, ScreenSource
from peers.obs_ws_server import ObsServer
from peers.openai_server import OpenAIServer, RateLimited, Reply
from system_deps import require_chromium, require_xvfb


def _mean(image: Image.Image) -> tuple[int, int, int]:
    small = image.convert("RGB").resize((1, 1), Image.Resampling.BOX)
    return small.getpixel((0, 0))  # type: ignore[return-value]


def _close(a: tuple[int, int, int], b: tuple[int, int, int], tol: int = 12) -> bool:
    return all(abs(x - y) <= tol for x, y in zip(a, b, strict=True))


# --- frames (pure) -------------------------------------------------------------------------------


def test_frames_are_scaled_encoded_and_compared_cheaply() -> None:
    red = Image.new("RGB", (1920, 1080), (200, 30, 30))
    assert scaled(red).size == (1280, 720) and scaled(Image.new("RGB", (640, 360))).size == (640, 360)
    frame, sig, thumb = prepare(red)
    back = Image.open(io.BytesIO(frame))
    assert back.format == "JPEG" and back.size == (1280, 720) and _close(_mean(back), (200, 30, 30))
    assert max(Image.open(io.BytesIO(thumb)).size) == 320
    assert difference(sig, sig) == 0.0
    noisy = red.copy()
    noisy.paste((210, 35, 30), (0, 0, 40, 40))  # a blinking cursor, a clock: not a new picture
    assert difference(sig, signature(scaled(noisy))) < CHANGED_AT
    menu = red.copy()
    menu.paste((20, 20, 230), (0, 0, 960, 1080))  # half the screen changed: a new picture
    assert difference(sig, signature(scaled(menu))) > CHANGED_AT
    with pytest.raises(ValueError):
        decode_data_uri("data:text/plain;base64,aGVsbG8=")


async def _inline(fn, *args):  # type: ignore[no-untyped-def]
    """The worker-process runner, in this process (the component test uses the real one)."""
    return fn(*args)


async def _grab(source: ObsSource) -> Image.Image:
    """What the vision model would get from this source, decoded back."""
    frame, _, _ = await source.frame(_inline)
    return Image.open(io.BytesIO(frame))


# --- OBS WebSocket v5 ----------------------------------------------------------------------------


async def test_obs_screenshots_follow_the_program_scene() -> None:
    with ObsServer(password="pw-123") as obs:
        obs.scenes["메뉴"] = Image.new("RGB", (1920, 1080), (20, 20, 230))
        source = ObsSource(obs.url, "pw-123")
        try:
            first = await _grab(source)
            assert first.size == (1280, 720) and _close(_mean(first), (255, 0, 0), 20)
            obs.program = "메뉴"  # the streamer cut to another scene
            second = await _grab(source)
            assert _close(_mean(second), (20, 20, 230), 20) and source.scene == "메뉴"
            kinds = [r.type for r in obs.requests]
            assert kinds == ["GetCurrentProgramScene", "GetSourceScreenshot"] * 2
            shot = obs.requests[1].data
            assert shot["sourceName"] == "게임 장면" and shot["imageFormat"] == "jpg"
            assert obs.identified == 1  # one session for both frames
            obs.drop()  # OBS closed mid-session
            with pytest.raises(ObsError):
                await _grab(source)
            third = await _grab(source)  # reconnects on the next frame
            assert _close(_mean(third), (20, 20, 230), 20) and obs.identified == 2
        finally:
            await source.aclose()
        fixed = ObsSource(obs.url, "pw-123", source="게임 장면")
        try:
            assert _close(_mean(await _grab(fixed)), (255, 0, 0), 20)
            assert obs.requests[-1].type == "GetSourceScreenshot"  # no scene lookup
        finally:
            await fixed.aclose()
        missing = ObsSource(obs.url, "pw-123", source="없는 소스")
        with pytest.raises(ObsError, match="600"):
            await _grab(missing)
        await missing.aclose()


async def test_a_wrong_or_missing_obs_password_is_named() -> None:
    with ObsServer(password="right") as obs:
        for password, words in (("wrong", "틀립니다"), (None, "OBS_WS_PASSWORD")):
            source = ObsSource(obs.url, password)
            with pytest.raises(ObsAuthError, match=words):
                await _grab(source)
            await source.aclose()
        assert obs.refused == 1 and obs.identified == 0
    with ObsServer(password=None) as open_obs:  # OBS without a password set
        source = ObsSource(open_obs.url, None)
        assert (await _grab(source)).size == (1280, 720)
        await source.aclose()
    closed = ObsSource("ws://127.0.0.1:9", None)
    with pytest.raises(ObsError, match="연결할 수 없습니다"):
        await _grab(closed)


# --- a real X display ----------------------------------------------------------------------------

PAGE = ("data:text/html,<body style='margin:0'><div style='display:grid;grid-template:1fr 1fr/1fr 1fr;"
        "width:100vw;height:100vh'><div style='background:%23ff0000'></div><div style='background:%2300ff00'>"
        "</div><div style='background:%230000ff'></div><div style='background:%23ffffff'></div></div>")


def test_the_screen_is_captured_through_mss_on_a_real_x_display(tmp_path: Path) -> None:
    xvfb = require_xvfb()
    require_chromium()
    display = ":%d" % (90 + os.getpid() % 9)
    server = subprocess.Popen([xvfb, display, "-screen", "0", "800x600x24", "-nolisten", "tcp"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    browser = None
    try:
        time.sleep(0.5)
        browser = subprocess.Popen(
            ["/usr/bin/chromium", "--no-sandbox", "--disable-gpu", "--no-first-run", "--kiosk",
             "--window-position=0,0", "--window-size=800,600", f"--user-data-dir={tmp_path / 'c'}",
             "--disable-background-networking", "--disable-component-update", PAGE],
            env={**os.environ, "DISPLAY": display}, stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL)
        os.environ["DISPLAY"] = display
        source = ScreenSource(1)
        deadline = time.monotonic() + 20
        expected = [(255, 0, 0), (0, 255, 0), (0, 0, 255), (255, 255, 255)]
        while True:
            frame, _, _ = asyncio.run(source.frame(_inline))
            image = Image.open(io.BytesIO(frame)).convert("RGB")
            quadrants = [image.getpixel((x, y)) for x, y in ((200, 150), (600, 150), (200, 450),
                                                             (600, 450))]
            if all(_close(q, e, 16) for q, e in zip(quadrants, expected, strict=True)):
                break
            assert time.monotonic() < deadline, f"window colours not seen: {quadrants}"
            time.sleep(0.3)
        assert image.size == (800, 600)
        with pytest.raises(OSError, match="모니터 5"):
            asyncio.run(ScreenSource(5).frame(_inline))
    finally:
        os.environ.pop("DISPLAY", None)
        for proc in (browser, server):
            if proc is not None:
                proc.terminate()
                proc.wait(10)


# --- the component -------------------------------------------------------------------------------


class StillSource:
    """A frame source that returns what the test shows it (the picture on the stream)."""

    label = "테스트 화면"

    def __init__(self, color: tuple[int, int, int]) -> None:
        self.picture = Image.new("RGB", (1920, 1080), color)
        self.grabs = 0

    async def frame(self, run):  # type: ignore[no-untyped-def]
        self.grabs += 1
        picture = self.picture
        return await run(prepare_raw, picture.mode, picture.size, picture.tobytes())

    async def aclose(self) -> None:
        return None


def _image_of(request_body: dict[str, Any]) -> Image.Image:
    content = request_body["messages"][-1]["content"]
    url = next(part["image_url"]["url"] for part in content if part["type"] == "image_url")
    header, _, payload = url.partition(",")
    assert header == "data:image/jpeg;base64"
    return Image.open(io.BytesIO(base64.b64decode(payload)))


async def test_changed_frames_are_described_and_the_note_reaches_replies() -> None:
    paused = [False]
    with OpenAIServer() as llm:
        llm.script([Reply("보스 체력이 10% 남은 전투 화면."), RateLimited(retry_after=None),
                    Reply("인벤토리 메뉴가 열려 있음.")])
        client = GroqClient(api_key="gsk_vision", base_url=llm.base_url,
                            model="meta-llama/llama-4-scout-17b-16e-instruct", max_retries=0)
        source = StillSource((200, 30, 30))
        now = [1000.0]
        vision = Vision(source, SceneDescriber(client), interval_s=0.05,
                        paused=lambda: paused[0], clock=lambda: now[0])
        status = StatusBoard().register("vision", "화면 보기")
        task = asyncio.create_task(vision.run(status))
        try:
            await _until(lambda: vision.stats["described"] == 1)
            await _until(lambda: vision.stats["unchanged"] >= 3)  # same picture: not sent again
            assert len(llm.requests) == 1 and vision.latest() == {"note": "보스 체력이 10% 남은 전투 화면.",
                                                                  "at": 1000.0}
            body = llm.requests[0].body
            assert body["model"] == "meta-llama/llama-4-scout-17b-16e-instruct"
            sent = _image_of(body)
            assert sent.size == (1280, 720) and _close(_mean(sent), (200, 30, 30))
            now[0] += 12
            context = vision.context()
            assert context.splitlines()[1] == SCREEN_OPEN and context.endswith(SCREEN_CLOSE)
            assert "12초 전: 보스 체력이 10% 남은 전투 화면." in context
            source.picture = Image.new("RGB", (1920, 1080), (20, 20, 230))  # a new scene: 429
            await _until(lambda: vision.stats["rate_limited"] == 1)
            assert vision.latest()["note"].startswith("보스")  # the old note is kept
            sent_before = len(llm.requests)
            await asyncio.sleep(0.3)
            assert len(llm.requests) == sent_before  # backing off: no request while quiet
            now[0] += 61
            await _until(lambda: vision.stats["described"] == 2)
            assert vision.latest()["note"] == "인벤토리 메뉴가 열려 있음."
            assert _close(_mean(_image_of(llm.requests[-1].body)), (20, 20, 230))
            assert vision.new_scene() == "인벤토리 메뉴가 열려 있음." and vision.new_scene() is None
            paused[0] = True  # replies paused: capture stops
            await asyncio.sleep(0.1)
            grabs = source.grabs
            await asyncio.sleep(0.3)
            assert source.grabs == grabs and "멈춤" in status.current.detail
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            await vision.aclose()


async def test_a_failing_source_is_a_degraded_row_and_recovers() -> None:
    class Flaky(StillSource):
        async def frame(self, run):  # type: ignore[no-untyped-def]
            if self.grabs < 2:
                self.grabs += 1
                raise ObsError("OBS에 연결할 수 없습니다 (ws://127.0.0.1:4455)")
            return await super().frame(run)

    with OpenAIServer(default=Reply("빈 화면")) as llm:
        client = GroqClient(api_key="k", base_url=llm.base_url, model="m", max_retries=0)
        vision = Vision(Flaky((0, 0, 0)), SceneDescriber(client), interval_s=0.05)
        status = StatusBoard().register("vision", "화면 보기")
        seen: list[State] = []
        task = asyncio.create_task(vision.run(status))
        try:
            await _until(lambda: seen.append(status.current.state) or vision.stats["described"] == 1,
                         timeout=10)
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            await vision.aclose()
    assert State.DEGRADED in seen and status.current.state is State.RUNNING


async def _until(cond, timeout: float = 5.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, "condition not reached"
        await asyncio.sleep(0.01)
