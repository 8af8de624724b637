"""The last warnings and errors, kept in memory for the control panel ("최근 오류").

A line that repeats (a reconnect every few seconds) is one entry: `count` says how often,
`time` when it was last seen, `first_time` when first; `message` is the latest wording. Lines
that differ only in their numbers ("retry in 1.3 s" / "retry in 2.6 s") are the same line.
"""

from __future__ import annotations

import logging
import re
from collections import deque
from datetime import datetime, timezone
from typing import Any

MAX_ERRORS = 30
_NUMBER = re.compile(r"\d+(?:\.\d+)?")


def repeat_key(level: str, source: str, message: str) -> tuple[str, str, str]:
    """Entries with the same key are folded into one (numbers do not count)."""
    return level, source, _NUMBER.sub("#", message)


class RecentErrors(logging.Handler):
    """A logging handler that remembers the last WARNING+ records (messages only, no tracebacks:
    the panel shows what happened; the terminal log keeps the details)."""

    def __init__(self, size: int = MAX_ERRORS) -> None:
        super().__init__(level=logging.WARNING)
        self._items: deque[dict[str, Any]] = deque(maxlen=size)

    def emit(self, record: logging.LogRecord) -> None:
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 - a broken log call must not break logging
            message = str(record.msg)
        message = message[:500]
        at = datetime.fromtimestamp(record.created, timezone.utc).isoformat()
        key = repeat_key(record.levelname, record.name, message)
        # Handler.handle() holds self.lock around emit(): one thread at a time in here.
        for index, item in enumerate(self._items):
            if item["key"] == key:
                del self._items[index]  # moved to the newest place, its count kept
                self._items.append({**item, "time": at, "message": message,
                                    "count": item["count"] + 1})
                return
        self._items.append({"time": at, "first_time": at, "level": record.levelname,
                            "source": record.name, "message": message, "count": 1, "key": key})

    def snapshot(self) -> list[dict[str, Any]]:
        """Oldest first; `time` is the last time an entry was seen."""
        with self._guard():
            return [{k: v for k, v in item.items() if k != "key"} for item in self._items]

    def clear(self) -> None:
        with self._guard():
            self._items.clear()

    def _guard(self) -> Any:
        assert self.lock is not None  # logging.Handler.createLock() made it
        return self.lock
