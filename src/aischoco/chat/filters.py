"""Pure chat filters: decide which messages the AI may reply to and what text the LLM sees.

Deterministic and free of side effects: time is passed in (``now``, monotonic seconds) so the
stateful :class:`ChatFilter` is testable without sleeping. The text handling itself (cleaning,
truncation, banned-word matching) lives in :mod:`aischoco.chat.text_safety` and is re-exported
here for callers that only need the chat filter module.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict, deque
from dataclasses import dataclass
from enum import Enum

from aischoco.core.messages import ChatMessage, Kind, Role
from aischoco.chat.platforms import viewer_key
from aischoco.chat.text_safety import (clean_for_llm, contains_banned, contains_normalized,
                                       has_char_run, is_too_short, load_banned_words, mask_banned,
                                       normalize_for_matching, normalize_words, truncate)

__all__ = [
    "ChatFilter",
    "FilterConfig",
    "RejectReason",
    "Verdict",
    "clean_for_llm",
    "contains_banned",
    "load_banned_words",
    "mask_banned",
    "truncate",
]

# Per-user history is also capped by count, so a user exempt from the rate limit (the streamer)
# or a config with the rate limit disabled cannot grow one entry without bound inside the window.
_MIN_HISTORY_PER_USER = 32


# --------------------------------------------------------------------------------------------
# Verdict types
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FilterConfig:
    min_length: int = 2  # messages with fewer visible chars are not replied to (donations exempt)
    max_length: int = 200  # LLM text is truncated to this many characters (overlay shows it whole)
    duplicate_window_s: float = 30.0  # same normalised text from the same user within this window
    max_char_run: int = 20  # a run of one repeated character longer than this = spam (0 disables)
    user_max_messages: int = 3  # per-user rate limit: at most this many accepted messages ...
    user_window_s: float = 10.0  # ... per this sliding window (either one 0 disables it)
    banned_words: tuple[str, ...] = ()
    hide_streamer_chat: bool = False

    def __post_init__(self) -> None:
        # A bare string would silently become a tuple of single characters and ban every letter.
        if isinstance(self.banned_words, str):
            raise TypeError("banned_words must be a sequence of words, not a str")
        object.__setattr__(self, "banned_words", tuple(self.banned_words))
        # `not x >= 0` also rejects NaN, which would make every window comparison False.
        if not self.min_length >= 0:
            raise ValueError("min_length must be >= 0")
        if not self.max_length >= 1:
            raise ValueError("max_length must be >= 1")
        if not self.duplicate_window_s >= 0:
            raise ValueError("duplicate_window_s must be >= 0")
        if not self.max_char_run >= 0:
            raise ValueError("max_char_run must be >= 0")
        if not self.user_max_messages >= 0:
            raise ValueError("user_max_messages must be >= 0")
        if not self.user_window_s >= 0:
            raise ValueError("user_window_s must be >= 0")

    @property
    def rate_limit_enabled(self) -> bool:
        # settings.py allows chat_user_max_messages=0; treat it like the other "0 disables" knobs.
        return self.user_window_s > 0 and self.user_max_messages > 0


class RejectReason(str, Enum):
    TOO_SHORT = "too_short"
    DUPLICATE = "duplicate"
    CHAR_RUN = "char_run"
    RATE_LIMITED = "rate_limited"
    BANNED_WORD = "banned_word"
    STREAMER_HIDDEN = "streamer_hidden"


@dataclass(frozen=True, slots=True)
class Verdict:
    accepted: bool
    # None for a clean accept; set on every reject, and on an *accepted* donation/subscription
    # whose text contained a banned word (the donor is thanked, the text is not read).
    reason: RejectReason | None
    llm_text: str  # cleaned + truncated text the LLM may see ("" when rejected)
    truncated: bool = False


# --------------------------------------------------------------------------------------------
# Stateful filter
# --------------------------------------------------------------------------------------------


def _digest(normalized: str) -> bytes:
    # Duplicate memory keeps a 16-byte digest, not the text, so a flood of 100 KB messages costs
    # the same memory as short ones.
    return hashlib.blake2b(normalized.encode("utf-8", "surrogatepass"), digest_size=16).digest()


# One accepted chat message: (time it was accepted, digest of its normalised text).
_History = deque[tuple[float, bytes]]


class ChatFilter:
    """Applies :class:`FilterConfig` to messages, remembering recent accepted messages per user.

    Not thread-safe; meant to be driven from one asyncio task. Memory is bounded: entries older
    than the longest window are pruned, each user keeps a capped history, and at most
    ``max_tracked_users`` users are tracked (least recently accepted dropped first).
    """

    __slots__ = ("_banned", "_config", "_max_users", "_users")

    def __init__(self, config: FilterConfig, max_tracked_users: int = 10_000) -> None:
        if max_tracked_users < 1:
            raise ValueError("max_tracked_users must be >= 1")
        self._max_users = max_tracked_users
        # Ordered by the time of each user's last accepted message (oldest first).
        self._users: OrderedDict[str, _History] = OrderedDict()
        self._config = config
        self._banned = normalize_words(config.banned_words)

    @property
    def config(self) -> FilterConfig:
        return self._config

    @property
    def tracked_users(self) -> int:
        """How many users currently have per-user state (for metrics and tests)."""
        return len(self._users)

    def replace_config(self, config: FilterConfig) -> None:
        """Swap the config (e.g. the control panel toggled a setting); per-user state is kept."""
        self._config = config
        self._banned = normalize_words(config.banned_words)

    def check(self, msg: ChatMessage, now: float) -> Verdict:
        """Decide whether ``msg`` may be replied to. ``now`` is monotonic seconds.

        Does not modify ``msg``; the caller stores ``verdict.llm_text`` into it.
        """
        cfg = self._config
        is_streamer = msg.role is Role.STREAMER
        is_voice = msg.kind is Kind.VOICE
        # Hiding the streamer's chat hides their voice lines on the overlay (intake), but the voice
        # is still answered: VOICE_INPUT is the switch for that.
        if is_streamer and cfg.hide_streamer_chat and not is_voice:
            return Verdict(False, RejectReason.STREAMER_HIDDEN, "")

        cleaned = clean_for_llm(msg.message)
        is_chat = msg.kind is Kind.CHAT
        normalized = normalize_for_matching(cleaned) if (self._banned or is_chat) else ""
        if self._banned and contains_normalized(normalized, self._banned):
            # Donations are still thanked (accepted) but their text is never read out.
            return Verdict(not (is_chat or is_voice), RejectReason.BANNED_WORD, "")

        llm_text, truncated = truncate(cleaned, cfg.max_length)
        if not is_chat:
            # Donations, subscriptions and the streamer's voice are exempt from spam checks and do
            # not count towards them.
            return Verdict(True, None, llm_text, truncated)

        if is_too_short(cleaned, cfg.min_length):
            return Verdict(False, RejectReason.TOO_SHORT, "")
        if cfg.max_char_run > 0 and has_char_run(cleaned, cfg.max_char_run):
            return Verdict(False, RejectReason.CHAR_RUN, "")

        horizon = self._horizon(cfg)
        self._expire_users(now, horizon)
        key = viewer_key(msg)  # namespaced: two platforms' 민수 are rate-limited apart
        history = self._users.get(key)
        if history is not None:
            while history and now - history[0][0] >= horizon:
                history.popleft()

        digest = _digest(normalized)
        if history:
            if cfg.duplicate_window_s > 0 and any(
                d == digest and now - t < cfg.duplicate_window_s for t, d in history
            ):
                return Verdict(False, RejectReason.DUPLICATE, "")
            if not is_streamer and cfg.rate_limit_enabled:
                recent = sum(1 for t, _ in history if now - t < cfg.user_window_s)
                if recent >= cfg.user_max_messages:
                    return Verdict(False, RejectReason.RATE_LIMITED, "")

        self._record(key, history, now, digest, horizon, cfg)
        return Verdict(True, None, llm_text, truncated)

    @staticmethod
    def _horizon(cfg: FilterConfig) -> float:
        """How long an accepted message can still influence a later verdict."""
        return max(cfg.duplicate_window_s, cfg.user_window_s if cfg.rate_limit_enabled else 0.0)

    def _expire_users(self, now: float, horizon: float) -> None:
        # Users are ordered by last accepted time, so expired ones sit at the front: amortised O(1).
        while self._users:
            key, history = next(iter(self._users.items()))
            if history and now - history[-1][0] < horizon:
                break
            del self._users[key]

    def _record(
        self,
        key: str,
        history: _History | None,
        now: float,
        digest: bytes,
        horizon: float,
        cfg: FilterConfig,
    ) -> None:
        if horizon <= 0:
            return  # both windows disabled: nothing to remember
        cap = max(cfg.user_max_messages, _MIN_HISTORY_PER_USER)
        if history is None or history.maxlen != cap:  # new user, or the cap changed with the config
            history = deque(history or (), maxlen=cap)
        history.append((now, digest))
        self._users[key] = history
        self._users.move_to_end(key)
        while len(self._users) > self._max_users:
            self._users.popitem(last=False)
