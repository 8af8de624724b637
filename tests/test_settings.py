from __future__ import annotations

import re
from pathlib import Path

import pytest

from aischoco.settings.model import Settings, SettingsError, load_settings

ROOT = Path(__file__).resolve().parents[1]
DESIGN_KEYS = {
    "CHAT_SOURCE", "CHZZK_CLIENT_ID", "CHZZK_CLIENT_SECRET", "CHZZK_CHANNEL_ID",
    "CHZZK_REDIRECT_URI", "CHZZK_OPENAPI_URL", "CHZZK_TOKEN_PATH", "GROQ_API_KEY", "GROQ_MODEL",
    "GROQ_BASE_URL", "CHARACTER_PATH", "HISTORY_DIR", "HISTORY_KEEP_TOKENS",
    "HISTORY_SUMMARIZE_AT", "HISTORY_LIMIT_TOKENS", "TTS_ENGINE", "TTS_REMOTE_URL",
    "QWEN_TTS_MODEL", "TTS_DEVICE", "VOICE_SAMPLE", "VOICE_SAMPLE_TEXT", "TTS_LANGUAGE",
    "AUDIO_OUTPUT_DEVICE", "VTS_ENABLED", "VTS_URL", "VTS_TOKEN_PATH", "POSE_MAPPING_PATH",
    "OVERLAY_HOST", "OVERLAY_PORT", "GROQ_STREAM", "VOICE_INPUT", "STT_ENGINE", "VOICE_BARGE_IN",
    "HF_HOME",
}


def test_defaults_match_the_design(tmp_path: Path) -> None:
    s = load_settings(None)
    assert s.chat_source == "local"
    assert s.groq_model == "openai/gpt-oss-120b"
    assert s.groq_base_url == "https://api.groq.com/openai/v1"
    assert (s.history_keep_tokens, s.history_summarize_at, s.history_limit_tokens) == (5000, 7000, 8000)
    assert s.tts_engine == "qwen" and s.tts_device == "auto"
    assert s.vts_enabled is True and s.vts_url == "ws://localhost:8001"
    assert (s.overlay_host, s.overlay_port) == ("127.0.0.1", 8000)
    assert s.groq_stream is True and s.voice_input == "off" and s.voice_barge_in == "interrupt"
    assert s.chzzk_redirect_uri == "http://localhost:8000/auth/chzzk/callback"
    assert s.stt_engine == "off"


def test_derived_defaults_follow_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CHZZK_CLIENT_ID", "abc")
    monkeypatch.setenv("GROQ_API_KEY", "gsk_test_key_123")
    s = load_settings(None)
    assert s.chat_source == "chzzk"
    assert s.stt_engine == "groq"


def test_env_file_is_read_and_environment_wins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    env = tmp_path / "custom.env"
    env.write_text("OVERLAY_PORT=9123\nTTS_ENGINE=off\nGROQ_API_KEY=\n", encoding="utf-8")
    s = load_settings(env)
    assert s.overlay_port == 9123 and s.tts_engine == "off" and s.groq_api_key is None
    monkeypatch.setenv("OVERLAY_PORT", "9124")
    assert load_settings(env).overlay_port == 9124


@pytest.mark.parametrize(
    ("key", "value", "expected"),
    [
        ("TTS_ENGINE", "qwn", r"TTS_ENGINE='qwn' — 'qwen', 'remote', 'off' 중 하나여야 합니다 "
                              r"→ .*\(Invalid setting TTS_ENGINE='qwn': .*'qwen', 'remote' or 'off'\)$"),
        ("OVERLAY_PORT", "abc", r"OVERLAY_PORT='abc' — 정수\(숫자\)여야 합니다 → .*integer"),
        ("OVERLAY_PORT", "70000", r"OVERLAY_PORT='70000' — 65535 이하여야 합니다 → .*65535"),
        ("VTS_ENABLED", "maybe", r"VTS_ENABLED='maybe' — true 또는 false여야 합니다 → .*boolean"),
        ("VTS_URL", "http://x", r"VTS_URL='http://x' — ws:// 또는 wss://로 시작해야 합니다 "
                                r"\(must start with ws://"),
        ("CHAT_SOURCE", "twitch", r"CHAT_SOURCE='twitch' — 'chzzk', .* 중 하나여야 합니다"),
        ("AUDIO_OUTPUT_DEVICE", "file:out.mp3", r"AUDIO_OUTPUT_DEVICE='file:out.mp3' — .*\.wav"),
    ],
)
def test_invalid_value_is_one_line_naming_key_value_and_allowed(
    monkeypatch: pytest.MonkeyPatch, key: str, value: str, expected: str
) -> None:
    monkeypatch.setenv(key, value)
    with pytest.raises(SettingsError) as info:
        load_settings(None)
    message = str(info.value)
    assert "\n" not in message
    # Korean first, where the value came from, what to do; the English original after it
    assert message.startswith("설정이 잘못되었습니다 (환경 변수): "), message
    assert re.search(expected, message), message


def test_secret_values_are_never_echoed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TTS_ENGINE", "remote")  # invalid without TTS_REMOTE_URL
    monkeypatch.setenv("GROQ_API_KEY", "gsk_supersecret_value")
    with pytest.raises(SettingsError) as info:
        load_settings(None)
    assert "TTS_REMOTE_URL" in str(info.value)
    assert "supersecret" not in str(info.value)


def test_cross_field_history_window_rule(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HISTORY_KEEP_TOKENS", "9000")
    with pytest.raises(SettingsError, match="HISTORY_KEEP_TOKENS=9000"):
        load_settings(None)


def _example_keys() -> dict[str, str]:
    keys = {}
    for line in (ROOT / ".env.example").read_text(encoding="utf-8").splitlines():
        if line and not line.startswith("#") and "=" in line:
            key, _, value = line.partition("=")
            keys[key.strip()] = value.strip()
    return keys


def test_env_example_documents_every_setting_with_its_default() -> None:
    documented = _example_keys()
    fields = {name.upper() for name in Settings.model_fields}
    assert DESIGN_KEYS <= fields, DESIGN_KEYS - fields
    assert set(documented) == fields
    defaults = load_settings(None)
    for key, value in documented.items():
        if value:  # an empty value means "unset / derived", as the file explains
            default = getattr(defaults, key.lower())
            if isinstance(default, list):  # comma-separated in the file
                assert [type(default[0])(v) for v in value.split(",")] == default, (key, value)
                continue
            if isinstance(default, bool) and value in ("on", "off"):
                assert default is (value == "on"), (key, value, default)
                continue
            shown = str(default).lower() if isinstance(default, bool) else str(default)
            assert shown == value or float(shown) == float(value), (key, value, default)


def test_env_example_loads_as_an_env_file() -> None:
    s = load_settings(ROOT / ".env.example")
    assert isinstance(s, Settings) and s.chat_source == "local"


def test_the_settings_reference_is_generated_current_and_lists_every_setting() -> None:
    from aischoco.settings.reference import render
    from aischoco.settings.catalog import load_catalog

    doc = (ROOT / "docs" / "settings.md").read_text(encoding="utf-8")
    assert doc == render(load_catalog()), (
        "docs/settings.md is stale: python -m aischoco.settings.reference > docs/settings.md")
    missing = [key for key in _example_keys() if f"`{key}`" not in doc]
    assert not missing, missing
    assert "(docs/settings.md)" in (ROOT / "README.md").read_text(encoding="utf-8")
