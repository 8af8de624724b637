"""The speech pipeline with scripted engines and the real file sink: order, pipelining, gaps,
failures and cancellation."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path

import numpy as np
import pytest
import soundfile

from aischoco.core.segmenter import SegmenterConfig, segment
from aischoco.show.speech import SpeechLog, SpeechPipeline, speakable
from aischoco.core.stages import AudioChunk, StageError
from audio_helpers import file_output

RATE = 24000


def _pcm(value: int, frames: int) -> bytes:
    return np.full(frames, value, dtype="<i2").tobytes()


class SlowEngine:
    """Each sentence: `first_s` before the first chunk, then chunks of 50 ms produced 5x faster
    than real time. Sentence i is filled with the constant sample value i+1 so order is visible."""

    available = True

    def __init__(self, *, first_s: float = 0.05, seconds: float = 0.2,
                 fail: set[str] = frozenset()) -> None:
        self.first_s, self.seconds, self.fail = first_s, seconds, fail
        self.requests: list[tuple[str, float]] = []
        self.closed: list[tuple[str, float]] = []
        self.values: dict[str, int] = {}

    async def synthesize(self, text: str) -> AsyncIterator[AudioChunk]:
        self.requests.append((text, time.monotonic()))
        value = self.values.setdefault(text, len(self.values) + 1)
        try:
            await asyncio.sleep(self.first_s)
            if text in self.fail:
                raise StageError("engine exploded")
            for _ in range(int(self.seconds / 0.05)):
                yield AudioChunk(_pcm(value * 100, RATE // 20), RATE)
                await asyncio.sleep(0.01)
        finally:
            self.closed.append((text, time.monotonic()))


async def _speak(engine: SlowEngine, sentences: list[str], path: Path) -> tuple[SpeechLog, list]:
    record = SpeechLog()
    playing: list[tuple[str, float]] = []
    async with file_output(path) as audio:
        pipeline = SpeechPipeline(engine, audio)
        await pipeline.speak(sentences, record,
                             on_playing=lambda text: playing.append((text, time.monotonic())))
        await asyncio.sleep(0.15)  # let the idle writer flush the header
    return record, playing


async def test_sentences_play_in_order_with_no_gap_while_the_next_is_synthesised(
        tmp_path: Path) -> None:
    engine = SlowEngine(first_s=0.08, seconds=0.2)
    sentences = ["하나입니다.", "둘입니다.", "셋입니다."]
    record, playing = await _speak(engine, sentences, tmp_path / "out.wav")
    assert record.heard == sentences and record.complete and record.sent == 3
    data, rate = soundfile.read(tmp_path / "out.wav", dtype="int16")
    assert rate == RATE and data.size == 3 * int(0.2 * RATE)
    # strictly in order, each sentence whole, nothing between them
    expected = np.concatenate([np.full(int(0.2 * RATE), (i + 1) * 100) for i in range(3)])
    assert np.array_equal(data, expected)
    # sentence N+1 was requested while sentence N was playing (pipelined, not after it)
    for (_, requested), (_, play_start) in zip(engine.requests[1:], playing[:-1], strict=True):
        assert requested < play_start + 0.2
    gaps = [b[1] - a[1] for a, b in zip(playing, playing[1:])]
    assert all(gap == pytest.approx(0.2, abs=0.03) for gap in gaps)  # no added silence


async def test_a_failed_sentence_is_skipped_and_the_next_goes_on(tmp_path: Path) -> None:
    engine = SlowEngine(fail={"둘입니다."}, seconds=0.1)
    record, _ = await _speak(engine, ["하나입니다.", "둘입니다.", "셋입니다."], tmp_path / "o.wav")
    assert record.heard == ["하나입니다.", "셋입니다."]
    assert record.failed == ["둘입니다."] and not record.complete
    data, _ = soundfile.read(tmp_path / "o.wav", dtype="int16")
    assert data.size == 2 * int(0.1 * RATE)


async def test_emoji_only_text_is_never_sent_to_tts(tmp_path: Path) -> None:
    engine = SlowEngine(seconds=0.05)
    record, _ = await _speak(engine, ["😀😀!!", "안녕!", "♥ ~ ♥"], tmp_path / "o.wav")
    assert [text for text, _ in engine.requests] == ["안녕!"]
    assert record.heard == ["안녕!"]
    assert speakable("ㅋ") and not speakable("?!…")


async def test_a_long_answer_is_split_never_one_giant_request(tmp_path: Path) -> None:
    answer = ("오늘 방송에 와 주셔서 정말 고마워요, 여러분이 있어서 힘이 나요. " * 60)[:2000]
    config = SegmenterConfig(min_chars=8, max_chars=120)
    engine = SlowEngine(first_s=0.0, seconds=0.05)
    record, _ = await _speak(engine, segment(answer, config), tmp_path / "o.wav")
    texts = [text for text, _ in engine.requests]
    assert len(texts) >= 2000 // 120 and max(map(len, texts)) <= 120
    assert "".join(texts).replace(" ", "") == answer.replace(" ", "")
    assert record.heard == texts


async def test_cancelling_stops_synthesis_and_sound_within_100_ms(tmp_path: Path) -> None:
    engine = SlowEngine(first_s=0.02, seconds=2.0)
    record = SpeechLog()
    path = tmp_path / "o.wav"
    playing: list[float] = []
    async with file_output(path) as audio:
        pipeline = SpeechPipeline(engine, audio)
        task = asyncio.create_task(pipeline.speak(
            ["첫 문장입니다.", "두 번째 문장입니다."], record,
            on_playing=lambda text: playing.append(time.monotonic())))
        while not playing:
            await asyncio.sleep(0.005)
        await asyncio.sleep(0.3)
        cancelled_at = time.monotonic()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert time.monotonic() - cancelled_at < 0.1
        await asyncio.sleep(0.2)
    # the engine's stream was closed at once and nothing more reached the file
    assert engine.closed[-1][1] - cancelled_at < 0.1
    data, _ = soundfile.read(path, dtype="int16")
    assert data.size / RATE <= (cancelled_at - playing[0]) + 0.1
    assert record.heard == [] and record.cut == "첫 문장입니다."
    assert record.heard_text() == "첫 문장입니다.…"
