"""Every documented command exists; unfinished ones say so in one line; nothing shows a traceback."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


from conftest import SETTING_KEYS
from daemon import free_port


def run_cli(*args: str, cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    full_env = {k: v for k, v in os.environ.items() if k not in SETTING_KEYS} | env
    return subprocess.run([sys.executable, "-m", "aischoco", *args], cwd=cwd, env=full_env,
                          capture_output=True, text=True, encoding="utf-8", timeout=60)


def test_auth_vts_without_vtube_studio_says_so_in_one_line(tmp_path: Path) -> None:
    result = run_cli("auth", "vts", cwd=tmp_path, VTS_URL=f"ws://127.0.0.1:{free_port()}")
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "VTube Studio에 연결할 수 없습니다" in lines[0], result.stderr
    assert "Traceback" not in result.stderr + result.stdout


def test_help_lists_every_command(tmp_path: Path) -> None:
    result = run_cli("--help", cwd=tmp_path)
    assert result.returncode == 0
    for command in ("run", "doctor", "auth", "devices", "say", "tts-server", "history"):
        assert command in result.stdout


def test_unknown_choice_is_a_usage_error_not_a_traceback(tmp_path: Path) -> None:
    result = run_cli("history", "explode", cwd=tmp_path)
    assert result.returncode == 2 and "invalid choice" in result.stderr
    assert "Traceback" not in result.stderr


def test_env_file_option_is_used(tmp_path: Path) -> None:
    env_file = tmp_path / "stream.env"
    env_file.write_text("OVERLAY_PORT=notaport\n", encoding="utf-8")
    result = run_cli("doctor", "--env-file", str(env_file), cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.strip() == (
        f"aischoco: 설정이 잘못되었습니다 ({env_file} 파일): OVERLAY_PORT='notaport' — "
        "정수(숫자)여야 합니다 → 고친 뒤 다시 실행하세요 (Invalid setting OVERLAY_PORT='notaport': "
        "Input should be a valid integer, unable to parse string as an integer)"
    )


def test_doctor_without_credentials_lists_every_component_and_fails(tmp_path: Path) -> None:
    result = run_cli("doctor", cwd=tmp_path, OVERLAY_PORT=str(free_port()),
                     VTS_URL=f"ws://127.0.0.1:{free_port()}")
    assert result.returncode == 1, result.stdout + result.stderr
    out = result.stdout
    for label in ("설정", "채팅", "AI 답변 (Groq)", "음성 합성", "오디오 출력", "VTube Studio",
                  "오버레이 서버", "캐릭터 설정", "포즈 매핑"):
        assert label in out, label
    assert "FAIL  AI 답변 (Groq)" in out and "GROQ_API_KEY" in out
    assert "연결 안 됨" in out  # nothing listens on the VTS port


def test_doctor_passes_when_required_parts_are_set_and_never_prints_the_key(tmp_path: Path) -> None:
    (tmp_path / "config").mkdir()
    (tmp_path / "config" / "pose_mapping.json").write_text("{}", encoding="utf-8")
    result = run_cli("doctor", cwd=tmp_path, GROQ_API_KEY="gsk_secret_do_not_print",
                     GROQ_BASE_URL=f"http://127.0.0.1:{free_port()}", TTS_ENGINE="off",
                     VTS_ENABLED="false", OVERLAY_PORT=str(free_port()))
    assert result.returncode == 0, result.stdout
    assert "gsk_secret_do_not_print" not in result.stdout + result.stderr
    assert "연결 안 됨" in result.stdout  # the Groq URL is unreachable, and doctor says so


def test_doctor_flags_a_broken_pose_mapping(tmp_path: Path) -> None:
    (tmp_path / "config").mkdir()
    (tmp_path / "config" / "pose_mapping.json").write_text("{broken", encoding="utf-8")
    result = run_cli("doctor", cwd=tmp_path, GROQ_API_KEY="gsk_x_123456",
                     GROQ_BASE_URL=f"http://127.0.0.1:{free_port()}", OVERLAY_PORT=str(free_port()))
    assert result.returncode == 1
    assert "FAIL  포즈 매핑" in result.stdout


def test_history_commands_work_on_the_history_folder(tmp_path: Path) -> None:
    result = run_cli("history", "show", cwd=tmp_path)
    assert result.returncode == 0 and "0개 메시지" in result.stdout, result.stderr
    assert "백업할 기록이 없습니다" in run_cli("history", "backup", cwd=tmp_path).stdout
    history = tmp_path / "history"
    history.mkdir()
    (history / "summary.json").write_text(
        '{"summary": "게임 이야기를 했다", "timestamp": "2026-11-21T10:00:00+09:00", "message_count": 4}',
        encoding="utf-8")
    shown = run_cli("history", "show", cwd=tmp_path)
    assert "게임 이야기를 했다" in shown.stdout
    backup = run_cli("history", "backup", cwd=tmp_path)
    assert backup.returncode == 0 and "백업했습니다" in backup.stdout
    assert len(list((history / "backups").iterdir())) == 1
    reset = run_cli("history", "reset", cwd=tmp_path)
    assert reset.returncode == 0 and not (history / "summary.json").exists()
    assert len(list((history / "backups").iterdir())) == 2  # reset backs up first
    summarize = run_cli("history", "summarize", cwd=tmp_path)
    assert summarize.returncode == 2 and "GROQ_API_KEY" in summarize.stdout


def test_doctor_shows_the_live_state_of_a_running_daemon(tmp_path: Path) -> None:
    import signal

    from daemon import run_daemon

    port = free_port()
    with run_daemon(tmp_path, OVERLAY_PORT=str(port)) as daemon:
        result = run_cli("doctor", cwd=tmp_path, OVERLAY_PORT=str(port), TTS_ENGINE="off",
                         VTS_ENABLED="false")
        daemon.stop(signal.SIGTERM)
    assert "실행 중: 채팅 (로컬)" in result.stdout, result.stdout
    assert "실행 중: 답변 디렉터" in result.stdout
    assert "사용 중" in result.stdout  # the overlay port is taken by that daemon
