"""config/character.txt, re-read when the streamer edits it (no restart needed)."""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Sequence
from pathlib import Path

from .prompts import build_system_prompt

log = logging.getLogger(__name__)


class CharacterPrompt:
    """The system prompt: default persona + character sheet. File reads happen off the loop."""

    def __init__(self, path: Path, platforms: Sequence[str] = ("chzzk",)) -> None:
        self._path = path
        self._platforms = tuple(platforms)  # CHAT_SOURCE: the persona names where it streams
        # (mtime_ns, size) of what was last read; None = no file; "unread" = not looked yet.
        self._stamp: tuple[int, int] | None | str = "unread"
        self._prompt = build_system_prompt("", self._platforms)

    async def get(self) -> str:
        stamp, text = await asyncio.to_thread(self._read_if_changed)
        if stamp != self._stamp:
            self._stamp = stamp
            self._prompt = build_system_prompt(text or "", self._platforms)
            if stamp is None:
                log.warning("%s not found: using the default persona", self._path)
            else:
                log.info("character loaded from %s", self._path)
        return self._prompt

    def _read_if_changed(self) -> tuple[tuple[int, int] | None | str, str | None]:
        try:
            info = os.stat(self._path)
        except OSError:
            return None, None
        stamp = (info.st_mtime_ns, info.st_size)
        if stamp == self._stamp:
            return stamp, None
        try:
            return stamp, self._path.read_text(encoding="utf-8-sig")
        except (OSError, UnicodeDecodeError) as exc:
            log.warning("cannot read %s (%s): keeping the previous character", self._path, exc)
            return self._stamp, None
