"""The built-in avatar through the real daemon process and real Chromium: an answer's emotion and
the audio that actually plays drive the /avatar page (image sets of solid colours: a pixel tells
which image is shown; a generated VRM's expression weights), VTube Studio off or on, and a broken
set leaves the daemon running with a reason."""

from __future__ import annotations

import json
import shutil
import signal
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.sync.client import connect

from browser_helpers import require_browser
from daemon import run_daemon, voice_env, wait_until
from peers.openai_server import OpenAIServer, Stream
from peers.speech_server import SpeechServer
from test_avatar_png_browser import SET_A, which, write_set
from vrm_fixture import make_vrm

require_browser()
pytestmark = [pytest.mark.integration,
              pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")]

ROOT = Path(__file__).resolve().parents[1]
ANSWER = "정말 반가워요! 오늘 방송도 재미있게 놀아요. 아바타가 제 목소리를 따라 움직여요."


def _workdir(tmp_path: Path) -> Path:
    (tmp_path / "config").mkdir()
    shutil.copy(ROOT / "config" / "pose_mapping.json", tmp_path / "config")
    return tmp_path


def _row(url: str, name: str = "avatar") -> dict[str, Any]:
    rows = httpx.get(f"{url}/api/status", timeout=5).json()["components"]
    return next(r for r in rows if r["name"] == name)


def _opaque(page: Any) -> int:
    """Pixels the avatar covers (alpha > 0) on a transparent screenshot."""
    from io import BytesIO

    from PIL import Image
    alpha = Image.open(BytesIO(page.screenshot(omit_background=True))).getchannel("A")
    return sum(alpha.histogram()[1:])


def _page(browser: Any, url: str, query: str = "") -> tuple[Any, list[str]]:
    ctx = browser.new_context(viewport={"width": 640, "height": 480})
    page = ctx.new_page()
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(f"{url}/avatar{query}")
    return page, errors


def _centre(page: Any) -> str:
    png = page.screenshot(omit_background=True)
    from io import BytesIO

    from PIL import Image
    image = Image.open(BytesIO(png)).convert("RGBA")
    return which(image.getpixel((image.width // 2, image.height // 2)))


def _watch_shown(page: Any) -> None:
    page.evaluate("""() => { window.__seen = [];
      const tick = () => { const s = window.__avatarDebug && window.__avatarDebug.shown;
        if (s && window.__seen[window.__seen.length - 1] !== s) window.__seen.push(s);
        requestAnimationFrame(tick); }; tick(); }""")


def test_an_answer_moves_the_image_set_with_its_emotion_and_its_audio(tmp_path: Path,
                                                                      browser: Any) -> None:
    work = _workdir(tmp_path)
    write_set(work / "myset", SET_A)
    wav = work / "out.wav"
    with OpenAIServer() as llm, SpeechServer(ms_per_char=25) as tts:
        llm.script([Stream({"emotion": "happy", "response": ANSWER})])
        env = voice_env(llm.base_url, tts.base_url, wav, AVATAR="png", AVATAR_PATH="myset",
                        VTS_ENABLED="false", IDLE_TALK_AFTER_S="0")
        with run_daemon(work, **env) as daemon:
            wait_until(lambda: _row(daemon.url)["state"] == "running", what="the avatar row")
            wait_until(lambda: all(_row(daemon.url, n)["state"] == "running"
                                   for n in ("llm", "tts", "audio")), what="voice ready")
            assert "64×48" in _row(daemon.url)["detail"] and _row(daemon.url, "vts")["state"] == "off"
            page, errors = _page(browser, daemon.url)
            page.wait_for_function("window.__avatarDebug && window.__avatarDebug.shown")
            assert _centre(page) in ("A:neutral/closed", "A:neutral/closed_blink")
            _watch_shown(page)
            httpx.post(f"{daemon.url}/api/chat", json={"user": "민수", "message": "안녕!"}, timeout=5)
            # while the answer plays: its emotion, the mouth opening and closing with the audio
            page.wait_for_function("window.__seen.includes('happy/open')", timeout=20_000)
            wait_until(lambda: len(tts.speech_requests) >= 1, what="speech")
            wait_until(lambda: httpx.get(f"{daemon.url}/api/state", timeout=5).json()
                       ["queue"]["speaking"] is False, timeout=30, what="the turn over")
            # the mouth shuts when the audio stops, while the answer's face is still held
            page.wait_for_function("""() => { const s = window.__seen;
                const open = s.map(x => x.startsWith('happy/open')).lastIndexOf(true);
                return open >= 0 && s.slice(open + 1).some(x => x.startsWith('happy/closed')); }""",
                                   timeout=10_000)
            # after speech the mouth is shut, then the face goes back to neutral (held ~2 s)
            page.wait_for_function(
                "['neutral/closed','neutral/closed_blink'].includes(window.__avatarDebug.shown)",
                timeout=10_000)
            assert _centre(page) in ("A:neutral/closed", "A:neutral/closed_blink")
            assert errors == []
            daemon.stop(signal.SIGTERM)


def test_a_broken_set_keeps_the_daemon_and_says_why_then_a_fixed_one_shows(tmp_path: Path,
                                                                        browser: Any) -> None:
    work = _workdir(tmp_path)
    write_set(work / "myset", SET_A)
    (work / "myset" / "neutral" / "closed.png").unlink()
    with run_daemon(work, AVATAR="png", AVATAR_PATH="myset", VTS_ENABLED="false",
                    TTS_ENGINE="off") as daemon:
        row = wait_until(lambda: (r := _row(daemon.url))["state"] == "degraded" and r,
                         what="the avatar row degraded")
        assert "neutral/closed.png" in row["detail"] and row["hint"]
        page, errors = _page(browser, daemon.url)
        page.wait_for_function("document.body.innerText.includes('neutral/closed.png')")
        write_set(work / "myset", SET_A)  # fixed on disk: picked up within a second or two
        wait_until(lambda: _row(daemon.url)["state"] == "running", what="the fixed set")
        page.wait_for_function("window.__avatarDebug && window.__avatarDebug.shown", timeout=10_000)
        assert _centre(page).startswith("A:neutral/")
        assert errors == []
        assert _row(daemon.url, "overlay")["state"] == "running"
        daemon.stop(signal.SIGTERM)


def test_the_vrm_page_follows_the_audio_and_both_renderers_get_the_same_motion(
        tmp_path: Path, browser: Any) -> None:
    """AVATAR=vrm with VTube Studio on too: VTS gets the parameters, the page's `aa` weight rises
    and falls with the speech that plays, and both see the same frames."""
    from peers.vts_server import FakeVts

    work = _workdir(tmp_path)
    make_vrm(work / "model.vrm", "1.0")
    wav = work / "out.wav"
    with OpenAIServer() as llm, SpeechServer(ms_per_char=25) as tts, FakeVts() as vts:
        llm.script([Stream({"emotion": "surprised", "response": ANSWER})])
        env = voice_env(llm.base_url, tts.base_url, wav, AVATAR="vrm", AVATAR_PATH="model.vrm",
                        VTS_ENABLED="true", VTS_URL=vts.url, IDLE_TALK_AFTER_S="0")
        with run_daemon(work, **env) as daemon:
            wait_until(lambda: _row(daemon.url)["state"] == "running", what="the avatar row")
            wait_until(lambda: all(_row(daemon.url, n)["state"] == "running"
                                   for n in ("llm", "tts", "audio", "vts")), what="all ready")
            assert "VRM 1.0" in _row(daemon.url)["detail"]
            page, errors = _page(browser, daemon.url)
            page.wait_for_function("window.__vrmDebug && window.__vrmDebug.frames > 5",
                                   timeout=20_000)
            page.evaluate("""() => { window.__aa = []; const tick = () => {
                const w = window.__vrmDebug.expressionWeights();
                window.__aa.push([w.aa, w.surprised]); requestAnimationFrame(tick); }; tick(); }""")
            with connect(daemon.url.replace("http", "ws") + "/ws/params?avatar=1") as ws:
                httpx.post(f"{daemon.url}/api/chat", json={"user": "민수", "message": "와!"},
                           timeout=5)
                mouths, emotions, deadline = [], set(), time.monotonic() + 20
                while time.monotonic() < deadline:
                    frame = json.loads(ws.recv(timeout=2))
                    mouths.append(frame["pose"]["mouth"])
                    emotions.add(frame["emotion"])
                    if max(mouths) > 0.5 and mouths[-1] == 0 and len(mouths) > 60:
                        break
            assert "surprised" in emotions and max(mouths) > 0.5
            wait_until(lambda: page.evaluate("window.__aa.some(([aa]) => aa > 0.5)"),
                       what="the VRM mouth open with the audio")
            weights = page.evaluate("window.__aa")
            assert max(s for _, s in weights) > 0.8  # the answer's emotion on the model
            sent = vts.snapshot()
            assert any(v.get("MouthOpen", 0) > 0.5 for _, v in sent)  # VTS got the same mouth
            # the streamer's camera per OBS source: farther away, the model covers fewer pixels
            far, far_errors = _page(browser, daemon.url, "?distance=4&fov=30")
            far.wait_for_function("window.__vrmDebug && window.__vrmDebug.frames > 5",
                                  timeout=20_000)
            assert _opaque(far) < 0.5 * _opaque(page), (_opaque(far), _opaque(page))
            assert errors == [] and far_errors == []
            daemon.stop(signal.SIGTERM)
