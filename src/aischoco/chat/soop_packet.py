"""SOOP (formerly AfreecaTV) live chat, unofficial: the framing and the frames we read (pure).

Learned from open projects (maro5397/soop ``src/chat``, wakscord/afreeca ``afreeca/packet.py``,
wei756/soop-chat-client, HO-Silverplate/SOOP_APIs) and captured frames quoted in public code;
written here from the layout, not copied.

A frame is ``ESC TAB`` (``1b 09``) + a 4-digit service code + a 6-digit body length (UTF-8
bytes) + ``00`` (the server's return code; 0 = success), then the body: every field preceded by
a form feed (``0c``) and one more form feed at the end — ``\\x0cfield0\\x0cfield1\\x0c``. One
websocket message may carry several frames, and a frame may be split across messages: the
:class:`FrameReader` reassembles the byte stream and resynchronises on the next ``ESC TAB``
after garbage.

Frames we send: ``0001`` login as a guest (``["", "", "16"]``), ``0002`` join with the live's
``CHATNO`` and ``FTK``, ``0000`` keep-alive (an empty body, every 20 s).
Frames we read (field numbers after the leading form feed):

==========  ==========================================================================
``0005``    chat: 0 text, 1 user id, 5 nickname, 6 flags ``flag1|flag2``, 7 months subscribed
``0018``    balloon (별풍선): 0 streamer, 1 user id, 2 nickname, 3 count, 4 fan-club number
``0087``    ad balloon (애드벌룬): 1 streamer, 2 user id, 3 nickname, 9 count
``0105``    video balloon (영상풍선, counted as balloons): 1 streamer, 2 user id, 3 nick, 4 count
``0091``    a new subscription: 2 user id, 3 nickname
``0093``    a subscription's month: 1 user id, 2 nickname, 3 months, 7 tier
``0108``    a subscription gift, one frame per receiver: 3/4 receiver id/nick, 5/6 gifter
            id/nick, 7 months, 8 the gift's key
``0109``    OGQ emoticon (sticker) chat: 1 text, 2 sticker set, 3 number, 4 version,
            5 user id, 6 nickname, 7 flags, 11 file type
``0007``/``0088``  the streamer ended the broadcast
==========  ==========================================================================

Roles from flag1 (bit values): 4 = the streamer (BJ), 256 = a manager; a user id equal to the
broadcaster's id is the streamer too. Nothing else (a nickname) ever makes a role.
User ids carry a session suffix when one account is logged in twice (``abc(2)``): it is dropped,
so the viewer stays one viewer.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Final

from ..core.messages import ChatMessage, Kind, Role, SubscriptionInfo
from .chzzk_parse import PayloadError, _clean_nickname, _clean_text
from .platforms import gift_in_won, namespaced, soop_balloon_gift

__all__ = ["Frame", "FrameReader", "LiveInfo", "PayloadError", "describe_ret", "encode",
           "join_frame", "keepalive_frame", "login_frame", "parse_frame", "parse_live_info"]

ESC_TAB: Final = b"\x1b\t"
FF: Final = "\x0c"
HEADER_LEN: Final = 14
MAX_BODY: Final = 64 * 1024  # a chat frame is a few KB; a bigger one (a viewer list) is skipped

# Hosts, in one place: the live-info default is the SOOP_LIVE_API_URL setting; the sticker CDN is
# here. (SOOP moved once, sooplive.co.kr → sooplive.com; the old hosts still answer for now.)
STICKER_URL: Final = "https://ogq-sticker-global-cdn-z01.sooplive.co.kr/sticker/{set}/{no}_80.{ext}?ver={ver}"
PLAY_URL: Final = "https://play.sooplive.co.kr"  # Origin/Referer of the web player

KEEPALIVE, LOGIN, JOIN, CHAT, BJ_STATE = 0, 1, 2, 5, 7
BALLOON, AD_BALLOON, STREAM_CLOSED, SUB_NEW, SUB_MONTH = 18, 87, 88, 91, 93
NOTICE, VIDEO_BALLOON, SUB_GIFT, OGQ_STICKER = 104, 105, 108, 109
ENDED: Final = frozenset({BJ_STATE, STREAM_CLOSED})

FLAG_BJ: Final = 4
FLAG_MANAGER: Final = 256
GUEST_FLAG: Final = "16"
_SESSION_SUFFIX = re.compile(r"\(\d{1,3}\)$")
_USER_ID = re.compile(r"^[A-Za-z0-9_]{1,40}$")
_DOMAIN = re.compile(r"^[a-z0-9][a-z0-9.-]{0,200}$")
_STICKER_PART = re.compile(r"^[A-Za-z0-9]{1,40}$")


@dataclass(frozen=True, slots=True)
class Frame:
    code: int
    ret: int
    fields: list[str]


def encode(code: int, fields: Sequence[str]) -> bytes:
    body = ("".join(FF + f for f in fields) + FF).encode("utf-8")
    if not 0 <= code <= 9999 or len(body) > 999_999:
        raise ValueError("code or body out of range")
    return ESC_TAB + f"{code:04d}{len(body):06d}00".encode("ascii") + body


def login_frame() -> bytes:
    return encode(LOGIN, ["", "", GUEST_FLAG])


def join_frame(chat_no: str, ftk: str) -> bytes:
    return encode(JOIN, [chat_no, ftk, "0", "", ""])


def keepalive_frame() -> bytes:
    return encode(KEEPALIVE, [])


class FrameReader:
    """Bytes in, whole frames out: split frames wait for the rest, merged ones come out one by
    one, garbage is skipped up to the next ``ESC TAB`` (``skipped`` counts its bytes)."""

    def __init__(self, max_body: int = MAX_BODY) -> None:
        self._buf = bytearray()
        self._max_body = max_body
        self.skipped = 0

    def feed(self, data: bytes | str) -> list[Frame]:
        if isinstance(data, str):
            data = data.encode("utf-8", "surrogatepass")
        self._buf += data
        frames: list[Frame] = []
        while True:
            start = self._buf.find(ESC_TAB)
            if start < 0:
                keep = 1 if self._buf.endswith(b"\x1b") else 0  # maybe half of the next marker
                self.skipped += len(self._buf) - keep
                del self._buf[:len(self._buf) - keep]
                return frames
            if start:
                self.skipped += start
                del self._buf[:start]
            if len(self._buf) < HEADER_LEN:
                return frames
            header = bytes(self._buf[2:HEADER_LEN])
            if not header.isdigit():
                self.skipped += 2
                del self._buf[:2]
                continue
            code, length, ret = int(header[:4]), int(header[4:10]), int(header[10:12])
            if length > self._max_body:
                self.skipped += HEADER_LEN
                del self._buf[:HEADER_LEN]
                continue
            if len(self._buf) < HEADER_LEN + length:
                return frames
            body = bytes(self._buf[HEADER_LEN:HEADER_LEN + length]).decode("utf-8", "replace")
            del self._buf[:HEADER_LEN + length]
            fields = body.split(FF)
            if fields and fields[0] == "":
                fields = fields[1:]
            if fields and fields[-1] == "":
                fields = fields[:-1]
            frames.append(Frame(code, ret, fields))


# --- live info -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LiveInfo:
    result: int  # 1 live, 0 not live, -6 age-restricted (needs a login), other < 0: refused
    chat_domain: str = ""
    chat_port: int = 0  # CHPT; the websocket is on CHPT + 1
    chat_no: str = ""
    ftk: str = ""
    broadcast_no: str = ""
    title: str = ""
    nick: str = ""
    password: bool = False  # BPWD "Y": a password broadcast (a guest may be refused)

    @property
    def live(self) -> bool:
        return self.result == 1 and bool(self.chat_domain and self.chat_port and self.chat_no)


def parse_live_info(payload: object) -> LiveInfo:
    """``player_live_api.php``'s answer (``{"CHANNEL": {...}}``)."""
    if isinstance(payload, bytes | bytearray | str):
        try:
            payload = json.loads(payload)
        except (ValueError, RecursionError) as exc:
            raise PayloadError("soop live info is not JSON") from exc
    channel = payload.get("CHANNEL") if isinstance(payload, dict) else None
    if not isinstance(channel, dict):
        raise PayloadError("soop live info has no CHANNEL")

    def text(key: str, limit: int = 200) -> str:
        value = channel.get(key)
        return str(value)[:limit] if isinstance(value, str | int) and not isinstance(value, bool) else ""

    result = _int(channel.get("RESULT"))
    domain = text("CHDOMAIN").strip().lower()
    port = _int(channel.get("CHPT")) or 0
    return LiveInfo(result=result if result is not None else 0,
                    chat_domain=domain if _DOMAIN.match(domain) else "",
                    chat_port=port if 0 < port < 65535 else 0,
                    chat_no=text("CHATNO", 40) if text("CHATNO", 40).isdigit() else "",
                    ftk=text("FTK", 400), broadcast_no=text("BNO", 40),
                    title=_clean_nickname(text("TITLE")), nick=_clean_nickname(text("BJNICK")),
                    password=text("BPWD", 2).strip().upper() == "Y")


def _int(value: object) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and re.fullmatch(r"-?\d{1,12}", value.strip()):
        return int(value.strip())
    return None


# --- frames → messages ----------------------------------------------------------------------------


def _field(fields: Sequence[str], index: int) -> str:
    return fields[index] if 0 <= index < len(fields) else ""


def _user_id(raw: str) -> str | None:
    plain = _SESSION_SUFFIX.sub("", raw.strip())
    return plain.lower() if _USER_ID.match(plain) else None


def _role(flags: str, user_id: str, bid: str) -> Role:
    flag1 = _int(flags.split("|", 1)[0]) or 0
    if user_id == bid or flag1 & FLAG_BJ:
        return Role.STREAMER
    return Role.MANAGER if flag1 & FLAG_MANAGER else Role.VIEWER


def _message(fields: Sequence[str], *, uid_at: int, nick_at: int, bid: str, kind: Kind,
             text: str = "", flags_at: int | None = None) -> ChatMessage | None:
    user_id = _user_id(_field(fields, uid_at))
    if user_id is None:
        return None
    return ChatMessage(user=_clean_nickname(_field(fields, nick_at)[:400]), message=_clean_text(text),
                       user_id=namespaced("soop", user_id), channel_id=bid, kind=kind,
                       role=_role(_field(fields, flags_at), user_id, bid) if flags_at is not None
                       else Role.STREAMER if user_id == bid else Role.VIEWER,
                       source="soop", platform="soop")


def _count(value: str) -> int | None:
    n = _int(value)
    return n if n is not None and 0 < n <= 10_000_000 else None


def parse_frame(frame: Frame, *, bid: str, rates: Mapping[str, float]) -> ChatMessage | None:
    """One frame → a chat event in the room, or None (control frames, notices, unknown codes)."""
    f, code = frame.fields, frame.code
    if code == CHAT:
        text = _field(f, 0)
        if not text.strip():
            return None
        msg = _message(f, uid_at=1, nick_at=5, bid=bid, kind=Kind.CHAT, text=text, flags_at=6)
        return msg
    if code == OGQ_STICKER:
        msg = _message(f, uid_at=5, nick_at=6, bid=bid, kind=Kind.CHAT, text=_field(f, 1), flags_at=7)
        if msg is None:
            return None
        sticker_set, number, version = _field(f, 2), _field(f, 3), _field(f, 4) or "1"
        ext = _field(f, 11).lower()
        if all(_STICKER_PART.match(p) for p in (sticker_set, number, version)) and \
                ext in ("png", "gif", "webp"):
            name = f"ogq_{sticker_set}_{number}"[:64]
            msg.emoticons = {name: STICKER_URL.format(set=sticker_set, no=number, ext=ext, ver=version)}
            msg.message = f"{{:{name}:}} {msg.message}".strip()
        elif not msg.message.strip():
            msg.message = "(이모티콘)"
        return msg
    if code in (BALLOON, AD_BALLOON, VIDEO_BALLOON):
        uid_at, nick_at, count_at = {BALLOON: (1, 2, 3), AD_BALLOON: (2, 3, 9),
                                     VIDEO_BALLOON: (2, 3, 4)}[code]
        count = _count(_field(f, count_at))
        msg = _message(f, uid_at=uid_at, nick_at=nick_at, bid=bid, kind=Kind.DONATION)
        if msg is None or count is None:
            return None
        unit = "soop_adballoon" if code == AD_BALLOON else "soop_balloon"
        msg.gift = soop_balloon_gift(count, unit)
        msg.amount = gift_in_won(float(count), unit, rates)
        return msg
    if code == SUB_NEW:
        msg = _message(f, uid_at=2, nick_at=3, bid=bid, kind=Kind.SUBSCRIPTION, text="구독 시작")
        if msg is not None:
            msg.subscription = SubscriptionInfo(months=1)
        return msg
    if code == SUB_MONTH:
        months = _count(_field(f, 3))
        tier = _field(f, 7).strip()
        msg = _message(f, uid_at=1, nick_at=2, bid=bid, kind=Kind.SUBSCRIPTION,
                       text=f"{months}개월 구독" if months else "구독")
        if msg is not None:
            msg.subscription = SubscriptionInfo(months=months, tier=f"{tier}티어" if tier.isdigit() else None)
        return msg
    if code == SUB_GIFT:
        msg = _message(f, uid_at=5, nick_at=6, bid=bid, kind=Kind.SUBSCRIPTION)
        receiver = _clean_nickname(_field(f, 4)[:400])
        key = _field(f, 8).strip()[:80]
        if msg is None:
            return None
        msg.subscription = SubscriptionInfo(months=_count(_field(f, 7)), receiver=receiver,
                                            gift_id=f"soop:{key}" if key else f"soop:{msg.message_id}")
        return msg
    return None


def describe_ret(frame: Frame) -> str:
    """A failing return code in Korean (the ones a guest can meet)."""
    known: dict[int, str] = {2: "로그인이 필요함", 12: "채팅방 번호가 맞지 않음", 16: "채팅방에 들어가지 못함",
                             33: "접속이 거부됨", 57: "비밀번호가 걸린 방송", 41: "강퇴된 사용자"}
    return known.get(frame.ret, f"오류 코드 {frame.ret}")

