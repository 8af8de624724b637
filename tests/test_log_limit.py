"""core/log_limit.LimitedWarnings: one warning line per burst, the held-back ones counted."""

from __future__ import annotations

import logging

import pytest

from aischoco.core.log_limit import LimitedWarnings

LOGGER = "aischoco.test.log_limit"


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    now = [100.0]
    monkeypatch.setattr("aischoco.core.log_limit.time.monotonic", lambda: now[0])
    return now


def lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == LOGGER]


def test_one_line_per_interval_and_the_next_says_how_many_were_skipped(
        caplog: pytest.LogCaptureFixture, clock: list[float]) -> None:
    caplog.set_level(logging.WARNING, logger=LOGGER)
    warnings = LimitedWarnings(logging.getLogger(LOGGER), every_s=10)
    warnings.warning("bad frame %d", 1)
    for n in range(2, 6):
        clock[0] += 1
        warnings.warning("bad frame %d", n)
    assert lines(caplog) == ["bad frame 1"]
    assert warnings.skipped == 4
    clock[0] += 10
    warnings.warning("bad frame %d", 6)
    assert lines(caplog) == ["bad frame 1", "bad frame 6 (+4 more skipped since the last warning)"]
    assert warnings.total == 6 and warnings.skipped == 0
    clock[0] += 10
    warnings("plain text, called like a function")  # nothing held back: no suffix
    assert lines(caplog)[-1] == "plain text, called like a function"
    assert all(r.levelno == logging.WARNING for r in caplog.records if r.name == LOGGER)


def test_prefix_and_a_percent_sign_in_the_text(caplog: pytest.LogCaptureFixture,
                                               clock: list[float]) -> None:
    caplog.set_level(logging.WARNING, logger=LOGGER)
    warnings = LimitedWarnings(logging.getLogger(LOGGER), every_s=10, prefix="chat: ")
    warnings("skipped an item: 100% garbage")  # already formatted (an f-string): no args
    clock[0] += 1
    warnings("again")
    clock[0] += 10
    warnings("skipped %s: %s", "item", "50% off")
    assert lines(caplog) == ["chat: skipped an item: 100% garbage",
                             "chat: skipped item: 50% off (+1 more skipped since the last warning)"]
