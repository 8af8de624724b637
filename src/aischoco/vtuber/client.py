"""One WebSocket connection to VTube Studio: requests matched to responses by requestID.

Why not pyvts: its `request()` is send-then-recv with a fixed requestID and no timeout, so two
coroutines (the 30-60 fps injector and a hotkey trigger) raise "cannot call recv while another
coroutine is already waiting"; it has no reconnect and pulls in opencv. Here a single reader task
owns `recv()` and routes each response to the future of its requestID, so any number of requests
may be in flight, each with its own timeout; everything fails fast with `VtsConnectionLost`
when the socket goes away.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import secrets
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidURI, WebSocketException

from .protocol import VtsConnectionLost, envelope, error_from, parse

log = logging.getLogger(__name__)

OPEN_TIMEOUT_S = 5.0


class VtsClient:
    """Use `await VtsClient.open(url)`; `request()` may be called concurrently."""

    def __init__(self, ws: ClientConnection, *, timeout_s: float = 3.0) -> None:
        self._ws = ws
        self.timeout_s = timeout_s
        self._pending: dict[str, asyncio.Future[dict[str, Any]]] = {}
        self._ids = itertools.count(1)
        self._prefix = secrets.token_hex(3)  # ids stay unique across reconnects
        self._send_lock = asyncio.Lock()
        self._closed: str | None = None
        self._reader = asyncio.create_task(self._read(), name="vts-reader")

    @classmethod
    async def open(cls, url: str, *, timeout_s: float = 3.0) -> VtsClient:
        try:
            ws = await connect(url, open_timeout=OPEN_TIMEOUT_S, max_size=2**22,
                               ping_interval=10, ping_timeout=10)
        except (OSError, TimeoutError, InvalidHandshake, InvalidURI, WebSocketException) as exc:
            raise VtsConnectionLost(f"cannot connect to {url}: {type(exc).__name__} "
                                    f"{exc}".strip()) from None
        return cls(ws, timeout_s=timeout_s)

    @property
    def closed(self) -> str | None:
        """Why the connection ended, or None while it is open."""
        return self._closed

    async def wait_closed(self) -> str:
        await asyncio.shield(self._reader)
        return self._closed or "closed"

    async def request(self, message_type: str, data: dict[str, Any] | None = None, *,
                      timeout_s: float | None = None) -> dict[str, Any]:
        """The response's `data`; raises VtsApiError (APIError) or VtsConnectionLost."""
        if self._closed is not None:
            raise VtsConnectionLost(self._closed)
        request_id = f"{self._prefix}-{next(self._ids)}"
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._pending[request_id] = future
        try:
            text = envelope(message_type, request_id, data)  # ValueError on NaN: never sent
            async with self._send_lock:
                await self._ws.send(text)
            # asyncio.timeout, not wait_for: on 3.11 wait_for can swallow a cancel that lands
            # as the answer arrives, and the animator's TaskGroup would then never stop.
            async with asyncio.timeout(timeout_s or self.timeout_s):
                doc = await future
        except TimeoutError:
            raise VtsConnectionLost(f"{message_type}: no answer within "
                                    f"{timeout_s or self.timeout_s:.1f} s") from None
        except ConnectionClosed as exc:
            raise VtsConnectionLost(f"connection closed ({exc})") from None
        finally:
            self._pending.pop(request_id, None)
        error = error_from(message_type, doc)
        if error is not None:
            raise error
        return doc["data"]

    async def _read(self) -> None:
        try:
            async for text in self._ws:
                doc = parse(text)
                if doc is None:
                    log.debug("VTS: ignoring a frame that is not an API envelope")
                    continue
                future = self._pending.get(str(doc.get("requestID")))
                if future is not None and not future.done():
                    future.set_result(doc)
                # Events and late answers to timed-out requests have no waiter: dropped.
            self._closed = "VTube Studio closed the connection"
        except ConnectionClosed as exc:
            self._closed = f"connection lost ({exc})"
        except Exception as exc:  # noqa: BLE001 - the reader must always fail the waiters
            self._closed = f"reader failed: {type(exc).__name__}: {exc}"
        finally:
            if self._closed is None:
                self._closed = "closed"
            for future in self._pending.values():
                if not future.done():
                    future.set_exception(VtsConnectionLost(self._closed))

    async def aclose(self) -> None:
        if self._closed is None:
            self._closed = "closed by us"
        try:
            async with asyncio.timeout(2.0):
                await self._ws.close()
        except (TimeoutError, OSError, WebSocketException):
            pass
        self._reader.cancel()
        await asyncio.gather(self._reader, return_exceptions=True)
