"""SOOP's chat framing, byte for byte against the documented layout and frames captured from the
real service (their headers are quoted in public code: a chat of 71 and 85 bytes, an OGQ sticker
of 99, a balloon of 115), the stream reader (split, merged, garbage), and frames → messages."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aischoco.chat.soop_packet import (
    FrameReader,
    encode,
    join_frame,
    keepalive_frame,
    login_frame,
    parse_frame,
    parse_live_info,
)
from aischoco.core.messages import Kind, Role

RATES = {"soop_balloon": 100.0, "soop_adballoon": 10.0}

# Field lists of frames captured from SOOP (values as logged; user ids and nicknames as in the
# public capture), with the header SOOP sent for each.
CAPTURED = [
    (5, ["ㅇㅇ", "lmhkiu", "0", "0", "3", "주눈비", "65536|163840", "-1", "DC3585", "CF5F9B", "-1", "-1", "",
         "-1"], b"\x1b\t000500007100"),
    (5, ["ㅇㅇ/샤방/ㅇㅇ", "lmhkiu", "0", "0", "3", "주눈비", "65536|163840", "-1", "6518C8", "9568CD", "-1",
         "-1", "", "-1"], b"\x1b\t000500008500"),
    (109, ["3995", "ㅇㅇ", "5fe53f42edb76", "10", "1", "lmhkiu", "주눈비", "65536|163840", "0", "3", "", "png",
           "-1", "DC3585", "CF5F9B", "-1", "-1", "0", "-1"], b"\x1b\t010900009900"),
    (18, ["danz59", "shyeond", "두부졸림", "10", "0", "0", "9552", "10", "0", "0", "kor_custom07",
          "01fbe3ff-81f2-44b1-a8dd-2eb8348c28f5", "ko_KR", "1771461483"], b"\x1b\t001800011500"),
]


@pytest.mark.parametrize(("code", "fields", "header"), CAPTURED)
def test_encoding_matches_captured_headers_byte_for_byte(code: int, fields: list[str], header: bytes) -> None:
    data = encode(code, fields)
    assert data[:14] == header
    body = data[14:]
    assert body == ("\x0c" + "\x0c".join(fields) + "\x0c").encode("utf-8")
    assert len(body) == int(header[6:12])  # the length counts UTF-8 bytes, not characters


def test_the_frames_we_send() -> None:
    # the same bytes open clients send (a guest login, flag 16; the keep-alive)
    assert login_frame() == b"\x1b\t000100000600\x0c\x0c\x0c16\x0c"
    assert keepalive_frame() == b"\x1b\t000000000100\x0c"
    assert join_frame("2620", "FTK") == b"\x1b\t000200001400\x0c2620\x0cFTK\x0c0\x0c\x0c\x0c"


@pytest.mark.parametrize(("code", "fields", "header"), CAPTURED)
def test_captured_frames_parse(code: int, fields: list[str], header: bytes) -> None:
    frames = FrameReader().feed(encode(code, fields))
    assert [(f.code, f.ret, f.fields) for f in frames] == [(code, 0, fields)]
    msg = parse_frame(frames[0], bid="danz59", rates=RATES)
    assert msg is not None and msg.platform == "soop" and msg.source == "soop"
    if code == 18:
        assert (msg.user, msg.user_id, msg.kind, msg.amount) == ("두부졸림", "soop:shyeond", Kind.DONATION, 1000)
        assert msg.gift is not None and msg.gift.label == "별풍선 10개" and msg.gift.count == 10
    elif code == 109:
        assert msg.user_id == "soop:lmhkiu" and msg.message == "{:ogq_5fe53f42edb76_10:} ㅇㅇ"
    else:
        assert (msg.user, msg.user_id, msg.message, msg.role) == ("주눈비", "soop:lmhkiu", fields[0], Role.VIEWER)


def test_split_at_every_byte_and_merged() -> None:
    stream = b"".join(encode(c, f) for c, f, _ in CAPTURED)
    for cut in range(1, len(stream)):
        reader = FrameReader()
        frames = reader.feed(stream[:cut]) + reader.feed(stream[cut:])
        assert [f.code for f in frames] == [5, 5, 109, 18], cut
        assert reader.skipped == 0
    reader = FrameReader()
    frames = [f for b in stream for f in reader.feed(bytes([b]))]  # one byte at a time
    assert [f.fields for f in frames] == [f for _, f, _ in CAPTURED]


def test_garbage_is_skipped_up_to_the_next_frame() -> None:
    reader = FrameReader()
    good = encode(5, ["hi", "user", "", "", "", "nick", "0|0", "-1"])
    frames = reader.feed(b"junk\x1b\tNOTDIGITS!!" + good + b"\x1b\t000509999900" + good)
    assert [f.fields[0] for f in frames] == ["hi", "hi"]  # an absurd length is not waited for
    assert reader.skipped > 0
    assert reader.feed(b"\x1b") == [] and reader.feed(b"\t" + good[2:])[0].fields[0] == "hi"


def test_a_failing_return_code_is_read() -> None:
    frame = FrameReader().feed(b"\x1b\t000200000112\x0c")[0]
    assert (frame.code, frame.ret, frame.fields) == (2, 12, [])


@settings(max_examples=300, deadline=None)
@given(st.lists(st.binary(max_size=80) | st.sampled_from([b"\x1b\t", b"\x1b\t0005", b"\x0c"]), max_size=20))
def test_any_bytes_never_raise(chunks: list[bytes]) -> None:
    reader = FrameReader()
    for chunk in chunks:
        for frame in reader.feed(chunk):
            parse_frame(frame, bid="bj", rates=RATES)


@settings(max_examples=200, deadline=None)
@given(st.integers(0, 9999), st.lists(st.text(alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x0c"), max_size=30),
                                     max_size=20))
def test_round_trip(code: int, fields: list[str]) -> None:
    frames = FrameReader().feed(encode(code, fields))
    assert [(f.code, f.fields) for f in frames] == [(code, fields)]


def test_roles_come_from_flags_and_the_broadcaster_id_only() -> None:
    def role(user: str, nick: str, flags: str) -> Role:
        frame = FrameReader().feed(encode(5, ["hi", user, "", "", "", nick, flags, "-1"]))[0]
        msg = parse_frame(frame, bid="thebj", rates=RATES)
        assert msg is not None
        return msg.role

    assert role("viewer", "방장", "0|0") is Role.VIEWER  # a nickname never makes a role
    assert role("viewer", "x", "4|0") is Role.STREAMER and role("thebj", "x", "0|0") is Role.STREAMER
    assert role("viewer", "x", "256|0") is Role.MANAGER and role("viewer", "x", "garbage") is Role.VIEWER


def test_subscription_gift_and_ad_balloon_frames() -> None:
    reader = FrameReader()
    gift = reader.feed(encode(108, ["2620", "thebj", "채널", "recv1", "받은이", "gifter1", "선물왕", "3", "GIFTKEY",
                                    "0", "0", "", "0", "0", "", ""]))[0]
    msg = parse_frame(gift, bid="thebj", rates=RATES)
    assert msg is not None and msg.kind is Kind.SUBSCRIPTION and msg.user == "선물왕"
    assert msg.subscription is not None and msg.subscription.gift_id == "soop:GIFTKEY"
    assert msg.subscription.receiver == "받은이" and msg.subscription.months == 3
    ad = reader.feed(encode(87, ["", "thebj", "adv1", "광고", "t", "m", "", "i", "i", "300", "0"]))[0]
    msg = parse_frame(ad, bid="thebj", rates=RATES)
    assert msg is not None and msg.amount == 3000 and msg.gift is not None and msg.gift.unit == "soop_adballoon"
    unknown_rate = parse_frame(ad, bid="thebj", rates={})
    assert unknown_rate is not None and unknown_rate.amount is None  # still thanked, in balloons


def test_live_info() -> None:
    live = parse_live_info(b'{"CHANNEL": {"RESULT": 1, "CHDOMAIN": "CHAT-6E0A4C42.sooplive.co.kr", '
                           b'"CHPT": "8040", "CHATNO": "2620", "FTK": "f", "BNO": "281257200", "TITLE": "t"}}')
    assert live.live and (live.chat_domain, live.chat_port, live.chat_no) == \
        ("chat-6e0a4c42.sooplive.co.kr", 8040, "2620")
    assert not parse_live_info({"CHANNEL": {"RESULT": 0}}).live
    assert parse_live_info({"CHANNEL": {"RESULT": -6, "TITLE": "x"}}).result == -6
    evil = parse_live_info({"CHANNEL": {"RESULT": 1, "CHDOMAIN": "evil.com/x?", "CHPT": "99999",
                                        "CHATNO": "1; drop"}})
    assert not evil.live  # a domain, port or chat number that is not one is refused
    with pytest.raises(ValueError):
        parse_live_info(b"<html>")
    with pytest.raises(ValueError):
        parse_live_info({"no": "channel"})
