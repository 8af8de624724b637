"""YouTube parsing without a network: the watch page, ``get_live_chat`` answers and Data API pages
in YouTube's shapes, and hostile payloads (any JSON never raises past ``PayloadError``)."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from peers.youtube_server import gift_purchase_action, paid_action, text_action, watch_page

from aischoco.chat.youtube_parse import (
    PayloadError,
    parse_api_messages,
    parse_live_chat,
    parse_video_live_chat_id,
    parse_watch_page,
)
from aischoco.core.messages import Kind, Role

CHANNEL = "UCtestChannel0000000000A"
RATES = {"USD": 1400.0, "JPY": 9.5, "EUR": 1500.0}


def _answer(*actions: object, continuation: str | None = "next-token", timeout_ms: int = 5000) -> dict:
    chat: dict = {"actions": list(actions)}
    if continuation:
        chat["continuations"] = [{"timedContinuationData": {"continuation": continuation,
                                                            "timeoutMs": timeout_ms}}]
    return {"responseContext": {}, "continuationContents": {"liveChatContinuation": chat}}


def test_the_watch_page_of_a_live() -> None:
    page = parse_watch_page(watch_page(video_id="abcdefghijk", channel_id=CHANNEL, live=True,
                                       title="밤 방송", continuation="LIVE-CHAT"))
    assert (page.video_id, page.channel_id, page.is_live, page.title) == ("abcdefghijk", CHANNEL, True, "밤 방송")
    assert page.continuation == "LIVE-CHAT"  # the "Live chat" menu item, not "Top chat"
    assert page.api_key and page.context and page.context["client"]["clientName"] == "WEB"


def test_an_offline_channel_page_and_an_upcoming_live() -> None:
    offline = parse_watch_page(watch_page(video_id=None, channel_id=CHANNEL, live=False))
    assert not offline.is_live and offline.video_id is None and offline.continuation is None
    upcoming = parse_watch_page(watch_page(video_id="abcdefghijk", channel_id=CHANNEL, live=False,
                                           upcoming=True))
    assert upcoming.is_upcoming and not upcoming.is_live
    assert parse_watch_page("<html>nothing here</html>") == parse_watch_page("")
    broken = parse_watch_page('<script>var ytInitialPlayerResponse = {"videoDetails": {"isLive": tru')
    assert not broken.is_live


def test_answer_continuation_and_timeout() -> None:
    batch = parse_live_chat(json.dumps(_answer(continuation="tok2", timeout_ms=99_999)), channel_id=CHANNEL,
                            rates=RATES)
    assert (batch.continuation, batch.timeout_ms, batch.ended) == ("tok2", 60_000, False)
    ended = parse_live_chat({"responseContext": {}}, channel_id=CHANNEL, rates=RATES)
    assert ended.ended and ended.continuation is None


@pytest.mark.parametrize(("text", "won", "label"), [
    ("$5.00", 7000, "5달러 슈퍼챗"), ("₩10,000", 10000, "10,000원 슈퍼챗"), ("¥500", 4750, "500엔 슈퍼챗"),
    ("€2.50", 3750, "2.5유로 슈퍼챗"), ("$4.99", 6986, "4.99달러 슈퍼챗"), ("CHF 5.00", None, "CHF 5 슈퍼챗"),
])
def test_super_chat_in_any_currency_counted_in_won(text: str, won: int | None, label: str) -> None:
    batch = parse_live_chat(_answer(paid_action("UCdonor000000000000000001", "큰손", text, "응원")),
                            channel_id=CHANNEL, rates=RATES)
    (msg,) = batch.messages
    assert msg.kind is Kind.DONATION and msg.amount == won and msg.gift is not None
    assert msg.gift.label == label and msg.message == "응원"


def test_roles_come_from_badges_or_the_lives_own_channel() -> None:
    batch = parse_live_chat(_answer(
        text_action("UCx00000000000000000000001", "방장", "나 방장임"),  # a name is nothing
        text_action(CHANNEL, "채널 주인", "진짜 주인"),
        text_action("UCx00000000000000000000002", "모드", "모더레이터", moderator=True)),
        channel_id=CHANNEL, rates=RATES)
    assert [m.role for m in batch.messages] == [Role.VIEWER, Role.STREAMER, Role.MANAGER]


def test_gift_purchase_count_is_the_number_in_its_text() -> None:
    (msg,) = parse_live_chat(_answer(gift_purchase_action("UCg00000000000000000000001", "선물왕", 20)),
                             channel_id=CHANNEL, rates=RATES).messages
    assert msg.subscription is not None and msg.subscription.gift_count == 20
    assert msg.user == "선물왕" and msg.user_id == "youtube:UCg00000000000000000000001"


HOSTILE = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(
        st.sampled_from(["addChatItemAction", "item", "liveChatTextMessageRenderer", "message", "runs",
                         "text", "emoji", "id", "authorExternalChannelId", "authorName", "simpleText",
                         "purchaseAmountText", "liveChatPaidMessageRenderer", "timestampUsec",
                         "markChatItemAsDeletedAction", "targetItemId", "authorBadges", "header",
                         "liveChatSponsorshipsGiftPurchaseAnnouncementRenderer", "primaryText"]) |
        st.text(max_size=5), inner, max_size=4),
    max_leaves=30)


@settings(max_examples=400, deadline=None)
@given(HOSTILE)
def test_any_json_never_raises(actions: object) -> None:
    body = {"continuationContents": {"liveChatContinuation": {"actions": actions if isinstance(actions, list)
                                                                      else [actions],
                                                              "continuations": actions}}}
    parse_live_chat(body, channel_id=CHANNEL, rates=RATES)
    parse_api_messages({"items": actions if isinstance(actions, list) else [actions]}, channel_id=CHANNEL,
                       rates=RATES)


def test_not_json_is_a_payload_error() -> None:
    for bad in (b"\xff\xfe", "not json", "[1, 2]", 42):
        with pytest.raises(PayloadError):
            parse_live_chat(bad, channel_id=CHANNEL, rates=RATES)


def test_data_api_pages() -> None:
    assert parse_video_live_chat_id({"items": [{"liveStreamingDetails": {"activeLiveChatId": "Cg0K"}}]}) == "Cg0K"
    assert parse_video_live_chat_id({"items": []}) is None
    body = {"pollingIntervalMillis": 4813, "nextPageToken": "GL-1", "items": [
        {"id": "LCC.1", "snippet": {"type": "superStickerEvent", "publishedAt": "2026-12-07T11:00:30.645Z",
                                    "superStickerDetails": {"amountMicros": "2000000", "currency": "EUR",
                                                            "superStickerMetadata": {"altText": "고양이"}}},
         "authorDetails": {"channelId": "UCs", "displayName": "스티커", "isChatOwner": False}},
        {"id": "LCC.2", "snippet": {"type": "messageDeletedEvent",
                                    "messageDeletedDetails": {"deletedMessageId": "LCC.0"}}},
        {"id": "LCC.3", "snippet": {"type": "userBannedEvent",
                                    "userBannedDetails": {"bannedUserDetails": {"channelId": "UCbad"}}}},
        {"id": "LCC.4", "snippet": {"type": "giftMembershipReceivedEvent",
                                    "giftMembershipReceivedDetails": {"associatedMembershipGiftingMessageId": "LCC.9"}},
         "authorDetails": {"channelId": "UCr", "displayName": "받은이"}},
        {"id": "LCC.5", "snippet": {"type": "textMessageEvent", "textMessageDetails": {"messageText": "주인"}},
         "authorDetails": {"channelId": "UCo", "displayName": "주인", "isChatOwner": True}},
    ]}
    batch = parse_api_messages(body, channel_id=CHANNEL, rates=RATES)
    sticker, received, owner = batch.messages
    assert (batch.continuation, batch.polling_ms) == ("GL-1", 4813)
    assert sticker.amount == 3000 and sticker.gift is not None and sticker.gift.label == "2유로 슈퍼스티커"
    assert "고양이" in sticker.message and sticker.timestamp.year == 2026
    assert [b.platform_key for b in batch.blinds] == ["youtube:LCC.0"] and batch.banned_authors == ["youtube:UCbad"]
    assert received.subscription is not None and received.subscription.gift_id == "youtube:LCC.9"
    assert owner.role is Role.STREAMER
    assert parse_api_messages({"offlineAt": "2026-12-07T13:00:00Z", "items": []}, channel_id=None, rates={}).ended
