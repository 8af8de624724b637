"""The SOOP chat source against a local peer that speaks SOOP's binary framing (live-info HTTP +
the chat websocket): handshake, chat/balloons/subscriptions/emoticons, keep-alive, split and
merged frames, garbage, a dropped socket, a broadcast that ends, an offline or age-restricted
channel, a live-info API that fails."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from async_wait import serving, until
from peers.soop_server import (
    SoopServer,
    adballoon_frame,
    balloon_frame,
    chat_frame,
    frame,
    sticker_frame,
    subscription_frame,
)

from aischoco.chat.soop import SoopChat
from aischoco.core.messages import ChatMessage, Kind, Role
from aischoco.core.status import State, StatusBoard, StatusHandle

BID = "chocobj"
RATES = {"soop_balloon": 100.0, "soop_adballoon": 10.0}




@dataclass
class Running:
    srv: SoopServer
    comp: SoopChat
    status: StatusHandle
    task: asyncio.Task[None]
    got: list[ChatMessage] = field(default_factory=list)

    async def joined(self, count: int = 1) -> None:
        await until(lambda: len([c for c in self.srv.connections if c.joined]) >= count and
                    self.srv.joined() and self.status.current.state is State.RUNNING and
                    "연결됨" in self.status.current.detail, what=f"{count} joined connection(s)")


@pytest.fixture
async def srv() -> AsyncIterator[SoopServer]:
    async with serving(SoopServer(bid=BID)) as server:
        yield server


@pytest.fixture
async def start(srv: SoopServer) -> AsyncIterator[Callable[..., Running]]:
    running: list[Running] = []

    def _start(**kw: Any) -> Running:
        status = StatusBoard().register("chat_soop", "채팅 (SOOP)", State.STARTING)
        got: list[ChatMessage] = []
        options: dict[str, Any] = {"live_poll_s": 0.3, "keepalive_s": 0.2, "max_backoff_s": 0.3}
        options.update(kw)
        comp = SoopChat(got.append, bid=BID, live_api_url=srv.live_api_url,
                        chat_url_template=srv.chat_url_template, rates=RATES, **options)
        run = Running(srv, comp, status, asyncio.create_task(comp.run(status)), got)
        running.append(run)
        return run

    yield _start
    for run in running:
        run.task.cancel()
        await asyncio.gather(run.task, return_exceptions=True)


async def test_handshake_login_then_join_with_the_lives_chat_number(srv, start) -> None:
    run = start()
    await run.joined()
    conn = srv.joined()[0]
    assert conn.subprotocol == "chat" and conn.bid == BID and not conn.bad_frames
    assert conn.received[0] == (1, ["", "", "16"])  # a guest login
    assert conn.received[1] == (2, [srv.chat_no, f"HASH_{BID}_{srv.broadcast_no}_html5_1", "0", "", ""])
    assert srv.live_requests[0]["bid"] == BID and srv.live_requests[0]["bjid"] == BID
    assert srv.live_requests[0]["type"] == "live"
    detail = run.status.current.detail
    assert "비공식" in detail and "읽기 전용" in detail and srv.title in detail
    assert run.comp.broadcast_no == srv.broadcast_no
    await until(lambda: conn.keepalives >= 2, what="keep-alives")  # 0000 frames, framed right
    assert not conn.bad_frames


async def test_chat_balloons_subscription_and_sticker_reach_the_room(srv, start) -> None:
    run = start()
    await run.joined()
    srv.send(chat_frame("viewer01(2)", "민수", "안녕하세요"),
             chat_frame(BID, "초코BJ", "방장 채팅", flags="4|0"),
             chat_frame("manager1", "매니저", "공지", flags="256|0"),
             balloon_frame(BID, "donor01", "큰손", 10),
             adballoon_frame(BID, "donor02", "광고주", 500),
             subscription_frame(BID, "sub01", "구독자", 6, tier=2),
             sticker_frame("viewer02", "스티커맨", "ㅎㅇ"))
    await until(lambda: len(run.got) == 7, what="seven events")
    chat, bj, manager, balloon, ad, sub, sticker = run.got
    assert (chat.user, chat.message, chat.user_id, chat.platform, chat.role) == \
        ("민수", "안녕하세요", "soop:viewer01", "soop", Role.VIEWER)  # the (2) session suffix dropped
    assert bj.role is Role.STREAMER and manager.role is Role.MANAGER
    assert balloon.kind is Kind.DONATION and balloon.amount == 1000 and balloon.gift is not None
    assert balloon.gift.label == "별풍선 10개" and balloon.user_id == "soop:donor01"
    assert ad.amount == 5000 and ad.gift is not None and ad.gift.label == "애드벌룬 500개"
    assert sub.kind is Kind.SUBSCRIPTION and sub.subscription is not None
    assert (sub.subscription.months, sub.subscription.tier) == (6, "2티어")
    assert sticker.message.startswith("{:ogq_5fe53f42edb76_10:}") and sticker.message.endswith("ㅎㅇ")
    assert sticker.emoticons == {"ogq_5fe53f42edb76_10":
                                 "https://ogq-sticker-global-cdn-z01.sooplive.co.kr/sticker/5fe53f42edb76/10_80.png?ver=1"}


async def test_split_merged_and_garbage_frames(srv, start) -> None:
    run = start()
    await run.joined()
    one, two, three = (chat_frame("v1", "하나", "첫째"), chat_frame("v2", "둘", "둘째 한글"),
                       balloon_frame(BID, "v3", "셋", 3))
    stream = one + two + three
    # merged: all three in one message; then split at awkward points, even inside UTF-8 and the header
    srv.send_raw(stream)
    await until(lambda: len(run.got) == 3, what="three merged frames")
    cut = [1, 7, 13, len(one) + 20, len(one) + len(two) + 3]
    pieces = [stream[a:b] for a, b in zip([0, *cut], [*cut, len(stream)])]
    srv.send_raw(*pieces)
    await until(lambda: len(run.got) == 6, what="three split frames")
    assert [m.message for m in run.got] == ["첫째", "둘째 한글", "", "첫째", "둘째 한글", ""]
    # garbage, a wrong header, a frame with an absurd length: skipped, the connection stays
    srv.send_raw(b"\x00\xffjunk" + b"\x1b\tABCD" + frame(5, ["ok", "v4", "", "", "", "넷", "0|0", "-1"]),
                 b"\x1b\t0005999999900" + chat_frame("v5", "다섯", "다시"))
    await until(lambda: [m.message for m in run.got][-2:] == ["ok", "다시"], what="after garbage")
    assert run.comp.connections == 1 and run.task.done() is False


async def test_a_dropped_socket_reconnects_with_backoff(srv, start) -> None:
    run = start()
    await run.joined()
    srv.drop()
    await until(lambda: len([c for c in srv.connections if c.joined]) >= 2, what="a second join")
    await run.joined(2)
    srv.send(chat_frame("v1", "민수", "돌아왔다"))
    await until(lambda: [m.message for m in run.got] == ["돌아왔다"], what="chat after reconnect")
    assert run.comp.connections == 2 and not run.task.done()  # the component itself never died


async def test_the_broadcast_ends_then_a_new_one_starts(srv, start) -> None:
    run = start()
    await run.joined()
    srv.result = 0
    srv.send(frame(7, ["", BID]))  # the streamer ended the broadcast
    await until(lambda: "기다리는 중" in run.status.current.detail, what="waiting after the end")
    assert run.status.current.state is State.RUNNING and run.comp.broadcast_no is None
    srv.broadcast_no, srv.result = "281257999", 1
    await run.joined(2)
    assert run.comp.broadcast_no == "281257999"


async def test_a_new_broadcast_number_reconnects(srv, start) -> None:
    run = start()
    await run.joined()
    srv.broadcast_no = "999"
    await until(lambda: len([c for c in srv.connections if c.joined]) >= 2, what="reconnect to the new live")
    await run.joined(2)
    assert run.comp.broadcast_no == "999"


async def test_offline_and_age_restricted_say_so_and_keep_waiting(srv, start) -> None:
    srv.result = 0
    run = start()
    await until(lambda: "방송이 꺼져 있어 기다리는 중" in run.status.current.detail, what="offline")
    assert run.status.current.state is State.RUNNING and not srv.connections
    srv.result = -6
    await until(lambda: "연령 제한" in run.status.current.detail, what="age restriction")
    assert run.status.current.state is State.DEGRADED
    srv.result = 1
    await run.joined()


async def test_a_failing_live_api_backs_off_and_recovers(srv, start) -> None:
    srv.fail_live = True
    run = start()
    await until(lambda: run.status.current.state is State.DEGRADED and "HTTP 500" in run.status.current.detail,
                what="degraded with the reason")
    assert "비공식" in run.status.current.hint
    srv.fail_live = False
    await run.joined()


async def test_hostile_frames_never_end_the_session(srv, start) -> None:
    run = start()
    await run.joined()
    evil = "\u202e악\x00플\x1b러" + "\u200b" * 50
    srv.send(chat_frame("bad!user", "x", "id with a bang: dropped"),
             chat_frame("ok_user", evil, "<script>alert(1)</script>\x07\x1b"),
             balloon_frame(BID, "donor", "nick", -5),  # a negative count: not a gift
             balloon_frame(BID, "donor", "nick", 10**9),  # absurd: not a gift
             frame(18, []), frame(5, []), frame(109, ["x"]), frame(93, [BID, "u", "n", "abc"]),
             frame(5, ["긴 글" * 5000, "long_user", "", "", "", "n" * 5000, "x|y", "-1"]))
    await until(lambda: len(run.got) >= 3, what="the readable ones")
    nicks = [m.user for m in run.got]
    assert "\u202e" not in nicks[0] and "\x00" not in nicks[0]
    assert "\x07" not in run.got[0].message and "<script>" in run.got[0].message  # the overlay escapes
    assert all(len(m.user) <= 50 for m in run.got)
    assert all(m.kind is not Kind.DONATION for m in run.got)
    assert not run.task.done()
