"""The real local engine end to end, on a tiny random Qwen3-TTS checkpoint (CPU, offline):
`tts-server` as a subprocess with the remote engine as its client, and the daemon speaking an
answer with TTS_ENGINE=qwen into a WAV file."""

from __future__ import annotations

import importlib.util
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest
import soundfile

from aischoco.tts.remote_engine import RemoteEngine
from conftest import SETTING_KEYS
from daemon import free_port, run_daemon
from peers.openai_server import OpenAIServer, Reply

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals"),
]


@pytest.fixture(scope="module")
def qwen_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    if importlib.util.find_spec("qwen_tts") is None:
        pytest.skip("qwen-tts not installed (pip install --no-deps qwen-tts==0.1.1)")
    from tts_fixtures.tiny_qwen import build_tiny_checkpoint, write_reference_voice

    root = tmp_path_factory.mktemp("qwen-e2e")
    model = build_tiny_checkpoint(root / "model")
    wav, text = write_reference_voice(root / "voice")
    yield {"TTS_ENGINE": "qwen", "QWEN_TTS_MODEL": str(model), "TTS_DEVICE": "cpu",
           "VOICE_SAMPLE": str(wav), "VOICE_SAMPLE_TEXT": str(text), "TTS_SEED": "7",
           "HF_HOME": str(root / "hf"), "HF_HUB_OFFLINE": "1", "XDG_CACHE_HOME": str(root / "xdg"),
           "OMP_NUM_THREADS": "1"}


async def test_tts_server_streams_the_local_engine_to_a_remote_client(
        qwen_env: dict[str, str], tmp_path: Path) -> None:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k not in SETTING_KEYS} | qwen_env
    log = tmp_path / "server.log"
    with open(log, "w", encoding="utf-8") as out:
        proc = subprocess.Popen([sys.executable, "-m", "aischoco", "tts-server", "--port", str(port)],
                                cwd=tmp_path, env=env, stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None, log.read_text(encoding="utf-8")
            try:
                if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "tts-server did not load the model in 60 s"
            time.sleep(0.2)
        engine = RemoteEngine(url)
        chunks = [chunk async for chunk in engine.synthesize("안녕하세요, 여러분.")]
        await engine.aclose()
        assert chunks and {c.sample_rate for c in chunks} == {24000}
        samples = np.frombuffer(b"".join(c.pcm for c in chunks), dtype="<i2")
        pad = int(0.12 * 24000)
        # whole codec frames (1920 samples each: nothing of the ending cut), then the silence pad
        assert samples.size > pad and (samples.size - pad) % 1920 == 0
        assert np.abs(samples[:-pad]).max() > 0  # the tiny decoder makes real (noise) audio
        assert not samples[-pad:].any()
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    output = log.read_text(encoding="utf-8")
    assert "TTS 서버:" in output and "Traceback" not in output


def test_the_daemon_speaks_an_answer_with_the_local_engine(qwen_env: dict[str, str],
                                                           tmp_path: Path) -> None:
    wav = tmp_path / "voice.wav"
    with OpenAIServer(default=Reply({"response": "반가워요! 오늘도 화이팅.", "emotion": "happy"})) as llm:
        env = qwen_env | {"GROQ_API_KEY": "gsk_x", "GROQ_BASE_URL": llm.base_url,
                          "AUDIO_OUTPUT_DEVICE": f"file:{wav}", "SEGMENT_MIN_CHARS": "2"}
        with run_daemon(tmp_path, **env) as daemon:
            deadline = time.monotonic() + 60
            while True:
                state = httpx.get(f"{daemon.url}/api/state", timeout=5).json()
                tts = next(c for c in state["components"] if c["name"] == "tts")
                if tts["state"] in ("running", "degraded") and "cpu" in tts["detail"]:
                    break
                assert time.monotonic() < deadline, tts
                time.sleep(0.2)
            httpx.post(f"{daemon.url}/api/chat", json={"user": "민수", "message": "안녕"})
            deadline = time.monotonic() + 60
            while not httpx.get(f"{daemon.url}/api/metrics").json()["latency_ms"].get(
                    "speech", {}).get("count"):
                assert time.monotonic() < deadline, "the answer was never spoken"
                time.sleep(0.1)
            time.sleep(0.2)
            code, _, out = daemon.stop(signal.SIGTERM, timeout=10)
    assert code == 0, out
    data, rate = soundfile.read(wav, dtype="int16")
    assert rate == 24000 and data.size > 2 * int(0.12 * 24000)  # two sentences, each padded
    assert "CPU" in out  # the loud warning that CPU is slower than real time
    assert "Traceback" not in out and "never retrieved" not in out


def test_a_chat_before_the_voice_has_loaded_waits_for_it_and_is_spoken(
        qwen_env: dict[str, str], tmp_path: Path) -> None:
    """The first minute: a chat posted the moment the LLM is ready, while the local engine is
    still loading, waits for the voice ("음성 준비 중" on the panel) instead of being muted."""
    wav = tmp_path / "voice.wav"
    with OpenAIServer(default=Reply({"response": "반가워요! 오늘도 화이팅.", "emotion": "happy"})) as llm:
        env = qwen_env | {"GROQ_API_KEY": "gsk_x", "GROQ_BASE_URL": llm.base_url,
                          "AUDIO_OUTPUT_DEVICE": f"file:{wav}", "SEGMENT_MIN_CHARS": "2"}
        with run_daemon(tmp_path, **env) as daemon:
            def rows() -> dict[str, dict[str, str]]:
                state = httpx.get(f"{daemon.url}/api/state", timeout=5).json()
                return {c["name"]: c for c in state["components"]}

            deadline = time.monotonic() + 30
            while rows()["llm"]["state"] != "running":
                assert time.monotonic() < deadline
                time.sleep(0.02)
            assert rows()["tts"]["state"] == "starting"  # the model is still loading
            httpx.post(f"{daemon.url}/api/chat", json={"user": "민수", "message": "안녕"})
            seen: set[str] = set()
            deadline = time.monotonic() + 60
            while not httpx.get(f"{daemon.url}/api/metrics").json()["latency_ms"].get(
                    "speech", {}).get("count"):
                seen.add(rows()["director"]["detail"])
                assert time.monotonic() < deadline, "the answer was never spoken"
                time.sleep(0.05)
            outcomes = httpx.get(f"{daemon.url}/api/metrics").json()["outcomes"]
            code, _, out = daemon.stop(signal.SIGTERM, timeout=10)
    assert code == 0, out
    assert any(d.startswith("음성 준비 중") for d in seen), seen
    assert outcomes == {"ok": 1}
    data, _ = soundfile.read(wav, dtype="int16")
    assert data.size > 2 * int(0.12 * 24000)
    assert "text only" not in out
