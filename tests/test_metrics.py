from __future__ import annotations

import pytest

from aischoco.core.metrics import LatencyStats, TurnMarks, percentile


def test_percentile_interpolates() -> None:
    values = [float(v) for v in range(1, 101)]
    assert percentile(values, 50) == pytest.approx(50.5)
    assert percentile(values, 95) == pytest.approx(95.05)
    assert percentile([7.0], 95) == 7.0
    with pytest.raises(ValueError):
        percentile([], 50)


def test_first_mark_wins_and_end_takes_the_last() -> None:
    marks = TurnMarks(1)
    marks.mark("received", 10.0)
    marks.mark("tts_request", 11.0)
    marks.mark("tts_request", 12.0)
    marks.end("playback_end", 13.0)
    marks.end("playback_end", 14.0)
    assert marks.times["tts_request"] == 11.0 and marks.times["playback_end"] == 14.0
    with pytest.raises(ValueError):
        marks.mark("nonsense")


def test_intervals_and_log_line() -> None:
    marks = TurnMarks(7)
    for name, t in [("received", 1.0), ("dequeued", 1.002), ("llm_request", 1.003),
                    ("llm_done", 1.403), ("tts_request", 1.404), ("tts_first_chunk", 1.504),
                    ("playback_start", 1.524), ("playback_end", 3.0)]:
        marks.mark(name, t)
    got = marks.intervals_ms()
    assert got["queue_wait"] == pytest.approx(2.0)
    assert got["llm"] == pytest.approx(400.0)
    assert got["tts_first_chunk"] == pytest.approx(100.0)
    assert got["chat_to_voice"] == pytest.approx(524.0)
    line = marks.log_line()
    assert line.startswith("turn 7 ok:") and "llm_done=+403ms" in line and "\n" not in line


def test_stats_window_summary() -> None:
    stats = LatencyStats(window=3)
    for i in range(5):
        marks = TurnMarks(i, outcome="ok" if i % 2 else "text_only")
        marks.mark("llm_request", 0.0)
        marks.mark("llm_done", (i + 1) / 1000)
        stats.record(marks)
    summary = stats.summary()
    assert summary["llm"]["count"] == 3  # only the window is kept
    assert summary["llm"]["p50_ms"] == pytest.approx(4.0)
    assert summary["llm"]["last_ms"] == pytest.approx(5.0)
    assert summary["speech"]["p50_ms"] is None
    assert stats.turns == 5 and stats.outcomes == {"text_only": 3, "ok": 2}
