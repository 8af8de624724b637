"""The real daemon with VTube Studio switched on (a fake VTS): status, /ws/params, doctor."""

from __future__ import annotations

import json
import shutil
import signal
import time
from pathlib import Path

import httpx
import pytest
from daemon import run_daemon
from peers.vts_server import FakeVts
from test_cli import run_cli
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.integration


def vts_component(url: str) -> dict[str, str]:
    components = httpx.get(f"{url}/api/state", timeout=2).json()["components"]
    return next(c for c in components if c["name"] == "vts")


def test_daemon_drives_vts_and_streams_params_to_other_renderers(tmp_path: Path) -> None:
    (tmp_path / "config").mkdir()
    shutil.copy(ROOT / "config" / "pose_mapping.json", tmp_path / "config")
    with FakeVts() as vts, run_daemon(tmp_path, VTS_ENABLED="true", VTS_URL=vts.url,
                                      VTS_FPS="60") as daemon:
        deadline = time.monotonic() + 10
        while vts_component(daemon.url)["state"] != "running":
            assert time.monotonic() < deadline, vts_component(daemon.url)
            time.sleep(0.05)
        assert "60 fps" in vts_component(daemon.url)["detail"]
        assert (tmp_path / "config" / "vts_token.txt").exists()  # first run: popup, token saved
        ws_url = daemon.url.replace("http://", "ws://") + "/ws/params"
        with connect(ws_url) as ws:
            frames = [json.loads(ws.recv(timeout=2)) for _ in range(30)]
        assert set(frames[0]) == {"t", "params"}
        assert frames[-1]["t"] > frames[0]["t"]
        assert {"FaceAngleX", "MouthOpen", "AIsChocoBrowLAngle"} <= set(frames[-1]["params"])
        assert frames[-1]["params"]["MouthOpen"] == 0  # silence: the mouth is shut
        with connect(ws_url + "?avatar=1") as ws:  # the built-in avatar's view of the same frames
            rich = [json.loads(ws.recv(timeout=2)) for _ in range(5)]
        assert set(rich[-1]) == {"t", "params", "emotion", "speaking", "pose"}
        assert rich[-1]["emotion"] == "neutral" and rich[-1]["speaking"] is False
        assert rich[-1]["pose"]["mouth"] == 0 and 0 <= rich[-1]["pose"]["eyes"] <= 1
        with pytest.raises(InvalidStatus):  # a foreign web page may not read the stream
            connect(ws_url, origin="http://evil.example").close()
        sent = len(vts.snapshot())
        assert sent > 30 and vts.lost_control == []
        code, took, output = daemon.stop(signal.SIGTERM)
    assert code == 0 and took < 5, output
    assert "VTube Studio에서 플러그인 허용을 눌러주세요" in output


def test_doctor_reports_version_token_and_mapping(tmp_path: Path) -> None:
    (tmp_path / "config").mkdir()
    shutil.copy(ROOT / "config" / "pose_mapping.json", tmp_path / "config")
    with FakeVts() as vts:
        no_token = run_cli("doctor", cwd=tmp_path, VTS_URL=vts.url)
        assert "VTube Studio 1.28.15 연결됨 · 토큰 없음" in no_token.stdout, no_token.stdout
        assert "auth vts" in no_token.stdout
        auth = run_cli("auth", "vts", cwd=tmp_path, VTS_URL=vts.url)
        assert auth.returncode == 0 and "토큰을 저장했습니다" in auth.stdout, auth.stderr
        assert "VTube Studio에서 플러그인 허용을 눌러주세요" in auth.stdout
        ok = run_cli("doctor", cwd=tmp_path, VTS_URL=vts.url)
        assert "OK    VTube Studio" in ok.stdout and "인증됨" in ok.stdout, ok.stdout
        (tmp_path / "config" / "pose_mapping.json").write_text('{"version": 2}', encoding="utf-8")
        bad = run_cli("doctor", cwd=tmp_path, VTS_URL=vts.url)
        assert "FAIL  VTube Studio" in bad.stdout and "$.version" in bad.stdout, bad.stdout
        vts.popup = "deny"
        (tmp_path / "config" / "vts_token.txt").unlink()
        denied = run_cli("auth", "vts", cwd=tmp_path, VTS_URL=vts.url)
        assert denied.returncode == 1 and "거부" in denied.stderr
