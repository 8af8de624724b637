"""The per-platform 연결 확인 (doctor rows and the settings page's buttons) against the loopback
YouTube and SOOP peers: live, not live (a WARN that says it keeps waiting), a broken channel or
key, an unreachable host; one row per platform in `doctor`; and an unknown platform in
CHAT_SOURCE named at start."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from async_wait import serving
from conftest import SETTING_KEYS
from daemon import free_port
from peers.soop_server import SoopServer
from peers.youtube_server import API_KEY, YouTubeServer
from test_http_api import ORIGIN, TOKEN, in_tmp

from aischoco.cli.doctor import check_one
from aischoco.cli.doctor_chat import chat_checks
from aischoco.cli.doctor_checks import Check, Level
from aischoco.settings.model import Settings

CHANNEL = "UCtestChannel0000000000A"
BID = "chocobj"


@pytest.fixture
async def yt() -> AsyncIterator[YouTubeServer]:
    async with serving(YouTubeServer(channel_id=CHANNEL, quota=10)) as server:
        yield server


@pytest.fixture
async def soop() -> AsyncIterator[SoopServer]:
    async with serving(SoopServer(bid=BID)) as server:
        yield server


def _yt_settings(yt: YouTubeServer, **kw: Any) -> Settings:
    values = {"chat_source": "youtube", "youtube_channel_id": CHANNEL, "youtube_web_url": yt.web_url,
              "youtube_api_url": yt.api_url} | kw
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


def _soop_settings(soop: SoopServer, **kw: Any) -> Settings:
    values = {"chat_source": "soop", "soop_channel_id": BID, "soop_live_api_url": soop.live_api_url} | kw
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


async def _one(what: str, settings: Settings) -> Check:
    checks = await check_one(what, settings)
    assert len(checks) == 1
    return checks[0]


async def test_youtube_live_not_live_and_upcoming(yt: YouTubeServer) -> None:
    settings = _yt_settings(yt)
    waiting = await _one("chat_youtube", settings)
    assert waiting.level is Level.WARN and waiting.component == "채팅 (YouTube)"
    assert "방송 중이 아닙니다 — 방송을 켜면 자동으로 붙습니다" in waiting.detail
    assert "비공식" in waiting.detail  # the web way says it is unofficial
    yt.go_live("liveVideo01", "초코의 저녁 방송")
    live = await _one("chat_youtube", settings)
    assert live.level is Level.OK, live
    assert '"초코의 저녁 방송" (liveVideo01)' in live.detail and "채팅을 읽을 수 있습니다" in live.detail
    assert yt.page_requests == 2 and not yt.chat_requests  # one page a check, no chat read
    handle = await _one("chat_youtube", _yt_settings(yt, youtube_channel_id="https://www.youtube.com/@chocotest"))
    assert handle.level is Level.OK and "@chocotest" in handle.detail
    video = await _one("chat_youtube", _yt_settings(yt, youtube_video_id="otherVideo1"))
    assert video.level is Level.WARN and "방송 중이 아닙니다" in video.detail


async def test_youtube_broken_channel_key_quota_and_unreachable(yt: YouTubeServer) -> None:
    missing = await _one("chat_youtube", _yt_settings(yt, youtube_channel_id=None))
    assert missing.level is Level.ERROR and "YOUTUBE_CHANNEL_ID" in missing.detail + missing.todo
    wrong = await _one("chat_youtube", _yt_settings(yt, youtube_channel_id="UCnobodyHere00000000000B"))
    assert wrong.level is Level.ERROR and "그런 채널/영상이 없습니다" in wrong.detail
    assert "YOUTUBE_CHANNEL_ID" in wrong.todo

    yt.go_live("liveVideo01")
    good = await _one("chat_youtube", _yt_settings(yt, youtube_api_key=API_KEY))
    assert good.level is Level.OK and "Data API" in good.detail, good
    refused = await _one("chat_youtube", _yt_settings(yt, youtube_api_key="not-the-key"))
    assert refused.level is Level.ERROR and "거절" in refused.detail and "YOUTUBE_API_KEY" in refused.todo
    yt.quota_used = yt.quota
    spent = await _one("chat_youtube", _yt_settings(yt, youtube_api_key=API_KEY))
    assert spent.level is Level.ERROR and "할당량" in spent.detail, spent

    nowhere = f"http://127.0.0.1:{free_port()}"
    down = await _one("chat_youtube", _yt_settings(yt, youtube_web_url=nowhere))
    assert down.level is Level.ERROR and "연결 안 됨" in down.detail
    assert "인터넷 연결" in down.todo and nowhere in down.todo


async def test_soop_live_not_live_age_password_and_broken(soop: SoopServer) -> None:
    settings = _soop_settings(soop)
    live = await _one("chat_soop", settings)
    assert live.level is Level.OK and live.component == "채팅 (SOOP)", live
    assert '"숲 테스트 방송"' in live.detail and "비공식" in live.detail
    assert not soop.connections  # the check reads the live info only: no chat socket
    soop.password = True
    locked = await _one("chat_soop", settings)
    assert locked.level is Level.WARN and "비밀번호 방송" in locked.detail
    soop.password, soop.result = False, 0
    off = await _one("chat_soop", settings)
    assert off.level is Level.WARN and "방송 중이 아닙니다 — 방송을 켜면 자동으로 붙습니다" in off.detail
    soop.result = -6
    adult = await _one("chat_soop", settings)
    assert adult.level is Level.WARN and "연령 제한" in adult.detail
    soop.fail_live = True
    broken = await _one("chat_soop", settings)
    assert broken.level is Level.ERROR and "HTTP 500" in broken.detail

    nowhere = f"http://127.0.0.1:{free_port()}/x"
    down = await _one("chat_soop", _soop_settings(soop, soop_live_api_url=nowhere))
    assert down.level is Level.ERROR and "연결 안 됨" in down.detail and nowhere in down.todo
    bad = await _one("chat_soop", _soop_settings(soop, soop_channel_id="https://example.com/x"))
    assert bad.level is Level.ERROR and "SOOP_CHANNEL_ID" in bad.detail
    unlisted = await _one("chat_soop", _soop_settings(soop, chat_source="local"))
    assert "CHAT_SOURCE에 soop" in unlisted.todo  # tried before CHAT_SOURCE lists it: says so


async def test_doctor_has_one_row_per_listed_platform(yt: YouTubeServer, soop: SoopServer) -> None:
    settings = _yt_settings(yt, chat_source="youtube,soop,local", soop_channel_id=BID,
                            soop_live_api_url=soop.live_api_url)
    rows = await chat_checks(settings)
    assert [r.component for r in rows] == ["채팅 (YouTube)", "채팅 (SOOP)", "채팅 (로컬)"]
    assert [r.level for r in rows] == [Level.WARN, Level.OK, Level.OK]
    alone = await chat_checks(Settings(_env_file=None))  # type: ignore[call-arg]
    assert [r.component for r in alone] == ["채팅 (로컬)"] and "CHZZK_CLIENT_ID" in alone[0].todo
    missing = await chat_checks(Settings(_env_file=None, chat_source="chzzk,youtube"))  # type: ignore[call-arg]
    assert [(r.component, r.level) for r in missing] == [("채팅 (치지직)", Level.ERROR),
                                                         ("채팅 (YouTube)", Level.ERROR)]
    chat = await _one("chat", settings)  # the old button: CHZZK, or local chat without it
    assert chat.component == "채팅 (로컬)" and "CHZZK_CLIENT_ID" in chat.todo


def _cli(*args: str, cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    full_env = {k: v for k, v in os.environ.items() if k not in SETTING_KEYS} | env
    return subprocess.run([sys.executable, "-m", "aischoco", *args], check=False, cwd=cwd, env=full_env,
                          capture_output=True, text=True, encoding="utf-8", timeout=60)


def test_the_doctor_command_prints_each_platform(tmp_path: Path) -> None:
    with YouTubeServer(channel_id=CHANNEL) as yt, SoopServer(bid=BID) as soop:
        yt.go_live("liveVideo01", "초코 라이브")
        result = _cli("doctor", cwd=tmp_path, CHAT_SOURCE="youtube,soop", YOUTUBE_CHANNEL_ID=CHANNEL,
                      YOUTUBE_WEB_URL=yt.web_url, SOOP_CHANNEL_ID=BID, SOOP_LIVE_API_URL=soop.live_api_url,
                      TTS_ENGINE="off", VTS_ENABLED="false", OVERLAY_PORT=str(free_port()))
    out = result.stdout
    assert "Traceback" not in out + result.stderr
    assert "OK    채팅 (YouTube)" in out and "초코 라이브" in out, out
    assert "OK    채팅 (SOOP)" in out and "숲 테스트 방송" in out, out
    assert "데몬의 상태 줄에서 연결 확인" not in out


def test_an_unknown_platform_is_named_at_start(tmp_path: Path) -> None:
    result = _cli("run", cwd=tmp_path, CHAT_SOURCE="youtube,twitch", OVERLAY_PORT=str(free_port()))
    assert result.returncode == 2, result.stdout + result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr
    assert "CHAT_SOURCE" in lines[0] and "모르는 플랫폼: 'twitch'" in lines[0], lines
    assert "설정이 잘못되었습니다" in lines[0]


async def test_the_settings_page_button_through_the_app(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                                        yt: YouTubeServer, soop: SoopServer) -> None:
    from aischoco.compose.app import build
    from aischoco.core.status import StatusBoard
    from aischoco.overlay.server import create_app
    from aischoco.settings.model import load_settings

    in_tmp(monkeypatch, tmp_path)
    env = tmp_path / ".env"
    env.write_text(f"CHAT_SOURCE=youtube,soop\nYOUTUBE_CHANNEL_ID={CHANNEL}\nYOUTUBE_WEB_URL={yt.web_url}\n"
                   f"SOOP_CHANNEL_ID={BID}\nSOOP_LIVE_API_URL={soop.live_api_url}\n"
                   "TTS_ENGINE=off\nVTS_ENABLED=false\n", encoding="utf-8")
    _, controls, _ = build(load_settings(env), StatusBoard(), env)
    transport = httpx.ASGITransport(app=create_app(controls, token=TOKEN))
    async with httpx.AsyncClient(transport=transport, base_url=ORIGIN) as client:
        yt.go_live("liveVideo01", "설정 페이지 방송")
        answer = (await client.post("/api/settings/test", json={"what": "chat_youtube"})).json()
        assert answer["level"] == "ok" and "설정 페이지 방송" in answer["detail"], answer
        soop.result = 0
        answer = (await client.post("/api/settings/test", json={"what": "chat_soop"})).json()
        assert answer["level"] == "warn" and "방송을 켜면 자동으로 붙습니다" in answer["detail"], answer
        answer = (await client.post("/api/settings/test", json={"what": "chat"})).json()
        assert answer["level"] == "ok" and answer["component"] == "채팅 (로컬)", answer
        wrong = await client.post("/api/settings/test", json={"what": "chat_twitch"})
        assert wrong.status_code == 422
        page = (await client.get("/settings")).text
        assert '"chat_youtube", "YouTube 연결 확인"' in page and '"chat_soop", "SOOP 연결 확인"' in page
