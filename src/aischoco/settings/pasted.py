"""Values pasted into the settings, read as the streamer meant them (pure).

A key copied from a web page often brings spaces or the quotes around it; a CHZZK channel is
easiest to copy as its address. Both are reduced here to what the daemon needs. (This sits beside
the settings model rather than in chat/: the settings floor may not import the parts above it.)
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

QUOTES = {'"': '"', "'": "'", "“": "”", "‘": "’", "「": "」"}
CHZZK_HOSTS = ("chzzk.naver.com", "m.chzzk.naver.com", "www.chzzk.naver.com")
# Address paths that name something other than a channel (no channel id in their first segment).
CHZZK_NOT_CHANNEL = frozenset({"live", "video", "clips", "search", "category", "lives", "following",
                               "embed", "popout"})
_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


class NotAChannel(ValueError):
    """A CHZZK address that names no channel (a video, a search …); str() is for the streamer."""


def trim_pasted(value: str) -> str:
    """Spaces around, and one pair of quotes around the whole value (pasted by mistake)."""
    text = value.strip()
    if len(text) >= 2 and QUOTES.get(text[0]) == text[-1]:
        text = text[1:-1].strip()
    return text


def chzzk_channel_id(value: str) -> str:
    """The channel id in `value`: an id as it is, or one taken from a channel address
    (`https://chzzk.naver.com/live/<id>`, `https://chzzk.naver.com/<id>`, with or without the
    scheme, `m.` host, a trailing page such as `/about`, a query). Raises NotAChannel for a CHZZK
    address without a channel id in it."""
    text = trim_pasted(value)
    lowered = text.lower()
    if not any(lowered.startswith(prefix) for prefix in ("http://", "https://")) and \
            not any(lowered.startswith(host + "/") or lowered == host for host in CHZZK_HOSTS):
        return text  # not an address: the id as typed
    parts = urlsplit(text if "://" in text else f"https://{text}")
    if (parts.hostname or "").lower() not in CHZZK_HOSTS:
        raise NotAChannel(f"치지직 채널 주소가 아닙니다 ({parts.hostname}) — 채널 ID나 "
                          "https://chzzk.naver.com/live/채널ID 주소를 넣으세요")
    segments = [s for s in parts.path.split("/") if s]
    if segments[:1] == ["live"] and len(segments) >= 2:
        candidate = segments[1]
    elif segments and segments[0].lower() not in CHZZK_NOT_CHANNEL:
        candidate = segments[0]
    else:
        candidate = ""
    if not _ID.match(candidate):
        raise NotAChannel("이 치지직 주소에는 채널 ID가 없습니다 — 방송 주소"
                          "(https://chzzk.naver.com/live/채널ID)나 채널 ID를 넣으세요")
    return candidate
