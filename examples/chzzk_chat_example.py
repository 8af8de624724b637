"""Print live CHZZK chat, with the daemon's own chat source (official or unofficial web chat).

    CHAT_SOURCE=chzzk python examples/chzzk_chat_example.py       # after `python -m aischoco auth chzzk`
    CHAT_SOURCE=chzzk-web CHZZK_CHANNEL_ID=... python examples/chzzk_chat_example.py   # no app needed

Settings come from .env like the daemon's. Ctrl-C to stop.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys

from aischoco.core.messages import ChatMessage
from aischoco.chat.sources import build_chat_source
from aischoco.core.status import StatusBoard
from aischoco.cli.logging_setup import setup_logging
from aischoco.settings.model import SettingsError, load_settings


def show(msg: ChatMessage) -> None:
    badge = {"streamer": "[방장] ", "manager": "[매니저] "}.get(msg.role.value, "")
    money = f" 💰{msg.amount:,}치즈" if msg.amount else ""
    print(f"{msg.timestamp:%H:%M:%S} {badge}{msg.user}{money}: {msg.message}", flush=True)


async def main() -> int:
    try:
        settings = load_settings(".env")
    except SettingsError as err:
        print(err)
        return 2
    setup_logging("INFO", settings.secret_values())
    board = StatusBoard()
    plan = build_chat_source(settings, show)
    status = board.register(plan.component.name, plan.label)
    board.subscribe(lambda item: print(f"[{item.state.value}] {item.detail} {item.hint}".rstrip()))
    try:
        await plan.component.run(status)
    finally:
        for close in plan.closers:
            await close()
    return 0


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        sys.exit(asyncio.run(main()))
