"""The daemon with Groq pointed at a real local OpenAI-compatible server: answers, failures,
memory across restarts, a broken summary file."""

from __future__ import annotations

import json
import signal
import sys
import time
from pathlib import Path

import httpx
import pytest

from daemon import run_daemon
from peers.openai_server import Echo, OpenAIServer, Reply, ServerError

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals"),
]


def _wait_state(url: str, predicate, timeout: float = 15.0) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        state = httpx.get(f"{url}/api/state", timeout=5).json()
        if predicate(state):
            return state
        if time.monotonic() > deadline:
            raise AssertionError(f"state not reached: {json.dumps(state, ensure_ascii=False)[:2000]}")
        time.sleep(0.05)


def _groq_env(server: OpenAIServer) -> dict[str, str]:
    return {"GROQ_API_KEY": "gsk_integration_secret_key", "GROQ_BASE_URL": server.base_url,
            "GROQ_MODEL": "openai/gpt-oss-120b", "GROQ_TIMEOUT_S": "2"}


def test_chat_is_answered_in_character_and_remembered_after_a_restart(tmp_path: Path) -> None:
    (tmp_path / "config").mkdir()
    (tmp_path / "config" / "character.txt").write_text("이름: 테스트초코\n", encoding="utf-8")
    with OpenAIServer(default=Echo(emotion="excited")) as server:
        # GROQ_STREAM=false: one JSON-mode request (the streamed default has tests/test_stream_*.py;
        # with tools offered JSON mode is never sent: tests/test_tool_turns.py)
        with run_daemon(tmp_path, **_groq_env(server), GROQ_STREAM="false", TOOLS="off") as daemon:
            _wait_state(daemon.url, lambda s: _component(s, "llm") == "running")
            httpx.post(f"{daemon.url}/api/chat", json={"user": "시청자1", "message": "내 이름은 민수야"})
            state = _wait_state(daemon.url, lambda s: len(s["assistant_messages"]) == 1)
            answer = state["assistant_messages"][0]
            assert "내 이름은 민수야" in answer["message"] and answer["emotion"] == "excited"
            assert state["llm"]["remaining_requests"] is not None  # rate-limit headroom kept
            metrics = httpx.get(f"{daemon.url}/api/metrics").json()
            assert metrics["latency_ms"]["llm"]["count"] == 1
            code, _, out = daemon.stop(signal.SIGTERM)
            assert code == 0, out
            assert "gsk_integration_secret_key" not in out
        request = server.requests[-1].body
        assert request["model"] == "openai/gpt-oss-120b"
        assert request["response_format"] == {"type": "json_object"}
        assert request["reasoning_effort"] == "low"
        assert "테스트초코" in request["messages"][0]["content"]
        assert server.requests[-1].headers["authorization"] == "Bearer gsk_integration_secret_key"
        saved = json.loads((tmp_path / "history" / "recent.json").read_text(encoding="utf-8"))
        assert [e["role"] for e in saved["entries"]] == ["user", "assistant"]

        server.clear()
        with run_daemon(tmp_path, **_groq_env(server)) as daemon:
            _wait_state(daemon.url, lambda s: _component(s, "llm") == "running")
            httpx.post(f"{daemon.url}/api/chat", json={"user": "시청자1", "message": "내 이름 기억해?"})
            _wait_state(daemon.url, lambda s: len(s["assistant_messages"]) == 1)
            daemon.stop(signal.SIGTERM)
        contents = [m["content"] for m in server.requests[-1].body["messages"]]
        assert any("내 이름은 민수야" in c for c in contents[1:-1])  # restored context


def test_server_errors_drop_the_turn_and_the_next_chat_is_answered(tmp_path: Path) -> None:
    with OpenAIServer() as server:
        server.script([ServerError(500)] * 4 + [Reply({"response": "이제 괜찮아요!", "emotion": "happy"})])
        with run_daemon(tmp_path, **_groq_env(server)) as daemon:
            _wait_state(daemon.url, lambda s: _component(s, "llm") == "running")
            httpx.post(f"{daemon.url}/api/chat", json={"user": "a", "message": "첫 번째 질문"})
            _wait_state(daemon.url, lambda s: s["queue"]["answered"] == 1 and not s["queue"]["speaking"])
            metrics = httpx.get(f"{daemon.url}/api/metrics").json()
            assert metrics["outcomes"] == {"error": 1}
            httpx.post(f"{daemon.url}/api/chat", json={"user": "b", "message": "두 번째 질문"})
            state = _wait_state(daemon.url, lambda s: len(s["assistant_messages"]) == 1)
            assert state["assistant_messages"][0]["message"] == "이제 괜찮아요!"
            code, _, out = daemon.stop(signal.SIGTERM)
        assert code == 0, out
        assert "Traceback" not in out
        assert len(server.requests) == 5  # 4 attempts for the first turn, 1 for the second


def test_corrupt_summary_is_quarantined_and_the_daemon_still_answers(tmp_path: Path) -> None:
    history = tmp_path / "history"
    history.mkdir()
    (history / "summary.json").write_text('{"summary": "잘린 파일', encoding="utf-8")
    with OpenAIServer() as server:
        with run_daemon(tmp_path, **_groq_env(server)) as daemon:
            _wait_state(daemon.url, lambda s: _component(s, "llm") == "running")
            httpx.post(f"{daemon.url}/api/chat", json={"user": "a", "message": "안녕하세요"})
            _wait_state(daemon.url, lambda s: len(s["assistant_messages"]) == 1)
            code, _, out = daemon.stop(signal.SIGTERM)
        assert code == 0
    assert "summary.json" in out and "corrupt" in out.lower()
    assert list(history.glob("summary.json.corrupt-*"))


def _component(state: dict, name: str) -> str:
    return next(c["state"] for c in state["components"] if c["name"] == name)
