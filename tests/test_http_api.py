"""The overlay server's API through the real FastAPI app (ASGI transport, no sockets)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from aischoco.compose.app import build
from aischoco.core.status import StatusBoard
from aischoco.settings.model import load_settings

ORIGIN = "http://127.0.0.1:8000"
TOKEN = "per-run-test-token"


def in_tmp(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """The app built in-process writes only under tmp_path. Its files are opened later, on their
    own threads (the viewer memory), maybe after the test gave the working directory back: so
    absolute paths, not only the directory (this once filled history/memory.sqlite3 in the repo)."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MEMORY_PATH", str(tmp_path / "history" / "memory.sqlite3"))
    monkeypatch.setenv("HISTORY_DIR", str(tmp_path / "history"))


@pytest.fixture
async def client(monkeypatch: pytest.MonkeyPatch, tmp_path) -> AsyncIterator[httpx.AsyncClient]:
    in_tmp(monkeypatch, tmp_path)
    monkeypatch.setenv("TTS_ENGINE", "off")
    monkeypatch.setenv("VTS_ENABLED", "false")
    _, controls, _ = build(load_settings(None), StatusBoard())
    from aischoco.overlay.server import create_app

    transport = httpx.ASGITransport(app=create_app(controls, token=TOKEN))
    async with httpx.AsyncClient(transport=transport, base_url=ORIGIN) as c:
        yield c


async def test_chat_post_appears_in_state_with_role_and_kind(client: httpx.AsyncClient) -> None:
    r = await client.post("/api/chat", json={"user": "후원자", "message": "응원해요",
                                             "kind": "donation", "amount": 1000})
    assert r.status_code == 200 and r.json()["queued"] is True
    state = (await client.get("/api/state")).json()
    assert state["viewer_messages"][-1]["kind"] == "donation"
    assert state["viewer_messages"][-1]["amount"] == 1000
    assert state["queue"]["pending"] == 1


async def test_filtered_chat_is_shown_but_not_queued(client: httpx.AsyncClient) -> None:
    r = await client.post("/api/chat", json={"user": "a", "message": "ㅋ" * 50})
    assert r.json() == {"id": r.json()["id"], "queued": False, "reason": "char_run",
                        "truncated": False, "pending": 0, "note": None}
    state = (await client.get("/api/state")).json()
    assert state["viewer_messages"][-1]["message"] == "ㅋ" * 50
    assert state["filters"]["rejected"] == {"char_run": 1}


async def test_ten_kilobyte_message_is_kept_whole_for_the_overlay(client: httpx.AsyncClient) -> None:
    text = "긴글" * 5000
    r = await client.post("/api/chat", json={"user": "a", "message": text})
    assert r.status_code == 200 and r.json()["truncated"] is True
    state = (await client.get("/api/state")).json()
    assert state["viewer_messages"][-1]["message"] == text


@pytest.mark.parametrize("body", [{"user": "a"}, {"user": "", "message": "x"},
                                  {"user": "   ", "message": "x"},
                                  {"user": "a", "message": "x" * 20_001},
                                  {"user": "a", "message": "x", "kind": "raid"},
                                  {"user": "a", "message": "x", "amount": -5}, "not json"])
async def test_malformed_chat_is_a_clear_4xx(client: httpx.AsyncClient, body: object) -> None:
    r = await client.post("/api/chat", json=body)
    assert r.status_code == 422
    assert (await client.get("/api/state")).json()["viewer_messages"] == []


@pytest.mark.parametrize("path", ["/api/chat", "/api/clear", "/api/toggle_streamer_chat",
                                  "/api/skip", "/api/pause", "/api/resume"])
async def test_cross_origin_posts_are_rejected(client: httpx.AsyncClient, path: str) -> None:
    body = {"user": "evil", "message": "injected"}
    r = await client.post(path, json=body, headers={"Origin": "http://evil.example"})
    assert r.status_code == 403
    r = await client.post(path, json=body, headers={"Sec-Fetch-Site": "cross-site"})
    assert r.status_code == 403
    state = (await client.get("/api/state")).json()
    assert state["viewer_messages"] == [] and state["queue"]["paused"] is False
    assert state["ignore_streamer_chat"] is False


async def test_same_origin_page_requests_need_this_runs_token(client: httpx.AsyncClient) -> None:
    browser = {"Origin": ORIGIN, "Sec-Fetch-Site": "same-origin"}
    r = await client.post("/api/chat", json={"user": "a", "message": "hello there"},
                          headers=browser | {"X-Aischoco-Token": TOKEN})
    assert r.status_code == 200
    for bad in ({}, {"X-Aischoco-Token": "stale-token-from-last-run"}):
        r = await client.post("/api/clear", headers=browser | bad)
        assert r.status_code == 403
    assert len((await client.get("/api/state")).json()["viewer_messages"]) == 1


async def test_pages_embed_the_token_for_their_own_requests(client: httpx.AsyncClient) -> None:
    assert f'content="{TOKEN}"' in (await client.get("/")).text
    assert "{{AISCHOCO_TOKEN}}" not in (await client.get("/overlay")).text


async def test_foreign_host_header_is_rejected_against_dns_rebinding(client: httpx.AsyncClient) -> None:
    r = await client.get("/api/state", headers={"Host": "attacker.example:8000"})
    assert r.status_code == 400


async def test_controls_pause_toggle_clear_skip(client: httpx.AsyncClient) -> None:
    assert (await client.post("/api/pause")).json() == {"paused": True}
    assert (await client.post("/api/pause")).json() == {"paused": False}
    assert (await client.post("/api/pause", json={"paused": True})).json() == {"paused": True}
    assert (await client.post("/api/resume")).json() == {"paused": False}
    assert (await client.post("/api/skip")).json() == {"skipped": False}

    await client.post("/api/chat", json={"user": "방장", "message": "방장입니다", "role": "streamer"})
    await client.post("/api/chat", json={"user": "시청자", "message": "시청자입니다"})
    assert (await client.post("/api/toggle_streamer_chat")).json() == {"ignore_streamer_chat": True}
    state = (await client.get("/api/state")).json()
    assert [m["user"] for m in state["viewer_messages"]] == ["시청자"]
    await client.post("/api/chat", json={"user": "방장", "message": "숨겨져야 함", "role": "streamer"})
    state = (await client.get("/api/state")).json()
    assert [m["user"] for m in state["viewer_messages"]] == ["시청자"]
    assert state["filters"]["rejected"].get("streamer_hidden") == 1

    assert (await client.post("/api/clear")).json() == {"ok": True}
    state = (await client.get("/api/state")).json()
    assert state["viewer_messages"] == [] and state["assistant_messages"] == []


async def test_metrics_shape(client: httpx.AsyncClient) -> None:
    m = (await client.get("/api/metrics")).json()
    assert m["turns"] == 0
    assert set(m["latency_ms"]) >= {"queue_wait", "llm", "tts_first_chunk", "chat_to_voice"}
    assert m["latency_ms"]["llm"] == {"count": 0, "p50_ms": None, "p95_ms": None, "last_ms": None}


async def test_pages_are_served_in_korean(client: httpx.AsyncClient) -> None:
    overlay = await client.get("/overlay")
    assert overlay.status_code == 200 and 'lang="ko"' in overlay.text
    assert "textContent" in overlay.text and "innerHTML" not in overlay.text
    panel = await client.get("/")
    assert "컨트롤 패널" in panel.text and "innerHTML" not in panel.text


async def test_status_view_is_state_without_the_message_lists(client: httpx.AsyncClient) -> None:
    await client.post("/api/chat", json={"user": "a", "message": "hello there"})
    status = (await client.get("/api/status")).json()
    state = (await client.get("/api/state")).json()
    assert "viewer_messages" not in status and "assistant_messages" not in status
    for view in (status, state):  # a countdown: the two requests are a moment apart
        assert view["queue"]["idle_talk"].pop("next_in_s") is not None
    for key in ("components", "queue", "filters", "llm", "errors", "overlay"):
        assert status[key] == state[key], key


async def test_chat_with_emoticons_accepts_only_http_urls(client: httpx.AsyncClient) -> None:
    ok = {"user": "a", "message": "안녕 {:smile:}", "emoticons": {"smile": "https://x.example/s.png"}}
    assert (await client.post("/api/chat", json=ok)).status_code == 200
    shown = (await client.get("/api/state")).json()["viewer_messages"][-1]
    assert shown["emoticons"] == {"smile": "https://x.example/s.png"}
    for bad in ({"smile": "javascript:alert(1)"}, {"smile": "data:image/png;base64,AAAA"},
                {"": "https://x.example/s.png"}):
        r = await client.post("/api/chat", json={"user": "a", "message": "x", "emoticons": bad})
        assert r.status_code == 422, bad


async def test_the_llm_reads_emoji_names_not_placeholders(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    from aischoco.core.messages import ChatMessage

    in_tmp(monkeypatch, tmp_path)
    _, controls, _ = build(load_settings(None), StatusBoard())
    msg = ChatMessage(user="a", message="좋아요 {:heart:} {:cat:}",
                      emoticons={"heart": "https://x.example/h.png", "cat": "https://x.example/c.png"})
    assert controls.chat(msg)["queued"] is True
    queued = controls.director.queue.pending()[-1]
    assert queued.text_for_llm() == "좋아요 heart cat"
    assert controls.overlay.snapshot()["viewer_messages"][-1]["message"] == "좋아요 {:heart:} {:cat:}"
