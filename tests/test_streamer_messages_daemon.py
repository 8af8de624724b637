"""The running daemon tells the streamer the truth, in Korean, once (issue 34): one daemon per port,
all wrong settings at once, a daemon without an LLM does not pretend to answer, the VTube Studio
row and "최근 오류" (repeats folded), and a missing PortAudio library."""

from __future__ import annotations

import os
import platform
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from conftest import SETTING_KEYS
from daemon import BASE_ENV, free_port, run_daemon, wait_until

pytestmark = pytest.mark.skipif(sys.platform == "win32",
                                reason="the daemon is stopped with SIGTERM (POSIX)")


def run_to_exit(workdir: Path, *args: str, timeout: float = 30, **env: str
                ) -> subprocess.CompletedProcess[str]:
    """`python -m aischoco <args>` that is expected to end by itself."""
    workdir.mkdir(exist_ok=True)
    full_env = {k: v for k, v in os.environ.items() if k not in SETTING_KEYS}
    full_env.update(BASE_ENV, PYTHONUNBUFFERED="1", **env)
    return subprocess.run([sys.executable, "-m", "aischoco", *args], check=False, cwd=workdir,
                          env=full_env,
                          stdin=subprocess.DEVNULL, capture_output=True, text=True,
                          encoding="utf-8", timeout=timeout)


# --- one daemon per port -----------------------------------------------------------------------
@pytest.mark.parametrize("first_env", [{}, {"PANEL_PASSWORD": "panel-pw-123"}],
                         ids=["open-panel", "panel-password"])
def test_a_second_daemon_on_the_same_port_names_the_first_and_exits(
        tmp_path: Path, first_env: dict[str, str]) -> None:
    (tmp_path / "first").mkdir()
    with run_daemon(tmp_path / "first", **first_env) as first:
        port = first.url.rsplit(":", 1)[1]
        started = time.monotonic()
        second = run_to_exit(tmp_path / "second", "run", OVERLAY_PORT=port)
        took = time.monotonic() - started
        out = second.stdout + second.stderr
        assert second.returncode == 1, out
        assert "aischoco가 이미" in out and f"{first.url}/" in out  # where the running one is
        assert "aischoco running" not in out  # no false claim to be the one serving
        assert "Traceback" not in out
        assert took < 15, took  # nothing was started that has to be stopped
        assert httpx.get(f"{first.url}/api/state", timeout=3, headers={
            "X-Panel-Password": first_env.get("PANEL_PASSWORD", "")}).status_code == 200
        code, _, first_out = first.stop(signal.SIGTERM)
    assert code == 0, first_out


def test_a_port_held_by_another_program_names_the_setting_to_change(tmp_path: Path) -> None:
    with socket.socket() as other:  # listens, never answers: not an aischoco
        other.bind(("127.0.0.1", 0))
        other.listen(8)
        port = other.getsockname()[1]
        result = run_to_exit(tmp_path, "run", OVERLAY_PORT=str(port))
    out = result.stdout + result.stderr
    assert result.returncode == 2, out
    assert f"포트 {port}" in out and "다른 프로그램" in out and "OVERLAY_PORT" in out
    assert "aischoco running" not in out and "aischoco가 이미" not in out
    assert "Traceback" not in out


def test_a_bad_env_file_reports_all_three_wrong_values_and_names_the_file(tmp_path: Path) -> None:
    env = tmp_path / "my.env"
    env.write_text("# mine\nOVERLAY_PORT=abc\nGROQ_STREAM=maybe\nVTS_FPS=500\nCHAT_SOURCE=local\n",
                   encoding="utf-8")
    result = run_to_exit(tmp_path, "run", "--env-file", str(env))
    assert result.returncode == 2, result.stdout + result.stderr
    lines = result.stderr.strip().splitlines()
    assert lines[0].startswith("aischoco: 설정 3개가 잘못되었습니다") and str(env) in lines[0]
    body = "\n".join(lines[1:])
    for key, said in (("OVERLAY_PORT='abc'", "정수"), ("GROQ_STREAM='maybe'", "true 또는 false"),
                      ("VTS_FPS='500'", "60 이하")):
        assert key in body and said in body, result.stderr
    assert "aischoco running" not in result.stdout + result.stderr


# --- a daemon without an LLM, a closed VTube Studio -------------------------------------------
def _state(url: str) -> dict:
    return httpx.get(f"{url}/api/state", timeout=3).json()


def test_without_an_llm_the_daemon_says_chats_wait_and_folds_repeated_errors(tmp_path: Path) -> None:
    closed = free_port()  # nothing listens: VTube Studio is "not running"
    (tmp_path / "config").mkdir()
    shipped = Path(__file__).resolve().parents[1] / "config" / "pose_mapping.json"
    (tmp_path / "config" / "pose_mapping.json").write_bytes(shipped.read_bytes())
    env = {"VTS_ENABLED": "true", "VTS_URL": f"ws://127.0.0.1:{closed}",
           "VTS_RECONNECT_MAX_S": "0.5",
           "CHZZK_CHANNEL_ID": "https://chzzk.naver.com/live/0123456789abcdef0123456789abcdef"}
    with run_daemon(tmp_path, **env) as daemon:
        url = daemon.url
        answers = [httpx.post(f"{url}/api/chat", json={"user": "민수", "message": text},
                              timeout=3).json() for text in ("안녕하세요!", "뭐 하고 있어요?")]
        assert [a["queued"] for a in answers] == [True, True]
        assert answers[0]["note"] == "답변은 GROQ_API_KEY를 넣으면 시작합니다 · 기다리는 채팅 1개"
        assert answers[1]["note"] == "답변은 GROQ_API_KEY를 넣으면 시작합니다 · 기다리는 채팅 2개"
        queue = _state(url)["queue"]
        assert queue["llm"] == "missing" and queue["pending"] == 2 and queue["answered"] == 0
        assert "기다리는 채팅 2개" in queue["waiting_note"]

        # The VTube Studio row: Korean, with what to do; the English reason stays in the log.
        vts = wait_until(lambda: next((c for c in _state(url)["components"]
                                       if c["name"] == "vts" and "다시 연결" in c["detail"]), None),
                         what="the VTube Studio row retrying")
        assert vts["detail"].startswith("VTube Studio에 연결할 수 없습니다")
        assert "ConnectionRefused" not in vts["detail"] and "API 시작" in vts["hint"]

        # "최근 오류": the retries are one line that counts up, not a page of copies.
        def folded() -> dict | None:
            lines = [e for e in _state(url)["errors"] if "cannot connect" in e["message"]]
            return lines[0] if len(lines) == 1 and lines[0]["count"] >= 4 else None
        line = wait_until(folded, timeout=20, what="four VTube Studio retries folded into one line")
        assert line["first_time"] < line["time"] and line["source"].startswith("aischoco.vtuber")
        code, _, out = daemon.stop(signal.SIGTERM)
    assert code == 0, out
    assert "ConnectionRefused" in out  # the terminal log keeps the technical reason
    # What the daemon understood of a pasted channel address, said once at start.
    said = [line for line in out.splitlines() if "CHZZK_CHANNEL_ID" in line]
    assert len(said) == 1 and "0123456789abcdef0123456789abcdef" in said[0], out


# --- PortAudio missing --------------------------------------------------------------------------
NO_PORTAUDIO = '''"""sounddevice as it fails on a PC without the PortAudio library (its own words)."""
raise OSError("PortAudio library not found")
'''
INSTALL = {"Windows": "pip install --force-reinstall sounddevice", "Darwin": "brew install portaudio"
           }.get(platform.system(), "sudo apt install libportaudio2")


@pytest.fixture
def no_portaudio(tmp_path: Path) -> dict[str, str]:
    """PYTHONPATH that finds a `sounddevice` failing exactly as the real one does without PortAudio
    (the library cannot be hidden from the real one: ctypes asks ldconfig by absolute path)."""
    stub = tmp_path / "no_portaudio"
    stub.mkdir()
    (stub / "sounddevice.py").write_text(NO_PORTAUDIO, encoding="utf-8")
    return {"PYTHONPATH": os.pathsep.join(filter(None, [str(stub), os.environ.get("PYTHONPATH")]))}


def test_devices_and_doctor_say_the_library_is_missing_and_how_to_install_it(
        tmp_path: Path, no_portaudio: dict[str, str]) -> None:
    devices = run_to_exit(tmp_path, "devices", **no_portaudio)
    assert devices.returncode == 1
    assert "PortAudio" in devices.stderr and "라이브러리" in devices.stderr
    assert INSTALL in devices.stderr, devices.stderr
    doctor = run_to_exit(tmp_path, "doctor", TTS_ENGINE="remote",
                         TTS_REMOTE_URL=f"http://127.0.0.1:{free_port()}",
                         AUDIO_MONITOR_DEVICE="Headphones", OVERLAY_PORT=str(free_port()),
                         **no_portaudio)
    lines = doctor.stdout.splitlines()
    at = next(i for i, line in enumerate(lines) if "오디오 출력" in line)
    assert lines[at].startswith("FAIL") and "PortAudio" in lines[at], doctor.stdout
    assert INSTALL in lines[at + 1] and "devices" not in lines[at + 1]  # not "check the name"
    assert "모니터 출력" not in doctor.stdout  # the same missing library is said once
    say = run_to_exit(tmp_path, "say", "안녕하세요", TTS_ENGINE="remote",
                      TTS_REMOTE_URL=f"http://127.0.0.1:{free_port()}", **no_portaudio)
    assert say.returncode == 1 and "PortAudio" in say.stderr and INSTALL in say.stderr


def test_the_audio_row_says_the_library_is_missing(tmp_path: Path,
                                                   no_portaudio: dict[str, str]) -> None:
    with run_daemon(tmp_path, TTS_ENGINE="remote", TTS_REMOTE_URL=f"http://127.0.0.1:{free_port()}",
                    **no_portaudio) as daemon:
        row = wait_until(lambda: next((c for c in _state(daemon.url)["components"]
                                       if c["name"] == "audio" and "PortAudio" in c["detail"]),
                                      None), what="the audio row")
        assert row["detail"].startswith("소리를 내는 라이브러리 PortAudio가 이 PC에 없습니다")
        assert INSTALL in row["hint"] and "AUDIO_OUTPUT_DEVICE" not in row["hint"]
        daemon.stop(signal.SIGTERM)
