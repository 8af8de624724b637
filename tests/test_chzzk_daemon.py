"""The daemon with CHAT_SOURCE=chzzk against the Node Socket.IO 2.x peer: CHZZK chat reaches the
overlay state and the reply queue; without a login the status says what to do."""

from __future__ import annotations

import asyncio
import json
import signal
import sys
import time
from pathlib import Path

import httpx
import pytest

from aischoco.chat.chzzk_auth import TokenSet, save_tokens
from daemon import run_daemon
from peers.chzzk_socketio import NodePeer

pytestmark = [pytest.mark.integration,
              pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")]

CHANNEL = "daemon-channel-1"


def _chzzk_env(peer: NodePeer, tmp_path: Path) -> dict[str, str]:
    return {"CHAT_SOURCE": "chzzk", "CHZZK_CLIENT_ID": "cid-daemon",
            "CHZZK_CLIENT_SECRET": "csecret-daemon", "CHZZK_CHANNEL_ID": CHANNEL,
            "CHZZK_OPENAPI_URL": peer.base_url,
            "CHZZK_TOKEN_PATH": str(tmp_path / "config" / "chzzk_token.json")}


def _chat_state(url: str) -> dict:
    state = httpx.get(f"{url}/api/state", timeout=5).json()
    return next(c for c in state["components"] if c["name"] == "chat") | {"_state": state}


def _wait(predicate, timeout: float = 15.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError("condition not reached")


def test_chzzk_chat_reaches_the_overlay_and_the_queue(tmp_path: Path) -> None:
    peer = NodePeer()
    try:
        save_tokens(tmp_path / "config" / "chzzk_token.json",
                    TokenSet("at-daemon-secret", "rt-daemon-secret", "Bearer", time.time() + 86400))
        asyncio.run(peer.post("/test/tokens", {"access": "at-daemon-secret",
                                               "refresh": "rt-daemon-secret",
                                               "clientId": "cid-daemon",
                                               "clientSecret": "csecret-daemon",
                                               "channelId": CHANNEL}))
        with run_daemon(tmp_path, **_chzzk_env(peer, tmp_path)) as daemon:
            _wait(lambda: _chat_state(daemon.url)["state"] == "running")
            payload = json.dumps({"channelId": CHANNEL, "senderChannelId": "viewer-9",
                                  "profile": {"nickname": "치즈러버", "userRoleCode": "common_user"},
                                  "content": "초코 안녕! {:wave:}", "emojis": {"wave": "https://e.example/w.png"},
                                  "messageTime": int(time.time() * 1000)})
            asyncio.run(peer.emit("CHAT", payload))
            chat = _wait(lambda: [m for m in _chat_state(daemon.url)["_state"]["viewer_messages"]
                                  if m["user"] == "치즈러버"])
            assert chat[0]["message"] == "초코 안녕! {:wave:}"
            assert chat[0]["source"] == "chzzk" and chat[0]["emoticons"] == {"wave": "https://e.example/w.png"}
            state = _chat_state(daemon.url)["_state"]
            assert state["queue"]["pending"] == 1  # no LLM configured: queued, not answered
            code, took, out = daemon.stop(signal.SIGTERM)
        assert code == 0 and took < 5.0, out
        assert "at-daemon-secret" not in out and "rt-daemon-secret" not in out
    finally:
        peer.stop()


def test_without_a_login_the_status_says_to_run_auth(tmp_path: Path) -> None:
    peer = NodePeer()
    try:
        with run_daemon(tmp_path, **_chzzk_env(peer, tmp_path)) as daemon:
            chat = _wait(lambda: (c := _chat_state(daemon.url))["state"] == "not_configured" and c)
            assert "auth chzzk" in chat["hint"]
            # Local chat injection still works while CHZZK waits for a login.
            httpx.post(f"{daemon.url}/api/chat", json={"user": "a", "message": "로컬 채팅"}, timeout=5)
            assert _chat_state(daemon.url)["_state"]["viewer_messages"][-1]["message"] == "로컬 채팅"
            code, _, out = daemon.stop(signal.SIGTERM)
        assert code == 0, out
    finally:
        peer.stop()
