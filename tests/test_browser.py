"""The overlay and the control panel in a real browser (Debian's Chromium driven by playwright),
against the real daemon subprocess: live chat, badges, fading, panel buttons, hostile text,
cross-origin pages, a daemon restart, and the screenshots for docs/screenshots/.

Never downloads a browser: it uses /usr/bin/chromium (Debian package `chromium`) and skips the
whole module when that or playwright-python is missing.
"""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from browser_helpers import require_browser

require_browser()  # skips this module without Chromium or playwright

import daemon as daemon_mod  # tests/ is on sys.path (rootdir conftest)
from daemon import free_port, run_daemon
from peers.openai_server import OpenAIServer, Reply

pytestmark = [pytest.mark.integration]

# The docs' pictures are rewritten only when asked (AISCHOCO_UPDATE_SCREENSHOTS=1): a test run leaves
# the checkout as it found it.
DOCS_SCREENSHOTS = Path(__file__).resolve().parent.parent / "docs" / "screenshots"
PNG_1PX = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c63f8cfc0f01f0005000201a5f0d9a40000000049454e44ae426082")


# --------------------------------------------------------------------------------------------
# fixtures and helpers
# --------------------------------------------------------------------------------------------


@pytest.fixture
def context(browser: Any) -> Iterator[Any]:
    ctx = browser.new_context(viewport={"width": 1000, "height": 900}, locale="ko-KR")
    ctx.set_default_timeout(10_000)
    try:
        yield ctx
    finally:
        ctx.close()


@pytest.fixture(scope="module")
def daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[daemon_mod.Daemon]:
    with run_daemon(tmp_path_factory.mktemp("browser"), OVERLAY_FADE_S="600") as d:
        yield d


@pytest.fixture
def fresh(daemon: daemon_mod.Daemon) -> daemon_mod.Daemon:
    """The shared daemon with an empty overlay and default switches (tests share it)."""
    httpx.post(f"{daemon.url}/api/clear", timeout=5).raise_for_status()
    if state(daemon.url)["ignore_streamer_chat"]:
        httpx.post(f"{daemon.url}/api/toggle_streamer_chat", timeout=5).raise_for_status()
    httpx.post(f"{daemon.url}/api/pause", json={"paused": False}, timeout=5).raise_for_status()
    return daemon


def state(url: str) -> dict[str, Any]:
    return httpx.get(f"{url}/api/state", timeout=5).json()


def chat(url: str, user: str, message: str, **extra: Any) -> str:
    """POST /api/chat as a local tool would (no Origin): returns the message id."""
    res = httpx.post(f"{url}/api/chat", json={"user": user, "message": message, **extra}, timeout=5)
    res.raise_for_status()
    return str(res.json()["id"])


def open_overlay(ctx: Any, url: str, query: str = "") -> Any:
    page = ctx.new_page()
    page.goto(f"{url}/overlay{query}")
    page.wait_for_function("Number(document.documentElement.dataset.snapshots) >= 1")
    return page


def open_panel(ctx: Any, url: str) -> Any:
    page = ctx.new_page()
    page.goto(f"{url}/")
    page.wait_for_function("document.getElementById('conn').textContent === '연결됨'")
    page.wait_for_selector("#components tr")
    return page


def item(page: Any, msg_id: str, pane: str = "viewer") -> Any:
    loc = page.locator(f'#{pane} .item[data-id="{msg_id}"]')
    loc.wait_for(state="attached")
    return loc


# --------------------------------------------------------------------------------------------
# 1. chat, badges, donation, subscription, emoji, options
# --------------------------------------------------------------------------------------------


def test_chat_appears_with_nickname_badges_and_donation(fresh: daemon_mod.Daemon, context: Any) -> None:
    before = chat(fresh.url, "먼저온사람", "페이지를 열기 전에 보낸 채팅")  # arrives via the snapshot
    page = open_overlay(context, fresh.url)
    assert item(page, before).locator(".text").text_content() == "페이지를 열기 전에 보낸 채팅"

    viewer = chat(fresh.url, "초코러버", "안녕하세요 초코님!")
    donation = chat(fresh.url, "치즈부자", "항상 응원해요", kind="donation", amount=10000)
    streamer = chat(fresh.url, "방장님", "다들 반가워요", role="streamer")
    manager = chat(fresh.url, "매니저봇", "채팅 규칙 지켜 주세요", role="manager")
    sub = chat(fresh.url, "구독자", "3개월째!", kind="subscription")

    v = item(page, viewer)
    assert v.locator(".user").text_content() == "초코러버"
    assert v.locator(".text").text_content() == "안녕하세요 초코님!"
    assert v.locator(".badge").count() == 0

    d = item(page, donation)
    assert d.locator(".amount").text_content() == "💰 10,000치즈"
    assert "donation" in (d.get_attribute("class") or "")
    assert d.locator(".user").text_content() == "치즈부자"

    s = item(page, streamer)
    assert s.locator(".badge.streamer").text_content() == "방장"
    assert item(page, manager).locator(".badge.manager").text_content() == "매니저"
    assert "구독" in (item(page, sub).locator(".badge.subscription").text_content() or "")
    # newest last, in arrival order
    ids = page.eval_on_selector_all("#viewer .item", "els => els.map(e => e.dataset.id)")
    assert ids == [before, viewer, donation, streamer, manager, sub]
    assert page.locator("#assistant .item").count() == 0


def test_query_options_are_clamped_and_applied(fresh: daemon_mod.Daemon, context: Any) -> None:
    page = open_overlay(context, fresh.url, "?max=2&font=30&theme=light&panes=assistant,viewer,bogus")
    ids = [chat(fresh.url, f"사람{i}", f"메시지 {i}") for i in range(4)]
    item(page, ids[-1])
    assert page.eval_on_selector_all("#viewer .item", "els => els.map(e => e.dataset.id)") == ids[-2:]
    assert page.evaluate("getComputedStyle(document.body).fontSize") == "30px"
    assert page.evaluate("document.documentElement.classList.contains('theme-light')")
    # pane order follows the option
    assert page.eval_on_selector_all("main > section", "els => els.map(e => e.id)") == ["assistant", "viewer"]

    only = open_overlay(context, fresh.url, "?panes=assistant&max=9999&font=abc&theme=%3Cscript%3E&fade=-1")
    assert only.locator("#viewer").is_hidden() and not only.locator("#assistant").is_hidden()
    assert only.evaluate("getComputedStyle(document.body).fontSize") == "22px"
    assert only.evaluate("document.documentElement.classList.contains('theme-dark')")
    assert only.locator("#viewer .item").count() == 4  # still rendered (max clamped to 200), just hidden


def test_emoji_placeholders_become_images_only_for_http_urls(daemon: daemon_mod.Daemon,
                                                             context: Any) -> None:
    """POST /api/chat cannot carry emoticons, so the CHZZK-shaped snapshot is served by a route."""
    message = {
        "id": "emo1", "user": "이모티콘", "user_id": "u", "role": "viewer", "kind": "chat",
        "amount": None, "source": "chzzk", "timestamp": "2099-01-01T00:00:00+00:00",
        "message": "안녕 {:pepe:} {:bad:} {:data:} {:missing:} {:__proto__:} 끝{:pepe:}",
        "emoticons": {"pepe": "https://emoji.test/pepe.png", "bad": "javascript:window.__pwned=1",
                      "data": "data:image/svg+xml,<svg onload=alert(1)>"},
    }
    snapshot = {"version": 1, "viewer_messages": [message], "assistant_messages": [],
                "ignore_streamer_chat": False, "overlay": {"fade_after_s": 600}}
    body = f"event: snapshot\ndata: {json.dumps(snapshot)}\n\n"
    page = context.new_page()
    page.route("**/api/events", lambda route: route.fulfill(
        status=200, headers={"Content-Type": "text/event-stream"}, body=body))
    page.route("https://emoji.test/**", lambda route: route.fulfill(
        status=200, headers={"Content-Type": "image/png"}, body=PNG_1PX))
    page.goto(f"{daemon.url}/overlay")
    text = item(page, "emo1").locator(".text")
    imgs = text.locator("img")
    assert imgs.count() == 2
    for i in range(2):
        assert imgs.nth(i).get_attribute("src") == "https://emoji.test/pepe.png"
        assert imgs.nth(i).get_attribute("alt") == "pepe"
    assert text.text_content() == "안녕  {:bad:} {:data:} {:missing:} {:__proto__:} 끝"
    assert page.evaluate("typeof window.__pwned") == "undefined"
    assert page.locator("svg").count() == 0


# --------------------------------------------------------------------------------------------
# 2. fading
# --------------------------------------------------------------------------------------------


def test_messages_fade_out_after_overlay_fade_s(tmp_path: Path, context: Any) -> None:
    with run_daemon(tmp_path, OVERLAY_FADE_S="2") as d:
        assert state(d.url)["overlay"]["fade_after_s"] == 2
        page = open_overlay(context, d.url)
        msg = chat(d.url, "잠깐", "곧 사라질 채팅")
        loc = item(page, msg)
        shown = time.monotonic()
        loc.wait_for(state="detached", timeout=8_000)
        gone = time.monotonic() - shown
        assert 1.5 <= gone <= 5.0, gone
        # a reload gets the message in the snapshot, but it is past its time: not shown again
        page.reload()
        page.wait_for_function("Number(document.documentElement.dataset.snapshots) >= 1")
        assert state(d.url)["viewer_messages"]
        assert page.locator("#viewer .item").count() == 0


# --------------------------------------------------------------------------------------------
# 3. panel buttons
# --------------------------------------------------------------------------------------------


def test_panel_buttons_hide_streamer_chat_pause_and_clear(fresh: daemon_mod.Daemon,
                                                          context: Any) -> None:
    overlay = open_overlay(context, fresh.url)
    panel = open_panel(context, fresh.url)
    streamer = chat(fresh.url, "방장", "방장 채팅입니다", role="streamer")
    viewer = chat(fresh.url, "시청자", "시청자 채팅입니다")
    item(overlay, streamer), item(overlay, viewer)

    toggle = panel.locator("#toggle")
    assert toggle.text_content() == "방장 채팅 숨기기"
    toggle.click()
    overlay.locator(f'.item[data-id="{streamer}"]').wait_for(state="detached")
    assert overlay.locator(f'.item[data-id="{viewer}"]').count() == 1
    panel.wait_for_function("document.getElementById('toggle').textContent === '방장 채팅 보이기'")
    assert panel.locator("#toggle-state").text_content() == "숨김"
    assert state(fresh.url)["ignore_streamer_chat"] is True

    hidden = chat(fresh.url, "방장", "숨겨져야 하는 채팅", role="streamer")
    marker = chat(fresh.url, "시청자", "표시 확인용")
    item(overlay, marker)  # events arrive in order: the streamer line would be here by now
    assert overlay.locator(f'.item[data-id="{hidden}"]').count() == 0

    toggle.click()
    panel.wait_for_function("document.getElementById('toggle').textContent === '방장 채팅 숨기기'")
    assert state(fresh.url)["ignore_streamer_chat"] is False
    item(overlay, chat(fresh.url, "방장", "다시 보이는 채팅", role="streamer"))

    pause = panel.locator("#pause")
    assert pause.text_content() == "답변 일시정지"
    pause.click()
    panel.wait_for_function("document.getElementById('pause-state').textContent === '일시정지됨'")
    assert pause.text_content() == "답변 재개" and state(fresh.url)["queue"]["paused"] is True
    pause.click()
    # resumed; this daemon has no LLM, so the pill says chats only wait (issue 34), not "답변 중"
    panel.wait_for_function(
        "document.getElementById('pause-state').textContent.startsWith('LLM 없음 — 채팅만 모읍니다')")
    assert state(fresh.url)["queue"]["paused"] is False

    panel.locator("#skip").click()
    panel.wait_for_function("document.getElementById('action-result').textContent.includes('답변')")

    # the test-chat box (a donation) goes through the same token-checked POST
    panel.fill("#chat-user", "패널손님")
    panel.fill("#chat-text", "패널에서 보낸 후원")
    panel.fill("#chat-amount", "5000")
    panel.click("#chat-form button[type=submit]")
    donation = overlay.locator("#viewer .item.donation", has_text="패널에서 보낸 후원")
    donation.wait_for()
    assert donation.locator(".amount").text_content() == "💰 5,000치즈"
    assert donation.locator(".user").text_content() == "패널손님"

    panel.locator("#clear").click()
    overlay.wait_for_function("document.querySelectorAll('.item').length === 0")
    assert state(fresh.url)["viewer_messages"] == []
    assert panel.evaluate("typeof window.__pwned") == "undefined"


# --------------------------------------------------------------------------------------------
# 4. hostile text
# --------------------------------------------------------------------------------------------

RLO = "\u202e"
XSS = [
    ("<script>window.__pwned=1</script>", "<script>window.__pwned=1</script>"),
    ('<img src=x onerror="window.__pwned=1">', '<img src=x onerror="window.__pwned=1;alert(1)">'),
    ('"><svg onload=window.__pwned=1>', "'\"><svg/onload=alert(1)><svg onload=window.__pwned=1>"),
    ("</style><style>body{display:none}", "</style><style>body{display:none}*{color:red}</style>"),
    ("<iframe srcdoc=x>", '<iframe srcdoc="<script>parent.__pwned=1</script>"></iframe>'),
    ("{{AISCHOCO_TOKEN}}", '<a href="javascript:window.__pwned=1">클릭</a> ${alert(1)} {:x:}'),
    ("Z" + "\u0336" * 98, "ㅋ" + "\u0301" * 2000),  # combining-mark floods
    ("대용량", ("가나다라마바사 ABC <b>x</b> " * 600)[:10_240]),  # a 10 KB message
]


def test_hostile_nicknames_and_messages_render_as_text(fresh: daemon_mod.Daemon, context: Any) -> None:
    page = open_overlay(context, fresh.url, "?max=200")
    dialogs: list[str] = []
    page.on("dialog", lambda dlg: (dialogs.append(dlg.message), dlg.dismiss()))
    baseline = page.evaluate("""() => ({scripts: document.scripts.length,
        styles: document.querySelectorAll('style,link').length})""")

    sent = [(chat(fresh.url, user, message), user, message) for user, message in XSS]
    rtl_user, rtl_msg = f"관리자{RLO}gnp.exe", f"{RLO}뒤집히면 안 되는 글 <b>굵게</b>"
    rtl = chat(fresh.url, rtl_user, rtl_msg, kind="donation", amount=1000)
    sent.append((rtl, rtl_user, rtl_msg))
    after = chat(fresh.url, "다음사람", "다음 채팅 ABC")
    item(page, after)
    page.wait_for_timeout(300)  # give any injected handler (onerror/onload) time to fire

    for msg_id, user, message in sent:
        it = item(page, msg_id)
        assert it.locator(".user").text_content() == user
        assert it.locator(".text").text_content() == message
    assert dialogs == []
    assert page.evaluate("typeof window.__pwned") == "undefined"
    counts = page.evaluate("""() => ({img: document.images.length, svg: document.querySelectorAll('svg').length,
        iframe: document.querySelectorAll('iframe').length, a: document.querySelectorAll('a,b').length,
        scripts: document.scripts.length, styles: document.querySelectorAll('style,link').length,
        styled: document.querySelectorAll('#viewer [style]').length,
        bodyDisplay: getComputedStyle(document.body).display})""")
    assert counts == {"img": 0, "svg": 0, "iframe": 0, "a": 0, "styled": 0, "bodyDisplay": "block",
                      **baseline}
    assert page.locator(f'.item[data-id="{after}"] .text').is_visible()

    # every item is clamped: the flood and the 10 KB message stay a few lines high
    heights = page.eval_on_selector_all("#viewer .item", "els => els.map(e => e.getBoundingClientRect().height)")
    assert max(heights) < 22 * 1.4 * 6, heights
    flood = item(page, sent[6][0])
    assert flood.evaluate("e => [getComputedStyle(e).overflow, getComputedStyle(e).contain]") == ["hidden", "paint"]
    big = item(page, sent[7][0]).locator(".text")
    assert big.evaluate("e => e.scrollHeight > e.clientHeight * 3")  # clipped, not grown

    # the RTL override stays inside the nickname/message: neighbours keep their place
    rtl_item = item(page, rtl)
    for sel in (".user", ".text"):
        assert rtl_item.locator(sel).evaluate("e => getComputedStyle(e).unicodeBidi") == "isolate"
    user_box = rtl_item.locator(".user").bounding_box()
    amount_box = rtl_item.locator(".amount").bounding_box()
    assert user_box and amount_box and amount_box["x"] >= user_box["x"] + user_box["width"] - 1
    assert rtl_item.locator(".amount").text_content() == "💰 1,000치즈"
    next_text = item(page, after).locator(".text").evaluate(
        "e => { const r = document.createRange(); r.selectNodeContents(e); return r.getBoundingClientRect().x; }")
    assert abs(next_text - item(page, after).bounding_box()["x"]) < 20  # still left-aligned LTR


# --------------------------------------------------------------------------------------------
# 5. another origin
# --------------------------------------------------------------------------------------------

ATTACK_PAGE = """<!doctype html><meta charset="utf-8"><title>evil</title>
<iframe name="sink" id="sink"></iframe>
<script>
const D = "%(daemon)s";
window.results = {};
async function attempt(name, fn) {
  try { const r = await fn(); results[name] = r && r.type === "opaque" ? "opaque" : (r ? r.status : "sent"); }
  catch (e) { results[name] = "blocked"; }
}
(async () => {
  await attempt("clear", () => fetch(D + "/api/clear", {method: "POST", mode: "no-cors"}));
  await attempt("toggle", () => fetch(D + "/api/toggle_streamer_chat", {method: "POST", mode: "no-cors"}));
  await attempt("pause", () => fetch(D + "/api/pause", {method: "POST", mode: "no-cors"}));
  await attempt("chat_text", () => fetch(D + "/api/chat", {method: "POST", mode: "no-cors",
      headers: {"Content-Type": "text/plain"}, body: JSON.stringify({user: "attacker", message: "pwned-nocors"})}));
  await attempt("chat_token", () => fetch(D + "/api/chat", {method: "POST",
      headers: {"Content-Type": "application/json", "X-Aischoco-Token": "guessed-token-123"},
      body: JSON.stringify({user: "attacker", message: "pwned-token"})}));
  await attempt("clear_token", () => fetch(D + "/api/clear", {method: "POST", mode: "no-cors",
      headers: {"X-Aischoco-Token": "guessed-token-123"}}));
  await attempt("settings_read", async () => { const r = await fetch(D + "/api/settings");
      results.settings_body = await r.text(); return r; });
  await attempt("settings_text", () => fetch(D + "/api/settings", {method: "POST", mode: "no-cors",
      headers: {"Content-Type": "text/plain"}, body: JSON.stringify({values: {GROQ_MODEL: "pwned"}})}));
  await attempt("settings_token", () => fetch(D + "/api/settings", {method: "POST",
      headers: {"Content-Type": "application/json", "X-Aischoco-Token": "guessed-token-123"},
      body: JSON.stringify({values: {GROQ_MODEL: "pwned"}})}));
  results.beacon = navigator.sendBeacon(D + "/api/clear", "x");
  const sink = document.getElementById("sink");
  sink.onload = () => { results.form = "loaded"; results.done = true; };
  const form = document.createElement("form");
  form.method = "POST"; form.action = D + "/api/chat"; form.target = "sink"; form.enctype = "text/plain";
  const input = document.createElement("input");
  input.name = '{"user":"attacker","message":"pwned-form","x":"'; input.value = '"}';
  form.append(input); document.body.append(form); form.submit();
})();
</script>"""


class _AttackServer(ThreadingHTTPServer):
    page = b""


class _AttackHandler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = self.server.page  # type: ignore[attr-defined]
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


def test_a_page_on_another_origin_cannot_change_anything(fresh: daemon_mod.Daemon, context: Any) -> None:
    keep = chat(fresh.url, "시청자", "지워지면 안 되는 채팅")
    overlay = open_overlay(context, fresh.url)
    item(overlay, keep)
    before = state(fresh.url)

    server = _AttackServer(("127.0.0.1", 0), _AttackHandler)
    server.page = (ATTACK_PAGE % {"daemon": fresh.url}).encode()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        evil = context.new_page()
        evil_url = f"http://127.0.0.1:{server.server_address[1]}/"
        assert evil_url.rstrip("/") != fresh.url
        evil.goto(evil_url)
        evil.wait_for_function("window.results && window.results.done === true")
        results = evil.evaluate("window.results")
    finally:
        server.shutdown()
        server.server_close()
    assert results["chat_token"] == "blocked", results  # the preflight fails: no CORS
    # settings: not readable from another origin (no CORS), and not writable either way
    assert results["settings_read"] == "blocked" and "settings_body" not in results, results
    assert results["settings_token"] == "blocked", results
    workdir = fresh.log_path.parent
    assert not (workdir / ".env").exists() or "pwned" not in (workdir / ".env").read_text("utf-8")
    overlay.wait_for_timeout(300)

    after = state(fresh.url)
    for key in ("viewer_messages", "assistant_messages", "ignore_streamer_chat"):
        assert after[key] == before[key], key
    assert after["queue"]["paused"] == before["queue"]["paused"]
    assert after["filters"]["received"] == before["filters"]["received"]
    assert overlay.eval_on_selector_all("#viewer .item", "els => els.map(e => e.dataset.id)") == [keep]
    assert any("cross-origin" in e["message"] for e in after["errors"])  # refused, and logged

    # the refusals are listed in the panel as plain text
    panel = open_panel(context, fresh.url)
    panel.locator("#errors li", has_text="cross-origin").first.wait_for()
    assert panel.evaluate("typeof window.__pwned") == "undefined"


# --------------------------------------------------------------------------------------------
# 6. daemon restart on the same port
# --------------------------------------------------------------------------------------------


def test_overlay_and_panel_reconnect_after_a_daemon_restart(tmp_path: Path, context: Any) -> None:
    port = str(free_port())  # both runs on the same port, as after a restart on the streamer's PC
    with run_daemon(tmp_path, OVERLAY_PORT=port, OVERLAY_FADE_S="600") as first:
        overlay = open_overlay(context, first.url)
        panel = open_panel(context, first.url)
        old = chat(first.url, "이전", "재시작 전 채팅")
        item(overlay, old)
        code, _, out = first.stop(signal.SIGTERM)
        assert code == 0, out
    overlay.wait_for_function("document.documentElement.dataset.sse === 'reconnecting'")
    panel.wait_for_function("document.getElementById('conn').textContent !== '연결됨'")

    with run_daemon(tmp_path, OVERLAY_PORT=port, OVERLAY_FADE_S="600") as second:
        assert second.url == first.url
        overlay.wait_for_function("Number(document.documentElement.dataset.snapshots) >= 2",
                                  timeout=15_000)
        new = chat(second.url, "이후", "재시작 후 채팅")
        assert item(overlay, new).locator(".text").text_content() == "재시작 후 채팅"
        assert overlay.locator(f'.item[data-id="{old}"]').count() == 0  # resynced, not appended
        # the panel's token changed with the restart: it fetches the new one and the click works
        panel.wait_for_function("document.getElementById('conn').textContent === '연결됨'",
                                timeout=15_000)
        panel.locator("#clear").click()
        overlay.wait_for_function("document.querySelectorAll('.item').length === 0")
        # the overlay's SSE event may arrive before the panel's own answer to its click
        panel.wait_for_function(
            "document.getElementById('action-result').textContent === '오버레이를 비웠습니다'")


# --------------------------------------------------------------------------------------------
# 7. screenshots for the docs
# --------------------------------------------------------------------------------------------


def test_screenshots(tmp_path: Path, browser: Any) -> None:
    """overlay.png and panel.png, with an LLM peer so AI answers show up (into docs/screenshots/
    with AISCHOCO_UPDATE_SCREENSHOTS=1)."""
    update_docs = os.environ.get("AISCHOCO_UPDATE_SCREENSHOTS") == "1"
    shots = DOCS_SCREENSHOTS if update_docs else tmp_path / "screenshots"
    answers = [Reply({"response": text, "emotion": emotion}) for text, emotion in [
        ("초코러버님 안녕하세요! 오늘은 밤 11시까지 달려 볼게요~", "happy"),
        ("치즈부자님 만 치즈 후원 정말 고마워요! 맛있는 거 꼭 사 먹을게요 💕", "excited"),
        ("방장님도 같이 있어서 든든해요. 오늘도 재밌게 놀아요!", "happy"),
        ("매니저님 늘 고생 많으세요. 다들 규칙 지켜 주세요~", "neutral"),
        ("구독자1님 3개월 구독 감사해요! 앞으로도 잘 부탁해요", "happy"),
        ("ㅋㅋㅋ 방금 그건 제 필살기예요. 다음에 또 보여 드릴게요!", "excited"),
    ]]
    chats = [
        ({"user": "초코러버", "message": "초코님 오늘 방송 몇 시까지 해요?"}),
        ({"user": "치즈부자", "message": "항상 응원해요! 맛있는 거 사 드세요 ❤", "kind": "donation", "amount": 10000}),
        ({"user": "방장", "message": "다들 와 줘서 고마워요~ 오늘도 재밌게 놀아요!", "role": "streamer"}),
        ({"user": "매니저봇", "message": "채팅 규칙 꼭 지켜 주세요 🙏", "role": "manager"}),
        ({"user": "구독자1", "message": "3개월째 구독 중!", "kind": "subscription"}),
        ({"user": "게임좋아", "message": "ㅋㅋㅋㅋ 방금 그거 뭐예요??"}),
    ]
    with OpenAIServer(default=answers[-1]) as llm:
        llm.script(answers)
        env = {"GROQ_API_KEY": "gsk_screenshot", "GROQ_BASE_URL": llm.base_url,
               "GROQ_MODEL": "openai/gpt-oss-120b", "GROQ_TIMEOUT_S": "5", "OVERLAY_FADE_S": "600"}
        with run_daemon(tmp_path, **env) as d:
            ctx = browser.new_context(viewport={"width": 1280, "height": 900}, locale="ko-KR")
            try:
                deadline = time.monotonic() + 15
                while not any(c["name"] == "llm" and c["state"] == "running"
                              for c in state(d.url)["components"]):
                    assert time.monotonic() < deadline, state(d.url)["components"]
                    time.sleep(0.1)
                panel = open_panel(ctx, d.url)  # open first: its chart gathers a point per answer
                for n, body in enumerate(chats, start=1):
                    chat(d.url, **body)
                    deadline = time.monotonic() + 15
                    while len(state(d.url)["assistant_messages"]) < n:
                        assert time.monotonic() < deadline
                        time.sleep(0.05)
                    panel.wait_for_function(
                        f"document.getElementById('turns').textContent.includes('답변 턴 {n}')")

                shots.mkdir(parents=True, exist_ok=True)
                overlay = ctx.new_page()
                overlay.set_viewport_size({"width": 560, "height": 900})
                overlay.goto(f"{d.url}/overlay?max=20")
                overlay.wait_for_selector("#assistant .item")
                # Stand-in for game footage behind the transparent OBS source (screenshot only).
                overlay.add_style_tag(content="html{background:linear-gradient(160deg,#1e3c72,#2a5298 45%,"
                                              "#6a3093)!important} .item{animation:none!important}")
                overlay.screenshot(path=str(shots / "overlay.png"))

                panel.wait_for_selector('#latency tr[data-stage="llm"]')
                panel.fill("#chat-user", "치즈부자")
                panel.fill("#chat-text", "오늘 방송도 화이팅!")
                panel.fill("#chat-amount", "5000")
                panel.screenshot(path=str(shots / "panel.png"), full_page=True)
            finally:
                ctx.close()
            d.stop(signal.SIGTERM)
    for name in ("overlay.png", "panel.png"):
        data = (shots / name).read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 10_000
