"""Donation tiers and the thank-you promise (show/donation.py, pure)."""

from __future__ import annotations

import pytest

from aischoco.core.messages import ChatMessage, Kind
from aischoco.show.donation import (DonationTurn, amounts_in, donation_tier, names_donation,
                                    thank_you_line, tier_notice)

TIERS = (1000, 10000, 50000)


def donation(user: str = "민수", amount: int | None = 50000, uid: str = "u1") -> ChatMessage:
    return ChatMessage(user=user, user_id=uid, message="응원해요", kind=Kind.DONATION,
                       amount=amount)


@pytest.mark.parametrize(("amount", "tier"), [(None, 0), (0, 0), (500, 0), (1000, 1), (9999, 1),
                                              (10000, 2), (49999, 2), (50000, 3), (10**8, 3)])
def test_tier_is_how_many_thresholds_the_amount_reaches(amount: int | None, tier: int) -> None:
    assert donation_tier(amount, TIERS) == tier


@pytest.mark.parametrize(("text", "amount"), [
    ("50000치즈", 50000), ("50,000 치즈", 50000), ("5만 치즈", 50000), ("오만 치즈", 50000),
    ("1만 5천 치즈", 15000), ("만 오천", 15000), ("1.5만", 15000), ("천 치즈", 1000),
    ("1,000치즈", 1000), ("십만", 100000), ("2억", 200_000_000), ("삼천 원", 3000),
])
def test_amounts_are_read_in_every_way_a_model_writes_them(text: str, amount: int) -> None:
    assert amount in amounts_in(f"우와 {text} 감사해요!")


def test_a_wrong_amount_or_a_missing_name_is_not_a_thank_you() -> None:
    msg = donation()
    assert names_donation("민수님 5만 치즈 정말 고마워요!", msg)
    assert names_donation("와 민수님!! 50,000치즈라니", msg)
    assert not names_donation("민수님 5천 치즈 고마워요!", msg)  # the wrong amount
    assert not names_donation("5만 치즈 고마워요!", msg)  # nobody named
    assert not names_donation("민수님 정말 고마워요!", msg)  # no amount
    unknown = donation(amount=None)  # a malformed amount: the name is enough
    assert names_donation("민수님 고마워요!", unknown)


def test_anonymous_donors_are_thanked_as_anonymous() -> None:
    anon = donation(user="익명", uid="")
    assert names_donation("익명의 후원자님 1만 치즈 감사합니다", donation(user="익명", amount=10000, uid=""))
    line = thank_you_line(anon, 3)
    assert "익명의 후원자님" in line and "50,000치즈" in line and names_donation(line, anon)
    assert "익명의 후원자" in tier_notice(anon, 3, TIERS)


def test_the_daemon_line_steps_up_with_the_tier_and_always_names_both() -> None:
    msg = donation(amount=20000)
    assert len({thank_you_line(msg, tier) for tier in (1, 2, 3)}) == 3  # three wordings
    assert thank_you_line(msg, 3).startswith("우와")
    for amount in (500, 1000, 10000, 50000):
        msg = donation(amount=amount)
        assert names_donation(thank_you_line(msg, donation_tier(amount, TIERS)), msg)


def test_the_llm_is_told_amount_tier_and_the_thresholds() -> None:
    note = tier_notice(donation(), 3, TIERS)
    assert "50,000치즈" in note and "3단계" in note and "1,000/10,000/50,000" in note


def test_a_donation_turn_is_one_donation_and_its_missing_line() -> None:
    msg = donation(amount=10000)
    turn = DonationTurn.of([msg], TIERS)
    assert turn is not None and turn.tier == 2
    assert turn.missing_line("민수님 만 치즈 고마워요") is None
    assert turn.missing_line("고마워요!") == thank_you_line(msg, 2)
    assert DonationTurn.of([msg, ChatMessage(user="a", message="b")], TIERS) is None
    assert DonationTurn.of([ChatMessage(user="a", message="b")], TIERS) is None


def test_long_nicknames_are_matched_as_far_as_the_prompt_shows_them() -> None:
    long = donation(user="아주아주아주아주아주아주아주아주긴닉네임입니다정말로요", amount=1000)
    shown = long.user[:29]
    assert names_donation(f"{shown}님 천 치즈 감사!", long)
