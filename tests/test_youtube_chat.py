"""The YouTube chat source against a local peer in YouTube's shapes: finding the channel's live,
the web client's continuation feed (chat, Super Chat in USD, stickers, memberships, gifts,
deletions, bans), the backlog, a live that ends and a new one, errors with back-off, and the
Data API way with its quota."""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from async_wait import serving, until
from peers.youtube_server import (
    API_KEY,
    YouTubeServer,
    api_item,
    ban_action,
    deleted_action,
    emoji_run,
    gift_purchase_action,
    gift_redemption_action,
    item_id,
    membership_action,
    paid_action,
    sticker_action,
    text_action,
    ticker_action,
)

from aischoco.chat.addresses import YouTubeTarget
from aischoco.chat.youtube import YouTubeChat
from aischoco.core.messages import Blind, ChatMessage, Kind, Role
from aischoco.core.status import State, StatusBoard, StatusHandle

CHANNEL = "UCtestChannel0000000000A"
RATES = {"USD": 1400.0, "JPY": 9.5}


until = functools.partial(until, timeout=6.0)  # these tests have always waited up to 6 s


@dataclass
class Running:
    srv: YouTubeServer
    comp: YouTubeChat
    status: StatusHandle
    task: asyncio.Task[None]
    got: list[ChatMessage] = field(default_factory=list)
    hidden: list[Blind] = field(default_factory=list)

    async def connected(self) -> None:
        await until(lambda: self.status.current.state is State.RUNNING and
                    "연결됨" in self.status.current.detail, what="connected")


@pytest.fixture
async def srv() -> AsyncIterator[YouTubeServer]:
    async with serving(YouTubeServer(channel_id=CHANNEL, timeout_ms=50)) as server:
        yield server


@pytest.fixture
async def start(srv: YouTubeServer) -> AsyncIterator[Callable[..., Running]]:
    running: list[Running] = []

    def _start(target: YouTubeTarget | None = None, **kw: Any) -> Running:
        status = StatusBoard().register("chat_youtube", "채팅 (YouTube)", State.STARTING)
        got: list[ChatMessage] = []
        hidden: list[Blind] = []
        options: dict[str, Any] = {"live_poll_s": 0.3, "min_poll_s": 0.05, "max_backoff_s": 0.3,
                                   "api_min_interval_s": 0.05}
        options.update(kw)
        comp = YouTubeChat(got.append, hide=hidden.append, target=target or YouTubeTarget("channel", CHANNEL),
                           web_url=srv.web_url, api_url=srv.api_url, rates=RATES, **options)
        run = Running(srv, comp, status, asyncio.create_task(comp.run(status)), got, hidden)
        running.append(run)
        return run

    yield _start
    for run in running:
        run.task.cancel()
        await asyncio.gather(run.task, return_exceptions=True)


async def test_offline_channel_waits_then_finds_its_live(srv, start) -> None:
    run = start()
    await until(lambda: "방송이 꺼져 있어 기다리는 중" in run.status.current.detail, what="offline")
    assert run.status.current.state is State.RUNNING and not srv.chat_requests
    srv.go_live("liveVideo01")
    await run.connected()
    assert run.comp.video_id == "liveVideo01"
    body = srv.chat_requests[0]
    assert body["continuation"] == "0ofMyAN_reload_liveVideo01"  # "Live chat", not "Top chat"
    assert body["context"]["client"]["clientName"] == "WEB"
    assert "비공식" in run.status.current.detail and "비공식" in run.status.current.hint


async def test_chat_paid_membership_and_gifts_in_our_kinds(srv, start) -> None:
    srv.go_live("liveVideo01")
    run = start()
    await run.connected()
    srv.push(text_action("UCviewer0000000000000001", "민수", [{"text": "안녕 "}, emoji_run("wave"),
                                                             emoji_run("😀", custom=False)]),
             text_action(CHANNEL, "초코", "방장이다", owner=True),
             text_action("UCmod00000000000000000001", "모드", "조용히", moderator=True),
             paid_action("UCdonor000000000000000001", "큰손", "$5.00", "화이팅"),
             ticker_action("UCdonor000000000000000001", "큰손", "$5.00"),  # the same Super Chat: once
             sticker_action("UCdonor000000000000000002", "스티커", "¥500", "Shiba dog waving fans"),
             membership_action("UCmember00000000000000001", "새멤버"),
             membership_action("UCmember00000000000000002", "오래된", months=6, text="반년!"),
             gift_purchase_action("UCgifter00000000000000001", "선물왕", 5),
             gift_redemption_action("UCrecv0000000000000000001", "받은이", "선물왕"))
    await until(lambda: len(run.got) == 9, what="nine events")
    chat, owner, mod, paid, sticker, new, milestone, gift, received = run.got
    assert chat.message == "안녕 {:_wave:}😀" and chat.emoticons == {"_wave": "https://yt3.ggpht.com/wave=w48-h48-c-k-nd"}
    assert (chat.user_id, chat.platform, chat.role) == ("youtube:UCviewer0000000000000001", "youtube", Role.VIEWER)
    assert owner.role is Role.STREAMER and mod.role is Role.MANAGER
    assert paid.kind is Kind.DONATION and paid.amount == 7000 and paid.gift is not None
    assert paid.gift.label == "5달러 슈퍼챗" and paid.message == "화이팅"
    assert sticker.amount == 4750 and sticker.gift is not None and sticker.gift.label == "500엔 슈퍼스티커"
    assert "Shiba" in sticker.message
    assert new.kind is Kind.SUBSCRIPTION and new.message == "멤버십 가입"
    assert milestone.subscription is not None and milestone.subscription.months == 6
    assert milestone.subscription.tier == "초코 멤버" and "반년!" in milestone.message
    assert gift.subscription is not None and gift.subscription.gift_count == 5
    # a receiver folds into the gifter's one thank-you (same gift id, the gifter's face)
    assert received.subscription is not None and received.subscription.gift_id == gift.subscription.gift_id
    assert received.subscription.receiver == "받은이" and received.user == "선물왕"


async def test_deleted_and_banned_messages_are_taken_back(srv, start) -> None:
    srv.go_live("liveVideo01")
    run = start()
    await run.connected()
    first, second = item_id(), item_id()
    srv.push(text_action("UCbad00000000000000000001", "악플", "나쁜 말", id_=first),
             text_action("UCbad00000000000000000001", "악플", "또 나쁜 말", id_=second),
             text_action("UCgood0000000000000000001", "착한", "좋은 말"))
    await until(lambda: len(run.got) == 3, what="three lines")
    srv.push(deleted_action(first))
    await until(lambda: len(run.hidden) == 1, what="a deletion")
    assert run.hidden[0].platform_key == f"youtube:{first}"
    srv.push(ban_action("UCbad00000000000000000001"))
    await until(lambda: len(run.hidden) == 3, what="the banned author's lines")
    assert {b.platform_key for b in run.hidden} == {f"youtube:{first}", f"youtube:{second}"}


async def test_the_backlog_before_joining_is_not_answered(srv, start) -> None:
    srv.go_live("liveVideo01")
    srv.push(text_action("UCold00000000000000000001", "옛날", "한 시간 전 말", at=time.time() - 3600),
             text_action("UCnew00000000000000000001", "방금", "방금 한 말"))
    run = start()
    await until(lambda: len(run.got) == 1, what="the fresh line")
    await asyncio.sleep(0.2)
    assert [m.message for m in run.got] == ["방금 한 말"]


async def test_errors_back_off_and_the_chat_comes_back(srv, start) -> None:
    srv.go_live("liveVideo01")
    srv.fail_next = [500, 503]
    run = start()
    await until(lambda: run.status.current.state is State.DEGRADED, what="degraded")
    assert "HTTP 50" in run.status.current.detail and "다시 연결" in run.status.current.detail
    await run.connected()
    srv.push(text_action("UCviewer0000000000000001", "민수", "돌아옴"))
    await until(lambda: [m.message for m in run.got] == ["돌아옴"], what="chat after errors")


async def test_the_live_ends_and_the_next_one_is_found(srv, start) -> None:
    srv.go_live("liveVideo01")
    run = start()
    await run.connected()
    srv.go_offline()
    await until(lambda: "기다리는 중" in run.status.current.detail, what="waiting")
    srv.go_live("liveVideo02")
    await until(lambda: run.comp.video_id == "liveVideo02" and "연결됨" in run.status.current.detail,
                what="the next live")
    srv.push(text_action("UCviewer0000000000000001", "민수", "새 방송"))
    await until(lambda: [m.message for m in run.got] == ["새 방송"], what="chat on the new live")


async def test_a_new_live_while_connected_switches_to_it(srv, start) -> None:
    srv.go_live("liveVideo01")
    run = start()
    await run.connected()
    srv.go_live("liveVideo03")  # the channel's /live now points to another stream
    await until(lambda: run.comp.video_id == "liveVideo03", what="switched")


async def test_handle_and_video_targets(srv, start) -> None:
    srv.go_live("liveVideo01")
    run = start(YouTubeTarget("handle", "@chocotest"))
    await run.connected()
    video = start(YouTubeTarget("video", "liveVideo01"))
    await video.connected()
    missing = start(YouTubeTarget("handle", "@nobody"))
    await until(lambda: missing.status.current.state is State.DEGRADED, what="an unknown handle")
    assert "그런 채널" in missing.status.current.detail
    assert "YOUTUBE_CHANNEL_ID" in missing.status.current.hint


async def test_hostile_actions_are_skipped_and_the_feed_continues(srv, start) -> None:
    srv.go_live("liveVideo01")
    run = start()
    await run.connected()
    evil = text_action("UCevil0000000000000000001", "\u202e악당\x00" + "가" * 500, "<b>x</b>\x07")
    srv.push(42, "junk", {"addChatItemAction": None}, {"addChatItemAction": {"item": {"x": 1, "y": 2}}},
             {"addChatItemAction": {"item": {"liveChatTextMessageRenderer": {"message": {"runs": "no"}}}}},
             {"addChatItemAction": {"item": {"liveChatPaidMessageRenderer": {
                 "id": "p1", "authorExternalChannelId": "UCx", "purchaseAmountText": {"simpleText": "lots"}}}}},
             {"markChatItemAsDeletedAction": {"targetItemId": ["not", "a", "string"]}},
             evil, text_action("UCok00000000000000000001", "정상", "살아 있음"))
    await until(lambda: any(m.message == "살아 있음" for m in run.got), what="the normal line")
    kinds = {m.kind for m in run.got}
    paid = [m for m in run.got if m.kind is Kind.DONATION]
    assert paid and paid[0].amount is None and paid[0].gift is None  # thanked, amount unknown
    villain = next(m for m in run.got if m.user_id == "youtube:UCevil0000000000000000001")
    assert "\u202e" not in villain.user and "\x00" not in villain.user and len(villain.user) <= 50
    assert "\x07" not in villain.message
    assert Kind.CHAT in kinds and not run.task.done()


async def test_the_data_api_way_polls_slowly_and_says_when_the_quota_is_spent(srv, start) -> None:
    srv.go_live("liveVideo01")
    srv.quota = 1 + 5 * 3  # videos.list + three messages calls
    run = start(api_key=API_KEY)
    await until(lambda: "Data API" in run.status.current.detail, what="connected through the API")
    srv.push_api(api_item("textMessageEvent", "UCviewer0000000000000001", "민수",
                          textMessageDetails={"messageText": "공식 API로 안녕"}, displayMessage="공식 API로 안녕"),
                 api_item("superChatEvent", "UCdonor000000000000000001", "큰손",
                          superChatDetails={"amountMicros": "10000000", "currency": "USD",
                                            "amountDisplayString": "$10.00", "userComment": "응원", "tier": 2}),
                 api_item("membershipGiftingEvent", "UCgifter00000000000000001", "선물왕",
                          membershipGiftingDetails={"giftMembershipsCount": 3, "giftMembershipsLevelName": "초코"}))
    await until(lambda: len(run.got) == 3, what="three API events")
    text, paid, gift = run.got
    assert text.message == "공식 API로 안녕" and text.source == "youtube-api" and text.platform == "youtube"
    assert paid.amount == 14000 and paid.gift is not None and paid.gift.label == "10달러 슈퍼챗"
    assert gift.subscription is not None and gift.subscription.gift_count == 3
    await until(lambda: "할당량" in run.status.current.detail, what="the quota message")
    assert "YOUTUBE_API_KEY를 비우면" in run.status.current.hint
    assert all(r["key"] == API_KEY for r in srv.api_requests)
