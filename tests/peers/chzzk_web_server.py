"""A real, scriptable CHZZK *web chat* peer on 127.0.0.1 for tests (the unofficial protocol).

One uvicorn/Starlette server (own event loop in a daemon thread, bound free port) serves:

- ``GET /polling/v2/channels/{channelId}/live-status`` → ``{"code":200,"content":{...}}`` with
  ``chatChannelId`` (``None`` and ``status: "CLOSE"`` while offline; 404 for another channel);
- ``GET /nng_main/v1/chats/access-token?channelId=…&chatType=STREAMING`` → a fresh token;
- websocket ``/chat`` following the documented commands: nothing is sent before a valid cmd 100
  (right ``cid`` = the live chat channel, a token issued for it, ``svcid: game``); then cmd 10100.
  Client pings (cmd 0) get pongs (cmd 10000) unless :meth:`mute` d; pongs from the client are
  counted. :meth:`ping` sends server pings.

In tests::

    with ChzzkWebServer(channel_id="ch1", chat_channel_id="N1abc") as srv:
        comp = ChzzkWebChat(..., api_url=srv.http_url, game_api_url=srv.http_url,
                            chat_url_template=srv.chat_url_template)
        srv.wait_connected()
        srv.push_chat([chat_item("시청자", "안녕")])
        srv.drop(); srv.set_live("N2def"); srv.go_offline()

Every control method is thread-safe: it runs on the server's loop and waits for it there.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, TypeVar


from peers.threaded_server import ThreadedServer
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket

__all__ = ["ChzzkWebServer", "PeerConnection", "chat_item", "donation_item", "gift_items"]

T = TypeVar("T")


def chat_item(
    nickname: str,
    msg: str,
    *,
    uid: str = "viewer-1",
    role: str = "common_user",
    msg_time: int = 1_718_000_000_000,
    type_code: int = 1,
    extras: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """One cmd 93101 ``bdy`` item as CHZZK sends it (profile / extras are JSON strings)."""
    return {
        "svcid": "game",
        "cid": "",
        "mbrCnt": 1,
        "uid": uid,
        "profile": json.dumps(
            {"userIdHash": uid, "nickname": nickname, "userRoleCode": role, "badge": None},
            ensure_ascii=False,
        ),
        "msg": msg,
        "msgTypeCode": type_code,
        "msgStatusType": "NORMAL",
        "extras": json.dumps(
            extras or {"chatType": "STREAMING", "osType": "PC", "emojis": {}},
            ensure_ascii=False,
        ),
        "ctime": msg_time,
        "utime": msg_time,
        "msgTid": None,
        "msgTime": msg_time,
    }


def donation_item(
    nickname: str,
    msg: str,
    amount: int | str,
    *,
    uid: str = "donor-1",
    anonymous: bool = False,
    msg_time: int = 1_718_000_000_500,
) -> dict[str, Any]:
    """One cmd 93102 ``bdy`` item (msgTypeCode 10, ``extras.payAmount``)."""
    extras = {
        "isAnonymous": anonymous,
        "payType": "CURRENCY",
        "payAmount": amount,
        "donationType": "CHAT",
        "emojis": {},
        "chatType": "STREAMING",
    }
    item = chat_item(nickname, msg, uid=uid, msg_time=msg_time, type_code=10, extras=extras)
    return item


def gift_items(gifter: str, gift_id: str, receivers: list[str], *, uid: str = "gifter-1",
               tier: str = "티어1", msg_time: int = 1_718_000_001_000) -> list[dict[str, Any]]:
    """A subscription gift as CHZZK's web chat sends it (cmd 93102, msgTypeCode 12): one
    ``SUBSCRIPTION_GIFT`` item for the gifter (``quantity``), then one
    ``SUBSCRIPTION_GIFT_RECEIVER`` item per receiver, all with the same ``giftId``."""
    common = {"giftId": gift_id, "giftTierNo": 1, "giftTierName": tier, "userIdHash": uid}
    items = [chat_item(gifter, "", uid=uid, msg_time=msg_time, type_code=12, extras={
        **common, "giftType": "SUBSCRIPTION_GIFT", "selectionType": "RANDOM",
        "quantity": len(receivers), "partialRefundedQuantity": 0})]
    for i, name in enumerate(receivers, 1):
        items.append(chat_item(gifter, "", uid=uid, msg_time=msg_time + i, type_code=12, extras={
            **common, "giftType": "SUBSCRIPTION_GIFT_RECEIVER", "selectionType": "RANDOM",
            "receiverNickname": name, "receiverUserIdHash": f"r-{i}",
            "receiverVerifiedMark": False}))
    return items


@dataclass
class PeerConnection:
    """One websocket connection as the peer saw it."""

    websocket: WebSocket
    n: str | None  # the ?n= the client put in the URL (its computed server number)
    cid: str | None = None  # the chat channel it joined (after a valid cmd 100)
    connect_frame: dict[str, Any] | None = None
    received: list[Any] = field(default_factory=list)  # every frame, parsed when JSON
    pings_received: int = 0  # client → server cmd 0
    pongs_received: int = 0  # client → server cmd 10000
    open: bool = True
    rejected: str | None = None  # why the handshake was refused

    @property
    def joined(self) -> bool:
        return self.cid is not None


class ChzzkWebServer(ThreadedServer):
    thread_name = "chzzk-web-peer"

    """uvicorn on 127.0.0.1 with its own loop in a daemon thread; use as a context manager."""

    def __init__(
        self,
        *,
        channel_id: str = "ch-test-0001",
        chat_channel_id: str | None = "N1chatA",
        host: str = "127.0.0.1",
    ) -> None:
        self.channel_id = channel_id
        self._chat_channel_id = chat_channel_id
        self._lock = threading.Lock()
        self._tokens: dict[str, str] = {}  # token → chat channel it was issued for
        self._counter = itertools.count(1)
        self.connections: list[PeerConnection] = []
        self.live_status_requests = 0
        self.live_detail_requests = 0
        self.live_title = "테스트 방송"
        self.viewers = 42
        self.open_date = "2026-12-04 20:00:00"  # KST, as CHZZK writes it
        self.token_requests: list[dict[str, str]] = []
        self.muted = False  # True: ignore client pings (the client should call the link dead)
        self.refuse_tokens = False  # True: access-token answers 500
        self._bind_and_serve(self.app(), host=host, ws="websockets-sansio", ws_ping_interval=None)

    # --- addresses ------------------------------------------------------------------------

    @property
    def http_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def chat_url_template(self) -> str:
        return f"ws://{self.host}:{self.port}/chat?n={{n}}"

    # --- state (thread-safe) --------------------------------------------------------------

    @property
    def chat_channel_id(self) -> str | None:
        with self._lock:
            return self._chat_channel_id

    def issued_tokens(self) -> dict[str, str]:
        with self._lock:
            return dict(self._tokens)

    def open_connections(self) -> list[PeerConnection]:
        with self._lock:
            return [c for c in self.connections if c.open and c.joined]

    def joined_connections(self) -> list[PeerConnection]:
        with self._lock:
            return [c for c in self.connections if c.joined]

    def set_live(self, chat_channel_id: str) -> None:
        """A (new) broadcast: live-status now reports this chatChannelId."""
        with self._lock:
            self._chat_channel_id = chat_channel_id

    def go_offline(self) -> None:
        with self._lock:
            self._chat_channel_id = None

    def mute(self, muted: bool = True) -> None:
        self.muted = muted

    def wait_until(self, predicate: Callable[[], object], timeout: float = 5.0) -> None:
        deadline = time.monotonic() + timeout
        while not predicate():
            if time.monotonic() > deadline:
                raise TimeoutError("condition not met in time")
            time.sleep(0.01)

    def wait_connected(self, count: int = 1, timeout: float = 5.0) -> PeerConnection:
        """Wait until ``count`` connections have joined in total and one is open; return it."""
        self.wait_until(
            lambda: len(self.joined_connections()) >= count and self.open_connections(), timeout
        )
        return self.open_connections()[-1]

    # --- pushing (thread-safe) ------------------------------------------------------------

    def send_raw(self, text: str) -> int:
        """Send ``text`` as is to every open joined connection; returns how many got it."""
        return self.call_soon(self._broadcast(text))

    def send(self, frame: dict[str, Any]) -> int:
        return self.send_raw(json.dumps(frame, ensure_ascii=False))

    def push(self, cmd: int, items: Iterable[Any]) -> int:
        cid = self.chat_channel_id or ""
        return self.send(
            {"svcid": "game", "ver": "1", "cmd": cmd, "cid": cid, "tid": None, "bdy": list(items)}
        )

    def push_chat(self, items: Iterable[Any]) -> int:
        return self.push(93101, items)

    def push_donation(self, items: Iterable[Any]) -> int:
        return self.push(93102, items)

    def push_blind(self, uid: str, msg_time: int, blind_type: str = "BLIND") -> int:
        """cmd 94008: a manager (or the clean bot) hid the message sent by `uid` at `msg_time`."""
        cid = self.chat_channel_id or ""
        return self.send({"svcid": "game", "ver": "1", "cmd": 94008, "cid": cid, "tid": None,
                          "bdy": {"serviceId": "game", "channelId": cid, "messageTime": msg_time,
                                  "blindType": blind_type, "blindUserId": "manager-1",
                                  "userId": uid}})

    def ping(self) -> int:
        """A server ping (cmd 0); the client must answer cmd 10000."""
        return self.send({"ver": "2", "cmd": 0})

    def drop(self, code: int = 1011) -> int:
        """Close every open connection (a server-side drop)."""
        return self.call_soon(self._drop(code))

    async def _broadcast(self, text: str) -> int:
        sent = 0
        for conn in self.open_connections():
            try:
                await conn.websocket.send_text(text)
                sent += 1
            except Exception:  # noqa: BLE001 - a connection closing under us
                conn.open = False
        return sent

    async def _drop(self, code: int) -> int:
        dropped = 0
        with self._lock:
            conns = [c for c in self.connections if c.open]
        for conn in conns:
            conn.open = False
            try:
                await conn.websocket.close(code=code)
                dropped += 1
            except Exception:  # noqa: BLE001, S110 - closing under us
                pass
        return dropped

    # --- app ------------------------------------------------------------------------------

    def app(self) -> Starlette:
        async def live_status(request: Request) -> JSONResponse:
            if request.path_params["channel_id"] != self.channel_id:
                return JSONResponse(
                    {"code": 404, "message": "채널을 찾을 수 없습니다.", "content": None},
                    status_code=404,
                )
            with self._lock:
                self.live_status_requests += 1
                chat_cid = self._chat_channel_id
            return JSONResponse(
                {
                    "code": 200,
                    "message": None,
                    "content": {
                        "liveTitle": "테스트 방송",
                        "status": "OPEN" if chat_cid else "CLOSE",
                        "concurrentUserCount": 3,
                        "accumulateCount": 10,
                        "paidPromotion": False,
                        "adult": False,
                        "chatChannelId": chat_cid,
                        "categoryType": "ETC",
                        "liveCategory": "talk",
                        "livePollingStatusJson": "{}",
                        "faultStatus": None,
                        "userAdultStatus": None,
                        "chatActive": True,
                        "chatAvailableGroup": "ALL",
                        "chatAvailableCondition": "NONE",
                        "minFollowerMinute": 0,
                    },
                }
            )

        async def live_detail(request: Request) -> JSONResponse:
            """The public live-detail endpoint (the `stream_info` tool reads it)."""
            if request.path_params["channel_id"] != self.channel_id:
                return JSONResponse({"code": 404, "message": "채널을 찾을 수 없습니다.",
                                     "content": None}, status_code=404)
            with self._lock:
                self.live_detail_requests += 1
                chat_cid = self._chat_channel_id
            return JSONResponse({"code": 200, "message": None, "content": {
                "liveId": 17, "liveTitle": self.live_title, "status": "OPEN" if chat_cid else "CLOSE",
                "liveImageUrl": None, "defaultThumbnailImageUrl": None,
                "concurrentUserCount": self.viewers, "accumulateCount": 1234,
                "openDate": self.open_date, "closeDate": None, "adult": False,
                "chatChannelId": chat_cid, "categoryType": "GAME", "liveCategory": "minecraft",
                "liveCategoryValue": "마인크래프트", "channel": {"channelId": self.channel_id,
                                                               "channelName": "테스트 채널"}}})

        async def access_token(request: Request) -> JSONResponse:
            params = dict(request.query_params)
            with self._lock:
                self.token_requests.append(params)
            if self.refuse_tokens:
                return JSONResponse({"code": 500, "message": "error", "content": None}, 500)
            cid = params.get("channelId")
            if not cid or params.get("chatType") != "STREAMING":
                return JSONResponse({"code": 400, "message": "bad request", "content": None}, 400)
            token = f"tkn-{cid}-{next(self._counter)}"
            with self._lock:
                self._tokens[token] = cid
            return JSONResponse(
                {
                    "code": 200,
                    "message": None,
                    "content": {
                        "accessToken": token,
                        "temporaryRestrict": {
                            "temporaryRestrict": False,
                            "times": 0,
                            "duration": None,
                            "createdTime": None,
                        },
                        "realNameAuth": False,
                        "extraToken": "extra",
                    },
                }
            )

        async def chat(ws: WebSocket) -> None:
            await ws.accept()
            conn = PeerConnection(ws, ws.query_params.get("n"))
            with self._lock:
                self.connections.append(conn)
            try:
                first = await asyncio.wait_for(ws.receive_text(), timeout=10)
                reason = self._check_connect(first, conn)
                if reason is not None:
                    conn.rejected = reason
                    conn.open = False
                    await ws.close(code=1008)
                    return
                await ws.send_text(
                    json.dumps(
                        {
                            "svcid": "game",
                            "ver": "1",
                            "cmd": 10100,
                            "retCode": 0,
                            "retMsg": "SUCCESS",
                            "tid": 1,
                            "cid": conn.cid,
                            "bdy": {"sid": f"sid-{next(self._counter)}", "uuid": None},
                        }
                    )
                )
                while conn.open:
                    text = await ws.receive_text()
                    try:
                        frame = json.loads(text)
                    except ValueError:
                        frame = text
                    conn.received.append(frame)
                    cmd = frame.get("cmd") if isinstance(frame, dict) else None
                    if cmd == 0:
                        conn.pings_received += 1
                        if not self.muted:
                            await ws.send_text(json.dumps({"ver": "2", "cmd": 10000}))
                    elif cmd == 10000:
                        conn.pongs_received += 1
            except Exception:  # noqa: BLE001, S110 - closing under us
                pass
            finally:
                conn.open = False

        return Starlette(
            routes=[
                Route("/polling/v2/channels/{channel_id}/live-status", live_status),
                Route("/service/v3/channels/{channel_id}/live-detail", live_detail),
                Route("/nng_main/v1/chats/access-token", access_token),
                WebSocketRoute("/chat", chat),
            ]
        )

    def _check_connect(self, text: str, conn: PeerConnection) -> str | None:
        try:
            frame = json.loads(text)
        except ValueError:
            return "first frame is not JSON"
        conn.received.append(frame)
        if not isinstance(frame, dict) or frame.get("cmd") != 100:
            return "first frame is not cmd 100"
        conn.connect_frame = frame
        body = frame.get("bdy") if isinstance(frame.get("bdy"), dict) else {}
        cid = frame.get("cid")
        with self._lock:
            live = self._chat_channel_id
            token_cid = self._tokens.get(body.get("accTkn"))  # type: ignore[arg-type]
        if frame.get("svcid") != "game" or frame.get("ver") != "2":
            return "wrong svcid/ver"
        if cid is None or cid != live:
            return f"cid {cid!r} is not the live chat channel {live!r}"
        if token_cid != cid:
            return "accTkn was not issued for this chat channel"
        if body.get("auth") != "READ":
            return "auth is not READ"
        conn.cid = cid
        return None

    # --- lifecycle ------------------------------------------------------------------------

    def _before_stop(self) -> None:
        try:
            self.drop(1001)
        except Exception:  # noqa: BLE001, S110 - closing under us
            pass
