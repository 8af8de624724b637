"""The control panel in headless Chromium tells the truth without an LLM (no "답변 중", no idle-talk
countdown, test chats say they wait until a key is set) and shows repeated errors as one line
with a count and the last time (issue 34)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from browser_helpers import require_browser
from daemon import free_port, run_daemon
from test_browser import context, open_panel  # noqa: F401 (fixture)

require_browser()


def test_the_panel_without_an_llm_says_chats_wait_and_folds_repeats(
        tmp_path: Path, context: Any) -> None:  # noqa: F811
    (tmp_path / "config").mkdir()
    shipped = Path(__file__).resolve().parents[1] / "config" / "pose_mapping.json"
    (tmp_path / "config" / "pose_mapping.json").write_bytes(shipped.read_bytes())
    with run_daemon(tmp_path, IDLE_TALK_AFTER_S="60", VTS_ENABLED="true",
                    VTS_URL=f"ws://127.0.0.1:{free_port()}", VTS_RECONNECT_MAX_S="0.5") as daemon:
        panel = open_panel(context, daemon.url)
        panel.wait_for_function("document.getElementById('pause-state').textContent"
                                ".startsWith('LLM 없음 — 채팅만 모읍니다')")
        assert panel.locator("#idle-state").text_content() == "켜짐 · LLM이 없어 말하지 않습니다"

        panel.fill("#chat-text", "안녕하세요 테스트예요")
        panel.click("#chat-form button[type=submit]")
        panel.wait_for_function("document.getElementById('chat-result').textContent.includes('개')")
        assert panel.locator("#chat-result").text_content() == (
            "보냈습니다 — 답변은 GROQ_API_KEY를 넣으면 시작합니다 · 기다리는 채팅 1개")

        # VTube Studio is closed: its retries are one line "×N · 마지막 HH:MM:SS", not N lines.
        line = panel.locator("#errors li", has_text="cannot connect")
        line.locator(".repeat").wait_for()
        panel.wait_for_function(
            "[...document.querySelectorAll('#errors li .repeat')].some(e => "
            "Number((e.textContent.match(/×(\\d+)/) || [])[1]) >= 3)", timeout=20_000)
        assert line.count() == 1
        assert re.fullmatch(r" ×\d+ · 마지막 \d\d:\d\d:\d\d", line.locator(".repeat").text_content())
