"""A SOOP (AfreecaTV) peer on 127.0.0.1 for tests: the player's live-info API and the chat
websocket speaking SOOP's binary framing.

The framing is checked byte for byte on everything the client sends: ``ESC TAB`` + 4-digit code
+ 6-digit body length (UTF-8 bytes, must match) + ``00`` + a body of form-feed-led fields ending
with a form feed. Nothing is answered before a valid ``0001`` login; ``0002`` must carry the
live's CHATNO. Frames to the client are built the same way (``frame``), and can be sent merged
into one websocket message or split across several (``send_raw``).

- ``POST /afreeca/player_live_api.php?bjid=…`` (form ``bid``): ``{"CHANNEL": {...}}`` with
  ``RESULT`` 1 and CHDOMAIN/CHPT/CHATNO/FTK/BNO while live (CHPT = this port − 1, as SOOP's chat
  socket is on CHPT + 1), ``RESULT`` 0 offline, -6 age-restricted; ``fail_live`` answers 500.
- websocket ``/Websocket/{bid}``, subprotocol ``chat``.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

from peers.threaded_server import ThreadedServer

FF = "\x0c"
_FRAME = re.compile(rb"^\x1b\t(\d{4})(\d{6})(\d{2})")


def frame(code: int, fields: list[str], ret: int = 0) -> bytes:
    """A frame as SOOP writes it (independent of the code under test)."""
    body = (FF + FF.join(fields) + FF if fields else FF).encode("utf-8")
    return b"\x1b\t" + f"{code:04d}".encode() + f"{len(body):06d}".encode() + f"{ret:02d}".encode() + body


def chat_frame(user_id: str, nick: str, text: str, *, flags: str = "65536|163840", months: str = "-1") -> bytes:
    return frame(5, [text, user_id, "0", "0", "3", nick, flags, months, "DC3585", "CF5F9B", "-1", "-1", "",
                     "-1"])


def balloon_frame(bid: str, user_id: str, nick: str, count: int) -> bytes:
    return frame(18, [bid, user_id, nick, str(count), "0", "0", "9552", str(count), "0", "0", "kor_custom07",
                      "01fbe3ff-81f2-44b1-a8dd-2eb8348c28f5", "ko_KR", "1771461483"])


def adballoon_frame(bid: str, user_id: str, nick: str, count: int) -> bytes:
    return frame(87, ["", bid, user_id, nick, "애드벌룬 제목", "", "", "icon", "image", str(count), "0", "0",
                      "0", "0", "tts", ""])


def subscription_frame(bid: str, user_id: str, nick: str, months: int, tier: int = 1) -> bytes:
    return frame(93, [bid, user_id, nick, str(months), "", "", "", str(tier)])


def sticker_frame(user_id: str, nick: str, text: str = "ㅇㅇ") -> bytes:
    return frame(109, ["3995", text, "5fe53f42edb76", "10", "1", user_id, nick, "65536|163840", "0", "3", "",
                       "png", "-1", "DC3585", "CF5F9B", "-1", "-1", "0", "-1"])


@dataclass
class SoopConnection:
    websocket: WebSocket
    bid: str
    subprotocol: str | None
    received: list[tuple[int, list[str]]] = field(default_factory=list)
    logged_in: bool = False
    joined: bool = False
    keepalives: int = 0
    bad_frames: list[str] = field(default_factory=list)
    open: bool = True


class SoopServer(ThreadedServer):
    thread_name = "soop-peer"

    def __init__(self, *, bid: str = "chocobj", chat_no: str = "2620") -> None:
        self.bid, self.chat_no = bid, chat_no
        self.result = 1  # 1 live, 0 offline, -6 age-restricted
        self.broadcast_no = "281257200"
        self.title = "숲 테스트 방송"
        self.fail_live = False
        self.password = False  # BPWD "Y"
        self.live_requests: list[dict[str, str]] = []
        self.connections: list[SoopConnection] = []
        self._lock = threading.Lock()
        self._bind_and_serve(Starlette(routes=[
            Route("/afreeca/player_live_api.php", self._live, methods=["POST"]),
            WebSocketRoute("/Websocket/{bid}", self._socket),
        ]), ws="websockets-sansio", ws_ping_interval=None)

    @property
    def live_api_url(self) -> str:
        return f"http://{self.host}:{self.port}/afreeca/player_live_api.php"

    @property
    def chat_url_template(self) -> str:
        return "ws://{domain}:{port}/Websocket/{bid}"

    async def _live(self, request: Request) -> Response:
        form = dict(await request.form())
        self.live_requests.append({**form, "bjid": request.query_params.get("bjid", "")})
        if self.fail_live:
            return Response("oops", status_code=500)
        channel: dict[str, Any] = {"geo_cc": "KR", "geo_rc": "41", "acpt_lang": "ko_KR", "svc_lang": "ko_KR",
                                   "ISSP": 0, "RESULT": self.result}
        if form.get("bid") != self.bid or request.query_params.get("bjid") != self.bid:
            channel["RESULT"] = 0
        elif self.result == 1:
            channel.update({"LOWLAYTENCYBJ": 0, "VIEWPRESET": [], "PBNO": "0", "BNO": self.broadcast_no,
                            "BJID": self.bid, "BJNICK": "초코BJ", "BJGRADE": 1, "CATE": "00040131",
                            "CHATNO": self.chat_no, "BPWD": "Y" if self.password else "N", "TITLE": self.title, "BPS": "8000",
                            "CHIP": "127.0.0.1", "CHPT": str(self.port - 1), "CHDOMAIN": "127.0.0.1",
                            "FTK": f"HASH_{self.bid}_{self.broadcast_no}_html5_1", "BTIME": 12084,
                            "TIER1_NICK": "tier1", "TIER2_NICK": "tier2"})
        elif self.result == -6:
            channel.update({"TITLE": self.title, "CATE": "00130000", "BTIME": 63248})
        return JSONResponse({"CHANNEL": channel})

    # --- the chat socket -------------------------------------------------------------------------

    async def _socket(self, websocket: WebSocket) -> None:
        protocols = websocket.scope.get("subprotocols") or []
        await websocket.accept(subprotocol="chat" if "chat" in protocols else None)
        conn = SoopConnection(websocket, websocket.path_params["bid"], "chat" if "chat" in protocols else None)
        with self._lock:
            self.connections.append(conn)
        try:
            while True:
                data = await websocket.receive_bytes()
                for code, fields in self._frames(conn, data):
                    conn.received.append((code, fields))
                    if code == 1 and fields == ["", "", "16"]:
                        conn.logged_in = True
                        await websocket.send_bytes(frame(1, ["guest_user", "", "0"]))
                    elif code == 2 and conn.logged_in and fields[:1] == [self.chat_no]:
                        conn.joined = True
                        await websocket.send_bytes(frame(2, ["", "", self.bid, "", "", "", "", "synack"]))
                    elif code == 0:
                        conn.keepalives += 1
        except (WebSocketDisconnect, RuntimeError):
            pass
        finally:
            conn.open = False

    def _frames(self, conn: SoopConnection, data: bytes) -> list[tuple[int, list[str]]]:
        out = []
        while data:
            match = _FRAME.match(data)
            if match is None:
                conn.bad_frames.append(f"no header: {data[:20]!r}")
                return out
            code, length, ret = int(match[1]), int(match[2]), int(match[3])
            body = data[14:14 + length]
            if len(body) != length or ret != 0 or not body.startswith(b"\x0c") or not body.endswith(b"\x0c"):
                conn.bad_frames.append(f"bad frame {data[:30]!r}")
                return out
            text = body.decode("utf-8")
            out.append((code, text[1:-1].split(FF) if text != FF else []))
            data = data[14 + length:]
        return out

    # --- control -------------------------------------------------------------------------------------

    def joined(self) -> list[SoopConnection]:
        with self._lock:
            return [c for c in self.connections if c.joined and c.open]

    def send_raw(self, *chunks: bytes) -> None:
        """Each chunk is one websocket message to every joined client (frames may be split or
        merged across chunks however the test likes)."""
        async def go() -> None:
            for conn in self.joined():
                for chunk in chunks:
                    await conn.websocket.send_bytes(chunk)
        self.call_soon(go())

    def send(self, *frames_: bytes) -> None:
        self.send_raw(*frames_)

    def drop(self) -> None:
        async def go() -> None:
            for conn in self.joined():
                await conn.websocket.close(code=1011)
        self.call_soon(go())
