"""The living stream in real headless Chromium: the panel's idle-talk switch and countdown, and a
CHZZK blind taking a message off the OBS overlay page (the web chat peer sends cmd 94008)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import httpx

from browser_helpers import require_browser
from daemon import run_daemon, wait_until
from peers.chzzk_web_server import ChzzkWebServer, chat_item
from test_browser import context, item, open_overlay, open_panel, state  # noqa: F401 (fixture)

require_browser()

CHANNEL = "browser-living-1"


def test_the_panel_switches_idle_talk_and_shows_when_the_next_line_may_come(
        tmp_path: Path, context: Any) -> None:  # noqa: F811
    # an LLM is set (never asked within 300 s): idle talk counts down only when it could speak
    with run_daemon(tmp_path, IDLE_TALK_AFTER_S="300", IDLE_TALK_MIN_GAP_S="60",
                    GROQ_API_KEY="gsk_idle_browser", GROQ_BASE_URL="http://127.0.0.1:9") as daemon:
        panel = open_panel(context, daemon.url)
        panel.wait_for_function(
            "document.getElementById('idle-state').textContent.startsWith('켜짐 · 다음 혼잣말 약')")
        seconds = int(panel.locator("#idle-state").text_content().split("약 ")[1].split("초")[0])
        assert 250 <= seconds <= 300
        button = panel.locator("#idle-talk")
        assert button.text_content() == "혼잣말 끄기"
        button.click()
        panel.wait_for_function("document.getElementById('idle-state').textContent === '꺼짐'")
        assert state(daemon.url)["queue"]["idle_talk"]["enabled"] is False
        assert button.text_content() == "혼잣말 켜기"
        button.click()
        panel.wait_for_function(
            "document.getElementById('idle-state').textContent.startsWith('켜짐')")
        assert state(daemon.url)["queue"]["idle_talk"]["enabled"] is True
    with run_daemon(tmp_path, IDLE_TALK_AFTER_S="0") as daemon:
        panel = open_panel(context, daemon.url)
        panel.wait_for_function(
            "document.getElementById('idle-state').textContent === '꺼짐 (IDLE_TALK_AFTER_S=0)'")
        assert panel.locator("#idle-talk").is_disabled()


def test_a_blind_takes_the_message_off_the_overlay_page(tmp_path: Path, context: Any) -> None:  # noqa: F811
    with ChzzkWebServer(channel_id=CHANNEL) as chat, \
            run_daemon(tmp_path, CHAT_SOURCE="chzzk-web", CHZZK_CHANNEL_ID=CHANNEL,
                       CHZZK_WEB_API_URL=chat.http_url, CHZZK_WEB_GAME_API_URL=chat.http_url,
                       CHZZK_WEB_CHAT_URL=chat.chat_url_template) as daemon:
        chat.wait_connected()
        overlay = open_overlay(context, daemon.url)
        now = int(time.time() * 1000)  # the overlay fades (and skips) messages from long ago
        chat.push_chat([chat_item("악플러", "가려질 채팅", uid="bad-1", msg_time=now),
                        chat_item("착한이", "남을 채팅", uid="good-1", msg_time=now + 100)])
        viewer = wait_until(lambda: len(state(daemon.url)["viewer_messages"]) == 2 and
                            state(daemon.url)["viewer_messages"])
        bad, good = (m["id"] for m in viewer)
        item(overlay, bad), item(overlay, good)
        chat.push_blind("bad-1", now, "CBOTBLIND")
        overlay.locator(f'.item[data-id="{bad}"]').wait_for(state="detached")
        assert overlay.locator(f'.item[data-id="{good}"]').count() == 1
        reloaded = open_overlay(context, daemon.url)  # a page opened later never sees it
        item(reloaded, good)
        assert reloaded.locator(f'.item[data-id="{bad}"]').count() == 0
        assert httpx.get(f"{daemon.url}/api/state", timeout=5).json()["filters"]["hidden"] == 1


def test_the_panel_shows_what_the_ai_sees_and_switches_it_off(tmp_path: Path,
                                                             context: Any) -> None:  # noqa: F811
    from peers.obs_ws_server import ObsServer
    from peers.openai_server import OpenAIServer, Reply

    with ObsServer(password="pw") as obs, OpenAIServer(default=Reply("보스전 화면")) as llm, \
            run_daemon(tmp_path, GROQ_API_KEY="gsk_panel", GROQ_BASE_URL=llm.base_url,
                       VISION="obs", OBS_WS_URL=obs.url, OBS_WS_PASSWORD="pw",
                       VISION_INTERVAL_S="1", IDLE_TALK_AFTER_S="0") as daemon:
        wait_until(lambda: state(daemon.url)["vision"], what="a scene note", timeout=20)
        panel = open_panel(context, daemon.url)
        panel.wait_for_function(
            "document.getElementById('vision-state').textContent === '👁 AI가 화면을 보는 중'")
        panel.wait_for_function("document.getElementById('vision-note').textContent.includes('보스전 화면')")
        panel.wait_for_function("document.getElementById('vision-frame').naturalWidth === 320")
        panel.locator("#vision-toggle").click()
        panel.wait_for_function("document.getElementById('vision-state').textContent === '화면 보기 멈춤'")
        assert state(daemon.url)["vision_info"]["enabled"] is False
        assert panel.locator("#vision-toggle").text_content() == "화면 보기 켜기"
