"""The official CHZZK chat source against a real Socket.IO 2.x (Engine.IO v3) server in Node
(tests/peers/node/chzzk_socketio_server.js), which also serves the session, subscribe and token
refresh endpoints — one base URL, as CHZZK_OPENAPI_URL is in the daemon.

Needs `node` and `npm` (CI runs `npm ci --prefix tests/peers/node`; when node_modules is missing
this module runs `npm ci` itself, and skips with the reason when that is impossible).
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import socketio

from aischoco.chat.chzzk_auth import AUTH_COMMAND, ChzzkTokens, TokenSet, load_tokens, save_tokens
from aischoco.chat.chzzk_official import ChzzkOfficialChat, redact_url
from aischoco.chat.chzzk_parse import SOURCE_OFFICIAL
from aischoco.core.messages import ChatMessage, Kind, Role
from aischoco.core.status import State, StatusBoard
from peers.chzzk_socketio import NodePeer

CHANNEL = "channel-streamer-1"
CLIENT_ID = "cid-official"
CLIENT_SECRET = "csecret-official"


@pytest.fixture(scope="module")
def peer() -> Iterator[NodePeer]:
    node_peer = NodePeer()
    try:
        yield node_peer
    finally:
        node_peer.stop()


# --- a running component --------------------------------------------------------------------
async def until(pred: Callable[[], Any], timeout: float = 5.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while True:
        value = pred()
        if asyncio.iscoroutine(value):
            value = await value
        if value:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.01)


class Harness:
    def __init__(self, peer: NodePeer, token_path: Path) -> None:
        self.peer = peer
        self.token_path = token_path
        self.messages: list[ChatMessage] = []
        self.board = StatusBoard()
        self.status = self.board.register("chat", "채팅 (치지직)")
        self.history: list[tuple[State, str, str]] = []
        self.board.subscribe(lambda item: self.history.append((item.state, item.detail, item.hint)))
        self.sleeps: list[float] = []
        self.tokens = ChzzkTokens(base_url=peer.base_url, client_id=CLIENT_ID,
                                  client_secret=CLIENT_SECRET, path=token_path)
        self.task: asyncio.Task[None] | None = None
        self.chat: ChzzkOfficialChat | None = None
        self.secrets: set[str] = set()

    async def login(self) -> TokenSet:
        """A fresh valid pair, known to the peer and saved where ChzzkTokens reads it."""
        pair = TokenSet("at-" + os.urandom(8).hex(), "rt-" + os.urandom(8).hex(), "Bearer",
                        time.time() + 86_400)
        save_tokens(self.token_path, pair)
        await self.peer.post("/test/tokens", {"access": pair.access_token,
                                              "refresh": pair.refresh_token,
                                              "clientId": CLIENT_ID, "clientSecret": CLIENT_SECRET,
                                              "channelId": CHANNEL})
        self.secrets |= {pair.access_token, pair.refresh_token}
        return pair

    async def fast_sleep(self, delay: float) -> None:
        self.sleeps.append(delay)
        await asyncio.sleep(min(delay, 0.05))

    def start(self, **kw: Any) -> ChzzkOfficialChat:
        options: dict[str, Any] = {"connect_timeout_s": 3.0, "max_backoff_s": 1.0,
                                   "sleep": self.fast_sleep}
        options.update(kw)
        self.chat = ChzzkOfficialChat(self.messages.append, base_url=self.peer.base_url,
                                      channel_id=CHANNEL, tokens=self.tokens, **options)
        self.task = asyncio.create_task(self.chat.run(self.status))
        return self.chat

    @property
    def state(self) -> State:
        return self.status.current.state

    async def running(self, timeout: float = 5.0) -> None:
        await until(lambda: self.state is State.RUNNING, timeout, "state running")
        assert self.task is not None and not self.task.done()

    async def stop(self) -> float:
        assert self.task is not None
        started = time.monotonic()
        self.task.cancel()
        try:
            await asyncio.wait_for(self.task, 5)
        except asyncio.CancelledError:
            pass
        await self.tokens.aclose()
        return time.monotonic() - started

    def texts(self) -> list[str]:
        return [m.message for m in self.messages]


@pytest.fixture
async def h(peer: NodePeer, tmp_path: Path, caplog: pytest.LogCaptureFixture
            ) -> Any:
    caplog.set_level(logging.DEBUG)
    await peer.post("/test/reset")
    harness = Harness(peer, tmp_path / "chzzk_token.json")
    yield harness
    if harness.task is not None and not harness.task.done():
        await harness.stop()
    # Secrets never reach the logs: tokens, and the session URL's one-time auth id.
    for pair_file in [harness.token_path]:
        saved = load_tokens(pair_file) if pair_file.exists() else None
        if saved is not None:
            harness.secrets |= {saved.access_token, saved.refresh_token}
    text = caplog.text
    for secret in harness.secrets:
        assert secret not in text, "a token appeared in the log"
    assert "auth=" not in text.replace("auth=<redacted>", ""), "a session URL appeared in the log"


def chat_payload(content: str, *, sender: str = "viewer-1", nickname: str = "시청자",
                 role: str = "common_user") -> str:
    return json.dumps({"channelId": CHANNEL, "chatChannelId": "cc-1", "senderChannelId": sender,
                       "profile": {"nickname": nickname, "verifiedMark": False, "badges": [],
                                   "userRoleCode": role},
                       "content": content, "emojis": {}, "messageTime": 1785003258567,
                       "eventSentAt": "2026-07-26T03:14:18.629843820"}, ensure_ascii=False)


# --- tests --------------------------------------------------------------------------------------
async def test_connect_subscribe_and_deliver_chat_donation_subscription(h: Harness) -> None:
    await h.login()
    h.start()
    await h.running()
    assert h.status.current.detail == f"치지직 연결됨 (채널 {CHANNEL})"
    state = await h.peer.state()
    assert state["sessionsIssued"] == 1 and state["connects"] == 1
    assert state["subscriptions"] == 3
    assert state["subscribed"] == [["CHAT", "DONATION", "SUBSCRIPTION"]]

    await h.peer.emit("CHAT", chat_payload("안녕하세요"))
    await h.peer.emit("CHAT", chat_payload("방송 시작!", sender=CHANNEL, nickname="초코",
                                           role="streamer"))
    await h.peer.emit("CHAT", chat_payload("공지 확인", sender="mgr-1", nickname="매니저",
                                           role="streaming_chat_manager"))
    await h.peer.emit("DONATION", json.dumps({
        "donationType": "CHAT", "channelId": CHANNEL, "donatorChannelId": "fan-9",
        "donatorNickname": "후원자", "payAmount": 1000, "donationText": "화이팅",
        "emojis": {}, "eventSentAt": "2026-07-26T03:15:00"}, ensure_ascii=False))
    await h.peer.emit("SUBSCRIPTION", {"channelId": CHANNEL, "subscriberChannelId": "sub-1",
                                       "subscriberNickname": "구독자", "tierNo": 1,
                                       "tierName": "티어1", "month": 3})
    await until(lambda: len(h.messages) == 5, what="5 messages")
    viewer, streamer, manager, donation, sub = h.messages
    assert (viewer.user, viewer.message, viewer.role, viewer.kind) == \
        ("시청자", "안녕하세요", Role.VIEWER, Kind.CHAT)
    assert viewer.channel_id == CHANNEL and viewer.user_id == "viewer-1"
    assert streamer.role is Role.STREAMER and streamer.message == "방송 시작!"
    assert manager.role is Role.MANAGER
    assert (donation.kind, donation.amount, donation.user, donation.message) == \
        (Kind.DONATION, 1000, "후원자", "화이팅")
    assert sub.kind is Kind.SUBSCRIPTION and sub.user == "구독자" and "3개월" in sub.message
    assert {m.source for m in h.messages} == {SOURCE_OFFICIAL}
    assert h.chat is not None and h.chat.connections == 1

    # Clean cancellation: quick, and the peer sees the socket go.
    took = await h.stop()
    assert took < 3.0
    await until(lambda: _connected_is(h.peer, 0), what="socket closed at the peer")


async def _connected_is(peer: NodePeer, n: int) -> bool:
    return (await peer.state())["connected"] == n


async def test_server_drop_reconnects_with_a_fresh_session_url(h: Harness) -> None:
    await h.login()
    h.start()
    await h.running()
    await h.peer.emit("CHAT", chat_payload("before"))
    await until(lambda: h.texts() == ["before"], what="first chat")

    dropped = await h.peer.post("/test/drop")
    assert dropped["dropped"] == 1
    await until(lambda: any(s is State.RESTARTING for s, _, _ in h.history), what="restarting")
    await until(lambda: _subscribed_sockets(h.peer, 1), what="resubscribed")
    await h.running()
    state = await h.peer.state()
    assert state["sessionsIssued"] == 2  # a new session URL for the new connection
    assert state["connects"] == 2
    assert state["refusedConnects"] == 0  # the spent URL was never reused
    assert state["subscriptions"] == 6

    restarting = [d for s, d, _ in h.history if s is State.RESTARTING]
    assert restarting and "초 후 다시 연결" in restarting[0] and "서버가 연결을 끊음" in restarting[0]
    states = [s for s, _, _ in h.history]
    first_running = states.index(State.RUNNING)
    assert State.RESTARTING in states[first_running:] and states[-1] is State.RUNNING
    assert h.sleeps and all(0 < d <= 1.0 for d in h.sleeps)

    await h.peer.emit("CHAT", chat_payload("after"))
    await until(lambda: h.texts() == ["before", "after"], what="chat after reconnect")


async def _subscribed_sockets(peer: NodePeer, n: int) -> bool:
    state = await peer.state()
    return state["connected"] == n and state["subscribed"] == [["CHAT", "DONATION", "SUBSCRIPTION"]] * n


async def test_peer_refuses_a_reused_session_url(peer: NodePeer) -> None:
    await peer.post("/test/reset")
    await peer.post("/test/tokens", {"access": "at-x", "refresh": "rt-x"})
    async with httpx.AsyncClient() as http:
        doc = (await http.get(peer.base_url + "/open/v1/sessions/auth",
                              headers={"Authorization": "Bearer at-x"})).json()
    url = doc["content"]["url"]
    assert url.startswith(peer.base_url + "/?auth=")
    first = socketio.AsyncClient(reconnection=False)
    await first.connect(url, transports=["websocket"])
    await first.disconnect()
    second = socketio.AsyncClient(reconnection=False)
    with pytest.raises(socketio.exceptions.ConnectionError):
        await second.connect(url, transports=["websocket"])
    if second.eio.http is not None:
        await second.eio.http.close()
    assert (await peer.state())["refusedConnects"] == 1


async def test_session_401_refreshes_the_token_once_and_connects(h: Harness) -> None:
    old = await h.login()
    h.start()
    await h.running()
    await h.peer.post("/test/expire-token")  # the access token we hold is dead now
    await h.peer.post("/test/drop")
    await until(lambda: _subscribed_sockets(h.peer, 1), what="reconnected after refresh")
    await h.running()
    state = await h.peer.state()
    assert state["unauthorizedSessionRequests"] == 1
    assert state["refreshes"] == 1 and state["rejectedRefreshes"] == 0
    assert state["sessionsIssued"] == 2
    saved = load_tokens(h.token_path)
    assert saved is not None and saved.refresh_token != old.refresh_token  # rotated and saved
    await h.peer.emit("CHAT", chat_payload("refreshed"))
    await until(lambda: h.texts() == ["refreshed"], what="chat after refresh")


async def test_first_connect_with_expired_token_refreshes(h: Harness) -> None:
    await h.login()
    await h.peer.post("/test/expire-token")
    h.start()
    await h.running()
    state = await h.peer.state()
    assert (state["unauthorizedSessionRequests"], state["refreshes"], state["sessionsIssued"]) \
        == (1, 1, 1)


async def test_login_needed_shows_the_hint_and_keeps_retrying(h: Harness) -> None:
    await h.login()
    await h.peer.post("/test/tokens", {"access": "someone-else", "refresh": "someone-else"})
    chat = h.start(max_backoff_s=7.0)
    await until(lambda: h.state is State.NOT_CONFIGURED, what="not configured")
    row = h.status.current
    assert row.detail == "치지직 로그인이 필요합니다"
    assert row.hint == f"{AUTH_COMMAND} 를 실행하세요"
    await until(lambda: len(h.sleeps) >= 3, what="slow retries")
    assert h.sleeps[:3] == [7.0, 7.0, 7.0]  # slowly, at the backoff cap
    assert h.task is not None and not h.task.done()  # never dies
    assert chat.connections == 0


async def test_no_saved_tokens_is_login_needed(h: Harness) -> None:
    h.start()
    await until(lambda: h.state is State.NOT_CONFIGURED, what="not configured")
    assert h.status.current.hint == f"{AUTH_COMMAND} 를 실행하세요"
    assert (await h.peer.state())["sessionRequests"] == 0


async def test_malformed_payloads_are_skipped_and_the_connection_stays(
        h: Harness, caplog: pytest.LogCaptureFixture) -> None:
    await h.login()
    chat = h.start()
    await h.running()
    await h.peer.emit("CHAT", "this is not json {")
    await h.peer.emit("CHAT", json.dumps({"channelId": CHANNEL, "profile": {}}))  # no content
    await h.peer.emit("DONATION", "[1, 2, 3]")
    await h.peer.emit("SUBSCRIPTION", json.dumps({"channelId": CHANNEL}))
    await h.peer.emit("SYSTEM", "garbage")
    await h.peer.emit("SOMETHING_NEW", json.dumps({"x": 1}))
    await h.peer.emit("CHAT", chat_payload("still here"))
    await until(lambda: h.texts() == ["still here"], what="the good chat")
    assert chat.skipped_payloads == 6
    state = await h.peer.state()
    assert state["connects"] == 1 and state["connected"] == 1
    assert h.state is State.RUNNING
    skipped_lines = [r for r in caplog.records
                     if r.name == "aischoco.chat.chzzk_official" and r.levelno == logging.WARNING]
    assert len(skipped_lines) == 1  # rate limited: one line per 10 s
    assert "payload skipped" in skipped_lines[0].getMessage()


async def test_burst_of_1000_chats_arrives_complete_and_in_order(h: Harness) -> None:
    await h.login()
    h.start()
    await h.running()
    started = time.perf_counter()
    await h.peer.emit("CHAT", chat_payload("template"), count=1000)
    await until(lambda: len(h.messages) >= 1000, timeout=15, what="1000 messages")
    took = time.perf_counter() - started
    assert h.texts() == [f"msg-{i}" for i in range(1000)]
    assert len({m.message_id for m in h.messages}) == 1000
    print(f"\n1000-chat burst delivered in {took * 1000:.0f} ms "
          f"({1000 / took:.0f} msg/s)")


async def test_missed_heartbeat_reconnects(h: Harness) -> None:
    await h.login()
    # No traffic and the Engine.IO ping every 25 s: a 0.5 s heartbeat limit must trip.
    h.start(heartbeat_timeout_s=0.5)
    await h.running()
    await until(lambda: any("하트비트" in d for _, d, _ in h.history), timeout=5,
                what="heartbeat reconnect")
    await until(lambda: _connected_is(h.peer, 1), what="reconnected")
    state = await h.peer.state()
    assert state["sessionsIssued"] >= 2 and state["refusedConnects"] == 0


async def test_server_errors_back_off_and_recover(h: Harness) -> None:
    await h.login()
    await h.peer.post("/test/fail-sessions", {"status": 503, "count": 3})
    h.start()
    await h.running()
    assert len(h.sleeps) == 3
    assert h.sleeps[1] >= 0.5 and h.sleeps[2] >= 1.0 * 0.5  # exponential, capped at 1 s
    details = [d for s, d, _ in h.history if s is State.RESTARTING]
    assert any("503" in d for d in details)


async def test_revoked_event_reconnects(h: Harness) -> None:
    await h.login()
    h.start()
    await h.running()
    await h.peer.emit("SYSTEM", {"type": "revoked", "data": {"eventType": "CHAT",
                                                              "channelId": CHANNEL}})
    await until(lambda: any("권한 철회됨" in d for _, d, _ in h.history), what="revoked")
    await until(lambda: _subscribed_sockets(h.peer, 1), what="reconnected")
    assert (await h.peer.state())["sessionsIssued"] == 2


async def test_unsubscribed_event_resubscribes(h: Harness) -> None:
    await h.login()
    h.start()
    await h.running()
    await h.peer.emit("SYSTEM", json.dumps({"type": "unsubscribed",
                                            "data": {"eventType": "DONATION",
                                                     "channelId": CHANNEL}}))
    await until(lambda: _subscriptions_are(h.peer, 4), what="resubscribed")
    state = await h.peer.state()
    assert state["connects"] == 1


async def _subscriptions_are(peer: NodePeer, n: int) -> bool:
    return (await peer.state())["subscriptions"] == n


def test_redact_url_keeps_only_the_host() -> None:
    assert redact_url("wss://ssio10.nchat.naver.com:443?auth=SECRET") == \
        "wss://ssio10.nchat.naver.com:443"
    assert "SECRET" not in redact_url("http://127.0.0.1:1/?auth=SECRET&x=1")



async def test_socket_library_logs_are_redacted(h: Harness, caplog: pytest.LogCaptureFixture
                                                ) -> None:
    # Even with the socket libraries' own loggers turned up, the session URL's auth id is masked.
    caplog.set_level(logging.INFO, logger="aischoco.chat.chzzk_official.engineio")
    await h.login()
    h.start()
    await h.running()
    assert "auth=<redacted>" in caplog.text  # engineio logged the URL, masked
