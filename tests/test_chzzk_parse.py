"""Tests for the pure CHZZK payload parsers (official Open API events and the web chat)."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aischoco.chat.chzzk_parse import (
    ANONYMOUS,
    MAX_MESSAGE_CHARS,
    MAX_NICKNAME_CHARS,
    PayloadError,
    SystemEvent,
    llm_text_with_emoji_names,
    parse_official,
    parse_system,
    parse_web_blind,
    parse_web_chat,
    resolve_emoji,
    web_chat_server_number,
    web_message_key,
)
from aischoco.core.messages import ChatMessage, Kind, Role

CHANNEL = "streamer-channel-0001"
EMOJI_URL = "https://ssl.pstatic.net/static/nng/glive/icon/a_01.gif"

# The observed CHAT payload from shared/research/chzzk.md (senderChannelId is the streamer's).
OBSERVED_CHAT = (
    '{"channelId":"streamer-channel-0001","chatChannelId":"N1abcd","senderChannelId":'
    '"streamer-channel-0001","profile":{"nickname":"초코","verifiedMark":false,'
    '"badges":[{"imageUrl":"https://example.com/b.png"}],"userRoleCode":"streamer"},'
    '"content":"Test Chat","emojis":{},"messageTime":1785003258567,'
    '"eventSentAt":"2026-07-26T03:14:18.629843820"}'
)


def chat(**overrides: Any) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "channelId": CHANNEL,
        "chatChannelId": "N1abcd",
        "senderChannelId": "viewer-42",
        "profile": {
            "nickname": "시청자",
            "verifiedMark": False,
            "badges": [],
            "userRoleCode": "common_user",
        },
        "content": "안녕 초코!",
        "emojis": {},
        "messageTime": 1785003258567,
        "eventSentAt": "2026-07-26T03:14:18.629843820",
    }
    payload.update(overrides)
    return payload


def donation(**overrides: Any) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "donationType": "CHAT",
        "channelId": CHANNEL,
        "donatorChannelId": "donor-7",
        "donatorNickname": "후원자",
        "payAmount": 1000,
        "donationText": "응원해요",
        "emojis": {},
        "eventSentAt": "2026-07-26T03:14:18.629843820",
    }
    payload.update(overrides)
    return payload


def subscription(**overrides: Any) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "channelId": CHANNEL,
        "subscriberChannelId": "sub-3",
        "subscriberNickname": "구독자",
        "tierNo": 1,
        "tierName": "티어 1",
        "month": 3,
    }
    payload.update(overrides)
    return payload


def official(event: str, payload: object) -> ChatMessage:
    return parse_official(event, payload, channel_id=CHANNEL)


# --------------------------------------------------------------------------------------------
# CHAT
# --------------------------------------------------------------------------------------------


def test_observed_chat_json_string() -> None:
    msg = official("CHAT", OBSERVED_CHAT)
    assert msg.message == "Test Chat"
    assert msg.user == "초코"
    assert msg.user_id == CHANNEL
    assert msg.channel_id == CHANNEL
    assert msg.role is Role.STREAMER
    assert msg.kind is Kind.CHAT
    assert msg.amount is None
    assert msg.source == "chzzk"
    assert msg.emoticons == {}
    assert msg.llm_text is None
    # messageTime (epoch ms) wins; it is the same instant as eventSentAt read as KST.
    assert msg.timestamp == datetime(2026, 7, 25, 18, 14, 18, 567000, tzinfo=UTC)


def test_json_string_and_dict_payloads_agree() -> None:
    payload = chat()
    from_dict = official("CHAT", payload)
    from_str = official("CHAT", json.dumps(payload, ensure_ascii=False))
    from_bytes = official("CHAT", json.dumps(payload).encode())
    for msg in (from_str, from_bytes):
        assert msg.to_public() == from_dict.to_public()


def test_documented_layout_top_level_nickname_and_role() -> None:
    payload = chat(nickname="문서닉", userRoleCode="streaming_chat_manager")
    del payload["profile"]
    msg = official("CHAT", payload)
    assert msg.user == "문서닉"
    assert msg.role is Role.MANAGER
    assert msg.user_id == "viewer-42"


def test_profile_may_be_a_json_string() -> None:
    payload = chat(profile=json.dumps({"nickname": "문자열프로필", "userRoleCode": "streamer"}))
    msg = official("CHAT", payload)
    assert msg.user == "문자열프로필"
    assert msg.role is Role.STREAMER


@pytest.mark.parametrize(
    ("sender", "code", "role"),
    [
        (CHANNEL, "common_user", Role.STREAMER),  # streamer recognised by channel id
        ("someone", "streamer", Role.STREAMER),  # ... or by the role code
        (CHANNEL, None, Role.STREAMER),
        ("someone", "streaming_channel_manager", Role.MANAGER),
        ("someone", "streaming_chat_manager", Role.MANAGER),
        ("someone", "common_user", Role.VIEWER),
        ("someone", None, Role.VIEWER),
        ("someone", 12, Role.VIEWER),  # decorative field of a wrong type is ignored
    ],
)
def test_roles(sender: str, code: object, role: Role) -> None:
    profile: dict[str, Any] = {"nickname": "닉"}
    if code is not None:
        profile["userRoleCode"] = code
    assert official("CHAT", chat(senderChannelId=sender, profile=profile)).role is role


def test_streamer_is_the_configured_channel_not_the_payload_channel() -> None:
    payload = chat(channelId="other", senderChannelId="other")
    assert official("CHAT", payload).role is Role.VIEWER
    assert official("CHAT", payload).channel_id == CHANNEL


def test_message_id_given_or_stable() -> None:
    assert official("CHAT", chat(messageId="m-1")).message_id == "m-1"
    assert official("CHAT", chat(messageId=123)).message_id == "123"
    a, b = official("CHAT", chat()), official("CHAT", json.dumps(chat()))
    assert a.message_id == b.message_id and len(a.message_id) == 32
    assert official("CHAT", chat(content="다른 말")).message_id != a.message_id
    assert official("CHAT", chat(messageTime=1785003258568)).message_id != a.message_id


def test_event_sent_at_only_is_read_as_kst() -> None:
    payload = chat()
    del payload["messageTime"]
    msg = official("CHAT", payload)
    assert msg.timestamp == datetime(2026, 7, 25, 18, 14, 18, 629843, tzinfo=UTC)
    assert official(
        "CHAT", chat(messageTime=None, eventSentAt="2026-07-26T03:14:18Z")
    ).timestamp == (datetime(2026, 7, 26, 3, 14, 18, tzinfo=UTC))
    zoned = official("CHAT", chat(messageTime="x", eventSentAt="2026-07-26T03:14:18+09:00"))
    assert zoned.timestamp == datetime(2026, 7, 25, 18, 14, 18, tzinfo=UTC)


@pytest.mark.parametrize(
    ("message_time", "sent_at"),
    [(None, None), ("garbage", "not a date"), (10**30, "2026-13-45T99:99:99"), (True, 5), (-1, "")],
)
def test_bad_times_fall_back_to_now(message_time: object, sent_at: object) -> None:
    before = datetime.now(UTC)
    msg = official("CHAT", chat(messageTime=message_time, eventSentAt=sent_at))
    assert before <= msg.timestamp <= datetime.now(UTC)


def test_html_is_kept_as_text() -> None:
    payload = chat(
        content="<script>alert(1)</script><b>굵게</b>",
        profile={"nickname": "<img src=x onerror=alert(1)>"},
    )
    msg = official("CHAT", payload)
    assert msg.message == "<script>alert(1)</script><b>굵게</b>"
    assert msg.user == "<img src=x onerror=alert(1)>"


def test_control_characters() -> None:
    payload = chat(
        content="a\x00b\x07c\r\nd\re\tf\x7fg\x85h\ud800i\n",
        profile={"nickname": "\x00닉\n네임\u202e\u200b\x1b[31m"},
    )
    msg = official("CHAT", payload)
    assert msg.message == "abc\nd\ne\tfgh\ufffdi\n"
    assert msg.user == "닉 네임[31m"
    msg.message.encode("utf-8")  # no lone surrogates left


def test_nickname_capped_and_blank_falls_back() -> None:
    assert len(official("CHAT", chat(profile={"nickname": "가" * 500})).user) == MAX_NICKNAME_CHARS
    assert official("CHAT", chat(profile={"nickname": "\x00\x01 \n"})).user == ANONYMOUS
    assert official("CHAT", chat(profile={})).user == ANONYMOUS  # has a senderChannelId


def test_content_of_100_kb_is_truncated_fast() -> None:
    big = "가나다라마바사<b>" * 10_000  # 100,000 chars
    payload = json.dumps(chat(content=big), ensure_ascii=False)
    start = time.perf_counter()
    msg = official("CHAT", payload)
    elapsed = time.perf_counter() - start
    assert len(msg.message) == MAX_MESSAGE_CHARS
    assert msg.message == big[:MAX_MESSAGE_CHARS]
    assert elapsed < 0.05


def test_100_kb_of_control_characters_is_fast() -> None:
    payload = json.dumps(chat(content="\x01a" * 50_000, profile={"nickname": "\x00" * 100_000}))
    start = time.perf_counter()
    msg = official("CHAT", payload)
    assert time.perf_counter() - start < 0.05
    assert msg.message == "a" * (MAX_MESSAGE_CHARS // 2)
    assert msg.user == ANONYMOUS


def test_empty_content_is_a_valid_chat() -> None:
    assert official("CHAT", chat(content="")).message == ""


# --------------------------------------------------------------------------------------------
# Emoji
# --------------------------------------------------------------------------------------------


def test_chat_emoji_resolution() -> None:
    emojis = {
        "a_01": EMOJI_URL,
        "evil": "javascript:alert(1)",
        "unused": "https://example.com/u.png",
    }
    msg = official(
        "CHAT", chat(content="안녕 {:a_01:}{:a_01:} {:evil:} {:missing:}", emojis=emojis)
    )
    assert msg.message == "안녕 {:a_01:}{:a_01:} {:evil:} {:missing:}"  # placeholders stay
    assert msg.emoticons == {"a_01": EMOJI_URL}
    assert llm_text_with_emoji_names(msg.message) == "안녕 a_01a_01 evil missing"


@pytest.mark.parametrize(
    "url",
    [
        "javascript:alert(1)",
        "JaVaScRiPt:alert(1)",
        "data:image/png;base64,AAAA",
        "//example.com/x.png",
        'https://example.com/x.png" onerror="alert(1)',
        "https://exa mple.com/x.png",
        "http://",
        "ftp://example.com/x.png",
        "",
        123,
        None,
    ],
)
def test_unsafe_emoji_urls_are_dropped(url: object) -> None:
    text, used = resolve_emoji("{:x:}", {"x": url})  # type: ignore[dict-item]
    assert text == "{:x:}"
    assert used == {}


def test_resolve_emoji_accepts_braced_keys_and_bad_mappings() -> None:
    assert resolve_emoji("{:x:} y", {"{:x:}": "http://e.com/x.gif"}) == (
        "{:x:} y",
        {"x": "http://e.com/x.gif"},
    )
    assert resolve_emoji("no placeholders", {"x": EMOJI_URL}) == ("no placeholders", {})
    assert official("CHAT", chat(content="{:x:}", emojis=["not", "a", "dict"])).emoticons == {}
    assert official("CHAT", chat(content="{:x:}", emojis={"x": EMOJI_URL})).emoticons == {
        "x": EMOJI_URL
    }


def test_llm_text_with_emoji_names() -> None:
    assert llm_text_with_emoji_names("{:d_47:} 하이 {:ok:}") == "d_47 하이 ok"
    assert llm_text_with_emoji_names("{: no :} {::} {x}") == "{: no :} {::} {x}"
    assert llm_text_with_emoji_names("plain") == "plain"


# --------------------------------------------------------------------------------------------
# DONATION
# --------------------------------------------------------------------------------------------


def test_observed_donation() -> None:
    msg = official("DONATION", json.dumps(donation(), ensure_ascii=False))
    assert msg.kind is Kind.DONATION
    assert msg.amount == 1000
    assert msg.message == "응원해요"
    assert msg.user == "후원자"
    assert msg.user_id == "donor-7"
    assert msg.role is Role.VIEWER
    assert msg.source == "chzzk"
    assert msg.timestamp == datetime(2026, 7, 25, 18, 14, 18, 629843, tzinfo=UTC)
    assert len(msg.message_id) == 32
    assert msg.message_id == official("DONATION", donation()).message_id


@pytest.mark.parametrize(
    ("raw", "amount"),
    [
        (1000, 1000),
        ("1000", 1000),  # documented: a string
        (" 1,000 ", 1000),
        (1000.0, 1000),
        ("1000.0", 1000),
        (0, 0),
        (None, None),
        ("abc", None),
        ("", None),
        (-5, None),
        ("-5", None),
        (10.5, None),
        (True, None),
        ([1000], None),
        (float("nan"), None),
        (float("inf"), None),
        ("9" * 5000, None),
    ],
)
def test_pay_amount(raw: object, amount: int | None) -> None:
    assert official("DONATION", donation(payAmount=raw)).amount == amount


def test_pay_amount_missing() -> None:
    payload = donation()
    del payload["payAmount"]
    assert official("DONATION", payload).amount is None


def test_anonymous_donation() -> None:
    payload = donation(donatorNickname=None, donatorChannelId=None)
    msg = official("DONATION", payload)
    assert msg.user == ANONYMOUS
    assert msg.user_id == ""
    assert msg.amount == 1000
    payload = donation()
    del payload["donatorNickname"], payload["donatorChannelId"]
    assert official("DONATION", payload).user == ANONYMOUS
    assert official("DONATION", donation(donatorNickname="")).user == ANONYMOUS


def test_donation_without_text_and_with_emoji() -> None:
    assert official("DONATION", donation(donationText=None)).message == ""
    msg = official("DONATION", donation(donationText="{:a:}", emojis={"a": EMOJI_URL}))
    assert msg.emoticons == {"a": EMOJI_URL}


def test_streamer_self_donation_role() -> None:
    assert official("DONATION", donation(donatorChannelId=CHANNEL)).role is Role.STREAMER


# --------------------------------------------------------------------------------------------
# SUBSCRIPTION
# --------------------------------------------------------------------------------------------


def test_documented_subscription() -> None:
    msg = official("SUBSCRIPTION", json.dumps(subscription(), ensure_ascii=False))
    assert msg.kind is Kind.SUBSCRIPTION
    assert msg.message == "3개월 구독 (티어 1)"
    assert msg.user == "구독자"
    assert msg.user_id == "sub-3"
    assert msg.amount is None
    assert msg.source == "chzzk"


@pytest.mark.parametrize(
    ("month", "tier", "line"),
    [
        ("12", "티어 2", "12개월 구독 (티어 2)"),
        (None, "티어 1", "구독 (티어 1)"),
        (1, None, "1개월 구독"),
        ("x", 5, "구독"),
    ],
)
def test_subscription_line(month: object, tier: object, line: str) -> None:
    assert official("SUBSCRIPTION", subscription(month=month, tierName=tier)).message == line


def test_subscription_with_text_keeps_it() -> None:
    assert official("SUBSCRIPTION", subscription(subscriptionMessage="고마워")).message == "고마워"


# --------------------------------------------------------------------------------------------
# SYSTEM
# --------------------------------------------------------------------------------------------


def test_system_connected_string_and_dict() -> None:
    payload = {"type": "connected", "data": {"sessionKey": "sess-1"}}
    expected = SystemEvent(type="connected", session_key="sess-1", event_type=None, channel_id=None)
    assert parse_system(json.dumps(payload)) == expected
    assert parse_system(payload) == expected


@pytest.mark.parametrize("kind", ["subscribed", "unsubscribed", "revoked"])
def test_system_subscription_events(kind: str) -> None:
    payload = json.dumps({"type": kind, "data": {"eventType": "CHAT", "channelId": CHANNEL}})
    assert parse_system(payload) == SystemEvent(kind, None, "CHAT", CHANNEL)


def test_system_other_type_passes_through() -> None:
    assert parse_system({"type": "something_new"}) == SystemEvent("something_new", None, None, None)


@pytest.mark.parametrize(
    "payload",
    [
        "not json",
        "[1, 2]",
        '"connected"',
        {"data": {}},
        {"type": 5},
        {"type": ""},
        {"type": "connected"},
        {"type": "connected", "data": {"sessionKey": 7}},
        None,
        42,
    ],
)
def test_system_bad_input(payload: object) -> None:
    with pytest.raises(PayloadError):
        parse_system(payload)


# --------------------------------------------------------------------------------------------
# Bad input
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("event", "payload", "fragment"),
    [
        ("CHAT", "not json {", "not valid JSON"),
        ("CHAT", "", "not valid JSON"),
        ("CHAT", "[1,2,3]", "not an object"),
        ("CHAT", "null", "not an object"),
        ("CHAT", "12", "not an object"),
        ("CHAT", None, "must be a JSON object or string"),
        ("CHAT", 12, "must be a JSON object or string"),
        ("CHAT", b"\xff\xfe", "not UTF-8"),
        ("CHAT", "[" * 100_000, "not valid JSON"),  # deep nesting: RecursionError
        ("CHAT", {"senderChannelId": "x", "profile": {"nickname": "n"}}, "missing field 'content'"),
        ("CHAT", {"content": "hi"}, "neither a nickname"),
        ("CHAT", {"content": "hi", "profile": {"nickname": ""}}, "neither a nickname"),
        ("CHAT", {"content": 5, "senderChannelId": "x"}, "'content' must be a string"),
        ("CHAT", {"content": "hi", "senderChannelId": ["x"]}, "'senderChannelId'"),
        ("CHAT", {"content": "hi", "profile": {"nickname": 5}}, "'nickname'"),
        ("CHAT", {"content": "hi", "nickname": "n", "messageId": {}}, "'messageId'"),
        ("DONATION", {"donationText": 5}, "'donationText'"),
        ("DONATION", {"donatorNickname": ["n"]}, "'donatorNickname'"),
        ("DONATION", "[]", "not an object"),
        ("SUBSCRIPTION", {"month": 3}, "neither"),
        ("SUBSCRIPTION", {"subscriberNickname": 3}, "'subscriberNickname'"),
        ("chat", json.dumps({"content": "hi"}), "unknown CHZZK event"),
        ("SYSTEM", "{}", "unknown CHZZK event"),
        ("", "{}", "unknown CHZZK event"),
    ],
)
def test_bad_input(event: str, payload: object, fragment: str) -> None:
    with pytest.raises(PayloadError) as info:
        official(event, payload)
    text = str(info.value)
    assert fragment in text
    assert "\n" not in text
    assert len(text) < 200


def test_error_never_quotes_the_whole_payload() -> None:
    huge = "x" * 100_000 + "\n" + "y" * 100
    with pytest.raises(PayloadError) as info:
        official("CHAT", huge)
    assert len(str(info.value)) < 200
    with pytest.raises(PayloadError) as info:
        official("CHAT", json.dumps({"content": "z" * 100_000, "senderChannelId": ["a"] * 1000}))
    assert len(str(info.value)) < 200


def test_payload_over_one_mebibyte_is_refused() -> None:
    with pytest.raises(PayloadError, match="too large"):
        official("CHAT", " " * 2_000_000)


def test_payload_error_is_a_value_error() -> None:
    assert issubclass(PayloadError, ValueError)


# --------------------------------------------------------------------------------------------
# Fuzz: nothing but PayloadError ever escapes
# --------------------------------------------------------------------------------------------

KEYS = st.sampled_from(
    [
        "channelId", "senderChannelId", "profile", "nickname", "userRoleCode", "content",
        "emojis", "messageTime", "eventSentAt", "messageId", "donationType", "donatorChannelId",
        "donatorNickname", "payAmount", "donationText", "subscriberChannelId",
        "subscriberNickname", "tierNo", "tierName", "month", "subscriptionMessage", "type", "data",
        "sessionKey", "eventType",
    ]
) | st.text(max_size=8)  # fmt: skip
SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**20), max_value=10**20)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=40)
    | st.sampled_from(["streamer", "connected", "1,000", "2026-07-26T03:14:18.1", "{:a:}", "http://e.com/a"])
)  # fmt: skip
JSONISH = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(KEYS, inner, max_size=6),
    max_leaves=20,
)
EVENTS = st.sampled_from(["CHAT", "DONATION", "SUBSCRIPTION", "SYSTEM", "chat", ""]) | st.text(
    max_size=5
)


def _check_official(event: str, payload: object) -> None:
    try:
        msg = parse_official(event, payload, channel_id=CHANNEL)
    except PayloadError as exc:
        assert "\n" not in str(exc) and len(str(exc)) < 300
        return
    assert isinstance(msg, ChatMessage)
    assert len(msg.user) <= MAX_NICKNAME_CHARS and msg.user
    assert len(msg.message) <= MAX_MESSAGE_CHARS
    json.dumps(msg.to_public(), ensure_ascii=False).encode("utf-8")  # serialisable, no surrogates


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(event=EVENTS, payload=st.dictionaries(KEYS, JSONISH, max_size=10))
def test_fuzz_official_dicts(event: str, payload: dict[str, Any]) -> None:
    _check_official(event, payload)
    try:
        as_json = json.dumps(payload)
    except ValueError:
        return
    _check_official(event, as_json)


@settings(max_examples=120, deadline=None)
@given(event=EVENTS, payload=st.text(max_size=200) | JSONISH | st.binary(max_size=50))
def test_fuzz_official_anything(event: str, payload: object) -> None:
    _check_official(event, payload)


@settings(max_examples=120, deadline=None)
@given(
    event=st.sampled_from(["CHAT", "DONATION", "SUBSCRIPTION"]),
    base=st.sampled_from([chat(), donation(), subscription()]),
    changes=st.dictionaries(KEYS, JSONISH, max_size=4),
)
def test_fuzz_official_mutated_valid_payloads(
    event: str, base: dict[str, Any], changes: dict[str, Any]
) -> None:
    _check_official(event, {**base, **changes})


@settings(max_examples=120, deadline=None)
@given(payload=st.text(max_size=100) | JSONISH)
def test_fuzz_system(payload: object) -> None:
    try:
        event = parse_system(payload)
    except PayloadError:
        return
    assert isinstance(event, SystemEvent) and event.type


@settings(max_examples=120, deadline=None)
@given(
    item=JSONISH | st.dictionaries(KEYS | st.sampled_from(["uid", "msg", "msgTypeCode", "extras"]), JSONISH),
    cmd=st.sampled_from([93101, 93102, 0, 10100]),
)  # fmt: skip
def test_fuzz_web_chat(item: object, cmd: int) -> None:
    try:
        msg = parse_web_chat(item, channel_id=CHANNEL, cmd=cmd)
    except PayloadError:
        return
    if msg is not None:
        json.dumps(msg.to_public(), ensure_ascii=False).encode("utf-8")


# --------------------------------------------------------------------------------------------
# Unofficial web chat
# --------------------------------------------------------------------------------------------


def web_item(**overrides: Any) -> dict[str, Any]:
    item: dict[str, Any] = {
        "svcid": "game",
        "cid": "N1abcd",
        "uid": "viewer-9",
        "profile": json.dumps(
            {"userIdHash": "viewer-9", "nickname": "웹시청자", "userRoleCode": "common_user"},
            ensure_ascii=False,
        ),
        "msg": "웹에서 안녕 {:b_1:}",
        "msgTypeCode": 1,
        "msgStatusType": "NORMAL",
        "extras": json.dumps(
            {"chatType": "STREAMING", "osType": "PC", "emojis": {"b_1": EMOJI_URL}}
        ),
        "ctime": 1785003258000,
        "msgTime": 1785003258567,
    }
    item.update(overrides)
    return item


def web(item: object, cmd: int = 93101) -> ChatMessage | None:
    return parse_web_chat(item, channel_id=CHANNEL, cmd=cmd)


def test_web_chat_text() -> None:
    msg = web(web_item())
    assert msg is not None
    assert msg.kind is Kind.CHAT
    assert msg.source == "chzzk-web"
    assert msg.user == "웹시청자"
    assert msg.user_id == "viewer-9"
    assert msg.message == "웹에서 안녕 {:b_1:}"
    assert msg.emoticons == {"b_1": EMOJI_URL}
    assert msg.role is Role.VIEWER
    assert msg.channel_id == CHANNEL
    assert msg.timestamp == datetime(2026, 7, 25, 18, 14, 18, 567000, tzinfo=UTC)
    again = web(web_item())
    assert again is not None and again.message_id == msg.message_id


def test_web_chat_roles() -> None:
    streamer = web(web_item(uid=CHANNEL))
    assert streamer is not None and streamer.role is Role.STREAMER
    manager = web(
        web_item(
            profile=json.dumps({"nickname": "매니저", "userRoleCode": "streaming_chat_manager"})
        )
    )
    assert manager is not None and manager.role is Role.MANAGER
    by_code = web(web_item(profile={"nickname": "방장", "userRoleCode": "streamer"}))  # dict ok
    assert by_code is not None and by_code.role is Role.STREAMER


def test_web_donation_amount_from_extras() -> None:
    extras = {"payAmount": 5000, "isAnonymous": False, "donationType": "CHAT", "emojis": {}}
    msg = web(web_item(msgTypeCode=10, msg="후원합니다", extras=json.dumps(extras)), cmd=93102)
    assert msg is not None
    assert msg.kind is Kind.DONATION
    assert msg.amount == 5000
    assert msg.message == "후원합니다"
    assert msg.user == "웹시청자"
    extras["payAmount"] = "3000"
    msg = web(web_item(msgTypeCode=10, extras=json.dumps(extras)), cmd=93102)
    assert msg is not None and msg.amount == 3000


def test_web_anonymous_donation() -> None:
    extras = json.dumps({"payAmount": 1000, "isAnonymous": True})
    msg = web(web_item(uid="anonymous", profile=None, msgTypeCode=10, extras=extras), cmd=93102)
    assert msg is not None
    assert msg.user == ANONYMOUS and msg.user_id == "" and msg.amount == 1000


def test_web_subscription() -> None:
    extras = json.dumps({"month": 6, "tierName": "티어 2", "tierNo": 2}, ensure_ascii=False)
    msg = web(web_item(msgTypeCode=11, msg="", extras=extras), cmd=93102)
    assert msg is not None
    assert msg.kind is Kind.SUBSCRIPTION
    assert msg.message == "6개월 구독 (티어 2)"
    assert msg.amount is None


def test_web_missing_type_code_follows_cmd() -> None:
    item = web_item(extras=json.dumps({"payAmount": 2000}))
    del item["msgTypeCode"]
    chat_msg, don_msg = web(item, 93101), web(item, 93102)
    assert chat_msg is not None and chat_msg.kind is Kind.CHAT and chat_msg.amount is None
    assert don_msg is not None and don_msg.kind is Kind.DONATION and don_msg.amount == 2000


def test_web_recent_chat_long_names() -> None:
    item = {
        "userId": "viewer-1",
        "profile": json.dumps({"nickname": "긴이름"}, ensure_ascii=False),
        "content": "hello",
        "messageTypeCode": 1,
        "messageTime": 1785003258567,
        "extras": "{}",
    }
    msg = web(item)
    assert msg is not None and msg.user_id == "viewer-1" and msg.message == "hello"


@pytest.mark.parametrize(
    ("overrides", "cmd"),
    [
        ({"msgTypeCode": 30}, 93101),  # system notice
        ({"msgTypeCode": 121}, 93101),
        ({"msgTypeCode": "x"}, 93101),
        ({"msgStatusType": "BLIND"}, 93101),
        ({}, 10000),  # pong
        ({}, 93006),  # some other command
    ],
)
def test_web_irrelevant_items_are_none(overrides: dict[str, Any], cmd: int) -> None:
    assert web(web_item(**overrides), cmd) is None


@pytest.mark.parametrize(
    "item",
    [
        "not a dict",
        None,
        [1],
        {"uid": "x", "profile": "{}", "msgTypeCode": 1},  # no msg
        {"uid": "x", "msg": 5, "msgTypeCode": 1},
        {"msg": "hi", "msgTypeCode": 1, "profile": "not json"},  # no nickname, no uid
    ],
)
def test_web_malformed_items(item: object) -> None:
    with pytest.raises(PayloadError):
        web(item)


def test_web_garbage_profile_and_extras_are_tolerated() -> None:
    msg = web(web_item(profile="{not json", extras="[1,2]"))
    assert msg is not None and msg.user == ANONYMOUS and msg.emoticons == {}


def test_web_sanitising() -> None:
    msg = web(web_item(msg="x" * 100_000 + "\x00", profile=json.dumps({"nickname": "a\nb\x00"})))
    assert msg is not None
    assert len(msg.message) == MAX_MESSAGE_CHARS
    assert msg.user == "a b"


@pytest.mark.parametrize(
    ("chat_channel_id", "expected"),
    [
        ("", 1),
        ("a", 97 % 9 + 1),  # 97 → 8
        ("N1abcd", sum(map(ord, "N1abcd")) % 9 + 1),
        ("N1JJh0", (78 + 49 + 74 + 74 + 104 + 48) % 9 + 1),  # 427 → 5
        ("가", 0xAC00 % 9 + 1),
    ],
)
def test_web_chat_server_number(chat_channel_id: str, expected: int) -> None:
    assert web_chat_server_number(chat_channel_id) == expected
    assert 1 <= expected <= 9


def test_web_chat_server_number_literal_values() -> None:
    assert web_chat_server_number("a") == 8
    assert web_chat_server_number("N1JJh0") == 5
    assert all(1 <= web_chat_server_number(chr(c) * 3) <= 9 for c in range(32, 300))


# --------------------------------------------------------------------------------------------
# Subscriptions, gifts and blinds (the living-stream issue)
# --------------------------------------------------------------------------------------------


def _gift_extras(**extras: Any) -> str:
    return json.dumps({"giftTierNo": 1, "giftTierName": "티어1", **extras}, ensure_ascii=False)


def test_web_subscription_keeps_months_and_tier() -> None:
    msg = web(web_item(msgTypeCode=11, msg="", extras=json.dumps({"month": 7, "tierName": "골드"})),
              cmd=93102)
    assert msg is not None and msg.kind is Kind.SUBSCRIPTION
    assert msg.subscription is not None
    assert (msg.subscription.months, msg.subscription.tier) == (7, "골드")
    assert msg.message == "7개월 구독 (골드)" and not msg.subscription.is_gift


def test_official_subscription_keeps_months_and_tier() -> None:
    msg = parse_official("SUBSCRIPTION", {"subscriberChannelId": "s1", "subscriberNickname": "구독자",
                                          "tierNo": 2, "tierName": "티어2", "month": 13},
                         channel_id=CHANNEL)
    assert msg.subscription is not None
    assert (msg.subscription.months, msg.subscription.tier) == (13, "티어2")


def test_web_subscription_gift_sender_and_receivers() -> None:
    sender = web(web_item(msgTypeCode=12, msg="", extras=_gift_extras(
        giftType="SUBSCRIPTION_GIFT", giftId="G-1", quantity=50, partialRefundedQuantity=2,
        selectionType="RANDOM")), cmd=93102)
    assert sender is not None and sender.kind is Kind.SUBSCRIPTION
    info = sender.subscription
    assert info is not None and info.gift_id == "G-1" and info.gift_count == 48
    assert info.tier == "티어1" and sender.message == "티어1 구독권 48개 선물"
    receiver = web(web_item(msgTypeCode=12, msg="", msgTime=1785003258600, extras=_gift_extras(
        giftType="SUBSCRIPTION_GIFT_RECEIVER", giftId="G-1", receiverNickname="받은이\n",
        receiverUserIdHash="r-1")), cmd=93102)
    assert receiver is not None and receiver.subscription is not None
    assert receiver.subscription.receiver == "받은이" and receiver.subscription.gift_count is None
    assert receiver.message_id != sender.message_id
    numeric = web(web_item(msgTypeCode=12, extras=_gift_extras(giftType="SUBSCRIPTION_GIFT",
                                                               giftId=991, quantity="x")),
                  cmd=93102)
    assert numeric is not None and numeric.subscription is not None
    assert (numeric.subscription.gift_id, numeric.subscription.gift_count) == ("991", 1)


def test_blinds_name_the_message_by_sender_and_time() -> None:
    msg = web(web_item())
    assert msg is not None and msg.platform_key == web_message_key("viewer-9", 1785003258567)
    blind = parse_web_blind({"serviceId": "game", "channelId": "N1abcd",
                             "messageTime": 1785003258567, "blindType": "CBOTBLIND",
                             "blindUserId": None, "userId": "viewer-9"})
    assert blind.platform_key == msg.platform_key and blind.reason == "CBOTBLIND"
    for bad in (None, [], {"userId": "x"}, {"messageTime": 5}, {"userId": ["x"], "messageTime": 1}):
        with pytest.raises(PayloadError):
            parse_web_blind(bad)


@pytest.mark.parametrize("status", ["BLIND", "CBOTBLIND", "cleanbot_blind", "HIDDEN"])
def test_messages_already_hidden_by_the_platform_are_never_shown(status: str) -> None:
    assert web(web_item(msgStatusType=status)) is None
