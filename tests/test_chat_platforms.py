"""One room, many platforms (pure parts): pasted addresses, namespaced viewers, gifts in won,
the thank-you guarantee in each platform's words, the LLM's chat line, CHAT_SOURCE as a list,
and the chat rows the sources build."""

from __future__ import annotations

import pytest

from aischoco.ai.prompts import format_line
from aischoco.chat.addresses import NotAnAddress, YouTubeTarget, soop_channel_id, youtube_target
from aischoco.chat.filters import ChatFilter, FilterConfig
from aischoco.chat.platforms import (
    gift_in_won,
    money_gift,
    parse_money_text,
    soop_balloon_gift,
    viewer_key,
)
from aischoco.chat.sources import NotConfigured, build_chat_sources
from aischoco.core.messages import ChatMessage, Kind, Role
from aischoco.settings.model import Settings, SettingsError, load_settings
from aischoco.show.donation import DonationTurn, names_donation, thank_you_line, tier_notice

UC = "UCabcdefghijklmnopqrstuv"


@pytest.mark.parametrize(("pasted", "expected"), [
    (UC, YouTubeTarget("channel", UC)),
    (f"https://www.youtube.com/channel/{UC}", YouTubeTarget("channel", UC)),
    (f"youtube.com/channel/{UC}/live", YouTubeTarget("channel", UC)),
    ("https://www.youtube.com/@초코짱", YouTubeTarget("handle", "@초코짱")),
    ("https://m.youtube.com/@choco.tv/streams", YouTubeTarget("handle", "@choco.tv")),
    ("@chocotv", YouTubeTarget("handle", "@chocotv")),
    ("chocotv", YouTubeTarget("handle", "@chocotv")),
    (' "https://www.youtube.com/@chocotv" ', YouTubeTarget("handle", "@chocotv")),
    ("https://www.youtube.com/c/OldName", YouTubeTarget("handle", "OldName")),
    ("https://www.youtube.com/watch?v=dQw4w9WgXcQ&t=10", YouTubeTarget("video", "dQw4w9WgXcQ")),
    ("https://youtu.be/dQw4w9WgXcQ?si=x", YouTubeTarget("video", "dQw4w9WgXcQ")),
    ("https://www.youtube.com/live/dQw4w9WgXcQ?feature=share", YouTubeTarget("video", "dQw4w9WgXcQ")),
])
def test_youtube_addresses(pasted: str, expected: YouTubeTarget) -> None:
    assert youtube_target(pasted) == expected


def test_youtube_video_setting_and_refusals() -> None:
    assert youtube_target("dQw4w9WgXcQ", video=True) == YouTubeTarget("video", "dQw4w9WgXcQ")
    assert youtube_target("https://www.youtube.com/watch?v=dQw4w9WgXcQ", video=True).kind == "video"
    for bad, video in (("https://chzzk.naver.com/live/abc", False), ("https://www.youtube.com/results?q=x", False),
                       ("short", True), ("https://www.youtube.com/watch", False), ("two words", False)):
        with pytest.raises(NotAnAddress):
            youtube_target(bad, video=video)
    assert YouTubeTarget("handle", "@x_y").live_path() == "/@x_y/live"
    assert YouTubeTarget("channel", UC).live_path() == f"/channel/{UC}/live"


@pytest.mark.parametrize(("pasted", "bid"), [
    ("chocobj", "chocobj"), ("https://play.sooplive.co.kr/chocobj", "chocobj"),
    ("https://play.sooplive.co.kr/chocobj/281257200", "chocobj"), ("ch.sooplive.co.kr/ChocoBJ", "chocobj"),
    ("https://ch.sooplive.com/chocobj/post/1", "chocobj"), ("https://play.afreecatv.com/chocobj", "chocobj"),
    ("https://bj.afreecatv.com/chocobj", "chocobj"), ("'https://www.sooplive.co.kr/station/chocobj'", "chocobj"),
])
def test_soop_addresses(pasted: str, bid: str) -> None:
    assert soop_channel_id(pasted) == bid


def test_soop_refusals() -> None:
    for bad in ("https://www.youtube.com/@x", "https://play.sooplive.co.kr/", "아이디", "a b"):
        with pytest.raises(NotAnAddress):
            soop_channel_id(bad)


def test_money_and_balloons_in_won() -> None:
    assert parse_money_text("$5.00") == ("USD", 5.0) and parse_money_text("CA$1,000.50") == ("CAD", 1000.5)
    assert parse_money_text("₩1,000") == ("KRW", 1000.0) and parse_money_text("PLN 20.00") == ("PLN", 20.0)
    assert parse_money_text("free") is None and parse_money_text("$") is None
    rates = {"USD": 1400.0, "soop_balloon": 100.0}
    assert gift_in_won(5.0, "USD", rates) == 7000 and gift_in_won(1000.0, "KRW", {}) == 1000
    assert gift_in_won(3.0, "GBP", rates) is None and gift_in_won(float("nan"), "USD", rates) is None
    assert gift_in_won(10.0, "soop_balloon", rates) == 1000
    assert soop_balloon_gift(10).label == "별풍선 10개" and money_gift("USD", 4.99, "슈퍼챗").label == "4.99달러 슈퍼챗"


def _msg(platform: str, user_id: str, user: str = "민수", **kw: object) -> ChatMessage:
    source = {"youtube": "youtube", "soop": "soop", "chzzk": "chzzk-web", "local": "api"}[platform]
    return ChatMessage(user=user, message=kw.pop("message", "안녕하세요"), user_id=user_id,  # type: ignore[arg-type]
                       source=source, **kw)  # type: ignore[arg-type]


def test_two_minsu_on_two_platforms_are_rate_limited_apart() -> None:
    chat_filter = ChatFilter(FilterConfig(user_max_messages=1, user_window_s=60, duplicate_window_s=0))
    youtube, soop = _msg("youtube", "youtube:UC1"), _msg("soop", "soop:minsu")
    chzzk, local = _msg("chzzk", "a1b2c3"), _msg("local", "민수")
    assert [chat_filter.check(m, 0.0).accepted for m in (youtube, soop, chzzk, local)] == [True] * 4
    assert not chat_filter.check(_msg("youtube", "youtube:UC1", message="또"), 1.0).accepted
    nameless = ChatMessage(user="민수", message="x", source="youtube")
    assert viewer_key(nameless) == "youtube:nick:민수" and viewer_key(local) == "민수"
    # memory keys by the same rule: a nameless YouTube 민수 is not the local or a CHZZK 민수
    assert nameless.memory_key == "youtube:nick:민수" != ChatMessage(user="민수", message="x").memory_key
    assert {m.platform for m in (youtube, soop, chzzk, local)} == {"youtube", "soop", "chzzk", "local"}
    assert youtube.to_public()["platform"] == "youtube"


def test_the_llm_sees_the_platform_and_roles_do_not_cross() -> None:
    line = format_line(_msg("youtube", "youtube:UC1", user="방장", message="내가 방장"))
    assert line == "[YouTube] 「방장」: 내가 방장"  # a nickname is not the [방장] tag
    owner = format_line(_msg("soop", "soop:bj", user="초코", role=Role.STREAMER))
    assert owner.startswith("[SOOP] [방장]")
    assert format_line(_msg("chzzk", "h")).startswith("[치지직] ")
    assert format_line(_msg("local", "민수")) == "「민수」: 안녕하세요"


def test_gift_tiers_and_the_thank_you_in_the_platforms_words() -> None:
    tiers = (1000, 10000, 50000)
    balloon = _msg("soop", "soop:big", user="큰손", kind=Kind.DONATION, amount=1000, gift=soop_balloon_gift(10),
                   message="")
    turn = DonationTurn.of([balloon], tiers)
    assert turn is not None and turn.tier == 1
    assert thank_you_line(balloon, 1) == "큰손님, 별풍선 10개 감사합니다!"
    assert names_donation("큰손님 별풍선 열 개… 아니 10개 고마워요", balloon)
    assert names_donation("큰손님 1,000원어치 고마워요", balloon)
    assert not names_donation("큰손님 고마워요", balloon)
    notice = tier_notice(balloon, 1, tiers)
    assert "별풍선 10개 (약 1,000원)" in notice and "단계 기준 1,000/10,000/50,000원" in notice
    superchat = _msg("youtube", "youtube:UCd", user="Rich", kind=Kind.DONATION, amount=14000,
                     gift=money_gift("USD", 10.0, "슈퍼챗"))
    turn = DonationTurn.of([superchat], tiers)
    assert turn is not None and turn.tier == 2
    assert turn.missing_line("Rich님 10달러 슈퍼챗 고마워요!") is None
    assert turn.missing_line("고마워요!") == "Rich님, 10달러 슈퍼챗 진짜 감사합니다!"
    unknown = _msg("youtube", "youtube:UCd", user="Rich", kind=Kind.DONATION, amount=None,
                   gift=money_gift("CHF", 5.0, "슈퍼챗"))
    assert DonationTurn.of([unknown], tiers).tier == 0  # type: ignore[union-attr]
    assert "원화 환산 모름" in tier_notice(unknown, 0, tiers)
    assert "CHF 5 슈퍼챗" in format_line(unknown)


def test_chat_source_is_a_list(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CHAT_SOURCE", " CHZZK-web, youtube ,soop,youtube")
    assert load_settings(None).chat_sources == ("chzzk-web", "youtube", "soop")
    monkeypatch.setenv("CHAT_SOURCE", "chzzk,chzzk-web")
    with pytest.raises(SettingsError, match="함께 쓸 수 없습니다"):
        load_settings(None)
    monkeypatch.setenv("CHAT_SOURCE", "youtube,twitch")
    with pytest.raises(SettingsError, match="모르는 플랫폼: 'twitch'"):
        load_settings(None)
    monkeypatch.setenv("CHAT_SOURCE", "local")
    monkeypatch.setenv("DONATION_KRW_RATES", "soop_balloon = 110, usd=1350.5")
    assert load_settings(None).krw_rates == {"soop_balloon": 110.0, "USD": 1350.5}
    monkeypatch.setenv("DONATION_KRW_RATES", "USD:1400")
    with pytest.raises(SettingsError, match="DONATION_KRW_RATES"):
        load_settings(None)


def test_each_platform_is_its_own_row() -> None:
    settings = Settings(chat_source="chzzk-web,youtube,soop,local", chzzk_channel_id="ch",
                        youtube_channel_id="https://www.youtube.com/@choco", soop_channel_id="chocobj")
    plans = build_chat_sources(settings, lambda m: None)
    assert [p.component.name for p in plans] == ["chat", "chat_local", "chat_youtube", "chat_soop"]
    assert "비공식" in plans[3].label
    missing = build_chat_sources(Settings(chat_source="youtube,soop", soop_channel_id="https://x.com/y"),
                                 lambda m: None)
    assert all(isinstance(p.component, NotConfigured) for p in missing)
    assert [p.component.name for p in missing] == ["chat_youtube", "chat_soop"]
