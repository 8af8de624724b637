"""YouTube parsing against real captured payloads (issue #32), not our peer's idea of them.

``tests/data/youtube_actions_chat_downloader.json`` is chat-downloader's ``tests/youtube_actions.json``
byte for byte (19 actions recorded from YouTube in 2020–2021), and
``tests/data/youtube_live_chat_page_chat_downloader.json`` the actions of a captured ``/live_chat``
page; source, commit and licence (MIT) in ``tests/data/README.md``. Every action goes through
:func:`parse_live_chat` as YouTube would send it, and what each becomes in our kinds is checked
against the values in the payload (names, ids, amounts).

Not in any capture we found, so not here: gifted memberships, membership milestones, a Super Chat
outside a ticker and custom emoji runs (our peer's builders cover those in test_youtube_parse.py
and test_youtube_chat.py).
"""

from __future__ import annotations

import asyncio
import copy
import functools
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from async_wait import until
from peers.youtube_server import YouTubeServer

from aischoco.chat.addresses import YouTubeTarget
from aischoco.chat.youtube import YouTubeChat
from aischoco.chat.youtube_parse import Batch, parse_item, parse_live_chat
from aischoco.core.messages import Blind, ChatMessage, Kind, Role
from aischoco.core.status import State, StatusBoard

DATA = Path(__file__).parent / "data"
RATES = {"USD": 1400.0, "JPY": 9.5}
ACTIONS: list[dict[str, Any]] = json.loads(
    (DATA / "youtube_actions_chat_downloader.json").read_text(encoding="utf-8"))
LIVE_CHAT_PAGE: dict[str, Any] = json.loads(
    (DATA / "youtube_live_chat_page_chat_downloader.json").read_text(encoding="utf-8"))

# the captured actions by what they are (their order in the file)
TEXT, ENGAGEMENT, NEW_MEMBER, GIVING, STICKER, SLOW_MODE, TICKER_STICKER, DELETED, BANNED, \
    REPLACED, TOOLTIP, TICKER_PAID, TICKER_MEMBER, REPLACED_2, BANNER, BANNER_GONE, POLL_PANEL, \
    POLL_UPDATE, POLL_CLOSED = range(19)


def _kind_of(action: dict[str, Any]) -> str:
    (name,) = (k for k in action if k != "clientId")
    item = action[name].get("item") if isinstance(action[name], dict) else None
    return f"{name}:{next(iter(item))}" if isinstance(item, dict) else name


def _answer(*actions: dict[str, Any]) -> dict[str, Any]:
    """A get_live_chat answer around captured actions (the envelope is YouTube's, see the
    continuation shape in the captured /live_chat page)."""
    return {"responseContext": {}, "continuationContents": {"liveChatContinuation": {
        "continuations": [{"invalidationContinuationData": {"timeoutMs": 10000, "continuation": "next"}}],
        "actions": [copy.deepcopy(a) for a in actions]}}}


def _parse(*actions: dict[str, Any], channel_id: str | None = None) -> Batch:
    return parse_live_chat(json.dumps(_answer(*actions)), channel_id=channel_id, rates=RATES)


def _shown(ticker: dict[str, Any]) -> dict[str, Any]:
    """The chat item a captured ticker carries (``showItemEndpoint``), as the ``addChatItemAction``
    YouTube sends for it in the chat itself."""
    (renderer,) = ticker["addLiveChatTickerItemAction"]["item"].values()
    return {"addChatItemAction": {"item": renderer["showItemEndpoint"]["showLiveChatItemEndpoint"]["renderer"]}}


def test_the_capture_is_the_one_we_describe() -> None:
    assert [_kind_of(a) for a in ACTIONS] == [
        "addChatItemAction:liveChatTextMessageRenderer",
        "addChatItemAction:liveChatViewerEngagementMessageRenderer",
        "addChatItemAction:liveChatMembershipItemRenderer",
        "addChatItemAction:liveChatDonationAnnouncementRenderer",
        "addChatItemAction:liveChatPaidStickerRenderer",
        "addChatItemAction:liveChatModeChangeMessageRenderer",
        "addLiveChatTickerItemAction:liveChatTickerPaidStickerItemRenderer",
        "markChatItemAsDeletedAction",
        "markChatItemsByAuthorAsDeletedAction",
        "replaceChatItemAction",
        "showLiveChatTooltipCommand",
        "addLiveChatTickerItemAction:liveChatTickerPaidMessageItemRenderer",
        "addLiveChatTickerItemAction:liveChatTickerSponsorItemRenderer",
        "replaceChatItemAction",
        "addBannerToLiveChatCommand",
        "removeBannerForLiveChatCommand",
        "showLiveChatActionPanelAction",
        "updateLiveChatPollAction",
        "closeLiveChatActionPanelAction",
    ]


def test_every_captured_action_at_once() -> None:
    """The whole capture as one answer: three messages, two take-backs by id, one ban, nothing
    skipped, nothing else."""
    batch = _parse(*ACTIONS)
    assert batch.skipped == 0 and not batch.ended and batch.continuation == "next"
    assert [(m.kind, m.user) for m in batch.messages] == [
        (Kind.CHAT, "Naruto Uzumaki"), (Kind.SUBSCRIPTION, "bifta89"), (Kind.DONATION, "Kenley")]
    assert [b.platform_key for b in batch.blinds] == [
        "youtube:" + ACTIONS[DELETED]["markChatItemAsDeletedAction"]["targetItemId"],
        "youtube:" + ACTIONS[REPLACED]["replaceChatItemAction"]["targetItemId"],
        "youtube:" + ACTIONS[REPLACED_2]["replaceChatItemAction"]["targetItemId"]]
    assert batch.banned_authors == ["youtube:UCunTx7KcIG50KLggQdd5JEQ"]


def test_a_text_message_keeps_its_emoji() -> None:
    (msg,) = _parse(ACTIONS[TEXT]).messages
    assert msg.kind is Kind.CHAT and msg.message == "Consistency Level ASL ❤️"  # ❤️ came as a text run
    assert msg.user == "Naruto Uzumaki" and msg.user_id == "youtube:UCoVFvNv-7cuHNC9v_XKEXhA"
    assert msg.platform == "youtube" and msg.role is Role.VIEWER and msg.emoticons == {}
    assert msg.platform_key == ("youtube:CjoKGkNJLTRuSUMyMHUwQ0ZRMktnZ29kdEZjTjZREhxDTXZ0NEtxMDB1MENG"
                                "UVhwYUFvZHFnUUxVdy0x")
    assert int(msg.timestamp.timestamp() * 1e6) == 1608118971079695  # timestampUsec, to the µs


def test_a_new_member() -> None:
    (msg,) = _parse(ACTIONS[NEW_MEMBER]).messages
    assert msg.kind is Kind.SUBSCRIPTION and msg.user == "bifta89" and msg.message == "멤버십 가입"
    assert msg.user_id == "youtube:UCz4FjAv44II95JampuGwDTg"
    # "New member" is the headerSubtext of a join, not a tier and not a month count
    assert msg.subscription is not None and msg.subscription.months is None
    assert msg.subscription.tier is None and msg.subscription.gift_count is None
    assert msg.role is Role.VIEWER  # the member badge (a custom thumbnail) is no role


def test_a_super_sticker_in_dollars_counted_in_won() -> None:
    (msg,) = _parse(ACTIONS[STICKER]).messages
    assert msg.kind is Kind.DONATION and msg.user == "Kenley"
    assert msg.user_id == "youtube:UCbxQe7kUsbsGCre_cIc69bQ"
    assert msg.gift is not None and (msg.gift.unit, msg.gift.count) == ("USD", 9.99)
    assert msg.gift.label == "9.99달러 슈퍼스티커" and msg.amount == round(9.99 * 1400)
    assert msg.message == "(스티커: Shiba dog dressed in a traditional outfit waving Japanese fans)"


def test_a_super_chat_and_a_sticker_are_counted_once_with_their_tickers() -> None:
    """The captured tickers carry the whole Super Chat / Super Sticker; YouTube also sends the
    same renderer as a chat item. Chat item + ticker = one donation each, in the chat's order."""
    batch = _parse(_shown(ACTIONS[TICKER_PAID]), ACTIONS[TICKER_PAID],
                   _shown(ACTIONS[TICKER_STICKER]), ACTIONS[TICKER_STICKER])
    paid, sticker = batch.messages
    assert paid.kind is Kind.DONATION and paid.user == "Kelly McDowell"
    assert paid.user_id == "youtube:UCYCqEuhPO7flRPrN1FNOdmg"
    assert paid.gift is not None and (paid.gift.unit, paid.gift.count, paid.gift.label) == ("USD", 10.0, "10달러 슈퍼챗")
    assert paid.amount == 14_000
    assert paid.message == "\u200b❤️ TECHNO SUPPORT ❤️"  # as sent, the zero-width space included
    assert paid.platform_key == "youtube:ChwKGkNKeWhydmp0bmVzQ0ZXUUhzd0FkaWJZSGpR"
    assert sticker.user == "Nicky Lindsay" and sticker.amount == 28_000
    assert sticker.gift is not None and sticker.gift.label == "20달러 슈퍼스티커"
    assert sticker.message.startswith("(스티커: Pear character looking at himself in the mirror")
    # a rate we were not given: still a donation, thanked in its own words, no won amount
    (no_rate,) = parse_live_chat(_answer(_shown(ACTIONS[TICKER_PAID])), channel_id=None,
                                 rates={"JPY": 9.5}).messages
    assert no_rate.amount is None and no_rate.gift is not None and no_rate.gift.label == "10달러 슈퍼챗"


def test_a_member_ticker_repeats_the_new_member() -> None:
    shown = _shown(ACTIONS[TICKER_MEMBER])["addChatItemAction"]["item"]["liveChatMembershipItemRenderer"]
    joined = ACTIONS[NEW_MEMBER]["addChatItemAction"]["item"]["liveChatMembershipItemRenderer"]
    # the capture's ticker carries the very same join (same id, author and time)
    assert (shown["id"], shown["authorExternalChannelId"], shown["timestampUsec"]) == \
        (joined["id"], joined["authorExternalChannelId"], joined["timestampUsec"]) == \
        ("ChwKGkNQallvTmJJaE9rQ0ZZek5nZ29kdVZ3S2Z3", "UCz4FjAv44II95JampuGwDTg", "1587851737705592")
    batch = _parse(ACTIONS[NEW_MEMBER], ACTIONS[TICKER_MEMBER])
    assert [(m.kind, m.user) for m in batch.messages] == [(Kind.SUBSCRIPTION, "bifta89")]


@pytest.mark.parametrize("which", [TICKER_STICKER, TICKER_PAID, TICKER_MEMBER])
def test_a_ticker_alone_is_no_message(which: int) -> None:
    """Tickers repeat what the chat already said (or said before we joined): never thanked twice."""
    batch = _parse(ACTIONS[which])
    assert batch.messages == [] and batch.blinds == [] and batch.skipped == 0


def test_a_deleted_message_is_taken_back() -> None:
    batch = _parse(ACTIONS[DELETED])
    assert batch.blinds == [Blind("youtube:CkUKGkNNV3k0WUcyMHUwQ0ZZa3NyUVlkRlYwUHpREidDSi1HanZLMDB1MENGW"
                                  "W1UY0FvZEdaWUw2QTE2MDgxMTg5NzI2Njc%3D", "YouTube에서 삭제됨")]
    assert batch.messages == [] and batch.banned_authors == []


def test_a_banned_author_loses_every_line() -> None:
    batch = _parse(ACTIONS[BANNED])
    assert batch.banned_authors == ["youtube:UCunTx7KcIG50KLggQdd5JEQ"] and batch.blinds == []


def test_a_message_replaced_by_a_placeholder_is_taken_back() -> None:
    """Found by the capture: YouTube hides a shown message by swapping it for a placeholder with
    the same id (``replaceChatItemAction``); we used to keep it on the overlay."""
    target = ACTIONS[REPLACED]["replaceChatItemAction"]["targetItemId"]
    assert target == ("CkUKGkNManQyNHV6MHUwQ0ZZV3hnZ29kdHBvTGpnEidDSW1QdmFpdjB1MENGY2tPdHdBZFE4QU1nUTE2"
                      "MDgxMTgxODg3MTA%3D")
    batch = _parse(ACTIONS[REPLACED])
    assert batch.blinds == [Blind(f"youtube:{target}", "YouTube에서 가려짐")] and batch.messages == []
    # the blind finds the line it hides: a chat line with that id has that platform key
    line = copy.deepcopy(ACTIONS[TEXT])
    line["addChatItemAction"]["item"]["liveChatTextMessageRenderer"]["id"] = target
    (shown,) = _parse(line).messages
    assert shown.platform_key == batch.blinds[0].platform_key
    # a replacement that is not a placeholder hides nothing
    other = copy.deepcopy(ACTIONS[REPLACED])
    other["replaceChatItemAction"]["replacementItem"] = ACTIONS[TEXT]["addChatItemAction"]["item"]
    assert _parse(other).blinds == []


@pytest.mark.parametrize("which", [ENGAGEMENT, GIVING, SLOW_MODE, TOOLTIP, BANNER, BANNER_GONE,
                                   POLL_PANEL, POLL_UPDATE, POLL_CLOSED])
def test_what_we_do_not_show_is_ignored_without_an_error(which: int) -> None:
    """YouTube's notices, slow mode, a YouTube Giving donation (money for a charity: "Anonymous
    donated $50.00 to UN Foundation"), tooltips, a pinned banner (even the owner's own line in it)
    and polls: nothing shown, nothing taken back, nothing counted as unreadable."""
    batch = _parse(ACTIONS[which])
    assert (batch.messages, batch.blinds, batch.banned_authors, batch.skipped) == ([], [], [], 0)


def test_unknown_renderers_and_unknown_actions_are_ignored() -> None:
    """A renderer or an action we have never seen (YouTube adds them all the time) is dropped
    quietly, and the captured lines beside it still come through."""
    unknown_item = {"addChatItemAction": {"item": {"liveChatSomethingNewRenderer": copy.deepcopy(
        ACTIONS[TEXT]["addChatItemAction"]["item"]["liveChatTextMessageRenderer"])}}}
    unknown_action = {"someFutureAction": ACTIONS[TEXT]["addChatItemAction"]}
    batch = _parse(unknown_item, unknown_action, ACTIONS[TEXT])
    assert [m.message for m in batch.messages] == ["Consistency Level ASL ❤️"] and batch.skipped == 0
    assert parse_item({"liveChatSomethingNewRenderer": {"id": "x"}}, channel_id=None, rates=RATES) is None


def test_the_pinned_owner_line_would_be_the_streamer() -> None:
    """The banner's content is a real owner's line (OWNER and VERIFIED badges): the same item as a
    chat line is the streamer's, by the badge."""
    item = ACTIONS[BANNER]["addBannerToLiveChatCommand"]["bannerRenderer"]["liveChatBannerRenderer"]["contents"]
    msg = parse_item(item, channel_id=None, rates=RATES)
    assert msg is not None and msg.role is Role.STREAMER and msg.user == "Study IQ education"
    assert msg.message == "Click here to buy Dr Vipan's course : https://bit.ly/2wJs0SV"


def test_a_captured_live_chat_page() -> None:
    """The ytInitialData of a real ``/live_chat`` page: ``contents.liveChatRenderer`` holds the
    actions and the continuation (we used to read only ``continuationContents`` and called this
    page an ended chat)."""
    batch = parse_live_chat(LIVE_CHAT_PAGE, channel_id=None, rates=RATES)
    renderer = LIVE_CHAT_PAGE["contents"]["liveChatRenderer"]
    assert not batch.ended and batch.skipped == 0 and batch.timeout_ms == 10_000
    assert batch.continuation == renderer["continuations"][0]["invalidationContinuationData"]["continuation"]
    assert [(m.user, m.message) for m in batch.messages] == [
        ("PSI", "PSIPHI"), ("CY", "CYPHI"), ("CY", "PSICY"), ("SI", "SIPDICYPHI"), ("SI", "PSICYSIPHI"),
        ("IN", "SIIN"), ("UNKNOWN", "RONKNOWN"), ("BANDWIDTH", "BONDWIDTH BINDWIDTH"), ("Ψ", "PSIBAND")]
    assert {m.kind for m in batch.messages} == {Kind.CHAT}
    assert batch.messages[-1].user_id == "youtube:UCPI1O5V9TefsIsSQJDT7sBQ"
    # the page's own channel (UCPI1O5V9TefsIsSQJDT7sBQ is the creator here) makes "Ψ" the streamer
    owned = parse_live_chat(LIVE_CHAT_PAGE, channel_id="UCPI1O5V9TefsIsSQJDT7sBQ", rates=RATES)
    assert [m.role for m in owned.messages].count(Role.STREAMER) == 1
    assert owned.messages[-1].role is Role.STREAMER


# --- through the loopback peer and the source ------------------------------------------------------

CHANNEL = "UCtestChannel0000000000A"
until = functools.partial(until, timeout=6.0)


@pytest.fixture
async def running() -> AsyncIterator[tuple[YouTubeServer, list[ChatMessage], list[Blind]]]:
    srv = YouTubeServer(channel_id=CHANNEL, timeout_ms=50)
    await asyncio.to_thread(srv.start)
    status = StatusBoard().register("chat_youtube", "채팅 (YouTube)", State.STARTING)
    got: list[ChatMessage] = []
    hidden: list[Blind] = []
    comp = YouTubeChat(got.append, hide=hidden.append, target=YouTubeTarget("channel", CHANNEL),
                       web_url=srv.web_url, api_url=srv.api_url, rates=RATES, live_poll_s=0.3,
                       min_poll_s=0.05, max_backoff_s=0.3, api_min_interval_s=0.05)
    srv.go_live("liveVideo01")
    task = asyncio.create_task(comp.run(status))
    try:
        await until(lambda: status.current.state is State.RUNNING and "연결됨" in status.current.detail,
                    what="connected")
        yield srv, got, hidden
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await asyncio.to_thread(srv.stop)


async def test_the_captured_actions_through_the_peer_and_the_source(running) -> None:
    """The real actions served by our peer's get_live_chat and read by the YouTube source: the
    same three messages reach the show (the 2020 timestamps are past the join-time backlog check,
    which only looks at the first answer), tickers add nothing, and the deleted, replaced and
    banned lines are taken back."""
    srv, got, hidden = running
    target = ACTIONS[REPLACED]["replaceChatItemAction"]["targetItemId"]
    line = copy.deepcopy(ACTIONS[TEXT])  # a captured line that YouTube then hides
    line["addChatItemAction"]["item"]["liveChatTextMessageRenderer"]["id"] = target
    srv.push(line, *ACTIONS)
    await until(lambda: srv.pending() == 0 and len(got) >= 4 and len(hidden) >= 3, what="captured actions")
    assert [(m.kind, m.user, m.message) for m in got] == [
        (Kind.CHAT, "Naruto Uzumaki", "Consistency Level ASL ❤️"),  # the line hidden later
        (Kind.CHAT, "Naruto Uzumaki", "Consistency Level ASL ❤️"),
        (Kind.SUBSCRIPTION, "bifta89", "멤버십 가입"),
        (Kind.DONATION, "Kenley", "(스티커: Shiba dog dressed in a traditional outfit waving Japanese fans)")]
    assert got[3].amount == round(9.99 * 1400) and got[3].source == "youtube"
    assert f"youtube:{target}" in {b.platform_key for b in hidden}
    assert "youtube:" + ACTIONS[DELETED]["markChatItemAsDeletedAction"]["targetItemId"] in \
        {b.platform_key for b in hidden}
    await asyncio.sleep(0.2)  # a few more polls: nothing else arrives
    assert len(got) == 4
