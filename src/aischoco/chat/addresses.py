"""A pasted YouTube or SOOP address reduced to what the chat sources need (pure).

(CHZZK addresses are read by ``settings/pasted.py``, at the settings floor; these two stay here,
beside the sources that use them: a YouTube ``@handle`` still needs the network to become a
channel, which the YouTube source does when it looks for the live.)

- YouTube: ``UC…`` (a channel id), ``@handle``, ``https://www.youtube.com/@handle``,
  ``/channel/UC…``, ``/c/name`` and ``/user/name`` (old custom addresses), ``/watch?v=ID``,
  ``youtu.be/ID``, ``/live/ID``, ``/shorts/ID``; with or without the scheme, ``m.``/``www.``,
  a trailing ``/live``/``/streams``/``/featured``, a query.
- SOOP: an id, or ``https://play.sooplive.co.kr/<id>[/<broadcast number>]``,
  ``https://ch.sooplive.co.kr/<id>``, the ``.com`` hosts and the old ``afreecatv.com`` ones
  (``play.afreecatv.com``, ``bj.afreecatv.com``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final, Literal
from urllib.parse import parse_qs, urlsplit

__all__ = ["NotAnAddress", "YouTubeTarget", "soop_channel_id", "youtube_target"]

_QUOTES = {'"': '"', "'": "'", "“": "”", "‘": "’", "「": "」"}
_YT_HOSTS: Final = ("youtube.com", "www.youtube.com", "m.youtube.com", "music.youtube.com",
                    "youtu.be", "www.youtu.be")
_CHANNEL_ID = re.compile(r"^UC[0-9A-Za-z_-]{22}$")
_VIDEO_ID = re.compile(r"^[0-9A-Za-z_-]{11}$")
_HANDLE = re.compile(r"^@[\w.\-·]{3,100}$", re.UNICODE)
_NAME = re.compile(r"^[\w.\-]{1,100}$", re.UNICODE)
# SOOP's hosts, old and new, in one place (chat/soop_packet.py keeps the protocol's own hosts).
SOOP_ADDRESS_HOSTS: Final = frozenset({
    "play.sooplive.co.kr", "ch.sooplive.co.kr", "www.sooplive.co.kr", "sooplive.co.kr",
    "play.sooplive.com", "ch.sooplive.com", "www.sooplive.com", "sooplive.com",
    "play.afreecatv.com", "bj.afreecatv.com", "ch.afreecatv.com", "afreecatv.com",
    "www.afreecatv.com", "m.sooplive.co.kr", "m.afreecatv.com",
})
_SOOP_ID = re.compile(r"^[A-Za-z0-9_]{3,30}$")
_SOOP_NOT_ID = frozenset({"station", "live", "search", "directory", "player", "afreeca", "api"})


class NotAnAddress(ValueError):
    """An address that names no channel or video; str() is for the streamer (Korean)."""


@dataclass(frozen=True, slots=True)
class YouTubeTarget:
    """What to read: ``channel`` (a UC… id), ``handle`` (@name or an old /c/ or /user/ name,
    resolved by the YouTube web page) or ``video`` (one live's id)."""

    kind: Literal["channel", "handle", "video"]
    value: str

    def live_path(self) -> str:
        """The web path of the channel's current live (or the video's own page)."""
        if self.kind == "video":
            return f"/watch?v={self.value}"
        if self.kind == "channel":
            return f"/channel/{self.value}/live"
        return f"/{self.value}/live" if self.value.startswith("@") else f"/c/{self.value}/live"


def _trim(value: str) -> str:
    text = value.strip()
    if len(text) >= 2 and _QUOTES.get(text[0]) == text[-1]:
        text = text[1:-1].strip()
    return text


def _split(text: str, hosts: frozenset[str] | tuple[str, ...]) -> tuple[str, list[str], str] | None:
    """(host, path segments, query) when `text` is an address on one of `hosts`."""
    lowered = text.lower()
    schemeless = not lowered.startswith(("http://", "https://"))
    if schemeless and not any(lowered == h or lowered.startswith((h + "/", h + "?")) for h in hosts):
        return None
    parts = urlsplit(text if not schemeless else f"https://{text}")
    host = (parts.hostname or "").lower()
    return host, [s for s in parts.path.split("/") if s], parts.query


def youtube_target(value: str, *, video: bool = False) -> YouTubeTarget:
    """YOUTUBE_CHANNEL_ID (or, with ``video=True``, YOUTUBE_VIDEO_ID) as the streamer pasted it.
    Raises NotAnAddress for an address that names neither a channel nor a video."""
    text = _trim(value)
    split = _split(text, _YT_HOSTS)
    if split is None:
        if text.lower().startswith(("http://", "https://")):
            raise NotAnAddress(f"YouTube 주소가 아닙니다 ({urlsplit(text).hostname}) — 채널 ID(UC…), "
                               "@핸들, 또는 https://www.youtube.com/@핸들 주소를 넣으세요")
        if video:
            if _VIDEO_ID.match(text):
                return YouTubeTarget("video", text)
            raise NotAnAddress("YouTube 영상 ID는 11자입니다 (watch?v= 뒤의 값) — 영상 주소를 그대로 넣어도 됩니다")
        if _CHANNEL_ID.match(text):
            return YouTubeTarget("channel", text)
        handle = text if text.startswith("@") else f"@{text}"
        if _HANDLE.match(handle):
            return YouTubeTarget("handle", handle)
        raise NotAnAddress("YouTube 채널 ID(UC…로 시작하는 24자)나 @핸들을 넣으세요")
    host, segments, query = split
    if host not in _YT_HOSTS:
        raise NotAnAddress(f"YouTube 주소가 아닙니다 ({host})")
    if host.endswith("youtu.be"):
        if segments and _VIDEO_ID.match(segments[0]):
            return YouTubeTarget("video", segments[0])
        raise NotAnAddress("이 youtu.be 주소에는 영상 ID가 없습니다")
    first = segments[0] if segments else ""
    if first == "watch":
        ids = parse_qs(query).get("v", [])
        if ids and _VIDEO_ID.match(ids[0]):
            return YouTubeTarget("video", ids[0])
        raise NotAnAddress("이 YouTube 주소에는 영상 ID(v=)가 없습니다")
    if first in ("live", "shorts", "embed", "v") and len(segments) >= 2 and _VIDEO_ID.match(segments[1]):
        return YouTubeTarget("video", segments[1])
    if first == "channel" and len(segments) >= 2 and _CHANNEL_ID.match(segments[1]):
        return YouTubeTarget("channel", segments[1])
    if first.startswith("@") and _HANDLE.match(first):
        return YouTubeTarget("handle", first)
    if first in ("c", "user") and len(segments) >= 2 and _NAME.match(segments[1]):
        return YouTubeTarget("handle", segments[1])
    raise NotAnAddress("이 YouTube 주소에는 채널이나 영상이 없습니다 — https://www.youtube.com/@핸들, "
                       "…/channel/UC…, 또는 watch?v= 주소를 넣으세요")


def soop_channel_id(value: str) -> str:
    """SOOP_CHANNEL_ID as pasted: the streamer id (``bid``), from an address when it is one."""
    text = _trim(value)
    split = _split(text, SOOP_ADDRESS_HOSTS)
    if split is None:
        if text.lower().startswith(("http://", "https://")):
            raise NotAnAddress(f"SOOP 주소가 아닙니다 ({urlsplit(text).hostname}) — 방송국 ID나 "
                               "https://play.sooplive.co.kr/아이디 주소를 넣으세요")
        if _SOOP_ID.match(text):
            return text.lower()
        raise NotAnAddress("SOOP 방송국 ID는 영문·숫자입니다 (방송 주소 play.sooplive.co.kr/아이디의 아이디)")
    host, segments, _ = split
    if host not in SOOP_ADDRESS_HOSTS:
        raise NotAnAddress(f"SOOP 주소가 아닙니다 ({host})")
    candidates = [s for s in segments if s.lower() not in _SOOP_NOT_ID]
    if candidates and _SOOP_ID.match(candidates[0]) and not candidates[0].isdigit():
        return candidates[0].lower()
    raise NotAnAddress("이 SOOP 주소에는 방송국 ID가 없습니다 — https://play.sooplive.co.kr/아이디 주소나 "
                       "아이디를 넣으세요")
