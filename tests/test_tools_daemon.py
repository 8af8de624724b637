"""Tools through the real daemon process: MCP servers from MCP_CONFIG_PATH (the reference
`mcp-server-time` over stdio) started and supervised with the daemon, their tools offered and run
in a chat turn; a broken config file and a server that will not start are status rows, not a
failed start."""

from __future__ import annotations

import json
import signal
import sys
from pathlib import Path

import httpx
import pytest

from daemon import run_daemon, voice_env, wait_until
from peers.openai_server import OpenAIServer, Stream, ToolCalls
from peers.speech_server import SpeechServer

pytestmark = [pytest.mark.integration,
              pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")]


def _rows(url: str) -> dict[str, dict]:
    state = httpx.get(f"{url}/api/state", timeout=5).json()
    return {c["name"]: c for c in state["components"]} | {"_state": state}


def test_an_mcp_tool_is_offered_and_used_in_a_chat_turn(tmp_path: Path) -> None:
    config = tmp_path / "config" / "mcp.json"
    config.parent.mkdir()
    config.write_text(json.dumps({"mcpServers": {
        "time": {"command": sys.executable,
                 "args": ["-m", "mcp_server_time", "--local-timezone", "Asia/Seoul"]},
        "ghost": {"command": str(tmp_path / "no-such-server")},
    }}), encoding="utf-8")
    wav = tmp_path / "voice.wav"
    answer = {"emotion": "happy", "response": "지금 서울은 밤이에요!"}
    with OpenAIServer() as llm, SpeechServer(ms_per_char=2) as tts:
        llm.script([ToolCalls([("time_get_current_time", '{"timezone": "Asia/Seoul"}')]),
                    Stream(answer)])
        env = voice_env(llm.base_url, tts.base_url, wav, IDLE_TALK_AFTER_S="0",
                        TOOLS_VIEWER_ALLOWED="korea_time,time_get_current_time")
        with run_daemon(tmp_path, **env) as daemon:
            rows = wait_until(lambda: (r := _rows(daemon.url))["mcp_time"]["state"] == "running"
                              and r, what="the MCP server running", timeout=30)
            assert "time_get_current_time" in rows["mcp_time"]["detail"]
            ghost = wait_until(lambda: (r := _rows(daemon.url)["mcp_ghost"])["state"]
                               == "restarting" and r, what="the ghost server's row")
            assert ghost["last_error"] or ghost["detail"]
            wait_until(lambda: _rows(daemon.url)["llm"]["state"] == "running")
            httpx.post(f"{daemon.url}/api/chat", json={"user": "민수", "message": "지금 몇 시야?"},
                       timeout=5)
            wait_until(lambda: [r.body["input"] for r in tts.speech_requests] == [answer["response"]],
                       what="the answer spoken")
            state = _rows(daemon.url)["_state"]
            code, _, out = daemon.stop(signal.SIGTERM)
    assert code == 0, out
    first, second = (r.body for r in llm.requests)
    names = [t["function"]["name"] for t in first["tools"]]
    assert names == ["korea_time", "time_get_current_time"]  # TOOLS_VIEWER_ALLOWED only
    result = second["messages"][-1]
    assert result["role"] == "tool" and "+09:00" in result["content"]
    tools = state["tools"]
    assert tools["calls"] == {"time_get_current_time": {"ok": 1}}
    assert "time_convert_time" in tools["tools"]
    logged = [line for line in out.splitlines() if "tool time_get_current_time" in line]
    assert logged and not any("Asia/Seoul" in line for line in logged)  # never the arguments


def test_a_broken_mcp_config_is_a_status_row_not_a_failed_start(tmp_path: Path) -> None:
    config = tmp_path / "mcp.json"
    config.write_text("{ not json", encoding="utf-8")
    with run_daemon(tmp_path, MCP_CONFIG_PATH=str(config)) as daemon:
        row = _rows(daemon.url)["tools"]
        assert row["state"] == "degraded" and "JSON이 아닙니다" in row["hint"]
        assert "기본 도구 5개" in row["detail"]
        code, _, out = daemon.stop(signal.SIGTERM)
    assert code == 0, out
    with run_daemon(tmp_path, TOOLS="off") as daemon:
        assert _rows(daemon.url)["tools"]["state"] == "off"
        assert httpx.get(f"{daemon.url}/api/state", timeout=5).json()["tools"] == {"enabled": False}
        daemon.stop(signal.SIGTERM)
