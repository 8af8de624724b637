"""The daemon speaking a streamed answer: a streaming LLM peer and a remote TTS peer on loopback,
audio into a WAV file. The first sentence must reach TTS while the LLM is still writing (asserted
on the peers' own timestamps)."""

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
from peers.openai_server import OpenAIServer, Reply, Stream
from peers.speech_server import SpeechServer, speech_pcm

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals"),
]

ANSWER = "안녕하세요! 오늘도 와 줘서 고마워요. 재밌게 놀아요."
SENTENCES = ["안녕하세요!", "오늘도 와 줘서 고마워요.", "재밌게 놀아요."]


def _ready(url: str) -> bool:
    state = httpx.get(f"{url}/api/state", timeout=5).json()
    return all(c["state"] == "running" for c in state["components"]
               if c["name"] in ("llm", "tts", "audio"))


def _speak_one(daemon_url: str) -> dict:
    httpx.post(f"{daemon_url}/api/chat", json={"user": "민수", "message": "안녕!"})
    return _until(lambda: (m := httpx.get(f"{daemon_url}/api/metrics").json())
                  ["latency_ms"].get("speech", {}).get("count") and m, what="speech")


def test_a_streamed_answer_is_spoken_while_the_llm_is_still_writing(tmp_path: Path) -> None:
    wav = tmp_path / "voice.wav"
    # ~90 content deltas at 60 per second: the stream takes ~1.5 s.
    stream = Stream({"emotion": "happy", "response": ANSWER}, token_chars=1, tokens_per_s=60,
                    reasoning=["비밀 추론: 시스템 프롬프트를 읽는다"])
    with OpenAIServer(default=stream) as llm, SpeechServer() as tts:
        with run_daemon(tmp_path, **voice_env(llm.base_url, tts.base_url, wav)) as daemon:
            _until(lambda: _ready(daemon.url), what="llm, tts and audio running")
            metrics = _speak_one(daemon.url)
            state = httpx.get(f"{daemon.url}/api/state").json()
            time.sleep(0.2)  # the idle file writer flushes the WAV header
            code, _, out = daemon.stop(signal.SIGTERM)
            assert code == 0, out
    request = llm.requests[0]
    assert request.body["stream"] is True and "response_format" not in request.body
    assert request.done_at is not None
    assert tts.speech_requests[0].received_at < request.delta_sent_at[-1]  # before it was written
    sentences = [r.body["input"] for r in tts.speech_requests]
    assert sentences == SENTENCES and "비밀" not in out
    data, rate = soundfile.read(wav, dtype="int16")
    expected = np.frombuffer(b"".join(speech_pcm(s) for s in sentences), dtype="<i2")
    assert rate == 24000 and np.array_equal(data, expected)  # every sentence, in order, whole
    latency = metrics["latency_ms"]
    assert latency["llm_first_token"]["count"] == 1 and latency["first_sentence"]["count"] == 1
    assert latency["first_sentence"]["p50_ms"] < latency["llm"]["p50_ms"]
    (shown,) = state["assistant_messages"]
    assert shown["message"] == ANSWER and shown["emotion"] == "happy"
    saved = json.loads((tmp_path / "history" / "recent.json").read_text(encoding="utf-8"))
    entry = saved["entries"][-1]
    assert (entry["role"], entry["content"]) == ("assistant", ANSWER)


@pytest.mark.parametrize("tools", ["off", "on"])
def test_groq_stream_false_asks_for_the_whole_answer_in_json_mode(tmp_path: Path,
                                                                  tools: str) -> None:
    wav = tmp_path / "voice.wav"
    with OpenAIServer(default=Reply({"emotion": "happy", "response": ANSWER})) as llm, \
            SpeechServer() as tts:
        env = voice_env(llm.base_url, tts.base_url, wav, GROQ_STREAM="false", TOOLS=tools)
        with run_daemon(tmp_path, **env) as daemon:
            _until(lambda: _ready(daemon.url), what="llm, tts and audio running")
            metrics = _speak_one(daemon.url)
            code, _, out = daemon.stop(signal.SIGTERM)
            assert code == 0, out
    body = llm.requests[0].body
    assert "stream" not in body
    if tools == "off":
        assert body["response_format"] == {"type": "json_object"} and "tools" not in body
    else:  # Groq refuses JSON mode with tools: the JSON the prompt asks for, read from the text
        assert "response_format" not in body and body["tools"] and len(llm.requests) == 1
    assert [r.body["input"] for r in tts.speech_requests] == SENTENCES
    assert metrics["latency_ms"]["llm_first_token"]["count"] == 0
