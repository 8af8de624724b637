"""The streamer's voice as a turn: queue priority, filters, overlay, prompt tag, latency marks,
and barge-in (interrupt / duck / ignore) against the real director, turn runner and audio output."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path

import numpy as np
import pytest
import soundfile

from aischoco.ai.prompts import format_line
from aischoco.audio.players import Gain
from aischoco.chat.filters import ChatFilter, FilterConfig, RejectReason
from aischoco.core.messages import ChatMessage, Kind, Role, VoiceTiming
from aischoco.show.director import Director
from aischoco.show.intake import ChatIntake
from aischoco.show.reply_queue import ReplyQueue
from aischoco.core.stages import AudioChunk, UnavailableAudio, UnavailableSpeech
from aischoco.show.turn import Stages
from aischoco.listen.barge_in import AudibleWindow, BargeIn
from aischoco.overlay.state import OverlayState
from audio_helpers import file_output
from test_director import RecordingAnimator, ScriptedLLM, _until, make


def voice(text: str, at: float | None = None) -> ChatMessage:
    now = time.perf_counter() if at is None else at
    return ChatMessage(user="방장", message=text, role=Role.STREAMER, kind=Kind.VOICE,
                       source="voice", voice=VoiceTiming(now - 0.8, now - 0.2))


def test_voice_is_answered_first_and_alone() -> None:
    q = ReplyQueue(max_size=10, max_age_s=60)
    q.push(ChatMessage(user="a", message="c1"), 0)
    q.push(ChatMessage(user="d", message="d1", kind=Kind.DONATION, amount=1000), 1)
    q.push(voice("초코야 안녕"), 2)
    q.push(voice("그리고 오늘 뭐 해?"), 3)
    assert [m.message for m in q.take_batch(4, 3)] == ["초코야 안녕", "그리고 오늘 뭐 해?"]
    assert [m.message for m in q.take_batch(4, 3)] == ["d1"]  # a donation: its own turn
    assert [m.message for m in q.take_batch(4, 3)] == ["c1"]


def test_voice_never_expires_like_chat() -> None:
    q = ReplyQueue(max_size=10, max_age_s=5)
    q.push(voice("잠깐만"), 0)
    q.push(ChatMessage(user="a", message="old chat"), 0)
    assert [m.message for m in q.take_batch(100, 5)] == ["잠깐만"]


def test_filters_let_voice_past_spam_rules_but_not_banned_words() -> None:
    f = ChatFilter(FilterConfig(user_max_messages=1, user_window_s=10, banned_words=("금지어",),
                                hide_streamer_chat=True))
    assert f.check(voice("응"), 0).accepted  # short, streamer hidden: still the streamer's turn
    assert f.check(voice("응"), 0.1).accepted  # duplicate, rate: voice is exempt
    verdict = f.check(voice("이건 금지어 들어간 말"), 0.2)
    assert not verdict.accepted and verdict.reason is RejectReason.BANNED_WORD


def test_hidden_streamer_voice_is_answered_but_not_shown() -> None:
    overlay = OverlayState(ignore_streamer_chat=True)
    llm = ScriptedLLM()
    director, _, _, _ = make(Stages(llm, UnavailableSpeech("off"), UnavailableAudio("off"),
                                    RecordingAnimator()))
    intake = ChatIntake(ChatFilter(FilterConfig(hide_streamer_chat=True)), overlay, director)
    assert intake.accept(voice("초코야 내 말 들려?")).accepted
    assert overlay.snapshot()["viewer_messages"] == [] and len(director.queue) == 1
    intake.set_hide_streamer_chat(False)  # the panel's toggle
    intake.accept(voice("이제 보여?"))
    [shown] = overlay.snapshot()["viewer_messages"]
    assert (shown["role"], shown["kind"], shown["message"]) == ("streamer", "voice", "이제 보여?")


def test_the_llm_is_told_the_line_was_spoken() -> None:
    assert format_line(voice("오늘 뭐 먹지")) == "[방장] [음성] 「방장」: 오늘 뭐 먹지"


async def test_a_voice_turn_carries_speech_end_to_stt_marks() -> None:
    llm = ScriptedLLM()
    director, status, stats, _ = make(Stages(llm, UnavailableSpeech("off"), UnavailableAudio("off"),
                                             RecordingAnimator()))
    task = asyncio.create_task(director.run(status))
    director.submit(voice("초코야 안녕"))
    await _until(lambda: stats.turns == 1)
    task.cancel()
    summary = stats.summary()
    assert summary["end_of_turn"]["last_ms"] == pytest.approx(600, abs=1)
    assert 200 <= summary["stt"]["last_ms"] < 400
    assert summary["queue_wait"]["count"] == 1
    assert summary["voice_to_voice"]["count"] == 0  # text only: nothing was played


class LoudTTS:
    """Constant-level PCM (10 000) so the volume in the output file can be read back exactly."""

    available = True

    def __init__(self, chunks: int = 40, chunk_ms: int = 50) -> None:
        self.chunks = chunks
        self.samples = 24000 * chunk_ms // 1000

    async def synthesize(self, text: str) -> AsyncIterator[AudioChunk]:
        for _ in range(self.chunks):
            await asyncio.sleep(0)
            yield AudioChunk(np.full(self.samples, 10_000, "<i2").tobytes(), 24000)


def _barge(mode: str, director: Director, audio) -> BargeIn:  # type: ignore[no-untyped-def]
    return BargeIn(mode, ai_busy=lambda: director.speaking, interrupt=director.skip,  # type: ignore[arg-type]
                   set_gain=audio.set_gain, duck_gain=0.3)


async def test_interrupt_silences_the_ai_within_150_ms_and_keeps_only_what_was_heard(
        tmp_path: Path) -> None:
    llm = ScriptedLLM("첫 문장을 아주 길게 말하고 있어요. 두 번째 문장은 들리지 않아요.")
    heard: list[float] = []  # monotonic end time of each audible block
    async with file_output(tmp_path / "out.wav") as audio:
        audio.add_tap(lambda block, rate, at: heard.append(at + block.size / rate)
                      if np.any(block) else None)
        director, status, stats, _ = make(Stages(llm, LoudTTS(), audio, RecordingAnimator()))
        barge = _barge("interrupt", director, audio)
        task = asyncio.create_task(director.run(status))
        director.submit(ChatMessage(user="a", message="인사해 줘"))
        await _until(lambda: len(heard) > 25)  # half a second of speech
        acted_at = time.monotonic()
        assert barge.speech_confirmed() == "interrupt"
        await _until(lambda: stats.turns == 1)
        await asyncio.sleep(0.2)
        task.cancel()
    assert stats.outcomes == {"skipped": 1}
    assert max(heard) - acted_at < 0.150
    assert llm.remembered == ["첫 문장을 아주 길게 말하고 있어요.…"]
    assert barge.stats.interrupted == 1


async def test_no_turn_no_interrupt() -> None:
    barge = BargeIn("interrupt", ai_busy=lambda: False, interrupt=lambda: pytest.fail("cut"))
    assert barge.speech_confirmed() is None and barge.stats.interrupted == 0


async def test_duck_lowers_the_ai_while_the_streamer_talks_then_restores(tmp_path: Path) -> None:
    wav = tmp_path / "out.wav"
    llm = ScriptedLLM("계속 말하는 문장입니다.")
    async with file_output(wav) as audio:
        director, status, stats, _ = make(Stages(llm, LoudTTS(chunks=30), audio,
                                                 RecordingAnimator()))
        barge = _barge("duck", director, audio)
        task = asyncio.create_task(director.run(status))
        director.submit(ChatMessage(user="a", message="말해 줘"))
        await _until(lambda: director.speaking and wav.exists() and wav.stat().st_size > 20000)
        assert barge.speech_confirmed() == "duck"
        assert barge.speech_confirmed() is None  # already ducked: once per utterance
        await asyncio.sleep(0.3)
        barge.speech_over()
        await _until(lambda: stats.turns == 1, timeout=5)
        await asyncio.sleep(0.2)
        task.cancel()
    data, _ = soundfile.read(wav, dtype="int16")
    levels = set(np.unique(data).tolist())
    assert {10_000, 3_000} <= levels  # full, then ducked to 0.3
    first_duck = int(np.argmax(data == 3_000))
    assert (data[first_duck:] == 10_000).any()  # restored after the streamer stopped
    assert stats.outcomes == {"ok": 1} and llm.remembered == ["계속 말하는 문장입니다."]


def test_ignore_never_touches_the_ai() -> None:
    calls: list[str] = []
    barge = BargeIn("ignore", ai_busy=lambda: True, interrupt=lambda: calls.append("cut") or True,
                    set_gain=lambda g: calls.append(f"gain {g}"))
    assert barge.speech_confirmed() is None and barge.gates_echo
    barge.speech_over()
    assert calls == [] and barge.stats.ignored == 1


def test_gain_ramps_over_one_block_without_a_jump() -> None:
    gain = Gain()
    ones = np.ones(480, np.float32)
    assert gain.apply(ones) is ones  # unity: untouched
    gain.target = 0.3
    ramp = gain.apply(ones)
    assert ramp[0] == pytest.approx(1.0) and ramp[-1] == pytest.approx(0.3, abs=0.01)
    assert np.all(np.diff(ramp) <= 0) and np.max(np.abs(np.diff(ramp))) < 0.01
    assert np.allclose(gain.apply(ones), 0.3)


def test_audible_window_follows_heard_blocks_plus_the_tail() -> None:
    window = AudibleWindow(tail_s=0.3)
    assert not window.covers(0.0)
    window.note_block(np.zeros(480, np.float32), 24000, 10.0)  # silence between turns
    assert not window.covers(10.0)
    window.note_block(np.full(480, 0.1, np.float32), 24000, 10.0)
    assert window.covers(10.3) and not window.covers(10.0 + 0.02 + 0.3 + 0.001)
