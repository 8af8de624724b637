"""Donations by tier, and the promise that every donor hears their name and amount (pure).

DONATION_TIERS (cheese amounts, ascending) step the reaction up: below the first is tier 0, at or
above the last is the top tier. A gift from another platform (SOOP balloons, a Super Chat in any
currency) has its amount in won (DONATION_KRW_RATES) for the tiers, and is thanked in the
platform's own words ("별풍선 10개"): the words, the count or the won all count as named.
The LLM is told the amount and the tier; whatever it writes, the text that reaches TTS names the
donor and the amount: when the answer does not (the whole answer, or a streamed answer's first
sentence), the daemon says its own thank-you line first.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from ..core.messages import ChatMessage, Kind

ANONYMOUS = "익명"
NICK_CHARS = 29  # the prompt shows at most 30 characters of a nickname ("…" for the rest)

_DIGITS = {"일": 1, "이": 2, "삼": 3, "사": 4, "오": 5, "육": 6, "칠": 7, "팔": 8, "구": 9}
_SMALL_UNITS = {"십": 10, "백": 100, "천": 1000}
_BIG_UNITS = {"만": 10_000, "억": 100_000_000}
_NUMBER_CHARS = "0-9,.일이삼사오육칠팔구십백천만억"
_RUN_RE = re.compile(f"[{_NUMBER_CHARS}]+(?:\\s+[{_NUMBER_CHARS}]+)*")
_PART_RE = re.compile(r"[0-9][0-9,]*(?:\.[0-9]+)?|.")


def donation_tier(amount: int | None, tiers: Sequence[int]) -> int:
    """0 below the first threshold (or no amount), else how many thresholds it reaches."""
    if not amount:
        return 0
    return sum(1 for threshold in tiers if amount >= threshold)


def _parse_run(run: str) -> int | None:
    """One run of number text: "50,000", "5만", "1만 5천", "1.5만", "오만", "만 오천" → int."""
    total, section, current = 0.0, 0.0, None
    for part in _PART_RE.findall(run.replace(" ", "")):
        if part[0].isdigit():
            if current is not None:
                return None  # two numbers in a row: not one amount
            try:
                current = float(part.replace(",", ""))
            except ValueError:
                return None
        elif part in _DIGITS:
            if current is not None:
                return None
            current = float(_DIGITS[part])
        elif part in _SMALL_UNITS:
            section += (1.0 if current is None else current) * _SMALL_UNITS[part]
            current = None
        elif part in _BIG_UNITS:
            group = section + (current or 0.0)
            total += (group or 1.0) * _BIG_UNITS[part]
            section, current = 0.0, None
        else:
            return None
    value = total + section + (current or 0.0)
    return round(value) if value > 0 and abs(value - round(value)) < 1e-6 else None


def amounts_in(text: str) -> set[int]:
    """Every amount written in `text`, in digits, Korean units or Korean numerals."""
    found = set()
    for match in _RUN_RE.finditer(text):
        value = _parse_run(match.group().strip(",."))
        if value is not None:
            found.add(value)
    return found


def donor_name(msg: ChatMessage) -> str:
    """How the donor is named: the nickname (as far as the prompt shows it), else 익명."""
    nick = " ".join(msg.user.split())[:NICK_CHARS]
    return nick if nick and nick != ANONYMOUS else ANONYMOUS


def names_donation(text: str, msg: ChatMessage) -> bool:
    """Does `text` name this donation's donor and (when known) its amount?"""
    flat = " ".join(text.split())
    if donor_name(msg).casefold() not in flat.casefold():
        return False
    gift = msg.gift
    if gift is not None:
        said = amounts_in(flat)
        own = gift.count is not None and gift.count == int(gift.count) and int(gift.count) in said
        return own or gift.label.casefold() in flat.casefold() or (msg.amount or -1) in said
    return msg.amount is None or msg.amount in amounts_in(flat)


def thank_you_line(msg: ChatMessage, tier: int) -> str:
    """The daemon's own line, when the model's answer left out the donor or the amount."""
    who = f"{donor_name(msg)}님" if donor_name(msg) != ANONYMOUS else "익명의 후원자님"
    what = (msg.gift.label if msg.gift is not None
            else f"{msg.amount:,}치즈 후원" if msg.amount else "후원")
    if tier >= 3:
        return f"우와, {who}! {what} 정말 정말 감사합니다!"
    if tier == 2:
        return f"{who}, {what} 진짜 감사합니다!"
    return f"{who}, {what} 감사합니다!"


_TIER_STYLE = ("짧고 밝게", "고맙게", "크게 기뻐하며", "방송이 뒤집어질 만큼 크게 감격하며")


def tier_notice(msg: ChatMessage, tier: int, tiers: Sequence[int]) -> str:
    """What the LLM is told about the donation (trusted: written by the daemon)."""
    style = _TIER_STYLE[min(tier, len(_TIER_STYLE) - 1)]
    steps = "/".join(f"{t:,}" for t in tiers)
    amount = f"{msg.amount:,}치즈" if msg.amount else "금액 모름"
    unit = "치즈"
    if msg.gift is not None:  # another platform's gift: its own words, and what it is in won
        won = f" (약 {msg.amount:,}원)" if msg.amount else " (원화 환산 모름)"
        amount, unit = f"{msg.gift.label}{won}", "원"
    who = "익명의 후원자" if donor_name(msg) == ANONYMOUS else "후원자 닉네임"
    return (f"후원 {amount}, {tier}단계 (단계 기준 {steps}{unit}): {style} 감사하세요. "
            f"첫 문장에 {who}과 금액을 꼭 말하세요")


@dataclass(frozen=True, slots=True)
class DonationTurn:
    """A turn that answers one donation: its tier and the line that guarantees the thanks."""

    message: ChatMessage
    tier: int

    @classmethod
    def of(cls, batch: Sequence[ChatMessage], tiers: Sequence[int]) -> DonationTurn | None:
        if len(batch) != 1 or batch[0].kind is not Kind.DONATION:
            return None
        return cls(batch[0], donation_tier(batch[0].amount, tiers))

    def missing_line(self, text: str) -> str | None:
        """The daemon's thank-you line when `text` does not name the donor and amount."""
        return None if names_donation(text, self.message) else thank_you_line(self.message,
                                                                               self.tier)
