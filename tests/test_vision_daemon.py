"""Vision through the real daemon: VISION=obs against the OBS WebSocket v5 peer and the OpenAI peer
(which also plays the vision model): the scene note on /api/state, the last frame for the panel
(memory only), the note in the next chat's request, pause and the panel's switch."""

from __future__ import annotations

import io
import signal
import sys
import time
from pathlib import Path

import httpx
import pytest
from PIL import Image

from aischoco.ai.prompts import SCREEN_OPEN
from daemon import run_daemon, wait_until
from peers.obs_ws_server import ObsServer
from peers.openai_server import OpenAIServer

pytestmark = [pytest.mark.integration,
              pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")]

MODEL = "meta-llama/llama-4-scout-17b-16e-instruct"


def _state(url: str) -> dict:
    return httpx.get(f"{url}/api/state", timeout=5).json()


def test_the_character_sees_what_obs_shows(tmp_path: Path) -> None:
    with ObsServer(password="pw") as obs, OpenAIServer() as llm:
        env = {"GROQ_API_KEY": "gsk_vision_test", "GROQ_BASE_URL": llm.base_url,
               "VISION": "obs", "OBS_WS_URL": obs.url, "OBS_WS_PASSWORD": "pw",
               "VISION_INTERVAL_S": "1", "IDLE_TALK_AFTER_S": "0"}
        with run_daemon(tmp_path, **env) as daemon:
            state = wait_until(lambda: (s := _state(daemon.url))["vision"] and s,
                               what="a scene note", timeout=20)
            note = state["vision"]["note"]
            assert note and state["vision"]["at"] > 0
            vision_requests = [r for r in llm.requests if r.body.get("model") == MODEL]
            assert len(vision_requests) == 1
            frame = httpx.get(f"{daemon.url}/api/vision/frame", timeout=5)
            assert frame.headers["content-type"] == "image/jpeg"
            assert frame.headers["cache-control"] == "no-store"
            assert Image.open(io.BytesIO(frame.content)).size == (320, 180)
            info = state["vision_info"]
            assert info["watching"] is True and info["sent"] == 1 and "OBS" in info["source"]
            row = next(c for c in state["components"] if c["name"] == "vision")
            assert row["state"] == "running"

            httpx.post(f"{daemon.url}/api/chat", json={"user": "민수", "message": "지금 화면 뭐야?"},
                       timeout=5)
            wait_until(lambda: _state(daemon.url)["assistant_messages"], what="the answer")
            chat = next(r for r in llm.requests if r.body.get("model") != MODEL)
            user = chat.body["messages"][-1]["content"]
            assert SCREEN_OPEN in user and note in user
            assert user.index(SCREEN_OPEN) < user.index("지금 화면 뭐야?")

            httpx.post(f"{daemon.url}/api/pause", json={"paused": True}, timeout=5)
            time.sleep(1.2)
            grabs = len(obs.requests)
            time.sleep(2.5)
            assert len(obs.requests) == grabs  # paused replies pause capture
            httpx.post(f"{daemon.url}/api/pause", json={"paused": False}, timeout=5)
            assert httpx.post(f"{daemon.url}/api/vision", json={"enabled": False},
                              timeout=5).json() == {"enabled": False}
            assert _state(daemon.url)["vision_info"]["watching"] is False
            code, _, out = daemon.stop(signal.SIGTERM)
    assert code == 0, out
    assert "base64" not in out and "pw" not in out.split()  # no frames, no password in the log
    assert not list(tmp_path.rglob("*.jpg")) and not list(tmp_path.rglob("*.jpeg"))


def test_a_wrong_obs_password_is_a_row_that_says_so(tmp_path: Path) -> None:
    with ObsServer(password="right") as obs, OpenAIServer() as llm:
        env = {"GROQ_API_KEY": "gsk_vision_test", "GROQ_BASE_URL": llm.base_url,
               "VISION": "obs", "OBS_WS_URL": obs.url, "OBS_WS_PASSWORD": "wrong",
               "VISION_INTERVAL_S": "1"}
        with run_daemon(tmp_path, **env) as daemon:
            row = wait_until(lambda: next((c for c in _state(daemon.url)["components"]
                                           if c["name"] == "vision" and c["state"] == "degraded"), None),
                             what="the vision row degraded")
            assert "비밀번호가 틀립니다" in row["detail"] and "OBS" in row["hint"]
            assert _state(daemon.url)["vision"] is None
            daemon.stop(signal.SIGTERM)


def test_a_killed_daemon_leaves_no_capture_worker_behind(tmp_path: Path) -> None:
    psutil = pytest.importorskip("psutil")
    with ObsServer(password="pw") as obs, OpenAIServer() as llm:
        env = {"GROQ_API_KEY": "gsk_vision_test", "GROQ_BASE_URL": llm.base_url,
               "VISION": "obs", "OBS_WS_URL": obs.url, "OBS_WS_PASSWORD": "pw",
               "VISION_INTERVAL_S": "1"}
        with run_daemon(tmp_path, **env) as daemon:
            wait_until(lambda: _state(daemon.url)["vision"], what="a scene note", timeout=20)
            children = psutil.Process(daemon.proc.pid).children(recursive=True)
            assert children  # the capture worker (and multiprocessing's resource tracker)
            daemon.proc.kill()  # no shutdown: a crash
            daemon.proc.wait(10)
        gone, alive = psutil.wait_procs(children, timeout=10)
        assert alive == []
