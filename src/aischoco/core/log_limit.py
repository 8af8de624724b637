"""Warnings for a stream of bad input (malformed chat frames, unknown events): one line per burst.

A broken peer can send hundreds of bad frames a second; a warning each would bury the log. The
first one is written, the rest are counted until ``every_s`` has passed, and the next line says
how many were held back, so nothing is lost from the count.
"""

from __future__ import annotations

import logging
import time


class LimitedWarnings:
    """At most one warning per ``every_s`` on ``logger``; the next one says how many were skipped.

    ``total`` counts every warning asked for, written or not (figures for tests and `doctor`).
    """

    def __init__(self, logger: logging.Logger, every_s: float = 10.0, *, prefix: str = "") -> None:
        self._log = logger
        self._every_s = every_s
        self._prefix = prefix
        self._last = -float("inf")
        self.skipped = 0
        self.total = 0

    def warning(self, fmt: str, *args: object) -> None:
        self.total += 1
        now = time.monotonic()
        if now - self._last < self._every_s:
            self.skipped += 1
            return
        # Formatted here, not by logging: a '%' inside an interpolated error text must not be
        # taken for a placeholder once the suffix is added.
        text = fmt % args if args else fmt
        suffix = f" (+{self.skipped} more skipped since the last warning)" if self.skipped else ""
        self._log.warning("%s%s%s", self._prefix, text, suffix)
        self._last, self.skipped = now, 0

    __call__ = warning
