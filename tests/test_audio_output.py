"""The audio-out component with real sinks: the WAV file sink (sample-exact, paced in real time) and
a real PortAudio stream into an ALSA `file` device (the closest thing to VB-Cable on a machine with
no sound card)."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile
import soxr

from aischoco.audio.devices import list_output_devices
from aischoco.audio.output import AudioLost, AudioOutput
from aischoco.core.stages import AudioChunk
from aischoco.core.status import StatusBoard
from aischoco.tts.pcm import float_to_pcm16
from audio_helpers import file_output, running_output
from system_deps import ALSA_CONF, require_portaudio

RATE = 24000


def _tone(seconds: float, freq: float = 440.0, amp: float = 0.5) -> np.ndarray:
    t = np.arange(int(RATE * seconds)) / RATE
    return (np.sin(2 * np.pi * freq * t) * amp).astype(np.float32)


def _chunks(samples: np.ndarray, size: int = 2400) -> list[AudioChunk]:
    return [AudioChunk(float_to_pcm16(samples[i:i + size]), RATE)
            for i in range(0, samples.size, size)]


async def _play(output: AudioOutput, pieces: list[np.ndarray]) -> list[tuple[float, float]]:
    segments = []
    for piece in pieces:
        segment = output.open_segment()
        for chunk in _chunks(piece):
            segment.write(chunk)
        segment.finish()
        segments.append(segment)
    return [(await s.started, await s.ended) for s in segments]


async def _wav_frames(path: Path, expected: int, timeout: float = 2.0) -> np.ndarray:
    """The file's samples once the idle writer has flushed the header."""
    deadline = time.monotonic() + timeout
    while True:
        data, rate = soundfile.read(path, dtype="int16")
        if data.size >= expected or time.monotonic() > deadline:
            assert rate == RATE
            return data
        await asyncio.sleep(0.02)


async def test_file_sink_is_sample_exact_and_paced_in_real_time(tmp_path: Path) -> None:
    path = tmp_path / "speech.wav"
    pieces = [_tone(0.25, 440), _tone(0.15, 660), _tone(0.1, 880)]
    async with file_output(path) as output:
        begun = time.monotonic()
        times = await _play(output, pieces)
        elapsed = time.monotonic() - begun
        data = await _wav_frames(path, sum(p.size for p in pieces))
    expected = np.frombuffer(b"".join(float_to_pcm16(p) for p in pieces), dtype="<i2")
    assert data.size == expected.size == 12000  # 0.5 s at 24 kHz, nothing added or lost
    assert np.array_equal(data, expected)
    assert 0.45 <= elapsed < 1.0  # real time, not as fast as the disk allows
    # Back to back: each sentence starts where the previous one ended, and lasts its length.
    for (start, end), piece, nxt in zip(times, pieces, times[1:] + [None], strict=True):
        assert end - start == pytest.approx(piece.size / RATE, abs=0.03)
        if nxt is not None:
            assert nxt[0] == pytest.approx(end, abs=0.001)


async def test_stop_all_silences_within_100_ms_and_unheard_segments_never_start(
        tmp_path: Path) -> None:
    path = tmp_path / "speech.wav"
    async with file_output(path) as output:
        first, second = output.open_segment(), output.open_segment()
        for chunk in _chunks(_tone(2.0)):
            first.write(chunk)
        first.finish()
        second.write(_chunks(_tone(1.0))[0])
        second.finish()
        started = await first.started
        await asyncio.sleep(0.3)
        stopped_at = time.monotonic()
        output.stop_all()
        assert await first.ended <= stopped_at + 0.001
        assert second.started.cancelled()
        await asyncio.sleep(0.25)
        data = await _wav_frames(path, 0)
    heard_s = data.size / RATE
    assert heard_s <= (stopped_at - started) + 0.1  # silence came within 100 ms of the skip


async def test_a_real_portaudio_stream_plays_into_an_alsa_device(tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """24 kHz speech through a real PortAudio stream into an ALSA `file` device (over `null`).

    That device consumes far faster than real time, so the player underruns whenever the writer
    pauses; the test makes it underrun between every chunk on purpose. What must hold whatever
    the scheduling: the tone comes out exactly once, in order, resampled, with only silence (the
    player's own zero blocks) in the gaps — never a repeated or stale block."""
    raw = tmp_path / "tap.raw"
    conf = tmp_path / "asoundrc"
    conf.write_text(f'pcm.aischoco_tap {{ type file slave.pcm "null" file "{raw}" format "raw" '
                    f'hint {{ show on description "aischoco test tap" }} }}\n', encoding="utf-8")
    require_portaudio()
    monkeypatch.setenv("ALSA_CONFIG_PATH", f"{ALSA_CONF}:{conf}")
    tone = _tone(0.2, amp=0.5)
    try:
        names = [d.name for d in list_output_devices(refresh=True)]
        assert "aischoco_tap" in names
        async with running_output("tap") as output:  # found by a part of its name
            assert "aischoco_tap (ALSA" in output.label
            board_rate = output._players[0].rate
            segment = output.open_segment()
            for chunk in _chunks(tone):
                segment.write(chunk)
                await asyncio.sleep(0.02)  # the device drains the buffer: an underrun
            segment.finish()
            started, ended = await segment.started, await segment.ended
            assert ended > started
    finally:
        monkeypatch.delenv("ALSA_CONFIG_PATH")
        list_output_devices(refresh=True)
    played = np.fromfile(raw, dtype="<f4").reshape(-1, 2)  # float32 stereo, mono copied twice
    assert np.array_equal(played[:, 0], played[:, 1])
    heard = _without_silent_gaps(played[:, 0])
    expected = soxr.resample(tone, RATE, board_rate, quality="HQ")
    # resampled 24 kHz → the device's rate: 0.2 s of tone is 0.2 s of audio at its rate, once
    assert heard.size == pytest.approx(expected.size, abs=2)
    n = min(heard.size, expected.size)
    assert float(np.abs(heard[:n] - expected[:n]).max()) < 1e-3  # in order, nothing repeated
    assert abs(float(np.abs(heard).max()) - 0.5) < 0.01


def _without_silent_gaps(samples: np.ndarray, min_gap: int = 32) -> np.ndarray:
    """Drop runs of exact zeros (the blocks a player writes while nothing is queued)."""
    zero = samples == 0.0
    keep = np.ones(samples.size, dtype=bool)
    edges = np.flatnonzero(np.diff(np.concatenate(([0], zero.astype(np.int8), [0]))))
    for start, stop in zip(edges[::2], edges[1::2], strict=True):
        if stop - start >= min_gap or start == 0 or stop == samples.size:
            keep[start:stop] = False
    return samples[keep]


async def test_a_stream_that_dies_is_reported_and_reopened(tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    conf = tmp_path / "asoundrc"
    conf.write_text(f'pcm.aischoco_tap {{ type file slave.pcm "null" file "{tmp_path}/t.raw" '
                    f'format "raw" hint {{ show on description "tap" }} }}\n', encoding="utf-8")
    require_portaudio()
    monkeypatch.setenv("ALSA_CONFIG_PATH", f"{ALSA_CONF}:{conf}")
    list_output_devices(refresh=True)
    output = AudioOutput("aischoco_tap")
    board = StatusBoard()
    seen: list[str] = []
    board.subscribe(lambda item: seen.append(item.state.value))
    task = asyncio.create_task(output.run(board.register("audio", "오디오 출력")))
    try:
        while not output.available:
            await asyncio.sleep(0.01)
        segment = output.open_segment()
        segment.write(_chunks(_tone(0.1))[0])  # never finished: still "playing" when lost
        output._players[0]._stream.abort()  # what a driver does when the cable is removed
        with pytest.raises(AudioLost):
            await asyncio.wait_for(segment.ended, 2)
        while not (seen[-1] == "running" and "degraded" in seen):
            await asyncio.sleep(0.02)
        assert output.available  # reopened by itself
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        monkeypatch.delenv("ALSA_CONFIG_PATH")
        list_output_devices(refresh=True)


async def test_a_missing_device_is_reported_and_retried(caplog: pytest.LogCaptureFixture) -> None:
    require_portaudio()
    output = AudioOutput("No Such Cable")
    board = StatusBoard()
    task = asyncio.create_task(output.run(board.register("audio", "오디오 출력")))
    try:
        for _ in range(200):
            if board.get("audio").state.value == "degraded":
                break
            await asyncio.sleep(0.01)
        status = board.get("audio")
        assert status.state.value == "degraded"
        assert "No Such Cable" in status.detail and "다시 시도" in status.detail
        assert "devices" in status.hint
        assert not output.available and not task.done()
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def test_the_monitor_device_gets_the_same_audio(tmp_path: Path) -> None:
    main, monitor = tmp_path / "cable.wav", tmp_path / "headphones.wav"
    pieces = [_tone(0.1, 500), _tone(0.1, 700)]
    async with running_output(f"file:{main}", monitor=f"file:{monitor}") as output:
        assert "모니터" not in output.label and len(output._players) == 2
        await _play(output, pieces)
        first = await _wav_frames(main, 4800)
        second = await _wav_frames(monitor, 4800)
    assert first.size == 4800 and np.array_equal(first, second)


async def test_an_engine_that_changes_rate_mid_sentence_is_resampled_not_garbled(
        tmp_path: Path) -> None:
    path = tmp_path / "speech.wav"
    async with file_output(path) as output:  # the file is 24 kHz
        segment = output.open_segment()
        segment.write(AudioChunk(float_to_pcm16(_tone(0.1)), RATE))
        half_rate = _tone(0.1)[::2]  # 1,200 samples: 0.1 s at 12 kHz
        segment.write(AudioChunk(float_to_pcm16(half_rate), 12000))
        segment.finish()
        await segment.ended
        data = await _wav_frames(path, 4800)
    assert data.size == 4800  # 0.1 s + 0.1 s at 24 kHz
