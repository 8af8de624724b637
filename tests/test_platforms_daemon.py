"""One room made of every platform, through the real daemon process: CHZZK's web chat peer, a
YouTube peer (web client feed) and a SOOP peer (binary websocket) at once, plus local chat; a
Groq peer answers. Checked: one queue (one LLM request holds every platform's line, each tagged),
a USD Super Chat and SOOP balloons counted in won with the right tier, two platforms' 민수 kept
apart in memory, hostile payloads, one platform failing while the others continue; and the
platform badge on the overlay in Chromium."""

from __future__ import annotations

import signal
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from daemon import run_daemon, wait_until
from peers.chzzk_web_server import ChzzkWebServer, chat_item
from peers.openai_server import OpenAIServer
from peers.soop_server import SoopServer, balloon_frame, chat_frame, frame
from peers.youtube_server import YouTubeServer, paid_action, text_action

pytestmark = [pytest.mark.integration,
              pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")]

CHZZK = "platforms-channel-1"
UC = "UCtestChannel0000000000A"
BID = "chocobj"


def _state(url: str) -> dict[str, Any]:
    return httpx.get(f"{url}/api/state", timeout=5).json()


def _rows(url: str) -> dict[str, dict[str, Any]]:
    return {c["name"]: c for c in _state(url)["components"]}


def _connected(url: str, *names: str) -> bool:
    rows = _rows(url)
    return all(n in rows and rows[n]["state"] == "running" and "연결됨" in rows[n]["detail"] for n in names)


def _told(llm: OpenAIServer) -> list[str]:
    return [str(r.body["messages"][-1]["content"]) for r in llm.requests
            if "<<<CHAT>>>" in str(r.body["messages"][-1]["content"])]


def _env(chat: ChzzkWebServer, yt: YouTubeServer, soop: SoopServer, **extra: str) -> dict[str, str]:
    return {"CHAT_SOURCE": "chzzk-web,youtube,soop,local", "CHZZK_CHANNEL_ID": CHZZK,
            "CHZZK_WEB_API_URL": chat.http_url, "CHZZK_WEB_GAME_API_URL": chat.http_url,
            "CHZZK_WEB_CHAT_URL": chat.chat_url_template, "YOUTUBE_CHANNEL_ID": UC,
            "YOUTUBE_WEB_URL": yt.web_url, "SOOP_CHANNEL_ID": f"https://play.sooplive.co.kr/{BID}",
            "SOOP_LIVE_API_URL": soop.live_api_url, "SOOP_CHAT_URL": soop.chat_url_template,
            "IDLE_TALK_AFTER_S": "0", **extra}


def test_three_platforms_one_room(tmp_path: Path) -> None:
    with ChzzkWebServer(channel_id=CHZZK) as chat, YouTubeServer(channel_id=UC) as yt, \
            SoopServer(bid=BID) as soop, OpenAIServer() as llm:
        yt.go_live("liveVideo01")
        env = _env(chat, yt, soop, GROQ_API_KEY="gsk_platforms", GROQ_BASE_URL=llm.base_url,
                   GROQ_TIMEOUT_S="3", REPLY_BATCH_SIZE="4")
        with run_daemon(tmp_path, **env) as daemon:
            url = daemon.url
            wait_until(lambda: _connected(url, "chat_youtube", "chat_soop")
                       and _rows(url)["chat"]["state"] == "running", what="all platforms connected")
            chat.wait_connected()
            assert _rows(url)["chat_local"]["state"] == "running"
            # --- one queue: three 민수 and a local line wait together, then one request ----------
            httpx.post(f"{url}/api/pause", json={"paused": True}, timeout=5)
            chat.push_chat([chat_item("민수", "치지직에서 안녕", uid="chzzkminsu0001")])
            yt.push(text_action("UCminsu000000000000000001", "민수", "유튜브에서 안녕"))
            soop.send(chat_frame("minsu", "민수", "숲에서 안녕"))
            httpx.post(f"{url}/api/chat", json={"user": "테스터", "message": "로컬에서 안녕"}, timeout=5)
            wait_until(lambda: len(_state(url)["viewer_messages"]) >= 4, what="four lines on the overlay")
            shown = {m["message"]: m for m in _state(url)["viewer_messages"]}
            assert {shown[t]["platform"] for t in ("치지직에서 안녕", "유튜브에서 안녕", "숲에서 안녕", "로컬에서 안녕")} \
                == {"chzzk", "youtube", "soop", "local"}
            assert shown["유튜브에서 안녕"]["user_id"] == "youtube:UCminsu000000000000000001"
            httpx.post(f"{url}/api/pause", json={"paused": False}, timeout=5)
            wait_until(lambda: any("숲에서 안녕" in t for t in _told(llm)), what="the batch answered")
            batch = next(t for t in _told(llm) if "숲에서 안녕" in t)
            for line in ("[치지직] 「민수」: 치지직에서 안녕", "[YouTube] 「민수」: 유튜브에서 안녕",
                         "[SOOP] 「민수」: 숲에서 안녕", "「테스터」: 로컬에서 안녕"):
                assert line in batch, batch
            system = next(str(r.body["messages"][0]["content"]) for r in llm.requests
                          if "숲에서 안녕" in str(r.body["messages"][-1]["content"]))
            assert system.startswith("당신은 치지직·YouTube·SOOP에서 동시에 라이브 방송을"), system[:120]
            # --- gifts in won, with the tier ----------------------------------------------------------
            yt.push(paid_action("UCrich0000000000000000001", "부자", "$5.00", "응원해요"))
            wait_until(lambda: any("5달러 슈퍼챗" in t for t in _told(llm)), what="the Super Chat answered")
            soop.send(balloon_frame(BID, "bigfan", "큰손", 100))
            wait_until(lambda: any("별풍선 100개" in t for t in _told(llm)), what="the balloons answered")
            told = _told(llm)
            superchat = next(t for t in told if "5달러 슈퍼챗" in t)
            balloons = next(t for t in told if "별풍선 100개" in t)
            assert "[YouTube] [💰 5달러 슈퍼챗 (약 7,000원) 후원]" in superchat and "1단계" in superchat
            assert "[SOOP] [💰 별풍선 100개 (약 10,000원) 후원]" in balloons and "2단계" in balloons
            # the answers (echoes) named neither donor nor gift: the daemon's own line, in each
            # platform's words, comes first
            def said() -> str:
                return " ".join(m["message"] for m in _state(url)["assistant_messages"])
            wait_until(lambda: "큰손님, 별풍선 100개 진짜 감사합니다!" in said(), what="the balloon thank-you")
            assert "부자님, 5달러 슈퍼챗 감사합니다!" in said()
            # --- hostile payloads on both new platforms: skipped, everything keeps running -------------
            yt.push(42, {"addChatItemAction": {"item": {"liveChatTextMessageRenderer": {"message": 7}}}},
                    text_action("UCevil0000000000000000001", "\u202e악\x00당", "<img src=x onerror=alert(1)>"))
            soop.send_raw(b"\x1b\tgarbage\x00\xff" + frame(5, []) + b"\x1b\t000599999900",
                          chat_frame("after", "뒤에", "쓰레기 뒤에도 살아 있음"))
            wait_until(lambda: any(m["message"] == "쓰레기 뒤에도 살아 있음" for m in _state(url)["viewer_messages"]),
                       what="SOOP after garbage")
            evil = wait_until(lambda: next((m for m in _state(url)["viewer_messages"]
                                            if m["user_id"] == "youtube:UCevil0000000000000000001"), None),
                              what="YouTube after garbage")
            assert "\u202e" not in evil["user"] and "\x00" not in evil["user"]
            # --- memory: three 민수, three viewers; gifts counted in won --------------------------------
            def viewers(who: str) -> list[dict[str, Any]]:
                return httpx.get(f"{url}/api/memory", params={"user": who}, timeout=5).json().get("viewers", [])
            wait_until(lambda: len(viewers("민수")) == 3, what="three 민수 remembered apart")
            assert {v["user_id"] for v in viewers("민수")} == \
                {"chzzkminsu0001", "youtube:UCminsu000000000000000001", "soop:minsu"}
            assert {v["user_id"]: v["platform"] for v in viewers("민수")} == {
                "chzzkminsu0001": "chzzk", "youtube:UCminsu000000000000000001": "youtube", "soop:minsu": "soop"}
            assert viewers("soop:bigfan")[0]["donated"] == 10000
            assert viewers("youtube:UCrich0000000000000000001")[0]["donated"] == 7000
            # --- SOOP fails: its row says so; CHZZK and YouTube carry on ---------------------------------
            soop.fail_live = True
            soop.drop()
            wait_until(lambda: _rows(url)["chat_soop"]["state"] == "degraded"
                       and "HTTP 500" in _rows(url)["chat_soop"]["detail"], what="SOOP degraded, saying why")
            yt.push(text_action("UCviewer0000000000000001", "시청자", "유튜브는 멀쩡"))
            chat.push_chat([chat_item("시청자2", "치지직도 멀쩡", uid="chzzkviewer0002", msg_time=1_718_000_200_000)])
            wait_until(lambda: {"유튜브는 멀쩡", "치지직도 멀쩡"} <= {m["message"] for m in _state(url)["viewer_messages"]},
                       what="the others continue")
            rows = _rows(url)
            assert rows["chat"]["state"] == "running" and rows["chat_youtube"]["state"] == "running"
            soop.fail_live = False
            wait_until(lambda: _connected(url, "chat_soop"), timeout=40, what="SOOP back")
            code, _, out = daemon.stop(signal.SIGTERM)
    assert code == 0, out
    assert "read soop_id" not in out
    assert "setting SOOP_CHANNEL_ID: read chocobj" in out  # the pasted address, read as its id


def test_the_platform_badge_on_the_overlay(tmp_path: Path, browser: Any) -> None:
    with ChzzkWebServer(channel_id=CHZZK) as chat, YouTubeServer(channel_id=UC) as yt, \
            SoopServer(bid=BID) as soop:
        yt.go_live("liveVideo01")
        with run_daemon(tmp_path, **_env(chat, yt, soop)) as daemon:
            url = daemon.url
            wait_until(lambda: _connected(url, "chat_youtube", "chat_soop"), what="connected")
            chat.wait_connected()
            chat.push_chat([chat_item("치즈", "치지직 줄", uid="chzzkuser0001",
                                      msg_time=int(time.time() * 1000))])  # the overlay fades old lines
            yt.push(text_action("UCyt0000000000000000000001", "유튭", "유튜브 줄"),
                    paid_action("UCrich0000000000000000001", "부자", "$5.00", "응원"))
            soop.send(chat_frame("soopuser", "숲", "숲 줄"), balloon_frame(BID, "fan", "팬", 10))
            httpx.post(f"{url}/api/chat", json={"user": "로컬", "message": "로컬 줄"}, timeout=5)
            wait_until(lambda: len(_state(url)["viewer_messages"]) >= 6, what="six lines")
            for theme in ("bubble", "box"):
                page = browser.new_page()
                page.goto(f"{url}/overlay?theme={theme}")
                page.wait_for_selector(".item[data-platform=soop]")
                badges = page.eval_on_selector_all(".badge.platform", "els => els.map(e => e.textContent)")
                assert {"치지직", "YouTube", "SOOP"} <= set(badges), (theme, badges)
                local = page.locator(".item", has_text="로컬 줄")
                assert local.locator(".badge.platform").count() == 0  # the streamer's own chat: no mark
                amounts = page.eval_on_selector_all(".amount", "els => els.map(e => e.textContent)")
                assert "💰 5달러 슈퍼챗" in amounts and "💰 별풍선 10개" in amounts, amounts
                page.close()
            # the panel's viewer-memory card marks a YouTube / SOOP viewer
            page = browser.new_page()
            page.goto(f"{url}/")
            for who, mark in (("유튭", "YouTube"), ("숲", "SOOP")):
                page.fill("#memory-user", who)
                page.click("#memory-form button[type=submit], #memory-form button")
                page.wait_for_selector(f"#memory-viewers .pf:text('{mark}')")
            page.close()
            code, _, out = daemon.stop(signal.SIGTERM)
    assert code == 0, out
