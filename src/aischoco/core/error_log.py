"""The last warnings and errors, kept in memory for the control panel ("최근 오류")."""

from __future__ import annotations

import logging
from collections import deque
from datetime import datetime, timezone
from typing import Any

MAX_ERRORS = 30


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
        self._items.append({
            "time": datetime.fromtimestamp(record.created, timezone.utc).isoformat(),
            "level": record.levelname,
            "source": record.name,
            "message": message[:500],
        })

    def snapshot(self) -> list[dict[str, Any]]:
        return list(self._items)

    def clear(self) -> None:
        self._items.clear()
