"""The unofficial CHZZK web chat source against a real local peer (HTTP + websocket)."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from async_wait import serving, until
from peers.chzzk_web_server import ChzzkWebServer, chat_item, donation_item

from aischoco.chat.chzzk_parse import web_chat_server_number
from aischoco.chat.chzzk_web import (
    DETAIL_CONNECTED,
    DETAIL_OFFLINE,
    ChzzkWebChat,
    _RateLimitedWarning,
)
from aischoco.core.messages import ChatMessage, Kind, Role
from aischoco.core.status import State, StatusBoard, StatusHandle

CHANNEL = "f00dcafe0123456789abcdef01234567"
CHAT_A = "N1Abc_"
CHAT_B = "N2xyz9"




@dataclass
class Running:
    srv: ChzzkWebServer
    comp: ChzzkWebChat
    status: StatusHandle
    task: asyncio.Task[None]
    got: list[ChatMessage] = field(default_factory=list)

    async def connected(self, count: int = 1, timeout: float = 5.0):
        await until(
            lambda: (
                len(self.srv.joined_connections()) >= count
                and self.srv.open_connections()
                and self.status.current.detail == DETAIL_CONNECTED
            ),
            timeout,
            f"{count} connection(s)",
        )
        return self.srv.open_connections()[-1]


@pytest.fixture
async def srv() -> AsyncIterator[ChzzkWebServer]:
    async with serving(ChzzkWebServer(channel_id=CHANNEL, chat_channel_id=CHAT_A)) as server:
        yield server


@pytest.fixture
async def start(srv: ChzzkWebServer) -> AsyncIterator[Callable[..., Running]]:
    running: list[Running] = []

    def _start(accept: Callable[[ChatMessage], object] | None = None, **kw: Any) -> Running:
        board = StatusBoard()
        status = board.register("chat", "채팅", State.STARTING)
        got: list[ChatMessage] = []
        options: dict[str, Any] = {"idle_ping_s": 5.0, "live_poll_s": 0.25, "max_backoff_s": 0.4}
        options.update(kw)
        comp = ChzzkWebChat(
            accept or got.append,
            channel_id=options.pop("channel_id", CHANNEL),
            api_url=srv.http_url,
            game_api_url=srv.http_url,
            chat_url_template=srv.chat_url_template,
            **options,
        )
        task = asyncio.create_task(comp.run(status))
        run = Running(srv, comp, status, task, got)
        running.append(run)
        return run

    yield _start
    for run in running:
        run.task.cancel()
        await asyncio.gather(run.task, return_exceptions=True)


async def test_handshake_uses_token_from_access_token_endpoint(srv, start) -> None:
    run = start()
    conn = await run.connected()
    frame = conn.connect_frame
    assert frame is not None
    token = frame["bdy"]["accTkn"]
    assert srv.issued_tokens()[token] == CHAT_A
    assert frame == {
        "ver": "2",
        "cmd": 100,
        "svcid": "game",
        "cid": CHAT_A,
        "bdy": {"uid": None, "devType": 2001, "accTkn": token, "auth": "READ"},
        "tid": 1,
    }
    assert srv.token_requests[0] == {"channelId": CHAT_A, "chatType": "STREAMING"}
    assert conn.n == str(web_chat_server_number(CHAT_A))
    assert run.status.current.state is State.RUNNING
    assert "비공식" in run.status.current.detail and "읽기 전용" in run.status.current.detail
    assert run.comp.chat_channel_id == CHAT_A
    assert run.task.done() is False


async def test_chat_and_donation_become_chat_messages(srv, start) -> None:
    run = start()
    await run.connected()
    srv.push_chat(
        [chat_item("초코팬", "안녕 {:d_1:}", uid="u1"), chat_item("둘째", "ㅋㅋ", uid="u2")]
    )
    srv.push_donation([donation_item("큰손", "방송 잘 보고 있어요", 1000, uid="d1")])
    srv.push_donation([donation_item("익명이", "몰래", "5,000", anonymous=True)])
    srv.push_chat([chat_item("스트리머", "공지", uid=CHANNEL, role="streamer")])
    await until(lambda: len(run.got) == 5, what="5 messages")
    first, second, donation, anon, streamer = run.got
    assert (first.user, first.message, first.user_id, first.kind) == (
        "초코팬",
        "안녕 {:d_1:}",
        "u1",
        Kind.CHAT,
    )
    assert first.source == "chzzk-web" and first.channel_id == CHANNEL
    assert second.message == "ㅋㅋ" and second.role is Role.VIEWER
    assert donation.kind is Kind.DONATION and donation.amount == 1000
    assert donation.user == "큰손" and donation.message == "방송 잘 보고 있어요"
    assert anon.kind is Kind.DONATION and anon.amount == 5000 and anon.user == "익명"
    assert streamer.role is Role.STREAMER


async def test_awaitable_accept_and_failing_accept_keep_connection(srv, start) -> None:
    got: list[str] = []

    async def accept(msg: ChatMessage) -> None:
        if msg.message == "boom":
            raise RuntimeError("consumer failed")
        got.append(msg.message)

    run = start(accept)
    conn = await run.connected()
    srv.push_chat([chat_item("a", "boom"), chat_item("b", "ok")])
    await until(lambda: got == ["ok"], what="ok delivered")
    assert conn.open and len(srv.joined_connections()) == 1


async def test_server_ping_answered_with_pong(srv, start) -> None:
    run = start()
    conn = await run.connected()
    assert srv.ping() == 1
    await until(lambda: conn.pongs_received == 1, what="pong")
    srv.ping()
    await until(lambda: conn.pongs_received == 2, what="second pong")
    assert conn.received[-1] == {"ver": "2", "cmd": 10000}


async def test_idle_client_sends_ping_and_stays_connected(srv, start) -> None:
    run = start(idle_ping_s=0.2)
    conn = await run.connected()
    t0 = time.monotonic()
    await until(lambda: conn.pings_received >= 3, timeout=3, what="3 client pings")
    elapsed = time.monotonic() - t0
    assert elapsed >= 0.3  # paced by idle_ping_s, not a flood
    assert {"ver": "2", "cmd": 0} in conn.received
    assert conn.open and len(srv.joined_connections()) == 1
    assert run.status.current.detail == DETAIL_CONNECTED


async def test_silent_server_is_declared_dead_and_reconnected(srv, start) -> None:
    run = start(idle_ping_s=0.2)  # dead after 3 × 0.2 s without a frame
    first = await run.connected()
    srv.mute()
    await until(lambda: not first.open, timeout=3, what="client to give up")
    assert first.pings_received >= 1
    srv.mute(False)
    second = await run.connected(count=2)
    assert second is not first
    assert "응답 없음" in run.status.current.last_error


async def test_server_drop_reconnects_with_status(srv, start) -> None:
    seen: list[tuple[State, str]] = []
    run = start()
    run.status.board.subscribe(lambda item: seen.append((item.state, item.detail)))
    first = await run.connected()
    assert await asyncio.to_thread(srv.drop) == 1
    second = await run.connected(count=2)
    assert second is not first and second.cid == CHAT_A
    assert any(state is State.DEGRADED and "초 후 다시 연결 (" in detail for state, detail in seen)
    assert "연결을 끊음" in run.status.current.last_error
    # each connection got its own fresh token
    assert first.connect_frame["bdy"]["accTkn"] != second.connect_frame["bdy"]["accTkn"]
    srv.push_chat([chat_item("돌아옴", "다시 안녕")])
    await until(lambda: [m.message for m in run.got] == ["다시 안녕"], what="chat after reconnect")


async def test_repeated_drops_keep_reconnecting(srv, start) -> None:
    run = start()
    await run.connected()
    for n in range(2, 5):
        await asyncio.to_thread(srv.drop)
        await run.connected(count=n)
    assert not run.task.done()


async def test_new_broadcast_reconnects_to_new_chat_channel(srv, start) -> None:
    run = start(live_poll_s=0.2)
    first = await run.connected()
    srv.set_live(CHAT_B)
    await until(
        lambda: any(c.cid == CHAT_B and c.open for c in srv.joined_connections()),
        what="connection to the new chat channel",
    )
    await until(lambda: not first.open, what="old connection closed by the client")
    new = srv.open_connections()[-1]
    assert new.n == str(web_chat_server_number(CHAT_B))
    assert srv.issued_tokens()[new.connect_frame["bdy"]["accTkn"]] == CHAT_B
    await until(lambda: run.status.current.detail == DETAIL_CONNECTED)
    assert run.comp.chat_channel_id == CHAT_B
    srv.push_chat([chat_item("새방", "새 방송이다")])
    await until(lambda: [m.message for m in run.got] == ["새 방송이다"], what="chat on new channel")


async def test_going_offline_keeps_the_open_connection(srv, start) -> None:
    run = start(live_poll_s=0.1)
    conn = await run.connected()
    srv.go_offline()
    polls = srv.live_status_requests
    await until(lambda: srv.live_status_requests >= polls + 3, what="live-status polls")
    assert conn.open and len(srv.joined_connections()) == 1


async def test_offline_waits_then_connects_when_live(srv, start) -> None:
    srv.go_offline()
    run = start(live_poll_s=0.2)
    await until(lambda: run.status.current.detail == DETAIL_OFFLINE, what="offline status")
    assert run.status.current.state is State.RUNNING
    polls = srv.live_status_requests
    await until(lambda: srv.live_status_requests >= polls + 2, what="polling while offline")
    assert srv.connections == [] and srv.token_requests == []
    srv.set_live(CHAT_B)
    conn = await run.connected()
    assert conn.cid == CHAT_B


async def test_malformed_frames_and_items_are_skipped(srv, start, caplog) -> None:
    caplog.set_level(logging.WARNING, logger="aischoco.chat.chzzk_web")
    run = start()
    conn = await run.connected()
    srv.send_raw("this is not json {")
    srv.send_raw("[1, 2, 3]")
    srv.send({"cmd": 93101, "bdy": "not a list"})
    srv.push_chat([123, {"msg": 5, "profile": "{}"}, {"msg": "no sender", "profile": "{}"}])
    srv.push_chat([chat_item("정상", "괜찮아"), "garbage", {"uid": "x", "msg": ["list"]}])
    srv.push_donation([{"msgTypeCode": 10, "msg": 7}])
    srv.send({"cmd": 94008, "bdy": {"whatever": True}})  # other commands are ignored
    srv.push_chat([chat_item("정상2", "계속 돼")])
    await until(lambda: len(run.got) == 2, what="the good items")
    assert [m.message for m in run.got] == ["괜찮아", "계속 돼"]
    assert conn.open and len(srv.joined_connections()) == 1
    assert run.comp._warn.total == 10  # 3 bad frames + 6 bad items + 1 bad blind
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1  # rate limited: ≤ 1 line per 10 s
    assert "\n" not in warnings[0].getMessage()


def test_rate_limited_warning_reports_suppressed_count(caplog, monkeypatch) -> None:
    caplog.set_level(logging.WARNING, logger="aischoco.chat.chzzk_web")
    clock = [100.0]
    monkeypatch.setattr("aischoco.chat.chzzk_web.time.monotonic", lambda: clock[0])
    warn = _RateLimitedWarning(every_s=10)
    warn("one")
    for _ in range(4):
        clock[0] += 1
        warn("more")
    clock[0] += 10
    warn("later")
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 2
    assert "one" in lines[0] and "later" in lines[1] and "+4 more" in lines[1]


async def test_unknown_channel_reports_hint_and_keeps_trying(srv, start) -> None:
    run = start(channel_id="does-not-exist")
    await until(lambda: run.status.current.state is State.DEGRADED, what="degraded")
    assert "HTTP 404" in run.status.current.detail
    assert "CHZZK_CHANNEL_ID" in run.status.current.hint
    polls_before = len(srv.token_requests)
    await asyncio.sleep(0.5)
    assert not run.task.done() and len(srv.token_requests) == polls_before == 0


async def test_token_failure_then_recovery(srv, start) -> None:
    srv.refuse_tokens = True
    run = start()
    await until(lambda: len(srv.token_requests) >= 2, what="token retries")
    assert run.status.current.state is State.DEGRADED
    assert "HTTP 500" in run.status.current.last_error
    srv.refuse_tokens = False
    await run.connected()


async def test_rejected_handshake_is_retried(srv, start, monkeypatch) -> None:
    """A peer that closes instead of answering 10100 (bad token) → retry, never silent."""
    import aischoco.chat.chzzk_web as web

    real = web.connect_frame
    calls = [0]

    def bad_first(cid: str, token: str) -> dict[str, Any]:
        calls[0] += 1
        return real(cid, "forged" if calls[0] == 1 else token)

    monkeypatch.setattr(web, "connect_frame", bad_first)
    run = start()
    conn = await run.connected()
    rejected = [c for c in srv.connections if c.rejected]
    assert len(rejected) == 1 and "accTkn" in rejected[0].rejected
    assert rejected[0].received == [json.loads(json.dumps(real(CHAT_A, "forged")))]
    assert conn.cid == CHAT_A


async def test_cancel_is_quick_and_closes_the_socket(srv, start) -> None:
    run = start()
    conn = await run.connected()
    t0 = time.monotonic()
    run.task.cancel()
    await asyncio.gather(run.task, return_exceptions=True)
    assert time.monotonic() - t0 < 1.5
    assert run.task.cancelled()
    await until(lambda: not conn.open, what="peer sees the close")


async def test_cancel_while_waiting_to_reconnect(srv, start) -> None:
    srv.go_offline()
    run = start(live_poll_s=30)
    await until(lambda: run.status.current.detail == DETAIL_OFFLINE)
    t0 = time.monotonic()
    run.task.cancel()
    await asyncio.gather(run.task, return_exceptions=True)
    assert time.monotonic() - t0 < 0.5
