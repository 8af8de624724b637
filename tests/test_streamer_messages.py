"""What the streamer reads is Korean first, true, and said once (issue 34): setting errors at start
and on the settings page, pasted keys and channel addresses, the port-in-use error, a missing
PortAudio, the VTube Studio row, and repeated errors folded in the panel's "최근 오류"."""

from __future__ import annotations

import asyncio
import logging
import shutil
import socket
import time
from pathlib import Path

import pytest
from pydantic import ValidationError

from aischoco.audio.devices import PORTAUDIO_MISSING, AudioDeviceError, portaudio_install
from aischoco.compose.port_check import overlay_port_problem
from aischoco.core.embedded_server import ListenError, bind_socket
from aischoco.core.error_log import RecentErrors
from aischoco.core.status import State, StatusBoard
from aischoco.settings.editor import SettingsEditor
from aischoco.settings.model import Settings, SettingsError, explain, load_settings
from aischoco.settings.pasted import NotAChannel, chzzk_channel_id, trim_pasted
from aischoco.vtuber.animator import VtsAnimator

ROOT = Path(__file__).resolve().parents[1]
CHANNEL = "0123456789abcdef0123456789abcdef"


# --- pasted values ---------------------------------------------------------------------------
@pytest.mark.parametrize(("typed", "meant"), [
    ("  gsk_abc  ", "gsk_abc"),
    ('"gsk_abc"', "gsk_abc"),
    ("' gsk_abc '", "gsk_abc"),
    ("“gsk_abc”", "gsk_abc"),
    ('gsk_"abc"', 'gsk_"abc"'),  # quotes inside the value are the value's own
    ('"gsk_abc', '"gsk_abc'),  # an unmatched quote is kept: not a pair pasted around it
])
def test_pasted_keys_lose_spaces_and_the_quotes_around_them(typed: str, meant: str) -> None:
    assert trim_pasted(typed) == meant


@pytest.mark.parametrize("typed", [
    f"https://chzzk.naver.com/live/{CHANNEL}",
    f"https://chzzk.naver.com/{CHANNEL}",
    f"  https://chzzk.naver.com/{CHANNEL}/about  ",
    f"http://m.chzzk.naver.com/live/{CHANNEL}?from=share",
    f"chzzk.naver.com/live/{CHANNEL}",
    f'"https://chzzk.naver.com/live/{CHANNEL}/"',
    CHANNEL,
    f"  {CHANNEL} ",
])
def test_a_chzzk_channel_address_is_read_as_its_id(typed: str) -> None:
    assert chzzk_channel_id(typed) == CHANNEL


@pytest.mark.parametrize("typed", [
    "https://chzzk.naver.com/video/1234567",  # a video, not a channel
    "https://chzzk.naver.com/live/",
    "https://chzzk.naver.com/",
    "https://www.youtube.com/@someone",  # not CHZZK at all
])
def test_an_address_without_a_channel_is_refused_in_korean(typed: str) -> None:
    with pytest.raises(NotAChannel) as err:
        chzzk_channel_id(typed)
    assert "치지직" in str(err.value) and "채널" in str(err.value)


def test_settings_trim_keys_and_say_what_they_understood(tmp_path: Path) -> None:
    env = tmp_path / ".env"
    env.write_text('GROQ_API_KEY="  gsk_pasted_key_123  "\n'
                   f"CHZZK_CHANNEL_ID=https://chzzk.naver.com/live/{CHANNEL}\n"
                   "CHZZK_CLIENT_ID=' client-id '\n"
                   "STT_API_KEY=\"   \"\n", encoding="utf-8")
    s = load_settings(env)
    assert s.groq_api_key is not None and s.groq_api_key.get_secret_value() == "gsk_pasted_key_123"
    assert s.chzzk_channel_id == CHANNEL
    assert s.chzzk_client_id == "client-id"
    assert s.stt_api_key is None  # only spaces: not set (as an empty value is)
    notes = s.understood
    assert CHANNEL in notes["CHZZK_CHANNEL_ID"] and "채널 주소" in notes["CHZZK_CHANNEL_ID"]
    assert "공백" in notes["GROQ_API_KEY"] and "gsk_pasted" not in notes["GROQ_API_KEY"]
    assert set(notes) == {"GROQ_API_KEY", "CHZZK_CHANNEL_ID", "CHZZK_CLIENT_ID"}
    assert load_settings(None).understood == {}  # nothing pasted, nothing to say


def test_a_wrong_channel_address_stops_start_up_naming_the_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CHZZK_CHANNEL_ID", "https://chzzk.naver.com/video/99")
    with pytest.raises(SettingsError) as err:
        load_settings(None)
    assert "CHZZK_CHANNEL_ID" in str(err.value) and "채널 ID가 없습니다" in str(err.value)


# --- setting errors --------------------------------------------------------------------------
def _errors(**values: str) -> list:
    with pytest.raises(ValidationError) as err:
        Settings(_env_file=None, **values)  # type: ignore[call-arg]
    return err.value.errors()


@pytest.mark.parametrize(("values", "korean"), [
    ({"overlay_port": "abc"}, "정수(숫자)여야 합니다"),
    ({"overlay_port": "0"}, "1 이상이어야 합니다"),
    ({"overlay_port": "70000"}, "65535 이하여야 합니다"),
    ({"groq_timeout_s": "0"}, "0보다 커야 합니다"),
    ({"groq_timeout_s": "fast"}, "숫자여야 합니다"),
    ({"vts_enabled": "maybe"}, "true 또는 false여야 합니다"),
    ({"tts_engine": "qwn"}, "'qwen', 'remote', 'off' 중 하나여야 합니다"),
    ({"vision": "camera"}, "off, obs, screen"),
    ({"vts_url": "http://x"}, "ws:// 또는 wss://로 시작해야 합니다"),
])
def test_each_kind_of_wrong_value_is_explained_in_korean(values: dict[str, str], korean: str) -> None:
    said = explain(_errors(**values)[0])
    assert korean in said
    assert not said.startswith(("Input should", "Value error"))


def test_three_wrong_values_are_all_reported_naming_the_file(tmp_path: Path) -> None:
    env = tmp_path / "stream.env"
    env.write_text("OVERLAY_PORT=abc\nTTS_ENGINE=qwn\nVTS_ENABLED=maybe\n"
                   "GROQ_API_KEY=gsk_secret_value_1\n", encoding="utf-8")
    with pytest.raises(SettingsError) as err:
        load_settings(env)
    text = str(err.value)
    first, *items = text.splitlines()
    assert first.startswith("설정 3개가 잘못되었습니다") and str(env) in first
    assert len(items) == 3
    for key, korean in (("OVERLAY_PORT='abc'", "정수"), ("TTS_ENGINE='qwn'", "중 하나"),
                        ("VTS_ENABLED='maybe'", "true 또는 false")):
        line = next(item for item in items if key in item)
        assert korean in line and "Invalid setting" in line  # Korean first, English after
        assert line.index(korean) < line.index("Invalid setting")
    assert "gsk_secret" not in text


def test_values_from_the_environment_and_the_file_are_told_apart(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    env = tmp_path / ".env"
    env.write_text("VTS_FPS=999\n", encoding="utf-8")
    monkeypatch.setenv("OVERLAY_PORT", "none")
    with pytest.raises(SettingsError) as err:
        load_settings(env)
    first, *items = str(err.value).splitlines()
    assert f"({env} 파일, 환경 변수)" in first
    assert any("OVERLAY_PORT='none'" in i and "[환경 변수]" in i for i in items)
    assert any("VTS_FPS='999'" in i and "[환경 변수]" not in i and "60 이하" in i for i in items)


def _editor(tmp_path: Path, text: str = "# test\n") -> SettingsEditor:
    env = tmp_path / ".env"
    env.write_text(text, encoding="utf-8")
    return SettingsEditor(env, load_settings(env))


def test_the_settings_page_explains_wrong_fields_in_korean(tmp_path: Path) -> None:
    editor = _editor(tmp_path)
    code, body = editor.save({"OVERLAY_PORT": "abc", "VTS_ENABLED": "maybe",
                              "TTS_ENGINE": "qwn"})
    assert code == 422 and body["saved"] is False
    assert body["errors"]["OVERLAY_PORT"] == "정수(숫자)여야 합니다"
    assert body["errors"]["VTS_ENABLED"] == "true 또는 false여야 합니다"
    assert body["errors"]["TTS_ENGINE"] == "'qwen', 'remote', 'off' 중 하나여야 합니다"
    assert all("Input should" not in e for e in body["errors"].values())


def test_the_settings_page_keeps_the_channel_id_of_a_pasted_address(tmp_path: Path) -> None:
    editor = _editor(tmp_path)
    code, body = editor.save({"CHZZK_CHANNEL_ID": f"https://chzzk.naver.com/live/{CHANNEL}",
                              "GROQ_API_KEY": '"gsk_quoted_key_456"'})
    assert code == 200, body
    assert CHANNEL in body["understood"]["CHZZK_CHANNEL_ID"]
    assert "gsk_quoted" not in body["understood"]["GROQ_API_KEY"]
    saved = editor.env_file.read_text(encoding="utf-8")
    assert f"CHZZK_CHANNEL_ID={CHANNEL}" in saved and "chzzk.naver.com" not in saved
    assert "gsk_quoted_key_456" in saved and '"gsk_quoted' not in saved.replace("='", "")
    assert load_settings(editor.env_file).groq_api_key.get_secret_value() == "gsk_quoted_key_456"


# --- the port --------------------------------------------------------------------------------
def test_a_taken_port_says_so_in_korean_first() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        with pytest.raises(ListenError) as err:
            bind_socket("127.0.0.1", port)
    text = str(err.value)
    assert text.startswith(f"127.0.0.1:{port}: 이 포트는 이미 다른 프로그램이 쓰고 있습니다")
    assert err.value.port_in_use  # the English part still says "in use" for old callers


async def test_the_port_check_tells_a_free_port_from_one_held_by_another_program() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        settings = Settings(_env_file=None, overlay_port=port)  # type: ignore[call-arg]
        problem = await overlay_port_problem(settings)
        assert problem is not None and problem.exit_code == 2 and problem.other_panel is None
        assert "OVERLAY_PORT" in problem.message and "다른 프로그램" in problem.message
    assert await overlay_port_problem(settings) is None  # let go: free again


async def test_an_overlay_host_not_on_this_pc_names_the_setting() -> None:
    settings = Settings(_env_file=None, overlay_host="192.0.2.1",  # type: ignore[call-arg]
                        panel_password="pw-123456")  # TEST-NET-1: never one of our addresses
    started = time.monotonic()
    problem = await overlay_port_problem(settings)
    assert problem is not None and problem.exit_code == 2
    assert "이 PC의 주소가 아닙니다" in problem.message and "OVERLAY_HOST" in problem.message
    assert time.monotonic() - started < 1  # nobody is asked at an address that is not ours


# --- PortAudio -------------------------------------------------------------------------------
@pytest.mark.parametrize(("system", "command"), [
    ("Windows", "pip install --force-reinstall sounddevice"),
    ("Darwin", "brew install portaudio"),
    ("Linux", "sudo apt install libportaudio2"),
])
def test_how_to_install_portaudio_is_said_for_each_os(system: str, command: str) -> None:
    assert command in portaudio_install(system)


def test_the_missing_library_error_names_the_library_not_the_device() -> None:
    err = AudioDeviceError(PORTAUDIO_MISSING, hint=portaudio_install("Linux"))
    assert "PortAudio" in str(err) and "AUDIO_OUTPUT_DEVICE" not in str(err)
    assert str(err).startswith("소리를 내는 라이브러리")


# --- VTube Studio row ------------------------------------------------------------------------
def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_the_vtube_studio_row_says_it_cannot_connect_in_korean(tmp_path: Path) -> None:
    mapping = tmp_path / "pose_mapping.json"
    shutil.copy(ROOT / "config" / "pose_mapping.json", mapping)
    url = f"ws://127.0.0.1:{_closed_port()}"
    board = StatusBoard()
    status = board.register("vts", "VTube Studio")
    animator = VtsAnimator(url=url, token_path=tmp_path / "token.txt", mapping_path=mapping,
                           fps=30, timeout_s=1.0, reconnect_max_s=0.5)
    task = asyncio.create_task(animator.run(status))
    try:
        deadline = time.monotonic() + 10
        while "다시 연결" not in status.current.detail:
            assert time.monotonic() < deadline, status.current.detail
            await asyncio.sleep(0.02)
        item = status.current
        assert item.state is State.DEGRADED
        assert item.detail.startswith(f"VTube Studio에 연결할 수 없습니다 ({url})")
        assert "Error" not in item.detail and "cannot connect" not in item.detail
        assert "API 시작" in item.hint  # what to do
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await animator.aclose()


# --- "최근 오류" -------------------------------------------------------------------------------
def test_repeated_errors_are_one_line_with_a_count_and_the_last_time() -> None:
    errors = RecentErrors(size=5)
    logger = logging.getLogger("aischoco.test.fold")
    logger.addHandler(errors)
    logger.propagate = False
    try:
        logger.warning("VTube Studio: cannot connect to ws://localhost:8001: refused")
        first = errors.snapshot()[0]["time"]
        for delay in (0.5, 1.1, 2.3):  # numbers differ, the line is the same
            logger.warning("audio output: PortAudio missing (retry in %.1f s)", delay)
        for _ in range(17):
            time.sleep(0.001)
            logger.warning("VTube Studio: cannot connect to ws://localhost:8001: refused")
        logger.error("VTube Studio: cannot connect to ws://localhost:8001: refused")  # other level
        items = errors.snapshot()
    finally:
        logger.removeHandler(errors)
        logger.propagate = True
    assert [(i["level"], i["count"]) for i in items] == [("WARNING", 3), ("WARNING", 18),
                                                         ("ERROR", 1)]
    audio, vts, _ = items
    assert audio["message"].endswith("(retry in 2.3 s)")  # the latest wording
    assert vts["first_time"] == first and vts["time"] > first
    for item in items:  # the old shape is still there
        assert {"time", "level", "source", "message"} <= set(item) and "key" not in item


def test_folding_keeps_the_newest_errors_when_the_list_is_full() -> None:
    errors = RecentErrors(size=3)
    logger = logging.getLogger("aischoco.test.fold2")
    logger.addHandler(errors)
    logger.propagate = False
    try:
        for text in ("a problem", "b problem", "c problem", "a problem", "d problem"):
            logger.warning(text)
    finally:
        logger.removeHandler(errors)
        logger.propagate = True
    assert [(i["message"], i["count"]) for i in errors.snapshot()] == [
        ("c problem", 1), ("a problem", 2), ("d problem", 1)]
