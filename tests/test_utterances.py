"""UtteranceDetector with scripted probabilities: no model, no audio hardware.

Frame i holds the sample indices i*512 … i*512+511 as values, so an utterance's audio says
exactly which samples it kept."""

from __future__ import annotations

import tracemalloc
from dataclasses import astuple

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aischoco.listen.utterances import (
    SpeechConfirmed,
    SpeechDiscarded,
    SpeechStarted,
    Utterance,
    UtteranceDetector,
    VadConfig,
    VadEvent,
)

N = 512
T = N / 16000  # 32 ms per frame
SPEECH, BETWEEN, SILENCE = 0.9, 0.4, 0.05  # defaults: threshold 0.5, neg_threshold 0.35


def frame(i: int) -> np.ndarray:
    return np.arange(i * N, (i + 1) * N, dtype=np.float32)


def feed(det: UtteranceDetector, probs: list[float],
         first: int = 0) -> list[tuple[int, VadEvent]]:
    """(frame index, event) for every event, frame i captured at i*T."""
    return [(i, e) for i, p in enumerate(probs, first) for e in det.push(frame(i), p, i * T)]


def at(frames: float) -> float:
    return round(frames * T, 6)


def brief(events: list[tuple[int, VadEvent]]) -> list[tuple[object, ...]]:
    """(frame index, event name, its times rounded to the µs): plain values to compare."""
    def times(event: VadEvent) -> tuple[float, ...]:
        if isinstance(event, Utterance):
            return event.started_at, event.ended_at, event.decided_at
        return astuple(event)
    return [(i, type(e).__name__, *(round(t, 6) for t in times(e))) for i, e in events]


def last_utterance(events: list[tuple[int, VadEvent]]) -> Utterance:
    event = events[-1][1]
    assert isinstance(event, Utterance), events
    return event


def samples(start: int, stop: int) -> np.ndarray:
    return np.arange(start, stop, dtype=np.float32)


def test_defaults() -> None:
    config = VadConfig()
    assert config.silence_below == pytest.approx(0.35)
    assert VadConfig(threshold=0.1).silence_below == 0.01
    assert VadConfig(neg_threshold=0.2).silence_below == 0.2


def test_one_utterance_events_times_and_audio() -> None:
    det = UtteranceDetector(VadConfig())
    events = feed(det, [SILENCE] * 10 + [SPEECH] * 20 + [SILENCE] * 30)
    # 250 ms → 8 frames (256 ms): the 8th speech frame confirms, at its end. 600 ms → 19 silent
    # frames (608 ms): decided at the end of the 19th. The end is the last speech frame's end.
    assert brief(events) == [(10, "SpeechStarted", at(10)),
                             (17, "SpeechConfirmed", at(10), at(18)),
                             (48, "Utterance", at(10), at(30), at(49))]
    utterance = last_utterance(events)
    # 200 ms = 3200 samples of pad on both sides, sample exact
    assert utterance.audio.dtype == np.float32
    np.testing.assert_array_equal(utterance.audio, samples(10 * N - 3200, 30 * N + 3200))
    assert not det.in_speech


def test_in_speech_from_start_to_close() -> None:
    det = UtteranceDetector(VadConfig())
    feed(det, [SILENCE] * 3)
    assert not det.in_speech
    feed(det, [SPEECH], first=3)
    assert det.in_speech  # a candidate already counts
    feed(det, [SILENCE] * 18, first=4)
    assert det.in_speech
    assert [type(e) for _, e in feed(det, [SILENCE], first=22)] == [SpeechDiscarded]
    assert not det.in_speech


def test_short_burst_is_discarded() -> None:
    det = UtteranceDetector(VadConfig())
    events = feed(det, [SILENCE] * 10 + [SPEECH] * 5 + [SILENCE] * 30)
    assert brief(events) == [(10, "SpeechStarted", at(10)),
                             (33, "SpeechDiscarded", at(10), at(34))]


@pytest.mark.parametrize(("speech_frames", "confirmed"), [(7, False), (8, True)])
def test_min_speech_exactly(speech_frames: int, confirmed: bool) -> None:
    det = UtteranceDetector(VadConfig(min_speech_ms=256))  # exactly 8 frames
    events = [e for _, e in feed(det, [SPEECH] * speech_frames + [SILENCE] * 20)]
    kinds = [type(e) for e in events]
    assert kinds == ([SpeechStarted, SpeechConfirmed, Utterance] if confirmed
                     else [SpeechStarted, SpeechDiscarded])


def test_min_speech_zero_confirms_on_the_first_frame() -> None:
    det = UtteranceDetector(VadConfig(min_speech_ms=0))
    assert brief(feed(det, [SPEECH])) == [(0, "SpeechStarted", 0.0),
                                          (0, "SpeechConfirmed", 0.0, at(1))]


def test_end_silence_exactly() -> None:
    det = UtteranceDetector(VadConfig(end_silence_ms=320, pad_ms=0))  # exactly 10 frames
    assert [type(e) for _, e in feed(det, [SPEECH] * 10 + [SILENCE] * 9)] == [
        SpeechStarted, SpeechConfirmed]
    assert det.in_speech
    [(_, utterance)] = feed(det, [SILENCE], first=19)
    assert isinstance(utterance, Utterance)
    assert utterance.ended_at == pytest.approx(10 * T)
    assert utterance.decided_at == pytest.approx(utterance.ended_at + 0.32)
    np.testing.assert_array_equal(utterance.audio, samples(0, 10 * N))  # pad 0: speech only


def test_hysteresis_between_thresholds() -> None:
    det = UtteranceDetector(VadConfig())
    # between the thresholds while idle: nothing starts, ever
    assert feed(det, [BETWEEN] * 100) == []
    # in speech, "between" frames keep it going: their audio goes to STT and the end-of-turn
    # silence counts from after them, but the reported end is the last sure (>= threshold) frame
    events = feed(det, [SPEECH] * 10 + [BETWEEN] * 30 + [SILENCE] * 19, first=100)
    utterance = last_utterance(events)
    assert utterance.started_at == pytest.approx(100 * T)
    assert utterance.ended_at == pytest.approx(110 * T)
    assert utterance.decided_at == pytest.approx(159 * T)
    assert utterance.audio.size == 3200 + 40 * N + 3200


def test_silence_run_must_be_unbroken() -> None:
    det = UtteranceDetector(VadConfig())
    events = feed(det, [SPEECH] * 10 + [SILENCE] * 18 + [BETWEEN] + [SILENCE] * 18)
    assert [type(e) for _, e in events] == [SpeechStarted, SpeechConfirmed]
    [(_, utterance)] = feed(det, [SILENCE], first=47)
    assert isinstance(utterance, Utterance)
    assert utterance.ended_at == pytest.approx(10 * T)  # the last sure frame
    assert utterance.audio.size == 29 * N + 3200  # the lone "between" frame is kept (no pre-roll)


def test_thresholds_are_inclusive() -> None:
    config = VadConfig(threshold=0.5, neg_threshold=0.3, min_speech_ms=0)
    det = UtteranceDetector(config)
    assert feed(det, [0.4999]) == []
    assert [type(e) for _, e in feed(det, [0.5], first=1)] == [SpeechStarted, SpeechConfirmed]
    events = feed(det, [0.3] + [0.2999] * 19, first=2)
    # prob == neg_threshold is voiced (its audio is kept); the sure end is the 0.5 frame
    utterance = last_utterance(events)
    assert utterance.ended_at == pytest.approx(2 * T)
    assert utterance.audio.size == N + 2 * N + 3200


def test_pre_roll_is_short_at_stream_start_and_zero_pad() -> None:
    det = UtteranceDetector(VadConfig())
    utterance = last_utterance(feed(det, [SILENCE] * 2 + [SPEECH] * 10 + [SILENCE] * 19))
    np.testing.assert_array_equal(utterance.audio, samples(0, 12 * N + 3200))
    det = UtteranceDetector(VadConfig(pad_ms=0))
    utterance = last_utterance(feed(det, [SILENCE] * 20 + [SPEECH] * 10 + [SILENCE] * 19))
    np.testing.assert_array_equal(utterance.audio, samples(20 * N, 30 * N))


def test_input_frames_are_copied() -> None:
    det = UtteranceDetector(VadConfig(pad_ms=0, min_speech_ms=0))
    buffer = np.ones(N, dtype=np.float32)
    det.push(buffer, SPEECH, 0.0)
    buffer[:] = 7.0  # a capture callback reusing its buffer
    events = det.flush(1.0)
    assert isinstance(events[0], Utterance)
    np.testing.assert_array_equal(events[0].audio, np.ones(N, dtype=np.float32))


def test_max_utterance_cuts_and_continues_without_overlap() -> None:
    config = VadConfig(max_utterance_s=1.0)  # 16000 samples → cut after 32 frames (16384)
    det = UtteranceDetector(config)
    events = feed(det, [SILENCE] * 10 + [SPEECH] * 100 + [SILENCE] * 19)
    utterances = [(i, e) for i, e in events if isinstance(e, Utterance)]
    assert [i for i, _ in utterances] == [41, 73, 105, 128]
    first = utterances[0][1]
    assert (first.started_at, first.ended_at, first.decided_at) == pytest.approx(
        (10 * T, 42 * T, 42 * T))
    # each piece after a cut starts right where the previous one stopped: no sample twice
    joined = np.concatenate([e.audio for _, e in utterances])
    np.testing.assert_array_equal(joined, samples(10 * N - 3200, 110 * N + 3200))
    assert all(e.audio.size <= 3200 + 16384 + 3200 for _, e in utterances)
    starts = [i for i, e in events if isinstance(e, SpeechStarted)]
    assert starts == [10, 42, 74, 106]


def test_flush_closes_an_open_utterance() -> None:
    det = UtteranceDetector(VadConfig())
    feed(det, [SILENCE] * 10 + [SPEECH] * 20 + [SILENCE] * 3)
    [utterance] = det.flush(at=5.0)
    assert isinstance(utterance, Utterance)
    assert (utterance.started_at, utterance.ended_at, utterance.decided_at) == pytest.approx(
        (10 * T, 30 * T, 5.0))
    # the pad after the end is what was heard of it: 3 frames here
    np.testing.assert_array_equal(utterance.audio, samples(10 * N - 3200, 33 * N))
    assert not det.in_speech
    assert det.flush(at=6.0) == []
    # input ended: the next stream has no pre-roll from the old one
    utterance = last_utterance(feed(det, [SPEECH] * 10 + [SILENCE] * 19, first=1000))
    assert utterance.audio[0] == 1000 * N


def test_flush_discards_an_unconfirmed_candidate() -> None:
    det = UtteranceDetector(VadConfig())
    feed(det, [SILENCE] * 10 + [SPEECH] * 3)
    assert brief([(0, e) for e in det.flush(at=1.0)]) == [(0, "SpeechDiscarded", at(10), 1.0)]


def test_reset_drops_everything() -> None:
    det = UtteranceDetector(VadConfig())
    feed(det, [SILENCE] * 10 + [SPEECH] * 20)
    det.reset()
    assert not det.in_speech
    assert det.flush(at=2.0) == []
    feed(det, [SILENCE] * 10 + [SPEECH] * 20)
    det.reset()
    events = feed(det, [SPEECH] * 10 + [SILENCE] * 19, first=500)
    utterance = last_utterance(events)
    assert utterance.audio[0] == 500 * N  # nothing from before the reset


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"threshold": 0.0}, "threshold"),
    ({"threshold": 1.5}, "threshold"),
    ({"neg_threshold": 0.6}, "neg_threshold"),
    ({"neg_threshold": 0.0}, "neg_threshold"),
    ({"min_speech_ms": -1}, "min_speech_ms"),
    ({"pad_ms": -1}, "pad_ms"),
    ({"end_silence_ms": 0}, "end_silence_ms"),
    ({"pad_ms": 700}, "pad_ms"),
    ({"max_utterance_s": 0.8}, "max_utterance_s"),
])
def test_invalid_config(kwargs: dict[str, float], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        VadConfig(**kwargs)  # type: ignore[arg-type]


def test_invalid_frames() -> None:
    with pytest.raises(ValueError, match="sample_rate"):
        UtteranceDetector(VadConfig(), sample_rate=0)
    det = UtteranceDetector(VadConfig())
    with pytest.raises(ValueError, match="512"):
        det.push(np.zeros(480, dtype=np.float32), 0.9, 0.0)


@pytest.mark.parametrize("prob", [SILENCE, BETWEEN])
def test_memory_bounded_over_ten_minutes_without_speech(prob: float) -> None:
    det = UtteranceDetector(VadConfig())
    block = np.zeros(N, dtype=np.float32)
    frames_10min = 10 * 60 * 16000 // N
    tracemalloc.start()
    try:
        for i in range(300):
            det.push(block, prob, i * T)
        before = tracemalloc.get_traced_memory()[0]
        for i in range(300, frames_10min):
            assert det.push(block, prob, i * T) == []
        growth = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert growth < 64 * 1024


def test_memory_bounded_over_ten_minutes_of_speech() -> None:
    det = UtteranceDetector(VadConfig(max_utterance_s=5.0))
    block = np.zeros(N, dtype=np.float32)
    biggest = 0
    for i in range(10 * 60 * 16000 // N):
        for event in det.push(block, SPEECH, i * T):
            if isinstance(event, Utterance):
                biggest = max(biggest, event.audio.size)
    assert biggest <= 3200 + 5 * 16000 + N


# Small windows so short random sequences exercise every path: start 0.5 / silence < 0.35,
# confirm after 2 frames, end after 3 silent frames, cut after 13 frames.
SMALL = VadConfig(min_speech_ms=64, end_silence_ms=96, pad_ms=64, max_utterance_s=0.4)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from([0.0, 0.2, 0.35, 0.4, 0.5, 0.9]) | st.floats(0, 1),
                max_size=120))
def test_events_are_well_ordered(probs: list[float]) -> None:
    det = UtteranceDetector(SMALL)
    events = [e for _, e in feed(det, probs)]
    events += det.flush(at=len(probs) * T)
    open_start: float | None = None
    confirmed = False
    last_close = -1.0
    for event in events:
        if isinstance(event, SpeechStarted):
            assert open_start is None  # no overlap
            assert event.at >= last_close - 1e-9  # i*T vs (i-1)*T + T: float rounding
            open_start, confirmed = event.at, False
        elif isinstance(event, SpeechConfirmed):
            assert open_start is not None and not confirmed
            assert event.started_at == open_start and event.at > open_start
            confirmed = True
        else:
            assert open_start is not None and event.started_at == open_start
            if isinstance(event, Utterance):
                assert confirmed
                assert open_start < event.ended_at <= event.decided_at
                assert 0 < event.audio.size <= 1024 + 13 * N + 1024
                last_close = event.ended_at
            else:
                assert isinstance(event, SpeechDiscarded) and not confirmed
                assert event.at >= open_start
                last_close = event.at
            open_start = None
    assert open_start is None  # flush closed everything
    assert not det.in_speech
