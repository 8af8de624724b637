"""What every platform's chat shares once it is in the one room (pure).

- **Viewer ids are namespaced** by platform: ``youtube:UC…``, ``soop:<id>``. CHZZK ids stay as
  CHZZK gives them (32-hex hashes, no ``:``), so the viewer memory written before more platforms
  existed keeps working without a migration, and no id of one platform can equal another's: two
  "민수" on two platforms are two viewers (memory, rate limits, the forget command).
- **Gifts in won**: a SOOP balloon or a Super Chat in any currency is counted through
  ``DONATION_KRW_RATES`` (:func:`gift_in_won`) for ``DONATION_TIERS`` and the memory totals; the
  platform's own words ("별풍선 10개", "5달러 슈퍼챗") are kept on :class:`~aischoco.core.messages.Gift`
  for the overlay, the LLM and the thank-you line.
- **Labels**: how a platform is named to the streamer, the overlay and the LLM.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Final

from ..core.messages import NAMESPACED_PLATFORMS, ChatMessage, Gift

__all__ = [
    "CURRENCY_SYMBOLS",
    "PLATFORM_LABELS",
    "donated_text",
    "gift_in_won",
    "money_gift",
    "namespaced",
    "parse_money_text",
    "platform_tag",
    "soop_balloon_gift",
    "viewer_key",
]

PLATFORM_LABELS: Final = {"chzzk": "치지직", "youtube": "YouTube", "soop": "SOOP", "local": "로컬"}
NAMESPACED: Final = NAMESPACED_PLATFORMS

# What YouTube writes before an amount (purchaseAmountText "$5.00", "₩10,000", "CA$5.00"); any
# other prefix is an ISO 4217 code already ("CHF 5.00"). (chat-downloader reads it the same way.)
CURRENCY_SYMBOLS: Final = {
    "$": "USD", "US$": "USD", "A$": "AUD", "CA$": "CAD", "HK$": "HKD", "MX$": "MXN", "NT$": "TWD",
    "NZ$": "NZD", "R$": "BRL", "£": "GBP", "€": "EUR", "₹": "INR", "₪": "ILS", "₱": "PHP",
    "₩": "KRW", "￦": "KRW", "¥": "JPY", "￥": "JPY", "₫": "VND", "₺": "TRY", "₽": "RUB",
}
# How Korean says the currencies Korean viewers use most (the rest keep their code: "CHF 5").
_KOREAN_UNITS: Final = {"KRW": "원", "USD": "달러", "JPY": "엔", "EUR": "유로", "TWD": "대만달러",
                        "CAD": "캐나다달러", "AUD": "호주달러", "GBP": "파운드", "HKD": "홍콩달러"}
_MONEY_RE = re.compile(r"^\s*([^\d\s.,]{0,6})\s*([\d][\d,]{0,15}(?:\.\d{1,4})?)\s*([A-Za-z]{3})?\s*$")
_MAX_WON = 10**12


def namespaced(platform: str, raw_id: str) -> str:
    """``youtube:UC…`` / ``soop:<id>``; CHZZK and local ids as given."""
    if platform not in NAMESPACED:
        return raw_id
    prefix = f"{platform}:"
    return raw_id if raw_id.startswith(prefix) else prefix + raw_id


def donated_text(won: int, platform: str) -> str:
    """A memory total as the streamer and the LLM read it: CHZZK's in cheese (1 cheese = 1 won),
    other platforms' gifts in won, as DONATION_KRW_RATES counted them."""
    return f"{won:,}원" if platform in NAMESPACED else f"{won:,}치즈"


def viewer_key(msg: ChatMessage) -> str:
    """Who sent it, for rate limits and memory: the (namespaced) user id, else the nickname —
    namespaced too on the platforms that namespace, so a YouTube nickname never shares a CHZZK
    viewer's state (one rule: ChatMessage.memory_key)."""
    return msg.memory_key


def platform_tag(msg: ChatMessage) -> str:
    """``[YouTube]`` for the LLM's chat line; nothing for local chat (the streamer's own tools)."""
    label = PLATFORM_LABELS.get(msg.platform)
    return f"[{label}]" if label and msg.platform != "local" else ""


def gift_in_won(count: float | None, unit: str, rates: Mapping[str, float]) -> int | None:
    """``count`` of ``unit`` in won; None when the unit has no rate (the gift is still thanked)."""
    if count is None or not math.isfinite(count) or count < 0:
        return None
    rate = 1.0 if unit == "KRW" else rates.get(unit)
    if rate is None:
        return None
    won = count * rate
    return round(won) if won < _MAX_WON else None


def parse_money_text(text: str) -> tuple[str, float] | None:
    """YouTube's amount text → (ISO currency, value): "$5.00" → ("USD", 5.0), "₩10,000" → ("KRW",
    10000.0), "CHF 5.00" → ("CHF", 5.0). None when it is not an amount."""
    match = _MONEY_RE.match(text[:40])
    if match is None:
        return None
    prefix, number, suffix = match.groups()
    code = (suffix or "").upper() or CURRENCY_SYMBOLS.get(prefix.strip()) or prefix.strip().upper()
    if not re.fullmatch(r"[A-Z]{3}", code):
        return None
    try:
        value = float(number.replace(",", ""))
    except ValueError:
        return None
    return (code, value) if math.isfinite(value) else None


def _number_words(value: float) -> str:
    return f"{value:,.0f}" if value == int(value) else f"{value:,.2f}".rstrip("0").rstrip(".")


def money_gift(currency: str, value: float, what: str) -> Gift:
    """A Super Chat / Super Sticker: label in Korean ("5달러 슈퍼챗", "CHF 5 슈퍼챗")."""
    unit = _KOREAN_UNITS.get(currency)
    amount = f"{_number_words(value)}{unit}" if unit else f"{currency} {_number_words(value)}"
    return Gift(label=f"{amount} {what}", count=value, unit=currency)


def soop_balloon_gift(count: int, unit: str = "soop_balloon") -> Gift:
    """SOOP's gifts in SOOP's words: 별풍선 10개, 애드벌룬 100개."""
    name = "애드벌룬" if unit == "soop_adballoon" else "별풍선"
    return Gift(label=f"{name} {count:,}개", count=float(count), unit=unit)
