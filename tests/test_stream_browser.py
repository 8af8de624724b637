"""A streamed answer in a real browser: the overlay's AI message grows in place, sentence by
sentence, and the control panel shows the new latency figures (Debian's /usr/bin/chromium)."""

from __future__ import annotations

import signal
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from daemon import run_daemon
from peers.openai_server import OpenAIServer, Stream

from browser_helpers import require_browser

require_browser()  # skips this module without Chromium or playwright

pytestmark = [pytest.mark.integration]

FIRST = "첫 번째 문장이 먼저 보여요."
ANSWER = f"{FIRST} 두 번째 문장은 조금 뒤에 붙어요. 세 번째 문장으로 끝나요."


def _assistant_texts(page: Any) -> list[str]:
    return page.eval_on_selector_all("#assistant .item .text", "els => els.map(e => e.textContent)")


def test_the_overlay_answer_grows_in_place_and_the_panel_charts_first_token(
        browser: Any, tmp_path: Path) -> None:
    # Text only (TTS off): each sentence is shown the moment it is final. ~2.5 s to write.
    stream = Stream({"emotion": "happy", "response": ANSWER}, token_chars=1, tokens_per_s=40)
    with OpenAIServer(default=stream) as llm:
        env = {"GROQ_API_KEY": "gsk_browser", "GROQ_BASE_URL": llm.base_url,
               "GROQ_TIMEOUT_S": "5", "OVERLAY_FADE_S": "600"}
        with run_daemon(tmp_path, **env) as d:
            deadline = time.monotonic() + 15
            while not any(c["name"] == "llm" and c["state"] == "running"
                          for c in httpx.get(f"{d.url}/api/state").json()["components"]):
                assert time.monotonic() < deadline
                time.sleep(0.05)
            ctx = browser.new_context(viewport={"width": 1000, "height": 900}, locale="ko-KR")
            ctx.set_default_timeout(10_000)
            try:
                overlay = ctx.new_page()
                overlay.goto(f"{d.url}/overlay")
                overlay.wait_for_function("Number(document.documentElement.dataset.snapshots) >= 1")
                httpx.post(f"{d.url}/api/chat", json={"user": "민수", "message": "안녕!"})
                # The first sentence alone, while the model is still writing the rest.
                overlay.wait_for_function(
                    f"[...document.querySelectorAll('#assistant .item .text')]"
                    f".some(e => e.textContent === {FIRST!r})")
                assert llm.requests[0].done_at is None
                overlay.wait_for_function(
                    f"[...document.querySelectorAll('#assistant .item .text')]"
                    f".some(e => e.textContent === {ANSWER!r})")
                assert _assistant_texts(overlay) == [ANSWER]  # one message, updated in place

                panel = ctx.new_page()
                panel.goto(f"{d.url}/")
                panel.wait_for_selector('#latency tr[data-stage="llm_first_token"]')
                panel.wait_for_selector('#latency tr[data-stage="first_sentence"]')
                assert "AI 첫 토큰" in panel.inner_text("#latency")
                for colour in ("#2a9d8f", "#8a8f98"):  # first sentence, first token
                    assert panel.locator(f'#chart polyline[stroke="{colour}"]').count() == 1
                panel.screenshot(path=str(tmp_path / "panel.png"), full_page=True)
                overlay.screenshot(path=str(tmp_path / "overlay.png"))
            finally:
                ctx.close()
            d.stop(signal.SIGTERM)
