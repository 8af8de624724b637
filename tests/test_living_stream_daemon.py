"""The living stream through the real daemon process: CHZZK's web chat peer (gift bomb, anonymous
donation, blinds) and the official Socket.IO peer (donation tiers, subscriptions), a Groq peer and
a TTS peer; what reached TTS is read from the TTS peer's request log."""

from __future__ import annotations

import asyncio
import json
import signal
import sys
import time
from datetime import datetime
from pathlib import Path

import httpx
import pytest

from aischoco.chat.chzzk_auth import TokenSet, save_tokens
from daemon import run_daemon, voice_env, wait_until
from peers.chzzk_socketio import NodePeer
from peers.chzzk_web_server import ChzzkWebServer, chat_item, donation_item, gift_items
from peers.openai_server import OpenAIServer, Stream
from peers.speech_server import SpeechServer

pytestmark = [pytest.mark.integration,
              pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")]

CHANNEL = "living-channel-1"


def _state(url: str) -> dict:
    return httpx.get(f"{url}/api/state", timeout=5).json()


def _running(url: str, *names: str) -> bool:
    return all(c["state"] == "running" for c in _state(url)["components"] if c["name"] in names)


def _said(tts: SpeechServer) -> list[str]:
    return [r.body["input"] for r in tts.speech_requests]


def _told(llm: OpenAIServer) -> list[str]:
    return [r.body["messages"][-1]["content"] for r in llm.requests]


def test_web_chat_gift_bomb_anonymous_donation_and_blinds(tmp_path: Path) -> None:
    wav = tmp_path / "voice.wav"
    with ChzzkWebServer(channel_id=CHANNEL) as chat, OpenAIServer() as llm, \
            SpeechServer(ms_per_char=2) as tts:
        env = voice_env(llm.base_url, tts.base_url, wav, CHAT_SOURCE="chzzk-web",
                        CHZZK_CHANNEL_ID=CHANNEL, CHZZK_WEB_API_URL=chat.http_url,
                        CHZZK_WEB_GAME_API_URL=chat.http_url,
                        CHZZK_WEB_CHAT_URL=chat.chat_url_template, IDLE_TALK_AFTER_S="0")
        llm.script([Stream({"emotion": "happy", "response": "선물 고마워요!"}),
                    Stream({"emotion": "happy", "response": "고마워요!"}),
                    Stream({"emotion": "happy", "response": "착한 말 고마워요."})])
        with run_daemon(tmp_path, **env) as daemon:
            wait_until(lambda: _running(daemon.url, "chat", "llm", "tts", "audio"),
                       what="chat, llm, tts and audio running")
            chat.wait_connected()
            # A gift bomb: the gifter's event and fifty receivers within one second.
            receivers = [f"받은이{i}" for i in range(50)]
            items = gift_items("큰손", "GIFT-50", receivers)
            for part in (items[:20], items[20:]):
                chat.push_donation(part)
                time.sleep(0.2)
            wait_until(lambda: _state(daemon.url)["queue"]["answered"] >= 1 and
                       "선물 고마워요!" in _said(tts), what="one thank-you for the gift")
            chat.push_donation([donation_item("", "", 1000, anonymous=True, uid="anonymous")])
            wait_until(lambda: len(llm.requests) >= 2 and len(_said(tts)) >= 3,
                       what="the anonymous donation answered")
            # Blinds: a message hidden while paused (queued), one right after it is shown.
            httpx.post(f"{daemon.url}/api/pause", json={"paused": True}, timeout=5)
            chat.push_chat([chat_item("악플러", "나쁜 말 하나", uid="bad-1", msg_time=1_718_000_100_000),
                            chat_item("착한이", "좋은 말 하나", uid="good-1", msg_time=1_718_000_100_100)])
            wait_until(lambda: len(_state(daemon.url)["viewer_messages"]) >= 4, what="shown")
            chat.push_blind("bad-1", 1_718_000_100_000)
            wait_until(lambda: all(m["message"] != "나쁜 말 하나"
                                   for m in _state(daemon.url)["viewer_messages"]),
                       what="the blinded message off the overlay")
            httpx.post(f"{daemon.url}/api/pause", json={"paused": False}, timeout=5)
            wait_until(lambda: len(llm.requests) >= 3 and "착한 말 고마워요." in _said(tts),
                       what="the good message answered")
            state = _state(daemon.url)
            code, _, out = daemon.stop(signal.SIGTERM)
    assert code == 0, out
    told = _told(llm)
    assert len(told) == 3  # gift, donation, the good chat: one request each
    assert "구독권 50개 선물" in told[0] and "「받은이0」" in told[0] and "외 45명" in told[0]
    assert "익명의 후원자" in told[1] and "1,000치즈" in told[1]
    assert "좋은 말 하나" in told[2] and "나쁜 말 하나" not in told[2]
    said = _said(tts)
    assert said.count("선물 고마워요!") == 1  # one thank-you for fifty events
    assert said[1] == "익명의 후원자님, 1,000치즈 후원 감사합니다!" and said[2] == "고마워요!"
    gift_lines = [m for m in state["viewer_messages"] if m["kind"] == "subscription"]
    assert len(gift_lines) == 1 and gift_lines[0]["subscription"]["gift_count"] == 50
    assert state["queue"]["folded"] == 50 and state["filters"]["hidden"] == 1
    assert state["queue"]["withdrawn"] == 1


def test_official_donation_tiers_and_subscription(tmp_path: Path) -> None:
    peer = NodePeer()
    wav = tmp_path / "voice.wav"
    try:
        save_tokens(tmp_path / "config" / "chzzk_token.json",
                    TokenSet("at-living", "rt-living", "Bearer", time.time() + 86400))
        asyncio.run(peer.post("/test/tokens", {"access": "at-living", "refresh": "rt-living",
                                               "clientId": "cid-living",
                                               "clientSecret": "csecret-living",
                                               "channelId": CHANNEL}))
        with OpenAIServer() as llm, SpeechServer(ms_per_char=2) as tts:
            llm.script([Stream({"emotion": "sad", "response": "정말 고마워요!"}),
                        Stream({"emotion": "happy", "response": "소소님 천 치즈 고마워요!"}),
                        Stream({"emotion": "happy", "response": "구독 고마워요!"})])
            env = voice_env(llm.base_url, tts.base_url, wav, CHAT_SOURCE="chzzk",
                            CHZZK_CLIENT_ID="cid-living", CHZZK_CLIENT_SECRET="csecret-living",
                            CHZZK_CHANNEL_ID=CHANNEL, CHZZK_OPENAPI_URL=peer.base_url,
                            CHZZK_TOKEN_PATH=str(tmp_path / "config" / "chzzk_token.json"),
                            IDLE_TALK_AFTER_S="0")
            with run_daemon(tmp_path, **env) as daemon:
                wait_until(lambda: _running(daemon.url, "chat", "llm", "tts", "audio"),
                           what="chat, llm, tts and audio running")
                for event, payload in (
                        ("DONATION", {"donationType": "CHAT", "channelId": CHANNEL,
                                      "donatorChannelId": "big-1", "donatorNickname": "큰손",
                                      "payAmount": 50000, "donationText": "화이팅"}),
                        ("DONATION", {"donationType": "CHAT", "channelId": CHANNEL,
                                      "donatorChannelId": "small-1", "donatorNickname": "소소",
                                      "payAmount": "1000", "donationText": "응원"}),
                        ("SUBSCRIPTION", {"channelId": CHANNEL, "subscriberChannelId": "sub-1",
                                          "subscriberNickname": "구독왕", "tierNo": 2,
                                          "tierName": "티어2", "month": 13})):
                    asyncio.run(peer.emit(event, json.dumps(payload, ensure_ascii=False)))
                wait_until(lambda: _state(daemon.url)["queue"]["answered"] >= 3
                           and len(_said(tts)) >= 4, what="three answers spoken")
                state = _state(daemon.url)
                code, _, out = daemon.stop(signal.SIGTERM)
            assert code == 0, out
    finally:
        peer.stop()
    told = _told(llm)
    assert "50,000치즈, 3단계" in told[0] and "1,000치즈, 1단계" in told[1]
    assert "티어2 13개월 구독" in told[2]
    said = _said(tts)
    assert said[:2] == ["우와, 큰손님! 50,000치즈 후원 정말 정말 감사합니다!", "정말 고마워요!"]
    assert said[2:] == ["소소님 천 치즈 고마워요!", "구독 고마워요!"]  # named: no extra line
    first = state["assistant_messages"][0]
    assert first["emotion"] == "excited" and first["proactive"] is False


def test_idle_lines_are_min_gap_apart_as_viewers_see_them(tmp_path: Path) -> None:
    """IDLE_TALK_MIN_GAP_S is counted from the end of the previous idle line (shown and heard),
    not from when it was decided: a slow first line (1.5 s to its first token) followed by a
    fast one left only ~2.5 s between them on the overlay before."""
    wav = tmp_path / "voice.wav"
    with OpenAIServer() as llm, SpeechServer(ms_per_char=2) as tts:
        env = voice_env(llm.base_url, tts.base_url, wav, IDLE_TALK_AFTER_S="0.5",
                        IDLE_TALK_MIN_GAP_S="4")
        llm.script([Stream({"emotion": "happy", "response": "조용하네요, 뭐 하고 놀까요?"},
                           ttft_ms=1500),
                    Stream({"emotion": "neutral", "response": "오늘 날씨가 좋아요."}),
                    Stream({"emotion": "neutral", "response": "노래 한 곡 어때요?"})])
        with run_daemon(tmp_path, **env) as daemon:
            lines = wait_until(lambda: (m := _state(daemon.url)["assistant_messages"])
                               and len(m) >= 2 and m, timeout=30, what="two idle lines")
            first, second = (datetime.fromisoformat(m["timestamp"]) for m in lines[:2])
            assert all(m["proactive"] for m in lines[:2])
            gap = (second - first).total_seconds()
            # shown-to-shown covers the first line's speech too, so it is at least the gap
            assert gap >= 4.0, f"idle lines {gap:.2f} s apart on the overlay"
            assert _said(tts)[:2] == ["조용하네요, 뭐 하고 놀까요?", "오늘 날씨가 좋아요."]
