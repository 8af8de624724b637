"""Logging for the daemon: one readable line per event, secrets masked wherever they appear."""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterable

LOG_FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"
NOISY_LIBRARIES = ("httpx", "httpcore", "uvicorn.access", "sse_starlette", "faster_whisper")


class RedactingFormatter(logging.Formatter):
    """Masks known secret values in the whole formatted record, tracebacks included."""

    def __init__(self, secrets: Iterable[str], fmt: str = LOG_FORMAT) -> None:
        super().__init__(fmt, datefmt="%H:%M:%S")
        # Very short values would mask ordinary words; real keys and secrets are long.
        self._secrets = sorted({s for s in secrets if len(s) >= 6}, key=len, reverse=True)

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        for secret in self._secrets:
            text = text.replace(secret, "***")
        return text


def setup_logging(level: str = "INFO", secrets: Iterable[str] = ()) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(RedactingFormatter(secrets))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # Library chatter (per-request lines; faster-whisper's "Processing audio with duration …"
    # for every utterance) is noise on a streamer's terminal.
    for noisy in NOISY_LIBRARIES:
        logging.getLogger(noisy).setLevel(logging.WARNING)
