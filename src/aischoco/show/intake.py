"""Where every chat message enters: shown on the overlay at once, filtered, then queued for a reply."""

from __future__ import annotations

import dataclasses
import logging
import time
from collections import Counter
from collections.abc import Callable

from ..chat.chzzk_parse import llm_text_with_emoji_names
from ..chat.filters import ChatFilter, Verdict
from ..chat.text_safety import mask_banned
from ..core.messages import ChatMessage
from ..overlay.state import OverlayState
from .director import Director

log = logging.getLogger(__name__)


class ChatIntake:
    def __init__(
        self,
        chat_filter: ChatFilter,
        overlay: OverlayState,
        director: Director,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._filter = chat_filter
        self._overlay = overlay
        self._director = director
        self._clock = clock
        self.rejected: Counter[str] = Counter()
        self.received = 0

    @property
    def hide_streamer_chat(self) -> bool:
        return self._filter.config.hide_streamer_chat

    def set_hide_streamer_chat(self, hide: bool) -> None:
        """One switch for both effects: hidden on the overlay and not answered."""
        self._filter.replace_config(dataclasses.replace(self._filter.config,
                                                        hide_streamer_chat=hide))
        self._overlay.set_ignore_streamer_chat(hide)

    def accept(self, msg: ChatMessage) -> Verdict:
        self.received += 1
        banned = self._filter.config.banned_words
        if not (msg.is_streamer and self.hide_streamer_chat):
            shown = msg.message if not banned else mask_banned(msg.message, banned)
            self._overlay.add_viewer(msg, shown_text=shown)
        verdict = self._filter.check(msg, self._clock())
        if verdict.reason is not None:
            self.rejected[verdict.reason.value] += 1
        if verdict.accepted:
            # The overlay swaps `{:name:}` for the emoji image; the LLM reads the name.
            msg.llm_text = (llm_text_with_emoji_names(verdict.llm_text) if msg.emoticons
                            else verdict.llm_text)
            self._director.submit(msg)
        else:
            log.debug("chat from %s not queued: %s", msg.user, verdict.reason)
        return verdict
