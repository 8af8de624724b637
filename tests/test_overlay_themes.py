"""Overlay themes in real Chromium: `theme=subtitle` follows the audio (each sentence appears as it
starts playing and clears after it ends, timed against the real `file:` output), `theme=box`, the
URL options, hostile text in every theme, and a screenshot of each (docs/screenshots/ with
AISCHOCO_UPDATE_SCREENSHOTS=1)."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from browser_helpers import require_browser
from daemon import run_daemon, voice_env, wait_until
from peers.openai_server import OpenAIServer, Reply, Stream
from peers.speech_server import SpeechServer
from test_browser import XSS, context, state  # noqa: F401 (fixture)

require_browser()

DOCS_SCREENSHOTS = Path(__file__).resolve().parent.parent / "docs" / "screenshots"
SENTENCES = ["첫 번째 문장을 말하고 있어요.", "두 번째 문장은 조금 더 길게 이어서 말해요.", "마지막 문장!"]
MS_PER_CHAR = 40  # the speech peer's audio per character: each sentence lasts ~0.6–1 s

RECORDER = """
window.__timeline = [];
new MutationObserver(() => {
  const s = document.getElementById('subtitle');
  window.__timeline.push([performance.now(), s.classList.contains('on') ? s.textContent : '']);
}).observe(document.getElementById('subtitle'), {childList: true, subtree: true, characterData: true,
                                                   attributes: true, attributeFilter: ['class']});
"""


def _ready(url: str) -> bool:
    return all(c["state"] == "running" for c in httpx.get(f"{url}/api/state").json()["components"]
               if c["name"] in ("llm", "tts", "audio"))


def test_the_subtitle_follows_the_played_audio(tmp_path: Path, context: Any) -> None:  # noqa: F811
    wav = tmp_path / "voice.wav"
    with OpenAIServer() as llm, SpeechServer(ms_per_char=MS_PER_CHAR) as tts:
        llm.script([Stream({"emotion": "happy", "response": " ".join(SENTENCES)})])
        env = voice_env(llm.base_url, tts.base_url, wav, IDLE_TALK_AFTER_S="0")
        with run_daemon(tmp_path, **env) as daemon:
            wait_until(lambda: _ready(daemon.url), what="llm, tts and audio running")
            page = context.new_page()
            page.goto(f"{daemon.url}/overlay?theme=subtitle&color=ffee00")
            page.wait_for_function("Number(document.documentElement.dataset.snapshots) >= 1")
            page.evaluate(RECORDER)
            httpx.post(f"{daemon.url}/api/chat", json={"user": "민수", "message": "세 문장 말해 줘"})
            page.wait_for_function(
                "window.__timeline.length && window.__timeline.at(-1)[1] === '' && "
                "window.__timeline.some(e => e[1].startsWith('마지막'))", timeout=20_000)
            timeline = page.evaluate("window.__timeline")
            color = page.evaluate("getComputedStyle(document.getElementById('subtitle')).color")
            assert page.locator("#viewer .item").count() == 0  # only the AI's spoken words
            daemon.stop(signal.SIGTERM)
    shown = [(t, text) for t, text in timeline if text]
    starts: dict[str, float] = {}
    for t, text in shown:
        starts.setdefault(text, t)
    assert list(starts) == SENTENCES  # one after the other, in order
    cleared = next(t for t, text in timeline if not text and t > starts[SENTENCES[-1]])
    # The gaps between the changes are the sentences' own playing times (the peer's audio
    # is MS_PER_CHAR per character of the spoken text), within the output's block and jitter.
    durations = [len(s) * MS_PER_CHAR for s in SENTENCES]
    got = [starts[SENTENCES[1]] - starts[SENTENCES[0]], starts[SENTENCES[2]] - starts[SENTENCES[1]],
           cleared - starts[SENTENCES[2]] - 250]  # the last one lingers 250 ms before it clears
    for expected, measured in zip(durations, got, strict=True):
        assert abs(measured - expected) < 250, (durations, got)
    assert color == "rgb(255, 238, 0)"


def test_box_theme_options_and_hostile_text(tmp_path: Path, context: Any) -> None:  # noqa: F811
    with OpenAIServer(default=Reply({"emotion": "happy", "response": "<b>굵게</b> 아니고 글자예요"})) as llm, \
            run_daemon(tmp_path, GROQ_API_KEY="gsk_box", GROQ_BASE_URL=llm.base_url,
                       IDLE_TALK_AFTER_S="0") as daemon:
        page = context.new_page()
        dialogs: list[str] = []
        page.on("dialog", lambda dlg: (dialogs.append(dlg.message), dlg.dismiss()))
        page.goto(f"{daemon.url}/overlay?theme=box&font=16&kinds=chat,ai")
        page.wait_for_function("Number(document.documentElement.dataset.snapshots) >= 1")
        assert page.evaluate("document.documentElement.dataset.layout") == "box"
        httpx.post(f"{daemon.url}/api/chat", json={"user": "후원자", "message": "후원이에요",
                                                    "kind": "donation", "amount": 1000})
        for nick, text in XSS:
            httpx.post(f"{daemon.url}/api/chat", json={"user": nick, "message": text})
        wait_until(lambda: state(daemon.url)["assistant_messages"], what="an AI answer")
        page.wait_for_selector("#viewer .item.assistant")  # AI and viewers in one list
        items = page.locator("#viewer .item")
        assert items.count() >= 2 and page.locator("#viewer .item.donation").count() == 0  # kinds
        assert page.locator("#assistant .item").count() == 0
        assert page.evaluate("typeof window.__pwned") == "undefined" and dialogs == []
        assert page.locator("#viewer b").count() == 0  # markup stays text
        heights = page.eval_on_selector_all("#viewer .item", "els => els.map(e => e.offsetHeight)")
        assert max(heights) <= 16 * 1.4 * 3.2 + 2  # even the 10 KB message stays a few lines
        daemon.stop(signal.SIGTERM)


def test_hostile_ai_text_in_the_subtitle_is_text(tmp_path: Path, context: Any) -> None:  # noqa: F811
    wav = tmp_path / "voice.wav"
    hostile = "<img src=x onerror=window.__pwned=1> 안녕 \u202e반대로\u202c 끝!"
    with OpenAIServer() as llm, SpeechServer(ms_per_char=10) as tts:
        llm.script([Stream({"emotion": "happy", "response": hostile})])
        with run_daemon(tmp_path, **voice_env(llm.base_url, tts.base_url, wav,
                                              IDLE_TALK_AFTER_S="0")) as daemon:
            wait_until(lambda: _ready(daemon.url))
            page = context.new_page()
            page.goto(f"{daemon.url}/overlay?theme=subtitle")
            page.wait_for_function("Number(document.documentElement.dataset.snapshots) >= 1")
            page.evaluate(RECORDER)
            httpx.post(f"{daemon.url}/api/chat", json={"user": "a", "message": "말해 줘"})
            page.wait_for_function("window.__timeline.some(e => e[1].includes('안녕'))", timeout=15_000)
            assert page.evaluate("typeof window.__pwned") == "undefined"
            assert page.locator("#subtitle img").count() == 0
            daemon.stop(signal.SIGTERM)


@pytest.mark.parametrize("theme", ["bubble", "box", "subtitle"])
def test_theme_screenshots(tmp_path: Path, browser: Any, theme: str) -> None:
    update_docs = os.environ.get("AISCHOCO_UPDATE_SCREENSHOTS") == "1"
    shots = DOCS_SCREENSHOTS if update_docs else tmp_path
    wav = tmp_path / "voice.wav"
    line = "오늘도 와 줘서 고마워요! 같이 재밌게 놀아요."
    with OpenAIServer() as llm, SpeechServer(ms_per_char=120) as tts:
        llm.script([Stream({"emotion": "happy", "response": line})])
        with run_daemon(tmp_path, **voice_env(llm.base_url, tts.base_url, wav,
                                              IDLE_TALK_AFTER_S="0")) as daemon:
            wait_until(lambda: _ready(daemon.url))
            ctx = browser.new_context(viewport={"width": 900, "height": 506}, locale="ko-KR")
            page = ctx.new_page()
            page.goto(f"{daemon.url}/overlay?theme={theme}")
            page.wait_for_function("Number(document.documentElement.dataset.snapshots) >= 1")
            for user, text, extra in (("초코러버", "초코님 오늘 방송 몇 시까지 해요?", {}),
                                      ("치즈부자", "항상 응원해요!", {"kind": "donation", "amount": 10000}),
                                      ("게임좋아", "ㅋㅋㅋ 방금 그거 뭐예요??", {})):
                httpx.post(f"{daemon.url}/api/chat", json={"user": user, "message": text, **extra})
            if theme == "subtitle":
                page.wait_for_selector("#subtitle.on")
            else:
                page.wait_for_selector(".item.assistant")
            # Stand-in for game footage behind the transparent OBS source (screenshot only).
            page.add_style_tag(content="html{background:linear-gradient(160deg,#1e3c72,#2a5298 45%,"
                                       "#6dd5ed)!important}")
            time.sleep(0.3)
            shots.mkdir(parents=True, exist_ok=True)
            path = shots / f"overlay-{theme}.png"
            page.screenshot(path=str(path))
            ctx.close()
            daemon.stop(signal.SIGTERM)
    assert path.stat().st_size > 10_000


def test_the_panel_builds_the_obs_url_with_a_live_preview(tmp_path: Path, context: Any) -> None:  # noqa: F811
    with run_daemon(tmp_path) as daemon:
        page = context.new_page()
        page.goto(f"{daemon.url}/")
        page.select_option("#ob-theme", "subtitle")
        page.fill("#ob-font", "48")
        page.uncheck('#ob-kinds input[value="chat"]')
        page.wait_for_function("document.getElementById('ob-preview').src.includes('theme=subtitle')")
        url = page.input_value("#ob-url")
        assert url.startswith(f"{daemon.url}/overlay?") and "theme=subtitle" in url
        assert "font=48" in url and "kinds=donation%2Csubscription%2Cvoice%2Cai" in url
        frame = page.frame_locator("#ob-preview")
        frame.locator("#subtitle").wait_for(state="attached")
        daemon.stop(signal.SIGTERM)
