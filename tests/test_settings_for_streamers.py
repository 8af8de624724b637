"""The settings page as a streamer meets it (issue 34): every setting with a Korean name (its
<label for>; the env key small beside it, inputs still named by the key), its own explanation
from `.env.example`, the control its type wants (a switch, a list, a number with its range),
the first-run checklist's order, rarely touched settings folded under "고급", a failed save that
brings the red field into view, a save without changes that restarts nothing, and pages that fit
an OBS dock (480 px) without Korean broken mid-word. Also the tab icon and the overlay's sample
preview. Chromium against the real daemon at 1,400 and 480 px."""

from __future__ import annotations

import os
import re
import signal
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import pytest
from daemon import free_port, run_daemon, wait_until
from dotenv import dotenv_values

from aischoco.settings.catalog import BASIC, load_catalog, parse_catalog
from aischoco.settings.editor import SettingsEditor
from aischoco.settings.model import Settings

DOCS_SCREENSHOTS = Path(__file__).resolve().parent.parent / "docs" / "screenshots"
HANGUL = re.compile(r"[가-힣]")
KEYS = sorted(name.upper() for name in Settings.model_fields)


# --------------------------------------------------------------------------------------------
# the catalogue: names, explanations, controls, order
# --------------------------------------------------------------------------------------------


def test_every_key_has_its_own_explanation_and_korean_name() -> None:
    catalog = load_catalog()
    infos = {key: catalog.get(key) for key in KEYS}
    assert all(infos.values())
    missing = [k for k, i in infos.items() if not i.help]  # type: ignore[union-attr]
    assert missing == [], f".env.example: a comment line directly above each of {missing}"
    shared = {h: [k for k, i in infos.items() if i.help == h]  # type: ignore[union-attr]
              for h, n in Counter(i.help for i in infos.values()).items() if n > 1}  # type: ignore[union-attr]
    assert shared == {}, "two keys share one explanation"
    unnamed = [k for k, i in infos.items() if not HANGUL.search(i.label)]  # type: ignore[union-attr]
    assert unnamed == [], f"catalog.LABELS: a Korean name for {unnamed}"
    names = Counter(i.label for i in infos.values())  # type: ignore[union-attr]
    assert [n for n, c in names.items() if c > 1] == []
    # the ones the issue found wrong or empty, each now about itself
    assert "console.groq.com" not in infos["GROQ_MODEL"].help and "모델" in infos["GROQ_MODEL"].help  # type: ignore[union-attr]
    assert "포트" in infos["OVERLAY_PORT"].help and "127.0.0.1이 안전" not in infos["OVERLAY_PORT"].help  # type: ignore[union-attr]
    assert "언어" in infos["TTS_LANGUAGE"].help and "샘플" not in infos["TTS_LANGUAGE"].help  # type: ignore[union-attr]
    for key in ("VTS_ENABLED", "VTS_URL", "VTS_TOKEN_PATH", "POSE_MAPPING_PATH"):
        assert "VTube Studio" in infos[key].help or "표정" in infos[key].help, key  # type: ignore[union-attr]


def test_an_explanation_belongs_to_the_key_right_under_it() -> None:
    catalog = parse_catalog(
        "# ── 채팅 ──\n# 이 묶음의 설명\n\n# 첫째 설명\n# 둘째 줄\nCHAT_SOURCE=\nCHZZK_CLIENT_ID=\n"
        "# 셋째 설명\nCHZZK_CLIENT_SECRET=\n\n# 떨어진 주석\n\nCHZZK_CHANNEL_ID=\n")
    assert catalog.get("CHAT_SOURCE").help == "첫째 설명 둘째 줄"  # type: ignore[union-attr]
    assert catalog.get("CHZZK_CLIENT_ID").help == ""  # no longer the block above: its own or none  # type: ignore[union-attr]
    assert catalog.get("CHZZK_CLIENT_SECRET").help == "셋째 설명"  # type: ignore[union-attr]
    assert catalog.get("CHZZK_CHANNEL_ID").help == ""  # a comment a blank line away is no one's  # type: ignore[union-attr]
    assert catalog.notes == {"채팅": "이 묶음의 설명"}


def test_each_type_gets_its_control_with_the_models_range() -> None:
    catalog = load_catalog()

    def control(key: str) -> dict[str, Any]:
        return catalog.get(key).page()["control"]  # type: ignore[union-attr]

    for key in ("VTS_ENABLED", "GROQ_STREAM", "HIDE_STREAMER_CHAT", "TOOLS", "MEMORY_ENABLED"):
        assert control(key)["kind"] == "switch", key
    assert [c["value"] for c in control("TTS_ENGINE")["choices"]] == ["qwen", "remote", "off"]
    assert control("STT_ENGINE")["choices"][0]["value"] == ""  # unset: derived
    assert all(HANGUL.search(c["label"]) for c in control("TTS_ENGINE")["choices"])
    port = control("OVERLAY_PORT")
    assert (port["kind"], port["min"], port["max"], port["step"]) == ("number", 1, 65535, "1")
    timeout = control("GROQ_TIMEOUT_S")
    assert (timeout["min"], timeout["min_exclusive"], timeout["max"], timeout["step"]) == (0, True, 120, "any")
    assert control("GROQ_API_KEY")["kind"] == "secret" and control("PANEL_PASSWORD")["kind"] == "secret"
    assert control("TTS_SEED")["kind"] == "number" and control("TTS_SEED")["optional"] is True


def test_the_page_starts_with_the_checklist_and_folds_what_is_rarely_touched() -> None:
    catalog = load_catalog()
    firsts = [name.split(" ")[0] for name, _ in catalog.groups][:6]
    assert firsts == ["AI", "목소리", "오디오", "VTube", "아바타", "채팅"]
    assert catalog.groups[0][1][0].key == "GROQ_API_KEY"  # step 1 of the checklist, first
    for key in ("CHZZK_OPENAPI_URL", "CHZZK_WEB_API_URL", "CHZZK_WEB_GAME_API_URL",
                "CHZZK_WEB_CHAT_URL", "LOG_LEVEL", "VTS_FPS", "TTS_STREAM_CHUNK_FRAMES"):
        assert catalog.get(key).advanced, key  # type: ignore[union-attr]
    for key in ("GROQ_API_KEY", "TTS_ENGINE", "AUDIO_OUTPUT_DEVICE", "VTS_ENABLED", "CHZZK_CLIENT_ID"):
        assert not catalog.get(key).advanced, key  # type: ignore[union-attr]
    assert len(BASIC & set(KEYS)) < len(KEYS) / 3  # most settings are folded away


# --------------------------------------------------------------------------------------------
# a save that changes nothing restarts nothing
# --------------------------------------------------------------------------------------------


def test_the_same_value_again_is_no_change(tmp_path: Path) -> None:
    env = tmp_path / ".env"
    env.write_text("# 내 설정\nOVERLAY_PORT=8123\nGROQ_MODEL=model-a\n", encoding="utf-8")
    calls: list[str] = []
    editor = SettingsEditor(env, Settings(_env_file=env),  # type: ignore[call-arg]
                            live=[(frozenset({"OVERLAY_HOST", "OVERLAY_PORT"}), lambda s: calls.append("overlay")),
                                  (frozenset({"GROQ_MODEL"}), lambda s: calls.append("llm")),
                                  (frozenset({"VTS_FPS"}), lambda s: calls.append("vts"))])
    original = env.read_bytes()
    # the same values, and defaults typed out: nothing written, nothing restarted
    status, body = editor.save({"OVERLAY_PORT": "8123", "GROQ_MODEL": " model-a ",
                                "OVERLAY_HOST": "127.0.0.1", "VTS_FPS": "30", "GROQ_API_KEY": ""})
    assert status == 200 and body["changed"] == [] and body["applied"] == []
    assert body["restart_needed"] == [] and body["panel_url"] is None
    assert calls == [] and env.read_bytes() == original and not (tmp_path / ".env.bak").exists()
    # a real change still goes through, and only its own part restarts
    status, body = editor.save({"OVERLAY_PORT": "8123", "GROQ_MODEL": "model-b"})
    assert (status, body["changed"], body["applied"], calls) == (200, ["GROQ_MODEL"], ["GROQ_MODEL"], ["llm"])
    assert dotenv_values(env)["GROQ_MODEL"] == "model-b"


# --------------------------------------------------------------------------------------------
# Chromium, against the daemon
# --------------------------------------------------------------------------------------------


def _browser_ready() -> None:
    from browser_helpers import require_browser
    require_browser()


def _page(browser: Any, width: int, height: int = 900) -> Any:
    context = browser.new_context(viewport={"width": width, "height": height}, locale="ko-KR")
    context.set_default_timeout(10_000)
    return context.new_page()


def _rows(url: str) -> dict[str, dict[str, Any]]:
    return {c["name"]: c for c in httpx.get(f"{url}/api/state", timeout=5).json()["components"]}


def _overflow(page: Any) -> int:
    return page.evaluate("document.scrollingElement.scrollWidth - document.documentElement.clientWidth")


def _in_view(page: Any, selector: str) -> bool:
    """Wholly inside the viewport and above the sticky save bar."""
    return page.evaluate("""sel => {
        const r = document.querySelector(sel).getBoundingClientRect();
        const bar = document.getElementById('bar').getBoundingClientRect();
        return r.top >= 0 && r.bottom <= Math.min(innerHeight, bar.top) + 1;
    }""", selector)


@pytest.mark.parametrize("width", [1400, 480])
def test_the_settings_page_speaks_to_a_streamer(tmp_path: Path, browser: Any, width: int) -> None:
    _browser_ready()
    port = free_port()
    (tmp_path / ".env").write_text(f"# 스트리머 설정\nOVERLAY_PORT={port}\nGROQ_MODEL=model-a\n",
                                   encoding="utf-8")
    with run_daemon(tmp_path, OVERLAY_PORT=str(port)) as daemon:
        page = _page(browser, width)
        missing: list[str] = []
        page.on("response", lambda r: missing.append(r.url) if r.status == 404 else None)
        page.goto(f"{daemon.url}/settings")
        page.wait_for_selector('input[name="OVERLAY_PORT"]')

        # every field: a Korean <label for> the input named by its env key, the key beside it
        fields = page.evaluate("""() => [...document.querySelectorAll('.field')].map(row => {
            const label = row.querySelector('label[for]');
            const input = label && document.getElementById(label.htmlFor);
            return {key: row.dataset.key, label: label ? label.textContent : '',
                    name: input ? input.name : null, code: row.querySelector('code').textContent,
                    help: (row.querySelector('.help') || {}).textContent || ''};
        })""")
        assert sorted(f["key"] for f in fields) == KEYS
        for f in fields:
            assert f["name"] == f["key"] == f["code"], f
            assert HANGUL.search(f["label"]) and f["key"] not in f["label"], f
            assert f["help"], f
        assert page.get_by_label("Groq API 키").get_attribute("name") == "GROQ_API_KEY"
        assert page.evaluate("document.querySelector('#form [name]').name") == "GROQ_API_KEY"
        legends = page.eval_on_selector_all("legend", "ls => ls.map(l => l.textContent.split(' ')[0])")
        assert legends[:6] == ["AI", "목소리", "오디오", "VTube", "아바타", "채팅"]

        # the right control for each type
        switch = page.locator('input[name="VTS_ENABLED"]')
        assert switch.get_attribute("type") == "checkbox" and switch.get_attribute("role") == "switch"
        assert page.evaluate("[...document.querySelectorAll('[data-kind=switch]')].every("
                             "i => i.type === 'checkbox' && i.getAttribute('role') === 'switch')")
        assert page.locator('[data-kind=switch]').count() == len(
            [f for f in Settings.model_fields.values() if f.annotation is bool])
        assert page.eval_on_selector('select[name="TTS_ENGINE"]',
                                     "s => [...s.options].map(o => o.value)") == ["qwen", "remote", "off"]
        assert page.locator('select[name="GROQ_REASONING_EFFORT"]').count() == 1
        port_box = page.locator('input[name="OVERLAY_PORT"]')
        assert (port_box.get_attribute("type"), port_box.get_attribute("min"),
                port_box.get_attribute("max")) == ("number", "1", "65535")
        assert page.evaluate("[...document.querySelectorAll('input[type=number]')].every("
                             "i => i.min !== '' || i.max !== '' || i.name === 'TTS_SEED')")

        # 기본 open, 고급 folded (test-only addresses among them)
        assert page.locator('input[name="GROQ_API_KEY"]').is_visible()
        assert page.locator('input[name="CHZZK_CLIENT_ID"]').is_visible()
        for key in ("CHZZK_OPENAPI_URL", "CHZZK_WEB_CHAT_URL", "VTS_FPS", "LOG_LEVEL"):
            assert not page.locator(f'[name="{key}"]').is_visible(), key
        assert page.evaluate("[...document.querySelectorAll('details.advanced')].every(d => !d.open)")
        page.fill("#find", "웹 채팅 웹소켓")  # finding a folded one by its Korean name opens its fold
        page.locator('[name="CHZZK_WEB_CHAT_URL"]').wait_for(state="visible")
        assert not page.locator('[name="GROQ_API_KEY"]').is_visible()
        page.fill("#find", "")
        assert page.locator('[name="GROQ_API_KEY"]').is_visible()
        assert not page.locator('[name="CHZZK_WEB_CHAT_URL"]').is_visible()  # folded again

        # a failed save brings the red field into view, focused — down the page …
        page.locator('fieldset#group-VTube details.advanced summary').click()
        page.fill('input[name="VTS_FPS"]', "999")
        page.evaluate("window.scrollTo(0, 0)")
        page.click("#save")
        page.wait_for_selector('.field.invalid[data-key="VTS_FPS"] .error')
        assert "저장하지 않았습니다" in page.text_content("#result")
        page.wait_for_function("document.activeElement && document.activeElement.name === 'VTS_FPS'")
        assert _in_view(page, '.field[data-key="VTS_FPS"]')
        page.fill('input[name="VTS_FPS"]', "30")
        # … and up the page: the daemon's own check (not the browser's) marks it
        page.fill('input[name="GROQ_BASE_URL"]', "ftp://nowhere")
        page.evaluate("window.scrollTo(0, document.scrollingElement.scrollHeight)")
        page.click("#save")
        page.wait_for_selector('.field.invalid[data-key="GROQ_BASE_URL"] .error')
        page.wait_for_function("document.activeElement && document.activeElement.name === 'GROQ_BASE_URL'")
        assert _in_view(page, '.field[data-key="GROQ_BASE_URL"]')
        page.fill('input[name="GROQ_BASE_URL"]', "https://api.groq.com/openai/v1")

        # a save with nothing changed (a switch flipped and back, a value typed again) restarts nothing
        wait_until(lambda: _rows(daemon.url)["overlay"]["state"] == "running")
        before = {n: (r["since"], r["restarts"]) for n, r in _rows(daemon.url).items()}
        switch_row = page.locator('.field[data-key="MEMORY_ENABLED"] input')
        switch_row.click()
        switch_row.click()
        page.fill('input[name="OVERLAY_PORT"]', str(port))
        page.fill('input[name="GROQ_MODEL"]', "model-a")
        page.click("#save")
        page.wait_for_function("document.getElementById('result').textContent.startsWith('바뀐 것이 없습니다')")
        direct = httpx.post(f"{daemon.url}/api/settings", timeout=5, json={"values": {
            "OVERLAY_PORT": str(port), "OVERLAY_HOST": "127.0.0.1", "GROQ_MODEL": "model-a",
            "VTS_FPS": "30", "MEMORY_ENABLED": "true"}}).json()
        assert direct["changed"] == direct["applied"] == direct["restart_needed"] == []
        time.sleep(1.0)  # an overlay move would start 0.5 s after the answer
        assert {n: (r["since"], r["restarts"]) for n, r in _rows(daemon.url).items()} == before
        assert "settings saved" not in daemon.output()
        assert (tmp_path / ".env").read_text(encoding="utf-8") == \
            f"# 스트리머 설정\nOVERLAY_PORT={port}\nGROQ_MODEL=model-a\n"

        # fits the width: no sideways scrolling, Korean wrapped between words, the bar below the fields
        assert _overflow(page) <= 0
        assert page.evaluate("getComputedStyle(document.body).wordBreak") == "keep-all"
        page.evaluate("window.scrollTo(0, document.scrollingElement.scrollHeight)")
        assert page.evaluate("""() => {
            const bar = document.getElementById('bar').getBoundingClientRect();
            const rows = [...document.querySelectorAll(".field")].filter(r => r.checkVisibility());
            return rows[rows.length - 1].getBoundingClientRect().bottom <= bar.top;
        }""")
        if os.environ.get("AISCHOCO_UPDATE_SCREENSHOTS") == "1":
            page.reload()
            page.wait_for_selector('input[name="OVERLAY_PORT"]')
            page.wait_for_selector('#steps li')
            DOCS_SCREENSHOTS.mkdir(parents=True, exist_ok=True)
            name = "settings.png" if width > 1000 else "settings-480.png"
            page.screenshot(path=str(DOCS_SCREENSHOTS / name))
        assert not [u for u in missing if "favicon" in u], missing
        daemon.stop(signal.SIGTERM)


@pytest.mark.parametrize("width", [1400, 480])
def test_every_page_fits_and_has_its_icon(tmp_path: Path, browser: Any, width: int) -> None:
    _browser_ready()
    (tmp_path / ".env").write_text("# 페이지\n", encoding="utf-8")
    with run_daemon(tmp_path) as daemon:
        icon = httpx.get(f"{daemon.url}/favicon.ico", timeout=5)
        assert icon.status_code == 200 and icon.headers["content-type"].startswith("image/svg+xml")
        assert icon.text.startswith("<svg")
        page = _page(browser, width)
        missing: list[str] = []
        page.on("response", lambda r: missing.append(r.url) if r.status >= 400 else None)
        for path in ("/", "/settings", "/voice"):
            page.goto(f"{daemon.url}{path}")
            page.wait_for_load_state("load")
            page.wait_for_timeout(800)  # the page's first requests (state, devices, voice) answered
            assert _overflow(page) <= 0, (path, _overflow(page))
            assert page.evaluate("getComputedStyle(document.body).wordBreak") == "keep-all", path
        assert missing == []
        page.goto(f"{daemon.url}/")
        page.wait_for_selector("#memory-user")
        # the memory search says all it says (its placeholder is not cut off)
        assert page.evaluate("""() => {
            const input = document.getElementById('memory-user'), s = getComputedStyle(input);
            const ctx = document.createElement('canvas').getContext('2d');
            ctx.font = `${s.fontWeight} ${s.fontSize} ${s.fontFamily}`;
            const room = input.clientWidth - parseFloat(s.paddingLeft) - parseFloat(s.paddingRight);
            return ctx.measureText(input.placeholder).width <= room;
        }""")
        # the status table is read as cards at 480 px: no header word broken into letters
        if width == 480:
            assert not page.locator("#components-table thead").is_visible()
        daemon.stop(signal.SIGTERM)


def test_the_subtitle_theme_can_be_seen_without_an_llm_or_tts(tmp_path: Path, browser: Any) -> None:
    _browser_ready()
    with run_daemon(tmp_path) as daemon:  # no key, TTS off: nothing will ever be spoken
        page = _page(browser, 1280, 720)
        page.goto(f"{daemon.url}/overlay?theme=subtitle&sample=1")
        page.wait_for_selector("#subtitle.on")
        assert page.locator("#subtitle").is_visible()
        assert HANGUL.search(page.text_content("#subtitle") or "")
        page.goto(f"{daemon.url}/overlay?theme=bubble&sample=1")
        page.wait_for_selector("#assistant .item.sample")
        assert page.locator("#viewer .item.sample").count() == 2
        page.goto(f"{daemon.url}/overlay?theme=subtitle")  # what OBS gets: no sample
        page.wait_for_function("document.documentElement.dataset.sse === 'open'")
        assert page.text_content("#subtitle") == "" and "on" not in (page.get_attribute("#subtitle", "class") or "")

        panel = _page(browser, 1400)
        panel.goto(f"{daemon.url}/")
        panel.select_option("#ob-theme", "subtitle")
        panel.wait_for_function("document.getElementById('ob-preview').src.includes('theme=subtitle')")
        assert "sample=1" in panel.get_attribute("#ob-preview", "src")
        assert "sample" not in panel.input_value("#ob-url")  # the address to copy stays clean
        frame = panel.frame_locator("#ob-preview")
        frame.locator("#subtitle.on").wait_for()
        assert HANGUL.search(frame.locator("#subtitle").text_content() or "")
        daemon.stop(signal.SIGTERM)


# --------------------------------------------------------------------------------------------
# the working-copy guard (conftest.py): what it sees
# --------------------------------------------------------------------------------------------


def test_the_guard_sees_data_written_into_a_checkout(tmp_path: Path) -> None:
    import shutil
    import subprocess

    from conftest import working_copy_snapshot

    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True, capture_output=True, timeout=30)
    (tmp_path / ".gitignore").write_text("history/*\n__pycache__/\n", encoding="utf-8")
    (tmp_path / "history").mkdir()
    (tmp_path / "history" / "memory.sqlite3").write_bytes(b"old")
    (tmp_path / "wip.py").write_text("# someone's work in progress\n", encoding="utf-8")
    before = working_copy_snapshot(tmp_path)
    assert before is not None and "history/memory.sqlite3" in before and "wip.py" not in before
    assert working_copy_snapshot(tmp_path) == before  # nothing written: the same
    (tmp_path / "wip.py").write_text("# edited during the run: a person's, not a test's\n", encoding="utf-8")
    (tmp_path / "__pycache__").mkdir()
    (tmp_path / "__pycache__" / "x.cpython-311.pyc").write_bytes(b"\0")
    assert working_copy_snapshot(tmp_path) == before
    strict = working_copy_snapshot(tmp_path, strict=True)
    (tmp_path / "history" / "memory.sqlite3").write_bytes(b"a test's viewers")  # an ignored file changed
    (tmp_path / "history" / "viewers.sqlite3").write_bytes(b"")  # an ignored file created
    (tmp_path / "history" / "memory.sqlite3-wal").write_bytes(b"")  # its database's passing file
    (tmp_path / "voice.wav").write_bytes(b"RIFF")  # a new file

    def changed(a: dict, b: dict) -> list[str]:  # type: ignore[type-arg]
        return sorted(p for p in a.keys() | b.keys() if a.get(p) != b.get(p))

    after = working_copy_snapshot(tmp_path)
    assert after is not None and changed(before, after) == ["history/viewers.sqlite3", "voice.wav"]
    strict_after = working_copy_snapshot(tmp_path, strict=True)
    assert strict is not None and strict_after is not None
    assert changed(strict, strict_after) == ["history/memory.sqlite3", "history/viewers.sqlite3",
                                             "voice.wav"]
    assert working_copy_snapshot(tmp_path / "not-a-checkout") is None
