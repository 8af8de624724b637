"""Director + turn runner: a scripted LLM and TTS, and the real audio output writing a WAV file."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Sequence
from pathlib import Path

import pytest

from aischoco.core.messages import ChatMessage, Kind
from aischoco.show.director import Director
from aischoco.core.metrics import LatencyStats
from aischoco.show.reply_queue import ReplyQueue
from aischoco.core.segmenter import SegmenterConfig
from aischoco.core.stages import (AIResponse, AudioChunk, StillAnimator, UnavailableAudio,
                                  UnavailableLLM, UnavailableSpeech)
from aischoco.core.status import StatusBoard
from aischoco.show.turn import Stages, TurnRunner
from aischoco.show.turn_events import AnswerShown, TurnEvents
from audio_helpers import file_output


class ScriptedLLM:
    available = True

    def __init__(self, answer: str = "안녕하세요! 반가워요.", delay: float = 0.0) -> None:
        self.answer = answer
        self.delay = delay
        self.batches: list[list[str]] = []
        self.remembered: list[str] = []

    async def remember(self, batch: Sequence[ChatMessage], answer: AIResponse, heard: str) -> None:
        self.remembered.append(heard)

    async def reply(self, batch: Sequence[ChatMessage]) -> AIResponse:
        self.batches.append([m.text_for_llm() for m in batch])
        await asyncio.sleep(self.delay)
        return AIResponse(self.answer, "happy", self.delay)


class ToneTTS:
    available = True

    def __init__(self, chunks: int = 2) -> None:
        self.sentences: list[str] = []
        self.chunks = chunks

    async def synthesize(self, text: str) -> AsyncIterator[AudioChunk]:
        self.sentences.append(text)
        for _ in range(self.chunks):  # 10 ms each
            await asyncio.sleep(0)
            yield AudioChunk(b"\x01\x00" * 240, 24000)


class RecordingAnimator(StillAnimator):
    def __init__(self) -> None:
        self.emotions: list[str] = []
        self.speaking: list[bool] = []

    def set_emotion(self, emotion: str) -> None:  # type: ignore[override]
        self.emotions.append(emotion)

    def set_speaking(self, speaking: bool) -> None:
        self.speaking.append(speaking)


def make(stages: Stages, *, batch_size: int = 3, max_size: int = 50):
    stats = LatencyStats()
    answers: list[str] = []
    runner = TurnRunner(stages, stats, segmenter=SegmenterConfig(min_chars=2),
                        events=TurnEvents(lambda e: answers.append(e.answer.response)
                                           if isinstance(e, AnswerShown) else None))
    director = Director(ReplyQueue(max_size, 60), runner, batch_size=batch_size)
    board = StatusBoard()
    status = board.register("director", "디렉터")
    return director, status, stats, answers


async def _until(cond: Callable[[], bool], timeout: float = 2.0) -> None:
    for _ in range(int(timeout / 0.005)):
        if cond():
            return
        await asyncio.sleep(0.005)
    raise AssertionError("condition not reached")


async def test_full_turn_marks_every_stage_and_speaks_each_sentence(tmp_path: Path) -> None:
    llm, tts, anim = ScriptedLLM(), ToneTTS(), RecordingAnimator()
    async with file_output(tmp_path / "out.wav") as audio:
        director, status, stats, answers = make(Stages(llm, tts, audio, anim))
        task = asyncio.create_task(director.run(status))
        director.submit(ChatMessage(user="a", message="안녕"))
        await _until(lambda: stats.turns == 1)
    assert llm.remembered == ["안녕하세요! 반가워요."]
    assert answers == ["안녕하세요! 반가워요."]
    assert tts.sentences == ["안녕하세요!", "반가워요."]
    assert anim.emotions == ["happy"] and anim.speaking[0] is True and anim.speaking[-1] is False
    summary = stats.summary()
    for name in ("queue_wait", "llm", "tts_first_chunk", "audio_start", "speech", "total"):
        assert summary[name]["count"] == 1, name
    assert stats.outcomes == {"ok": 1}
    task.cancel()


async def test_batch_is_taken_at_speaking_time() -> None:
    llm = ScriptedLLM(delay=0.05)
    director, status, stats, _ = make(Stages(llm, UnavailableSpeech("off"), UnavailableAudio("off"),
                                             StillAnimator()), batch_size=2)
    task = asyncio.create_task(director.run(status))
    director.submit(ChatMessage(user="a", message="first"))
    await _until(lambda: len(llm.batches) == 1)
    for text in ("second", "third", "fourth"):  # arrive while the AI is busy
        director.submit(ChatMessage(user="b", message=text))
    director.submit(ChatMessage(user="d", message="thanks", kind=Kind.DONATION, amount=1000))
    await _until(lambda: stats.turns == 4)
    # The donation is its own turn, first; then the freshest chat, two at a time.
    assert llm.batches == [["first"], ["thanks"], ["second", "third"], ["fourth"]]
    assert stats.outcomes == {"text_only": 4}
    task.cancel()


async def test_pause_holds_replies_and_resume_releases_them() -> None:
    llm = ScriptedLLM()
    director, status, stats, _ = make(Stages(llm, UnavailableSpeech("off"), UnavailableAudio("off"),
                                             StillAnimator()))
    task = asyncio.create_task(director.run(status))
    director.set_paused(True)
    director.submit(ChatMessage(user="a", message="hello"))
    await asyncio.sleep(0.1)
    assert llm.batches == [] and director.snapshot()["pending"] == 1
    director.set_paused(False)
    await _until(lambda: stats.turns == 1)
    assert llm.batches == [["hello"]]
    task.cancel()


async def test_skip_stops_current_speech_and_the_next_turn_goes_on(tmp_path: Path) -> None:
    llm = ScriptedLLM("아주 긴 답변입니다. 계속 말합니다. 끝까지 말합니다.")
    anim = RecordingAnimator()
    async with file_output(tmp_path / "out.wav") as audio:
        director, status, stats, _ = make(Stages(llm, ToneTTS(chunks=30), audio, anim))
        task = asyncio.create_task(director.run(status))
        director.submit(ChatMessage(user="a", message="one"))
        await _until(lambda: anim.speaking == [True])  # the first sentence is being heard
        assert director.skip() is True
        await _until(lambda: stats.turns == 1)
        assert stats.outcomes == {"skipped": 1}
        assert not director.speaking
        # Only the sentence that was playing is remembered, marked as cut off.
        assert llm.remembered == ["아주 긴 답변입니다.…"]
        director.submit(ChatMessage(user="b", message="two"))
        await _until(lambda: stats.turns == 2, timeout=5)
        assert llm.remembered[1] == "아주 긴 답변입니다. 계속 말합니다. 끝까지 말합니다."
        task.cancel()


async def test_without_llm_messages_wait_in_the_queue_and_nothing_is_invented() -> None:
    director, status, stats, answers = make(
        Stages(UnavailableLLM("GROQ_API_KEY가 없습니다"), UnavailableSpeech("x"),
               UnavailableAudio("x"), StillAnimator()))
    task = asyncio.create_task(director.run(status))
    director.submit(ChatMessage(user="a", message="hello"))
    await asyncio.sleep(0.05)
    assert answers == [] and stats.turns == 0
    assert director.snapshot()["pending"] == 1
    assert status.current.detail == "LLM이 없어 답변하지 않고 채팅만 모읍니다"
    task.cancel()


async def test_a_chat_before_the_llm_is_ready_is_taken_the_moment_it_is(
        caplog: pytest.LogCaptureFixture) -> None:
    """The LLM is configured but still loading (its history): the status says so, not "no LLM";
    once it is ready, wake() starts the turn at once instead of at the next 1 s idle tick."""
    llm = ScriptedLLM()
    llm.available = False
    director, status, stats, answers = make(Stages(llm, UnavailableSpeech("x"),
                                                   UnavailableAudio("x"), StillAnimator()))
    caplog.set_level("INFO", logger="aischoco.show.director")
    task = asyncio.create_task(director.run(status))
    try:
        director.submit(ChatMessage(user="a", message="일찍 온 채팅"))
        await asyncio.sleep(0.05)
        assert status.current.detail.startswith("LLM 준비 중") and stats.turns == 0
        await asyncio.sleep(0.3)  # the idle tick is a second away
        llm.available = True
        ready_at = asyncio.get_running_loop().time()
        director.wake()  # what the LLM's status change does in app.build
        await _until(lambda: llm.batches != [])
        assert asyncio.get_running_loop().time() - ready_at < 0.1  # not the 1 s tick
        assert llm.batches == [["일찍 온 채팅"]]
        await _until(lambda: status.current.detail == "답변 대기")
        said = [r.getMessage() for r in caplog.records if r.name == "aischoco.show.director"]
        assert said == ["director: LLM 준비 중: 채팅은 모아 두고, 준비되는 즉시 답변합니다",
                        "director: 답변 대기"]  # each change logged once
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def test_failing_llm_is_a_failed_turn_not_a_crash() -> None:
    class BrokenLLM(ScriptedLLM):
        async def reply(self, batch: Sequence[ChatMessage]) -> AIResponse:
            raise RuntimeError("server said no")

    director, status, stats, _ = make(Stages(BrokenLLM(), UnavailableSpeech("x"),
                                             UnavailableAudio("x"), StillAnimator()))
    task = asyncio.create_task(director.run(status))
    director.submit(ChatMessage(user="a", message="one"))
    director.submit(ChatMessage(user="b", message="two"))
    await _until(lambda: stats.turns >= 1)
    assert stats.outcomes.get("error", 0) >= 1
    assert not task.done()
    task.cancel()


@pytest.mark.parametrize("value", ["HAPPY", " sad ", "joyful", None, 3])
def test_unknown_emotions_become_neutral(value: object) -> None:
    from aischoco.core.stages import normalize_emotion

    expected = {"HAPPY": "happy", " sad ": "sad"}.get(value if isinstance(value, str) else "", "neutral")
    assert normalize_emotion(value) == expected
