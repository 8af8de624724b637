"""PlaybackBuffer and the resampler: pure logic, no devices."""

from __future__ import annotations

import numpy as np
import pytest

from aischoco.audio.buffer import Boundary, PlaybackBuffer, SegmentEvent
from aischoco.audio.devices import AudioDeviceError, OutputDevice, resolve_output
from aischoco.audio.resample import StreamResampler


def _ramp(n: int, start: float = 0.0) -> np.ndarray:
    return (start + np.arange(n, dtype=np.float32)) / 10_000


def test_segments_play_back_to_back_with_boundaries_at_exact_offsets() -> None:
    buf = PlaybackBuffer()
    buf.push(1, _ramp(30))
    buf.finish(1)
    buf.push(2, _ramp(50, 30))
    buf.finish(2)
    block, events = buf.read(64)
    assert np.array_equal(block, _ramp(64))  # no gap between the two segments
    assert events == [SegmentEvent(1, Boundary.STARTED, 0), SegmentEvent(1, Boundary.ENDED, 30),
                      SegmentEvent(2, Boundary.STARTED, 30)]
    block, events = buf.read(64)
    assert np.array_equal(block[:16], _ramp(16, 64)) and not block[16:].any()  # then silence
    assert events == [SegmentEvent(2, Boundary.ENDED, 16)]
    assert buf.frames_read == 128 and buf.content_frames_read == 80 and buf.pending_frames == 0


def test_an_unfinished_segment_does_not_end_while_more_audio_may_come() -> None:
    buf = PlaybackBuffer()
    buf.push(1, _ramp(10))
    _, events = buf.read(20)
    assert events == [SegmentEvent(1, Boundary.STARTED, 0)]  # underrun, but not ended
    buf.push(1, _ramp(5))
    buf.finish(1)
    block, events = buf.read(20)
    assert block[:5].any() and events == [SegmentEvent(1, Boundary.ENDED, 5)]


def test_an_empty_segment_waits_for_the_audio_queued_before_it() -> None:
    buf = PlaybackBuffer()
    buf.push(1, _ramp(40))
    buf.finish(1)
    buf.finish(2)  # synthesis failed: nothing queued for segment 2
    _, events = buf.read(20)
    assert events == [SegmentEvent(1, Boundary.STARTED, 0)]
    _, events = buf.read(30)
    assert [(e.segment, e.boundary) for e in events] == [
        (1, Boundary.ENDED), (2, Boundary.STARTED), (2, Boundary.ENDED)]


def test_read_without_fill_returns_only_queued_audio() -> None:
    buf = PlaybackBuffer()
    buf.push(1, _ramp(7))
    block, _ = buf.read(20, fill=False)
    assert block.size == 7 and buf.frames_read == 7


def test_clear_drops_everything_at_once() -> None:
    buf = PlaybackBuffer()
    buf.push(1, _ramp(100))
    buf.finish(1)
    buf.push(2, _ramp(100))
    buf.read(10)
    assert buf.clear() == [1, 2]
    block, events = buf.read(50)
    assert not block.any() and events == [] and buf.pending_frames == 0


@pytest.mark.parametrize("out_rate", [24000, 44100, 48000, 16000])
def test_streamed_resampling_gives_the_exact_length_and_matches_one_shot(out_rate: int) -> None:
    rng = np.random.default_rng(1)
    signal = np.sin(np.arange(24000) * 2 * np.pi * 440 / 24000).astype(np.float32) * 0.5
    streamed = StreamResampler(24000, out_rate)
    pieces, pos = [], 0
    while pos < signal.size:
        step = int(rng.integers(1, 2000))
        pieces.append(streamed.process(signal[pos:pos + step]))
        pos += step
    pieces.append(streamed.flush())
    whole = np.concatenate(pieces)
    assert whole.size == round(signal.size * out_rate / 24000)
    one_shot = StreamResampler(24000, out_rate)
    reference = np.concatenate([one_shot.process(signal), one_shot.flush()])
    assert np.max(np.abs(whole - reference)) < 1e-5  # chunking leaves no joins


def _dev(index: int, name: str, hostapi: str = "ALSA", default: bool = False) -> OutputDevice:
    return OutputDevice(index, name, hostapi, 2, 48000, default)


def test_device_lookup_by_default_index_and_name_part() -> None:
    devices = [_dev(0, "Speakers (Realtek)", "MME", default=True),
               _dev(3, "CABLE Input (VB-Audio Virtual C", "MME"),
               _dev(7, "CABLE Input (VB-Audio Virtual Cable)", "Windows WASAPI"),
               _dev(9, "CABLE Input (VB-Audio Virtual Cable)", "Windows WDM-KS")]
    assert resolve_output("default", devices).index == 0
    assert resolve_output("3", devices).index == 3
    assert resolve_output("cable input", devices).index == 7  # WASAPI preferred over MME/WDM-KS
    with pytest.raises(AudioDeviceError, match="'Headset'"):
        resolve_output("Headset", devices)
    with pytest.raises(AudioDeviceError, match="12"):
        resolve_output("12", devices)
    with pytest.raises(AudioDeviceError, match="기본 출력 장치"):
        resolve_output("default", devices[1:])
    with pytest.raises(AudioDeviceError, match="하나도 없어"):
        resolve_output("default", [])
