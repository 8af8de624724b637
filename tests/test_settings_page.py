"""Settings in the panel (first part of the settings issue): the env file rewritten the way a person
would (comments byte for byte, atomic, 0600, .env.bak), the catalogue of every setting, and the
daemon's /api/settings and /settings page: secrets masked, validation per field with nothing
written, the LLM changed live, cross-origin refused, PANEL_PASSWORD."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from dotenv import dotenv_values

from aischoco.settings.env_file import quote, update_env_text, write_env_file
from aischoco.settings.model import Settings
from aischoco.settings.catalog import load_catalog
from browser_helpers import require_browser
from daemon import free_port, run_daemon, wait_until
from peers.openai_server import OpenAIServer, Stream

ENV = """\
# 내 방송 설정 (손으로 쓴 주석은 그대로 남아야 함)
GROQ_API_KEY=gsk_old_secret_key   # 절대 로그에 나오면 안 됨
export SOMETHING_ELSE=keep me
GROQ_BASE_URL={base}

# 오버레이
OVERLAY_PORT={port}
IDLE_TALK_AFTER_S=0
"""


def test_only_changed_values_are_touched() -> None:
    text = "# a\r\nA=1 # note\r\nUNKNOWN=x\r\n\r\nB='two words'\r\n"
    out = update_env_text(text, {"A": "2", "B": None, "C": "새 값"})
    assert out == '# a\r\nA=2 # note\r\nUNKNOWN=x\r\n\r\nC="새 값"\r\n'
    assert update_env_text(text, {}) == text
    assert quote("gsk_abc-123") == "gsk_abc-123" and quote("a b") == '"a b"'
    assert quote('x"y\\z') == '"x\\"y\\\\z"'
    with pytest.raises(ValueError):
        quote("two\nlines")


def test_the_file_is_replaced_atomically_with_a_backup(tmp_path: Path) -> None:
    env = tmp_path / ".env"
    env.write_text("# 주석\nA=1\n", encoding="utf-8")
    write_env_file(env, {"A": "2", "B": "with space"})
    assert env.read_text(encoding="utf-8") == '# 주석\nA=2\nB="with space"\n'
    assert (tmp_path / ".env.bak").read_text(encoding="utf-8") == "# 주석\nA=1\n"
    assert dotenv_values(env) == {"A": "2", "B": "with space"}
    if os.name != "nt":
        assert env.stat().st_mode & 0o777 == 0o600
    assert sorted(p.name for p in tmp_path.iterdir()) == [".env", ".env.bak"]  # no temp left


def test_the_catalogue_holds_every_setting_with_its_explanation() -> None:
    catalog = load_catalog()
    assert sorted(catalog.keys()) == sorted(name.upper() for name in Settings.model_fields)
    groups = [name for name, _ in catalog.groups]
    assert groups[0].startswith("AI") and "기타" not in groups  # .env.example documents them all
    firsts = [name.split(" ")[0] for name in groups]
    # the first-run checklist's order (Groq key → voice → audio → VTube Studio → chat), then the rest
    wanted = ["AI", "목소리", "오디오", "VTube", "채팅", "오버레이", "음성", "기억", "화면", "도구"]
    seen = list(dict.fromkeys(f for f in firsts if f in wanted))
    assert seen == wanted  # in this order
    assert set(wanted) <= set(firsts)  # grouped as a streamer thinks
    info = catalog.get("GROQ_API_KEY")
    assert info is not None and info.secret and "console.groq.com" in info.help
    assert catalog.get("OVERLAY_PORT").default == "8000"  # type: ignore[union-attr]
    undocumented = [k for k in catalog.keys() if not catalog.get(k).help]  # type: ignore[union-attr]
    assert len(undocumented) < 10, undocumented


def _post(url: str, values: dict, **headers: str) -> httpx.Response:
    return httpx.post(f"{url}/api/settings", json={"values": values}, timeout=5, headers=headers)


def test_settings_are_shown_masked_validated_saved_and_the_llm_changes_live(tmp_path: Path) -> None:
    port = free_port()
    with OpenAIServer() as first, OpenAIServer() as second:
        env = tmp_path / ".env"
        env.write_text(ENV.format(base=first.base_url, port=port), encoding="utf-8")
        original = env.read_bytes()
        with run_daemon(tmp_path, OVERLAY_PORT=str(port)) as daemon:
            url = daemon.url
            wait_until(lambda: any(c["name"] == "llm" and c["state"] == "running"
                                   for c in httpx.get(f"{url}/api/state").json()["components"]))
            shown = httpx.get(f"{url}/api/settings", timeout=5)
            assert "gsk_old_secret_key" not in shown.text
            fields = {f["key"]: f for g in shown.json()["groups"] for f in g["fields"]}
            assert fields["GROQ_API_KEY"] == {**fields["GROQ_API_KEY"], "value": "", "is_set": True}
            assert fields["GROQ_BASE_URL"]["value"] == first.base_url
            page = httpx.get(f"{url}/settings", timeout=5)
            assert "저장" in page.text and "gsk_old" not in page.text

            bad = _post(url, {"OVERLAY_PORT": "99999", "GROQ_MODEL": "x"})
            assert bad.status_code == 422 and set(bad.json()["errors"]) == {"OVERLAY_PORT"}
            assert env.read_bytes() == original  # nothing written
            assert _post(url, {"NOT_A_SETTING": "1"}).status_code == 422
            evil = httpx.post(f"{url}/api/settings", json={"values": {"GROQ_MODEL": "x"}},
                              headers={"Origin": "https://evil.example"}, timeout=5)
            assert evil.status_code == 403 and env.read_bytes() == original

            saved = _post(url, {"GROQ_API_KEY": "", "GROQ_BASE_URL": second.base_url,
                                "IDLE_TALK_AFTER_S": "30", "VTS_FPS": "60"})
            assert saved.status_code == 200, saved.text
            body = saved.json()
            assert body["applied"] == ["GROQ_BASE_URL", "IDLE_TALK_AFTER_S"]
            assert body["restart_needed"] == ["VTS_FPS"]
            queue = httpx.get(f"{url}/api/state").json()["queue"]["idle_talk"]
            assert queue["enabled"] is True and queue["after_s"] == 30  # applied at once
            second.script([Stream({"emotion": "happy", "response": "새 서버에서 답해요!"})])
            httpx.post(f"{url}/api/chat", json={"user": "민수", "message": "안녕"}, timeout=5)
            wait_until(lambda: httpx.get(f"{url}/api/state").json()["assistant_messages"])
            assert len(second.requests) == 1 and first.requests == []
            assert second.requests[0].headers["authorization"] == "Bearer gsk_old_secret_key"
            code, _, out = daemon.stop(signal.SIGTERM)
        assert code == 0 and "gsk_old_secret_key" not in out
    text = env.read_text(encoding="utf-8")
    assert text == original.decode("utf-8").replace(first.base_url, second.base_url).replace(
        "IDLE_TALK_AFTER_S=0", "IDLE_TALK_AFTER_S=30") + "VTS_FPS=60\n"  # comments etc. kept
    assert (tmp_path / ".env.bak").read_bytes() == original
    if os.name != "nt":
        assert env.stat().st_mode & 0o777 == 0o600


def test_a_panel_open_to_other_machines_needs_a_password(tmp_path: Path) -> None:
    port = free_port()
    refused = subprocess.run(
        [sys.executable, "-m", "aischoco", "run"], cwd=tmp_path, capture_output=True, text=True,
        encoding="utf-8", timeout=30, stdin=subprocess.DEVNULL,
        env={**{k: v for k, v in os.environ.items() if k.upper() not in
                {n.upper() for n in Settings.model_fields}},
             "OVERLAY_HOST": "0.0.0.0", "OVERLAY_PORT": str(port), "CHAT_SOURCE": "local",
             "TTS_ENGINE": "off", "VTS_ENABLED": "false"})
    assert refused.returncode == 2 and "PANEL_PASSWORD" in refused.stderr + refused.stdout
    (tmp_path / ".env").write_text("# 비밀번호 있음\n", encoding="utf-8")
    with run_daemon(tmp_path, PANEL_PASSWORD="open-sesame") as daemon:
        assert httpx.get(f"{daemon.url}/api/settings", timeout=5).status_code == 401
        assert _post(daemon.url, {"GROQ_MODEL": "x"}).status_code == 401
        ok = httpx.get(f"{daemon.url}/api/settings", headers={"X-Panel-Password": "open-sesame"},
                       timeout=5)
        assert ok.status_code == 200 and ok.json()["password_required"] is True
        assert "open-sesame" not in ok.text
        daemon.stop(signal.SIGTERM)


def test_the_settings_page_in_chromium(tmp_path: Path, browser) -> None:  # type: ignore[no-untyped-def]
    require_browser()
    port = free_port()
    (tmp_path / ".env").write_text(f"# 페이지 테스트\nOVERLAY_PORT={port}\nGROQ_MODEL=model-a\n",
                                   encoding="utf-8")
    with run_daemon(tmp_path, OVERLAY_PORT=str(port)) as daemon:
        page = browser.new_context(locale="ko-KR").new_page()
        page.goto(f"{daemon.url}/settings")
        page.wait_for_selector('input[name="OVERLAY_PORT"]')
        assert page.input_value('input[name="GROQ_MODEL"]') == "model-a"
        for what in ("chat", "chat_youtube", "chat_soop"):  # 연결 확인 per platform, in the chat group
            assert page.locator(f'fieldset[data-group="채팅"] button[data-test="{what}"]').count() == 1
        page.fill('input[name="OVERLAY_PORT"]', "70000")
        page.click("#save")
        page.wait_for_selector('.field.invalid[data-key="OVERLAY_PORT"] .error')
        assert "저장하지 않았습니다" in page.text_content("#result")
        page.fill('input[name="OVERLAY_PORT"]', str(port))
        page.fill('input[name="GROQ_MODEL"]', "model-b")
        page.click("#save")
        page.wait_for_function("document.getElementById('result').textContent.startsWith('저장했습니다')")
        assert dotenv_values(tmp_path / ".env")["GROQ_MODEL"] == "model-b"
        assert (tmp_path / ".env").read_text(encoding="utf-8").startswith("# 페이지 테스트\n")
        daemon.stop(signal.SIGTERM)


def test_pickers_test_buttons_checklist_and_a_live_device_switch(tmp_path: Path, browser) -> None:  # type: ignore[no-untyped-def]
    from peers.speech_server import SpeechServer
    from system_deps import ALSA_CONF, require_portaudio

    require_browser()
    require_portaudio()
    conf = tmp_path / "asoundrc"
    conf.write_text('pcm.aischoco_picker { type file slave.pcm "null" file "/dev/null" format "raw" '
                    'hint { show on description "aischoco picker test" } }\n', encoding="utf-8")
    port = free_port()
    first_wav, second_wav = tmp_path / "first.wav", tmp_path / "second.wav"
    (tmp_path / ".env").write_text(f"OVERLAY_PORT={port}\n", encoding="utf-8")
    with OpenAIServer() as llm, SpeechServer(ms_per_char=2) as tts, \
            run_daemon(tmp_path, OVERLAY_PORT=str(port), ALSA_CONFIG_PATH=f"{ALSA_CONF}:{conf}",
                       GROQ_API_KEY="gsk_picker", GROQ_BASE_URL=llm.base_url,
                       TTS_ENGINE="remote", TTS_REMOTE_URL=tts.base_url,
                       AUDIO_OUTPUT_DEVICE=f"file:{first_wav}", IDLE_TALK_AFTER_S="0") as daemon:
        url = daemon.url
        devices = httpx.get(f"{url}/api/devices", timeout=10).json()
        assert "aischoco_picker" in [d["name"] for d in devices["outputs"]] and devices["error"] is None
        page = browser.new_context(locale="ko-KR").new_page()
        page.goto(f"{url}/settings")
        page.wait_for_selector('datalist#devices-AUDIO_OUTPUT_DEVICE option[value="aischoco_picker"]',
                               state="attached")
        page.wait_for_selector('#steps li.ok[data-step="llm"]')  # the checklist: green when running
        assert page.locator('#steps li.todo[data-step="vts"]').count() == 1  # VTS_ENABLED=false
        assert page.locator('#steps li[data-step="tts"] a[href="/voice"]').count() == 1
        page.click("text=Groq 키 테스트")
        page.wait_for_selector(".test-result.ok")
        assert llm.base_url in page.text_content(".test-result.ok")

        wait_until(lambda: any(c["name"] == "audio" and c["state"] == "running"
                               for c in httpx.get(f"{url}/api/state").json()["components"]))
        saved = _post(url, {"AUDIO_OUTPUT_DEVICE": f"file:{second_wav}"})
        assert saved.json()["applied"] == ["AUDIO_OUTPUT_DEVICE"]
        wait_until(lambda: any(c["name"] == "audio" and c["state"] == "running"
                               and "second.wav" in c["detail"]
                               for c in httpx.get(f"{url}/api/state").json()["components"]),
                   what="the audio output reopened on the new file")
        httpx.post(f"{url}/api/chat", json={"user": "민수", "message": "새 장치로 말해 줘"}, timeout=5)
        wait_until(lambda: tts.speech_requests and second_wav.exists() and second_wav.stat().st_size > 44,
                   what="speech written to the new device")
        daemon.stop(signal.SIGTERM)


def test_the_panel_points_a_new_streamer_to_the_settings(tmp_path: Path, browser) -> None:  # type: ignore[no-untyped-def]
    require_browser()
    with run_daemon(tmp_path) as daemon:  # no key: the LLM row says "설정 필요"
        page = browser.new_context(locale="ko-KR").new_page()
        page.goto(f"{daemon.url}/")
        page.wait_for_selector("#first-run:not([hidden])")
        assert page.get_attribute("#first-run a", "href") == "/settings"
        daemon.stop(signal.SIGTERM)


def test_chzzk_login_and_logout_from_the_panel(tmp_path: Path) -> None:
    from urllib.parse import parse_qs, urlsplit

    from aischoco.chat.chzzk_auth import load_tokens
    from peers.chzzk_openapi import ChzzkOpenApiServer

    port = free_port()
    token_path = tmp_path / "config" / "chzzk_token.json"
    with ChzzkOpenApiServer(client_id="cid-panel", client_secret="cs-panel") as api:
        api.expect_code("code-from-chzzk")
        env = {"OVERLAY_PORT": str(port), "CHZZK_OPENAPI_URL": api.base_url,
               "CHZZK_REDIRECT_URI": f"http://127.0.0.1:{port}/auth/chzzk/callback",
               "CHZZK_TOKEN_PATH": str(token_path)}
        (tmp_path / ".env").write_text("# 로그인 테스트\n", encoding="utf-8")
        with run_daemon(tmp_path, **env) as daemon:
            url = daemon.url
            refused = httpx.get(f"{url}/auth/chzzk/login", timeout=5)
            assert refused.status_code == 400 and "CHZZK_CLIENT_ID" in refused.text
            saved = _post(url, {"CHZZK_CLIENT_ID": "cid-panel", "CHZZK_CLIENT_SECRET": "cs-panel"})
            assert saved.status_code == 200  # the button works with what was just saved
            start = httpx.get(f"{url}/auth/chzzk/login", timeout=5)
            assert start.status_code == 302
            target = urlsplit(start.headers["location"])
            assert f"{target.scheme}://{target.netloc}{target.path}" == \
                "https://chzzk.naver.com/account-interlock"
            query = parse_qs(target.query)
            assert query["clientId"] == ["cid-panel"] and query["redirectUri"] == [env["CHZZK_REDIRECT_URI"]]
            state = query["state"][0]
            forged = httpx.get(f"{url}/auth/chzzk/callback",
                               params={"code": "code-from-chzzk", "state": "forged"}, timeout=5)
            assert forged.status_code == 400 and not token_path.exists()
            # CHZZK sends the browser back here with the code:
            done = httpx.get(f"{url}/auth/chzzk/callback",
                             params={"code": "code-from-chzzk", "state": state}, timeout=10)
            assert done.status_code == 200 and "로그인 완료" in done.text
            tokens = load_tokens(token_path)
            assert tokens is not None and tokens.refresh_token == api.issued[-1].refresh_token
            assert tokens.access_token not in done.text
            again = httpx.get(f"{url}/auth/chzzk/callback",
                              params={"code": "code-from-chzzk", "state": state}, timeout=5)
            assert again.status_code == 400  # a state is used once
            out = httpx.post(f"{url}/api/chzzk/logout", timeout=5).json()
            assert out == {"logged_out": True} and not token_path.exists()
            code, _, log_text = daemon.stop(signal.SIGTERM)
        assert code == 0 and tokens.access_token not in log_text and "cs-panel" not in log_text


def _rows(url: str) -> dict[str, dict]:
    return {c["name"]: c for c in httpx.get(f"{url}/api/state", timeout=5).json()["components"]}


def test_chat_tts_and_the_overlay_server_restart_alone_with_new_settings(tmp_path: Path) -> None:
    from peers.chzzk_web_server import ChzzkWebServer, chat_item
    from peers.speech_server import SpeechServer

    port, new_port = free_port(), free_port()
    wav = tmp_path / "voice.wav"
    (tmp_path / ".env").write_text(f"OVERLAY_PORT={port}\n", encoding="utf-8")
    with OpenAIServer() as llm, SpeechServer(ms_per_char=2) as tts_a, \
            SpeechServer(ms_per_char=2) as tts_b, ChzzkWebServer(channel_id="ch-live") as web:
        env = {"GROQ_API_KEY": "gsk_restart", "GROQ_BASE_URL": llm.base_url,
               "TTS_ENGINE": "remote", "TTS_REMOTE_URL": tts_a.base_url,
               "AUDIO_OUTPUT_DEVICE": f"file:{wav}", "IDLE_TALK_AFTER_S": "0"}
        with run_daemon(tmp_path, **env) as daemon:
            url = daemon.url
            wait_until(lambda: all(_rows(url)[n]["state"] == "running"
                                   for n in ("llm", "tts", "audio", "chat")))
            before = {n: _rows(url)[n]["since"] for n in ("llm", "audio", "director", "memory")}
            test = httpx.post(f"{url}/api/settings/test", json={"what": "speak"}, timeout=20).json()
            assert test["level"] == "ok" and [r.body["input"] for r in tts_a.speech_requests] == \
                ["안녕하세요! 목소리 테스트 중이에요."]
            saved = _post(url, {"CHAT_SOURCE": "chzzk-web", "CHZZK_CHANNEL_ID": "ch-live",
                                "CHZZK_WEB_API_URL": web.http_url,
                                "CHZZK_WEB_GAME_API_URL": web.http_url,
                                "CHZZK_WEB_CHAT_URL": web.chat_url_template,
                                "TTS_REMOTE_URL": tts_b.base_url}).json()
            assert {"CHAT_SOURCE", "TTS_REMOTE_URL"} <= set(saved["applied"])
            assert saved["restart_needed"] == []
            web.wait_connected(timeout=15)  # the chat source came back as the web chat
            web.push_chat([chat_item("웹손님", "새 채팅 소스로 안녕", uid="w1",
                                     msg_time=1_718_000_300_000)])
            wait_until(lambda: tts_b.speech_requests, what="the answer spoken by the new TTS")
            rows = _rows(url)
            assert rows["chat"]["state"] == "running" and rows["tts"]["state"] == "running"
            assert {n: rows[n]["since"] for n in before} == before  # nothing else restarted
            assert len(tts_a.speech_requests) == 1  # the old server got nothing more

            moved = _post(url, {"OVERLAY_PORT": str(new_port)}).json()
            assert moved["applied"] == ["OVERLAY_PORT"]
            assert moved["panel_url"] == f"http://127.0.0.1:{new_port}/settings"
            new_url = f"http://127.0.0.1:{new_port}"
            wait_until(lambda: _ok(f"{new_url}/api/state"), what="the panel at the new address")
            wait_until(lambda: not _ok(f"{url}/api/state"), what="the old address closed")
            daemon.url = new_url
            code, _, out = daemon.stop(signal.SIGTERM)
    assert code == 0, out


def _ok(url: str) -> bool:
    try:
        return httpx.get(url, timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def test_vtube_studio_can_be_asked_for_access_again_from_the_page(tmp_path: Path) -> None:
    from peers.vts_server import FakeVts

    (tmp_path / ".env").write_text("# VTS\n", encoding="utf-8")
    (tmp_path / "config").mkdir()
    shipped = Path(__file__).resolve().parent.parent / "config" / "pose_mapping.json"
    (tmp_path / "config" / "pose_mapping.json").write_bytes(shipped.read_bytes())
    with FakeVts(popup="deny") as vts, \
            run_daemon(tmp_path, VTS_ENABLED="true", VTS_URL=vts.url) as daemon:
        url = daemon.url
        row = wait_until(lambda: (r := _rows(url)["vts"])["state"] != "starting"
                         and vts.token_requests == 1 and r, what="the first popup denied")
        assert row["state"] != "running"  # the streamer pressed Deny: it waits
        vts.popup = "accept"
        asked = httpx.post(f"{url}/api/settings/test", json={"what": "vts_allow"}, timeout=10).json()
        assert asked["level"] == "ok" and "허용" in asked["detail"]
        wait_until(lambda: _rows(url)["vts"]["state"] == "running" and vts.token_requests == 2,
                   what="the popup shown again, accepted, and the animator running")
        daemon.stop(signal.SIGTERM)
    plain_dir = tmp_path / "plain"
    plain_dir.mkdir()
    with run_daemon(plain_dir) as plain:  # VTS off
        off = httpx.post(f"{plain.url}/api/settings/test", json={"what": "vts_allow"}, timeout=5)
        assert off.json()["level"] == "error"
        plain.stop(signal.SIGTERM)


def test_a_new_streamer_types_the_groq_key_in_the_page_and_chat_is_answered(
        tmp_path: Path, browser) -> None:  # type: ignore[no-untyped-def]
    """No key at the start (the first run): key and base URL typed in Chromium, saved, and the
    next chat is answered without restarting the daemon."""
    require_browser()
    port = free_port()
    env_file = tmp_path / ".env"
    env_file.write_text(f"# 처음 실행\nOVERLAY_PORT={port}\nIDLE_TALK_AFTER_S=0\n", encoding="utf-8")
    with OpenAIServer() as llm, run_daemon(tmp_path, OVERLAY_PORT=str(port)) as daemon:
        url = daemon.url
        assert _rows(url)["llm"]["state"] == "not_configured"
        page = browser.new_context(locale="ko-KR").new_page()
        page.goto(f"{url}/settings")
        page.wait_for_selector('#steps li.todo[data-step="llm"]')
        page.fill('input[name="GROQ_API_KEY"]', "gsk_typed_in_the_page")
        page.fill('input[name="GROQ_BASE_URL"]', llm.base_url)
        page.click("#save")
        page.wait_for_function("document.getElementById('result').textContent.includes('바로 적용')")
        page.wait_for_selector('#steps li.ok[data-step="llm"]', timeout=15000)  # turned green
        assert 'value="gsk_typed' not in page.content()  # the secret never comes back
        llm.script([Stream({"emotion": "happy", "response": "이제 답할 수 있어요!"})])
        httpx.post(f"{url}/api/chat", json={"user": "민수", "message": "들려?"}, timeout=5)
        wait_until(lambda: httpx.get(f"{url}/api/state").json()["assistant_messages"],
                   what="the chat answered")
        assert llm.requests[0].headers["authorization"] == "Bearer gsk_typed_in_the_page"
        assert dotenv_values(env_file)["GROQ_API_KEY"] == "gsk_typed_in_the_page"
        assert env_file.read_text(encoding="utf-8").startswith("# 처음 실행\n")
        code, _, out = daemon.stop(signal.SIGTERM)
    assert code == 0 and "gsk_typed_in_the_page" not in out
