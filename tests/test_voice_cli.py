"""`devices` and `say` as the streamer runs them (subprocesses), with real peers: an ALSA device
PortAudio can see, and a remote TTS server on loopback."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile

from peers.speech_server import SpeechServer, speech_pcm
from system_deps import ALSA_CONF, require_portaudio
from test_cli import run_cli


def _alsa_env(tmp_path: Path) -> dict[str, str]:
    conf = tmp_path / "asoundrc"
    conf.write_text(f'pcm.aischoco_tap {{ type file slave.pcm "null" file "{tmp_path}/tap.raw" '
                    f'format "raw" hint {{ show on description "tap" }} }}\n', encoding="utf-8")
    require_portaudio()  # the `devices` command lists PortAudio's devices
    return {"ALSA_CONFIG_PATH": f"{ALSA_CONF}:{conf}"}


def test_devices_lists_outputs_and_marks_the_configured_one(tmp_path: Path) -> None:
    result = run_cli("devices", cwd=tmp_path, AUDIO_OUTPUT_DEVICE="tap", **_alsa_env(tmp_path))
    assert result.returncode == 0, result.stderr
    line = next(line for line in result.stdout.splitlines() if "aischoco_tap" in line)
    assert line.startswith("→") and "ALSA" in line


def test_devices_explains_a_name_that_matches_nothing(tmp_path: Path) -> None:
    result = run_cli("devices", cwd=tmp_path, AUDIO_OUTPUT_DEVICE="CABLE Input",
                     **_alsa_env(tmp_path))
    assert result.returncode == 0
    assert "'CABLE Input' 이름의 출력 장치가 없습니다" in result.stdout


def test_say_speaks_through_the_remote_engine_into_a_wav_file(tmp_path: Path) -> None:
    wav = tmp_path / "say.wav"
    with SpeechServer() as tts:
        result = run_cli("say", "안녕하세요! 만나서 반가워요.", "--emotion", "happy", cwd=tmp_path,
                         TTS_ENGINE="remote", TTS_REMOTE_URL=tts.base_url,
                         AUDIO_OUTPUT_DEVICE=f"file:{wav}", SEGMENT_MIN_CHARS="2")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "▶ 안녕하세요!" in result.stdout and "▶ 만나서 반가워요." in result.stdout
    data, rate = soundfile.read(wav, dtype="int16")
    expected = speech_pcm("안녕하세요!") + speech_pcm("만나서 반가워요.")
    assert rate == 24000 and np.array_equal(data, np.frombuffer(expected, dtype="<i2"))


def test_say_with_tts_off_or_no_device_says_why(tmp_path: Path) -> None:
    off = run_cli("say", "안녕", cwd=tmp_path, TTS_ENGINE="off")
    assert off.returncode == 1 and "TTS_ENGINE=off" in off.stderr
    none = run_cli("say", "안녕", cwd=tmp_path, TTS_ENGINE="remote",
                   TTS_REMOTE_URL="http://127.0.0.1:9", AUDIO_OUTPUT_DEVICE="none")
    assert none.returncode == 1 and "AUDIO_OUTPUT_DEVICE=none" in none.stderr
    assert "Traceback" not in off.stderr + none.stderr


def test_say_reports_a_dead_tts_server_in_one_line(tmp_path: Path) -> None:
    result = run_cli("say", "안녕하세요", cwd=tmp_path, TTS_ENGINE="remote",
                     TTS_REMOTE_URL="http://127.0.0.1:9", AUDIO_OUTPUT_DEVICE=f"file:{tmp_path}/x.wav")
    assert result.returncode == 1
    assert "합성하지 못했습니다" in result.stderr and "Traceback" not in result.stderr
