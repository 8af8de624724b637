"""A local model behind GROQ_BASE_URL, through the real daemon process (`python -m aischoco run`)
with the default TOOLS=on: a server that refuses tools in its own words (the OpenAI peer speaking
as Ollama, llama.cpp or vLLM) still gets every chat answered and spoken, later turns offer no
tools, and the AI row says why; answers that ignore the JSON format are spoken, and only one with
nothing sayable is dropped, with a log line."""

from __future__ import annotations

import signal
import sys
from pathlib import Path

import httpx
import pytest
from daemon import run_daemon, voice_env, wait_until
from peers.openai_server import OpenAIServer, RefuseTools, Stream
from peers.speech_server import SpeechServer

from aischoco.ai.responder import TOOLLESS_NOTE

pytestmark = [pytest.mark.integration,
              pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")]

# No idle lines and no memory distiller: every request the peer sees is a chat turn's.
QUIET = {"IDLE_TALK_AFTER_S": "0", "MEMORY_ENABLED": "false"}


def _state(url: str) -> dict:
    return httpx.get(f"{url}/api/state", timeout=5).json()


def _row(url: str, name: str = "llm") -> dict:
    return next(c for c in _state(url)["components"] if c["name"] == name)


def _said(tts: SpeechServer) -> list[str]:
    return [r.body["input"] for r in tts.speech_requests]


def _chat(url: str, user: str, text: str) -> None:
    assert httpx.post(f"{url}/api/chat", json={"user": user, "message": text},
                      timeout=5).status_code < 300


@pytest.mark.parametrize(("server", "stream", "hint"), [
    ("ollama", "true", "GROQ_MODEL"),
    ("llamacpp", "false", "--jinja"),
    ("vllm", "true", "--enable-auto-tool-choice"),
])
def test_a_server_that_refuses_tools_still_answers_every_chat(
        tmp_path: Path, server: str, stream: str, hint: str) -> None:
    wav = tmp_path / "voice.wav"
    with OpenAIServer(default=RefuseTools(server)) as llm, SpeechServer(ms_per_char=1) as tts:
        env = voice_env(llm.base_url, tts.base_url, wav, GROQ_MODEL="gemma3:4b",
                        GROQ_STREAM=stream, **QUIET)
        with run_daemon(tmp_path, **env) as daemon:
            wait_until(lambda: _row(daemon.url)["state"] == "running", what="the LLM row")
            _chat(daemon.url, "시청자1", "안녕하세요")
            wait_until(lambda: _said(tts) == ["안녕하세요"], what="the first chat answered")
            _chat(daemon.url, "시청자2", "오늘 뭐 해요")
            wait_until(lambda: _said(tts) == ["안녕하세요", "오늘 뭐 해요"],
                       what="the second chat answered")
            row = _row(daemon.url)
            code, _, out = daemon.stop(signal.SIGTERM)
    assert code == 0, out
    assert row["state"] == "running" and row["detail"] == f"gemma3:4b 준비됨 — {TOOLLESS_NOTE}"
    assert hint in row["hint"]
    bodies = [r.body for r in llm.requests]
    assert [bool(b.get("tools")) for b in bodies] == [True, False, False]
    assert all(b["model"] == "gemma3:4b" for b in bodies)
    assert "dropped" not in out and "Traceback" not in out
    assert out.count("refused tools") == 1  # one warning, not one per turn
    if server == "ollama":
        assert "registry.ollama.ai/library/gemma3:4b does not support tools" in out


@pytest.mark.parametrize("stream", ["true", "false"])
def test_answers_that_ignore_the_format_are_spoken_and_only_an_empty_one_is_dropped(
        tmp_path: Path, stream: str) -> None:
    wav = tmp_path / "voice.wav"
    answers = [
        "안녕하세요! 저는 로컬 모델이에요.",  # plain Korean, no JSON at all
        "{'emotion': 'sad', 'response': '오늘은 조금 슬퍼요.'}",  # a Python-style dict
        "<think>JSON으로 답해야 하는데",  # only reasoning: nothing to say (asked twice)
        "<think>JSON으로 답해야 하는데",
        '{"emotion": "happy", "response": "다시 괜찮아요!"}',
    ]
    with OpenAIServer() as llm, SpeechServer(ms_per_char=1) as tts:
        llm.script([Stream(a, token_chars=4) for a in answers])
        env = voice_env(llm.base_url, tts.base_url, wav, GROQ_MODEL="gemma3:4b",
                        GROQ_STREAM=stream, TOOLS="off", **QUIET)
        with run_daemon(tmp_path, **env) as daemon:
            wait_until(lambda: _row(daemon.url)["state"] == "running", what="the LLM row")
            _chat(daemon.url, "시청자3", "자기소개 해 줘")
            wait_until(lambda: _said(tts) == ["안녕하세요!", "저는 로컬 모델이에요."],
                       what="the plain answer spoken")
            _chat(daemon.url, "시청자4", "기분 어때?")
            wait_until(lambda: _said(tts)[2:] == ["오늘은 조금 슬퍼요."], what="the dict spoken")
            _chat(daemon.url, "시청자5", "생각만 해?")
            wait_until(lambda: len(llm.requests) == 4 and not _state(daemon.url)["queue"]["speaking"],
                       what="the empty answer asked twice")
            _chat(daemon.url, "시청자6", "이제 괜찮아?")
            wait_until(lambda: _said(tts)[3:] == ["다시 괜찮아요!"], what="the next chat spoken")
            messages = _state(daemon.url)["assistant_messages"]
            code, _, out = daemon.stop(signal.SIGTERM)
    assert code == 0, out
    assert [(m["message"], m["emotion"]) for m in messages] == [
        ("안녕하세요! 저는 로컬 모델이에요.", "neutral"), ("오늘은 조금 슬퍼요.", "sad"),
        ("다시 괜찮아요!", "happy")]
    assert len(llm.requests) == 5  # neither readable answer was asked for again
    dropped = [line for line in out.splitlines() if "dropped" in line]
    assert len(dropped) == 1 and "nothing to say" in dropped[0]
    assert "Traceback" not in out
