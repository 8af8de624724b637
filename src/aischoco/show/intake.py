"""Where every chat message enters: shown on the overlay at once, filtered, then queued for a reply
(and remembered: viewer memory notes every accepted viewer message; the forget command erases
its sender before anything else happens to it).

And where the platform takes a message back (a blind): off the overlay, out of the queue, its
answer skipped if it is being spoken, and out of viewer memory."""

from __future__ import annotations

import dataclasses
import logging
import time
from collections import Counter, OrderedDict
from collections.abc import Callable

from ..chat.chzzk_parse import llm_text_with_emoji_names
from ..chat.filters import ChatFilter, FilterConfig, Verdict
from ..chat.text_safety import mask_banned
from ..core.messages import Blind, ChatMessage
from ..memory.component import ViewerMemory, is_viewer
from ..overlay.state import OverlayState
from .director import Director

FORGOTTEN_NOTICE = "기억 삭제 요청: 이 시청자에 대한 기억을 방금 모두 지웠습니다. 지웠다고 짧게 알려 주세요"

log = logging.getLogger(__name__)

KNOWN_KEYS = 5000  # recent messages a blind can still find (platform key → message id)


class ChatIntake:
    def __init__(
        self,
        chat_filter: ChatFilter,
        overlay: OverlayState,
        director: Director,
        *,
        memory: ViewerMemory | None = None,
        forget_command: str = "",
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._filter = chat_filter
        self._memory = memory
        self._forget_command = forget_command.strip()
        self._overlay = overlay
        self._director = director
        self._clock = clock
        self.rejected: Counter[str] = Counter()
        self.received = 0
        self.hidden = 0  # messages taken back by the platform
        self._keys: OrderedDict[str, str] = OrderedDict()  # platform key → message id
        self._gifts: OrderedDict[str, None] = OrderedDict()  # gift ids already on screen

    @property
    def hide_streamer_chat(self) -> bool:
        return self._filter.config.hide_streamer_chat

    def set_hide_streamer_chat(self, hide: bool) -> None:
        """One switch for both effects: hidden on the overlay and not answered."""
        self._filter.replace_config(dataclasses.replace(self._filter.config,
                                                        hide_streamer_chat=hide))
        self._overlay.set_ignore_streamer_chat(hide)

    def replace_filter_config(self, config: FilterConfig) -> None:
        """New filter settings from the settings page (per-viewer rate state is kept)."""
        self._filter.replace_config(config)

    def accept(self, msg: ChatMessage) -> Verdict:
        self.received += 1
        forgetting = self._is_forget_command(msg)
        if forgetting:
            assert self._memory is not None
            self._memory.forget_sender(msg)  # first: whatever the filters say next
            self._director.forget_viewer(msg.memory_key)  # and out of the conversation window
            msg.notice = FORGOTTEN_NOTICE
        if msg.platform_key:
            self._keys[msg.platform_key] = msg.message_id
            while len(self._keys) > KNOWN_KEYS:
                self._keys.popitem(last=False)
        banned = self._filter.config.banned_words
        if not (msg.is_streamer and self.hide_streamer_chat) and self._first_of_gift(msg):
            shown = msg.message if not banned else mask_banned(msg.message, banned)
            self._overlay.add_viewer(msg, shown_text=shown)
        verdict = self._filter.check(msg, self._clock())
        if verdict.reason is not None:
            self.rejected[verdict.reason.value] += 1
        if verdict.accepted:
            # The overlay swaps `{:name:}` for the emoji image; the LLM reads the name.
            msg.llm_text = (llm_text_with_emoji_names(verdict.llm_text) if msg.emoticons
                            else verdict.llm_text)
            if self._memory is not None and not forgetting:
                self._memory.note(msg)
            self._director.submit(msg)
        else:
            log.debug("chat from %s not queued: %s", msg.user, verdict.reason)
        return verdict

    def hide(self, blind: Blind) -> bool:
        """The platform hid a message: it disappears everywhere. False if it is not known."""
        message_id = self._keys.pop(blind.platform_key, None)
        if message_id is None:
            log.debug("blind for a message not seen here (%s)", blind.reason or "-")
            return False
        self.hidden += 1
        ids = frozenset({message_id})
        self._overlay.remove_viewer(ids)
        self._director.withdraw(ids)
        if self._memory is not None:
            self._memory.unnote(message_id)
        log.info("a chat message was hidden on the platform (%s): removed", blind.reason or "blind")
        return True

    def _first_of_gift(self, msg: ChatMessage) -> bool:
        """A gift of fifty subscriptions is one line on screen, not fifty."""
        info = msg.subscription
        if info is None or info.gift_id is None:
            return True
        if info.gift_id in self._gifts:
            return False
        self._gifts[info.gift_id] = None
        while len(self._gifts) > KNOWN_KEYS:
            self._gifts.popitem(last=False)
        return True

    def _is_forget_command(self, msg: ChatMessage) -> bool:
        return (self._memory is not None and bool(self._forget_command) and is_viewer(msg)
                and msg.message.strip() == self._forget_command)
