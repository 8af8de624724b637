"""The control panel's viewer-memory card in a real browser (Debian's /usr/bin/chromium): look a
viewer up, delete a fact, forget the viewer; what viewers wrote is shown as text, never markup."""

from __future__ import annotations

import signal
from pathlib import Path
from typing import Any

import httpx
import pytest

from aischoco.memory.store import MemoryStore
from browser_helpers import require_browser
from daemon import run_daemon, wait_until

require_browser()  # skips this module without Chromium or playwright

pytestmark = [pytest.mark.integration]

HOSTILE = '<img src=x onerror="document.title=\'pwned\'">'


def _memory(url: str, user: str) -> list[dict[str, Any]]:
    return httpx.get(f"{url}/api/memory", params={"user": user}, timeout=5).json()["viewers"]


def test_the_panel_looks_a_viewer_up_deletes_a_fact_and_forgets_them(browser: Any,
                                                                      tmp_path: Path) -> None:
    store = MemoryStore(tmp_path / "history" / "memory.sqlite3")
    store.record_message("chzzk-minsu", "민수", f"우리 고양이 나비 {HOSTILE}", session="old")
    store.add_facts("chzzk-minsu", ["고양이 '나비'를 키운다", f"이상한 사실 {HOSTILE}"])
    store.record_message("youtube:UCyt", "유튜버", "유튜브에서 왔어요", session="old",
                         platform="youtube")
    store.close()
    with run_daemon(tmp_path) as d:
        wait_until(lambda: any(c["name"] == "memory" and c["state"] == "running"
                               for c in httpx.get(f"{d.url}/api/state").json()["components"]),
                   what="memory running")
        httpx.post(f"{d.url}/api/chat", json={"user": "민수", "user_id": "chzzk-minsu",
                                              "message": "오늘도 왔어요"})
        wait_until(lambda: _memory(d.url, "민수")[0]["messages"] == 2, what="the chat noted")
        ctx = browser.new_context(viewport={"width": 1100, "height": 1000}, locale="ko-KR")
        ctx.set_default_timeout(10_000)
        try:
            page = ctx.new_page()
            page.goto(f"{d.url}/")
            page.wait_for_function("document.getElementById('conn').textContent === '연결됨'")
            page.fill("#memory-user", "민수")
            page.click("#memory-form button[type=submit]")
            card = page.locator('#memory-viewers .viewer[data-user="chzzk-minsu"]')
            card.wait_for()
            text = card.inner_text()
            assert "민수" in text and "방문 2번" in text and "메시지 2개" in text
            assert card.locator(".pf").count() == 0  # CHZZK: no platform badge
            assert "후원 0치즈" in text  # CHZZK totals in cheese; other platforms' in won
            assert "사실: 고양이 '나비'를 키운다" in text and "오늘도 왔어요" in text
            assert HOSTILE in text  # shown as the characters typed
            assert page.locator("#memory-viewers img").count() == 0
            assert page.title() != "pwned"

            odd = card.locator("li", has_text="이상한 사실")
            odd.locator("button").click()
            odd.wait_for(state="detached")
            assert [f["text"] for f in _memory(d.url, "chzzk-minsu")[0]["facts"]] == [
                "고양이 '나비'를 키운다"]

            page.once("dialog", lambda dialog: dialog.accept())
            card.locator("button", has_text="이 시청자 잊기").click()
            card.wait_for(state="detached")
            assert "1명을 잊었습니다" in page.inner_text("#memory-result")
            assert _memory(d.url, "민수") == []

            page.fill("#memory-user", "유튜버")  # the API's platform field gives the badge
            page.click("#memory-form button[type=submit]")
            badge = page.locator('#memory-viewers .viewer[data-user="youtube:UCyt"] .pf.youtube')
            badge.wait_for()
            assert badge.inner_text() == "YouTube" and _memory(d.url, "유튜버")[0]["platform"] == \
                "youtube"
            yt_card = page.locator('#memory-viewers .viewer[data-user="youtube:UCyt"]').inner_text()
            assert "후원 0원" in yt_card and "치즈" not in yt_card
            assert httpx.post(f"{d.url}/api/memory/forget", json={"user": "youtube:UCyt"},
                              timeout=5).json() == {"forgotten": 1}

            page.fill("#memory-user", "")
            page.click("#memory-form button[type=submit]")
            page.wait_for_function(
                "document.getElementById('memory-result').textContent.includes('아직 기억하는')")
        finally:
            ctx.close()
        code, _, out = d.stop(signal.SIGTERM)
        assert code == 0, out
