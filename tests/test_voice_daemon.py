"""The daemon speaking: Groq and a remote TTS server as real local peers, audio into a WAV file
(`AUDIO_OUTPUT_DEVICE=file:…`), skip over HTTP, and the history keeping only what was heard."""

from __future__ import annotations

import json
import signal
import sys
import time
from pathlib import Path

import httpx
import numpy as np
import pytest
import soundfile

from daemon import run_daemon, voice_env, wait_until as _until
from peers.openai_server import OpenAIServer, Reply
from peers.speech_server import SpeechServer, speech_pcm

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals"),
]


def _states(url: str) -> dict[str, str]:
    state = httpx.get(f"{url}/api/state", timeout=5).json()
    return {c["name"]: c["state"] for c in state["components"]}


def _last_assistant(workdir: Path) -> str:
    saved = json.loads((workdir / "history" / "recent.json").read_text(encoding="utf-8"))
    entry = saved["entries"][-1]
    assert entry["role"] == "assistant"
    return entry["content"]


def test_an_answer_is_spoken_sentence_by_sentence_into_the_file(tmp_path: Path) -> None:
    wav = tmp_path / "voice.wav"
    answer = "안녕하세요! 오늘도 와 줘서 고마워요. 재밌게 놀아요."
    with OpenAIServer(default=Reply({"response": answer, "emotion": "happy"})) as llm, \
            SpeechServer() as tts:
        with run_daemon(tmp_path, **voice_env(llm.base_url, tts.base_url, wav)) as daemon:
            _until(lambda: all(_states(daemon.url)[n] == "running" for n in ("llm", "tts", "audio")),
                   what="llm, tts and audio running")
            httpx.post(f"{daemon.url}/api/chat", json={"user": "민수", "message": "안녕!"})
            metrics = _until(lambda: (m := httpx.get(f"{daemon.url}/api/metrics").json())
                             ["latency_ms"].get("speech", {}).get("count") and m, what="speech")
            assert metrics["latency_ms"]["chat_to_voice"]["count"] == 1
            time.sleep(0.2)  # the idle file writer flushes the WAV header
            code, _, out = daemon.stop(signal.SIGTERM)
            assert code == 0, out
    sentences = [r.body["input"] for r in tts.speech_requests]
    assert sentences == ["안녕하세요!", "오늘도 와 줘서 고마워요.", "재밌게 놀아요."]
    assert all(r.body["response_format"] == "pcm" and r.body["stream"] for r in tts.speech_requests)
    data, rate = soundfile.read(wav, dtype="int16")
    expected = np.frombuffer(b"".join(speech_pcm(s) for s in sentences), dtype="<i2")
    assert rate == 24000 and np.array_equal(data, expected)  # every sentence, in order, whole
    assert _last_assistant(tmp_path) == answer


def test_skip_while_speaking_keeps_only_what_was_heard(tmp_path: Path) -> None:
    wav = tmp_path / "voice.wav"
    first = "첫 번째 문장은 시청자 여러분께 아주 천천히 길게 들려 드리는 인사말이에요."
    answer = f"{first} 두 번째 문장은 들리지 않아요. 세 번째도 마찬가지예요."
    with OpenAIServer(default=Reply({"response": answer, "emotion": "neutral"})) as llm, \
            SpeechServer() as tts:
        with run_daemon(tmp_path, **voice_env(llm.base_url, tts.base_url, wav)) as daemon:
            _until(lambda: _states(daemon.url)["audio"] == "running" and
                   _states(daemon.url)["tts"] == "running", what="voice ready")
            httpx.post(f"{daemon.url}/api/chat", json={"user": "민수", "message": "인사해 줘"})
            _until(lambda: wav.exists() and wav.stat().st_size > 24000, what="speech heard")
            assert httpx.post(f"{daemon.url}/api/skip").json() == {"skipped": True}
            _until(lambda: httpx.get(f"{daemon.url}/api/metrics").json()["outcomes"]
                   .get("skipped"), what="turn ended as skipped")
            time.sleep(0.2)
            code, _, out = daemon.stop(signal.SIGTERM)
            assert code == 0, out
    data, _ = soundfile.read(wav, dtype="int16")
    assert data.size < len(speech_pcm(first)) // 2  # cut inside the first sentence
    assert _last_assistant(tmp_path) == first + "…"
