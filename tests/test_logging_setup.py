"""The daemon's log: our lines at INFO, library chatter (per-request, per-utterance) kept out."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

from aischoco.cli.logging_setup import setup_logging


@pytest.fixture
def restore_root() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


def test_faster_whisper_per_utterance_info_is_kept_out(restore_root: None,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    setup_logging("INFO", secrets=["gsk_secret_value"])
    logging.getLogger("faster_whisper").info("Processing audio with duration 00:02.000")
    logging.getLogger("httpx").info('HTTP Request: POST http://x "HTTP/1.1 200 OK"')
    logging.getLogger("aischoco.show.turn").info("turn 1 ok with gsk_secret_value")
    logging.getLogger("faster_whisper").warning("model is large")
    err = capsys.readouterr().err
    assert "Processing audio" not in err and "HTTP Request" not in err
    assert "turn 1 ok with ***" in err and "model is large" in err
