"""The `local` chat source: lines typed in the daemon's terminal become viewer chat.

(`POST /api/chat` and the control panel's test box feed the same intake; see overlay/server.py.)
Reading stdin blocks, and on Windows the event loop cannot watch a console handle, so a daemon
thread reads lines and hands them to the loop; it never keeps the process alive at exit.
"""

from __future__ import annotations

import asyncio
import sys
import threading
from collections.abc import Callable
from typing import TextIO

from ..core.status import State, StatusHandle
from ..core.messages import ChatMessage

TERMINAL_USER = "터미널"
MAX_LINE_CHARS = 20_000


def line_to_message(line: str) -> ChatMessage | None:
    """A typed line as chat. `닉네임> 메시지` chats as that nickname (handy for testing)."""
    text = line.rstrip("\r\n")[:MAX_LINE_CHARS]
    if not text.strip():
        return None
    user = TERMINAL_USER
    head, sep, rest = text.partition("> ")
    if sep and 0 < len(head.strip()) <= 20 and " " not in head.strip() and rest.strip():
        user, text = head.strip(), rest
    return ChatMessage(user=user, message=text, user_id=user, source="terminal")


class TerminalChatSource:
    name = "chat"

    def __init__(self, accept: Callable[[ChatMessage], object], *,
                 stream: TextIO | None = None, fallback_notice: str = "",
                 fallback_hint: str = "") -> None:
        self._accept = accept
        self._stream = stream if stream is not None else sys.stdin
        # Set when another source was asked for but cannot run: stay useful, but say so.
        self._notice = fallback_notice
        self._hint = fallback_hint

    def _report(self, status: StatusHandle, detail: str) -> None:
        if self._notice:
            status.set(State.DEGRADED, f"{self._notice} · {detail}", self._hint)
        else:
            status.set(State.RUNNING, detail)

    async def run(self, status: StatusHandle) -> None:
        loop = asyncio.get_running_loop()
        closed = asyncio.Event()
        interactive = self._stream is not None and _isatty(self._stream)
        if self._stream is None or self._stream.closed:
            closed.set()
        else:
            thread = threading.Thread(target=self._read_lines, args=(loop, closed),
                                      name="terminal-chat", daemon=True)
            thread.start()
        self._report(status, "터미널에 입력한 줄과 컨트롤 패널 채팅을 받습니다" if interactive
                     else "컨트롤 패널 / POST /api/chat 채팅을 받습니다")
        await closed.wait()
        self._report(status, "터미널 입력 없음 — 컨트롤 패널 / POST /api/chat 채팅을 받습니다")
        await asyncio.Event().wait()  # the HTTP path stays open; nothing else to do

    def _read_lines(self, loop: asyncio.AbstractEventLoop, closed: asyncio.Event) -> None:
        try:
            for line in self._stream:
                msg = line_to_message(line)
                if msg is not None:
                    loop.call_soon_threadsafe(self._accept, msg)
        except (OSError, ValueError, UnicodeDecodeError):
            pass  # a closed or broken console is not an error worth crashing over
        finally:
            try:
                loop.call_soon_threadsafe(closed.set)
            except RuntimeError:
                pass  # the loop is already closed at exit


def _isatty(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (OSError, ValueError):
        return False
