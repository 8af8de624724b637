"""What the YouTube and SOOP chat sources share: one session after another, with back-off between
failures and the reason on the status row (the shape ``chzzk_web.py`` has, written once here).

A session either raises (:class:`Reconnect` with a Korean reason, or any error: described by
:func:`describe`), or returns (the live ended: start over at once and look for the next one).
A session that lasted :data:`STABLE_AFTER_S` resets the back-off. Nothing here ever stops the
daemon or the other platforms: each source is its own supervised component.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import Final

import httpx
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidURI

from ..core.backoff import backoff_delay
from ..core.messages import ChatMessage
from ..core.status import State, StatusHandle

__all__ = ["Reconnect", "SeenIds", "deliver", "describe", "run_sessions"]

STABLE_AFTER_S: Final = 30.0


class Reconnect(Exception):
    """End this session; ``str()`` is the Korean reason shown on the status row."""

    def __init__(self, reason: str, *, hint: str = "", immediate: bool = False,
                 wait_s: float | None = None) -> None:
        super().__init__(reason)
        self.hint = hint
        self.immediate = immediate  # not a failure (a new live): no back-off
        self.wait_s = wait_s  # a wait the platform asked for (quota, 429), instead of back-off


def describe(exc: BaseException, *, log: logging.Logger) -> tuple[str, str]:
    """(Korean reason, hint) for an error that ended a session."""
    if isinstance(exc, Reconnect):
        return str(exc), exc.hint
    if isinstance(exc, httpx.HTTPStatusError):
        return f"HTTP {exc.response.status_code}: {exc.request.url.path[:80]}", ""
    if isinstance(exc, httpx.HTTPError):
        return f"네트워크 오류: {type(exc).__name__}", ""
    if isinstance(exc, ConnectionClosed):
        code = exc.rcvd.code if exc.rcvd is not None else None
        return (f"서버가 연결을 끊음 (code {code})" if code else "연결이 끊김"), ""
    if isinstance(exc, InvalidURI):
        return f"채팅 주소가 잘못됨: {exc}", ""
    if isinstance(exc, InvalidHandshake):
        return f"웹소켓 연결 거부: {str(exc)[:120]}", ""
    if isinstance(exc, TimeoutError):
        return "연결 시간 초과", ""
    if isinstance(exc, OSError):
        return f"연결 실패: {exc.strerror or type(exc).__name__}", ""
    log.warning("unexpected error in a chat session", exc_info=exc)
    return f"{type(exc).__name__}: {str(exc)[:120]}", ""


async def run_sessions(session: Callable[[], Awaitable[None]], status: StatusHandle, *,
                       log: logging.Logger, name: str, hint: str,
                       max_backoff_s: float = 30.0) -> None:
    """Run `session` forever; between failures wait with back-off (jitter) and say why."""
    attempt = 0
    while True:
        started = time.monotonic()
        try:
            await session()
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - never die: report and connect again
            reason, own_hint = describe(exc, log=log)
            if time.monotonic() - started >= STABLE_AFTER_S:
                attempt = 0
            if isinstance(exc, Reconnect) and exc.immediate:
                log.info("%s: %s; reconnecting", name, reason)
                status.set(State.STARTING, f"다시 연결 중 ({reason})")
                attempt = 0
                continue
            delay = (exc.wait_s if isinstance(exc, Reconnect) and exc.wait_s is not None
                     else backoff_delay(attempt, cap_s=max_backoff_s))
            attempt += 1
            log.warning("%s: %s; reconnecting in %.1f s", name, reason, delay)
            status.note_error(reason)
            status.set(State.DEGRADED, f"{delay:.1f}초 후 다시 연결 ({reason})", own_hint or hint)
            await asyncio.sleep(delay)
        else:
            attempt = 0  # the live ended normally: look for the next one at once


async def deliver(accept: Callable[[ChatMessage], object], msg: ChatMessage,
                  log: logging.Logger) -> None:
    """Hand one message to the intake; its failure never ends the chat session."""
    try:
        result = accept(msg)
        if inspect.isawaitable(result):
            await result
    except asyncio.CancelledError:
        raise
    except Exception:
        log.exception("accepting a chat message failed")


class SeenIds:
    """The last `size` message ids: a reconnect never delivers a message twice."""

    def __init__(self, size: int = 5000) -> None:
        self._ids: OrderedDict[str, None] = OrderedDict()
        self._size = size

    def add(self, message_id: str) -> bool:
        """True when it is new (and remember it)."""
        if message_id in self._ids:
            return False
        self._ids[message_id] = None
        while len(self._ids) > self._size:
            self._ids.popitem(last=False)
        return True
