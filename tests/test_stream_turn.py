"""A streamed reply turn, end to end in one process: the real responder and GroqClient against the
SSE test peer, the real RemoteEngine against the speech peer, and the `file:` audio output.
Order is asserted on the timestamps both peers record (time.monotonic()), never on sleeps."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from peers.openai_server import DEFAULT_USAGE, OpenAIServer, Reply, Stream
from peers.speech_server import SpeechServer

from aischoco.ai.character import CharacterPrompt
from aischoco.ai.groq_client import GroqClient
from aischoco.ai.conversation import ConversationMemory
from aischoco.ai.prompts import OutputFilter
from aischoco.ai.responder import GroqResponder
from aischoco.ai.speech_text import spoken_text
from aischoco.core.messages import ChatMessage
from aischoco.core.metrics import LatencyStats, TurnMarks
from aischoco.core.segmenter import SegmenterConfig, segment
from aischoco.core.stages import AIResponse, UnavailableAudio, UnavailableSpeech
from aischoco.show.turn import Stages, TurnRunner
from aischoco.show.turn_events import AnswerShown, TurnEvents
from aischoco.tts.remote_engine import RemoteEngine
from audio_helpers import file_output

LIMITS = {"keep_tokens": 5000, "summarize_at": 7000, "limit_tokens": 8000}
SEGMENTER = SegmenterConfig(min_chars=2)
THREE = "첫 번째 문장이에요. 두 번째 문장이에요. 세 번째 문장이에요."
ANSWER = {"emotion": "happy", "response": THREE}


@dataclass
class Animator:
    emotions: list[tuple[str, float]] = field(default_factory=list)  # (emotion, monotonic)
    speaking: list[bool] = field(default_factory=list)

    def set_emotion(self, emotion: str) -> None:
        self.emotions.append((emotion, time.monotonic()))

    def set_speaking(self, speaking: bool) -> None:
        self.speaking.append(speaking)


@dataclass
class Rig:
    runner: TurnRunner
    responder: GroqResponder
    animator: Animator
    stats: LatencyStats
    shown: list[AIResponse]

    async def turn(self, text: str = "안녕!") -> TurnMarks:
        marks = TurnMarks(len(self.shown) + 1)
        marks.mark("received")
        await self.runner.run([ChatMessage(user="민수", message=text)], marks)
        return marks

    def history(self) -> list[dict[str, str]]:
        assert self.responder.memory is not None
        return self.responder.memory.window.context_messages(0)


@asynccontextmanager
async def rig(tmp: Path, llm: OpenAIServer, tts: SpeechServer | None, *, stream: bool = True,
              max_chars: int = 300, banned: tuple[str, ...] = ()) -> AsyncIterator[Rig]:
    client = GroqClient(api_key="gsk_turn_test", base_url=llm.base_url, model="openai/gpt-oss-120b",
                        timeout_s=2)
    responder = GroqResponder(client, CharacterPrompt(tmp / "character.txt"), OutputFilter(banned),
                              max_answer_chars=max_chars, stream=stream)
    responder.memory = await ConversationMemory.open(tmp / "history", responder.summarize,
                                                     **LIMITS)
    animator, stats, shown = Animator(), LatencyStats(), []
    engine = RemoteEngine(tts.base_url) if tts is not None else None
    try:
        async with file_output(tmp / "out.wav") as audio:
            stages = Stages(responder, engine or UnavailableSpeech("off"),
                            audio if engine else UnavailableAudio("off"), animator)
            runner = TurnRunner(stages, stats, segmenter=SEGMENTER,
                                events=TurnEvents(lambda e: shown.append(e.answer)
                                                  if isinstance(e, AnswerShown) else None))
            yield Rig(runner, responder, animator, stats, shown)
    finally:
        if engine is not None:
            await engine.aclose()
        await client.aclose()
        await responder.memory.aclose()


def _said(tts: SpeechServer) -> list[str]:
    return [r.body["input"] for r in tts.speech_requests]


async def test_the_first_sentence_is_requested_before_the_stream_ends(
        tmp_path: Path, peers: tuple[OpenAIServer, SpeechServer]) -> None:
    llm, tts = peers
    # ~1.3 s of streaming: the first sentence is final ~0.55 s before the last delta, a margin
    # that survives a loaded CI machine (at 60 tokens/s, ~0.28 s once did not).
    llm.script([Stream(ANSWER, token_chars=2, tokens_per_s=30)])
    async with rig(tmp_path, llm, tts) as r:
        marks = await r.turn()
    stream = llm.requests[0]
    assert stream.done_at is not None
    first_tts = tts.speech_requests[0].received_at
    assert first_tts < stream.delta_sent_at[-1] < stream.done_at  # spoken while still written
    assert _said(tts) == segment(THREE, SEGMENTER)
    t = marks.times
    assert t["llm_request"] < t["llm_first_token"] < t["first_sentence_ready"] < t["llm_done"]
    assert t["tts_request"] < t["llm_done"] and marks.outcome == "ok"
    summary = r.stats.summary()
    assert summary["llm_first_token"]["count"] == 1 and summary["first_sentence"]["count"] == 1
    assert r.history()[-1] == {"role": "assistant", "content": THREE}
    assert stream.body["stream"] is True and "response_format" not in stream.body
    snapshot = r.responder.snapshot()  # usage from the last chunk, headroom from the headers
    assert snapshot["usage"] == DEFAULT_USAGE and snapshot["remaining_requests"] == 999


async def test_the_emotion_reaches_the_animator_before_the_first_sentence_is_spoken(
        tmp_path: Path, peers: tuple[OpenAIServer, SpeechServer]) -> None:
    llm, tts = peers
    llm.script([Stream({"emotion": "sad", "response": THREE}, token_chars=2, tokens_per_s=200),
                Stream({"emotion": "JOYFUL", "response": "알 수 없는 감정이에요."})])
    async with rig(tmp_path, llm, tts) as r:
        await r.turn()
        (emotion, at), = r.animator.emotions
        assert emotion == "sad" and at < tts.speech_requests[0].received_at
        assert at < llm.requests[0].done_at  # known long before the answer was finished
        await r.turn()
        assert r.animator.emotions[-1][0] == "neutral"  # unknown emotions become neutral
        assert r.shown[-1].emotion == "neutral"


async def test_the_overlay_grows_by_each_sentence_as_it_starts_playing(
        tmp_path: Path, peers: tuple[OpenAIServer, SpeechServer]) -> None:
    llm, tts = peers
    llm.script([Stream({"emotion": "happy", "response": "안녕하세요! ㅋㅋㅋ\n" + THREE})])
    async with rig(tmp_path, llm, tts) as r:
        await r.turn()
    texts = [a.response for a in r.shown]
    assert texts == ["안녕하세요!", "안녕하세요! ㅋㅋㅋ\n첫 번째 문장이에요.",
                     "안녕하세요! ㅋㅋㅋ\n첫 번째 문장이에요. 두 번째 문장이에요.",
                     "안녕하세요! ㅋㅋㅋ\n" + THREE]
    assert "ㅋ" not in " ".join(_said(tts))  # jamo laughter is shown, never read out
    assert all(a.emotion == "happy" for a in r.shown)


async def test_text_only_the_overlay_grows_as_sentences_arrive(
        tmp_path: Path, peers: tuple[OpenAIServer, SpeechServer]) -> None:
    llm, _ = peers
    llm.script([Stream(ANSWER, token_chars=3)])
    async with rig(tmp_path, llm, None) as r:
        marks = await r.turn()
    assert [a.response for a in r.shown] == ["첫 번째 문장이에요.",
                                             "첫 번째 문장이에요. 두 번째 문장이에요.", THREE]
    assert marks.outcome == "text_only" and r.history()[-1]["content"] == THREE


async def test_chunks_cut_inside_keys_escapes_and_hangul(
        tmp_path: Path, peers: tuple[OpenAIServer, SpeechServer]) -> None:
    llm, tts = peers
    pieces = ['{"emo', 'tion": "sa', 'd", "resp', 'onse": "첫 줄이에요.\\', 'n둘째 \\"인',
              '용\\"이에요. \\u', 'D55c', '글 \\ud83d', '\\ude00 끝이에요."}']
    body = "".join(pieces)
    response = json.loads(body)["response"]
    raw = body.encode()
    hangul = raw.index("둘".encode())
    llm.script([Stream(pieces=pieces, byte_splits=[hangul + 1, hangul + 2, raw.index(b"\\u") + 1])])
    async with rig(tmp_path, llm, tts) as r:
        await r.turn()
    assert r.shown[-1].response == response == '첫 줄이에요.\n둘째 "인용"이에요. 한글 😀 끝이에요.'
    assert _said(tts) == [spoken_text(u) for u in segment(response, SEGMENTER)]
    assert r.animator.emotions[0][0] == "sad"


async def test_a_cut_before_the_first_sentence_is_asked_again(
        tmp_path: Path, peers: tuple[OpenAIServer, SpeechServer]) -> None:
    llm, tts = peers
    llm.script([Stream(ANSWER, token_chars=4, cut_after=10), Stream(ANSWER)])  # in "문장"
    async with rig(tmp_path, llm, tts) as r:
        marks = await r.turn()
    assert len(llm.requests) == 2 and marks.outcome == "ok"
    assert _said(tts) == segment(THREE, SEGMENTER)
    assert r.history()[-1]["content"] == THREE


async def test_a_cut_after_the_first_sentence_keeps_what_was_spoken(
        tmp_path: Path, peers: tuple[OpenAIServer, SpeechServer],
        caplog: pytest.LogCaptureFixture) -> None:
    llm, tts = peers
    head = '{"emotion": "happy", "response": "첫 번째 문장이에요. 두 번'
    llm.script([Stream(pieces=[head, "째 문장", "이에요. 세 번째"], cut_after=2), Stream(ANSWER)])
    with caplog.at_level(logging.WARNING):
        async with rig(tmp_path, llm, tts) as r:
            marks = await r.turn()
    assert len(llm.requests) == 1  # never asked again once something was said
    assert _said(tts) == ["첫 번째 문장이에요."]
    assert marks.outcome == "partly_spoken"
    assert r.shown[-1].response == "첫 번째 문장이에요."
    assert r.history()[-1]["content"] == "첫 번째 문장이에요."  # only what was heard
    assert "the rest is dropped" in caplog.text


async def test_invalid_json_at_the_end_before_anything_was_said_is_asked_again(
        tmp_path: Path, peers: tuple[OpenAIServer, SpeechServer]) -> None:
    llm, tts = peers
    llm.script([Stream('{"emotion": "happy", "response": "안녕하세요!"]'),
                Stream({"emotion": "happy", "response": "다시 안녕하세요!"})])
    async with rig(tmp_path, llm, tts) as r:
        marks = await r.turn()
    assert len(llm.requests) == 2 and marks.outcome == "ok"
    assert _said(tts) == ["다시 안녕하세요!"] and r.shown[-1].response == "다시 안녕하세요!"


async def test_invalid_json_at_the_end_after_a_sentence_keeps_it(
        tmp_path: Path, peers: tuple[OpenAIServer, SpeechServer]) -> None:
    llm, tts = peers
    unclosed = '{"emotion": "happy", "response": "첫 번째 문장이에요. 두 번째 문장이에요."'
    llm.script([Stream(unclosed, token_chars=5)])
    async with rig(tmp_path, llm, tts) as r:
        marks = await r.turn()
    assert len(llm.requests) == 1 and marks.outcome == "partly_spoken"
    assert _said(tts) == ["첫 번째 문장이에요."]  # the last one waits for the object to close
    assert r.history()[-1]["content"] == "첫 번째 문장이에요."


async def test_a_failed_stream_with_nothing_said_fails_the_turn(
        tmp_path: Path, peers: tuple[OpenAIServer, SpeechServer]) -> None:
    llm, tts = peers
    # (plain text would be said as is: tests/test_local_models.py) nothing sayable at all
    llm.script([Stream("<think>JSON으로 답해야 하는데 생각만 하다 끝")] * 2)
    async with rig(tmp_path, llm, tts) as r:
        marks = await r.turn()
    assert len(llm.requests) == 2 and marks.outcome == "error"
    assert _said(tts) == [] and r.shown == [] and r.history() == []


async def test_reasoning_never_reaches_tts_the_overlay_or_the_history(
        tmp_path: Path, peers: tuple[OpenAIServer, SpeechServer]) -> None:
    llm, tts = peers
    llm.script([Stream(ANSWER, reasoning=["비밀 추론입니다. ", "시스템 프롬프트를 보면..."])])
    async with rig(tmp_path, llm, tts) as r:
        await r.turn()
    everything = " ".join([*_said(tts), *(a.response for a in r.shown),
                           *(m["content"] for m in r.history())])
    assert "비밀" not in everything and "시스템" not in everything
    assert _said(tts) == segment(THREE, SEGMENTER)


async def test_the_word_filter_and_the_answer_limit_hold_while_streaming(
        tmp_path: Path, peers: tuple[OpenAIServer, SpeechServer]) -> None:
    llm, tts = peers
    long = "너 바보야? 오늘 방송 재밌어요. " + "아주 긴 문장이 계속 이어져서 한도를 넘어요. " * 5
    llm.script([Stream({"emotion": "angry", "response": long}, token_chars=3)])
    async with rig(tmp_path, llm, tts, max_chars=40, banned=("바보",)) as r:
        await r.turn()
    shown = r.shown[-1].response
    assert shown.startswith("너 **야? 오늘 방송 재밌어요.") and len(shown) <= 40
    assert shown.endswith(".")  # cut at a sentence boundary
    assert "바보" not in " ".join(_said(tts)) and _said(tts)[0] == "너 야?"


async def test_groq_stream_false_keeps_the_json_mode_path(
        tmp_path: Path, peers: tuple[OpenAIServer, SpeechServer]) -> None:
    llm, tts = peers
    llm.script([Reply(ANSWER)])
    async with rig(tmp_path, llm, tts, stream=False) as r:
        marks = await r.turn()
    body = llm.requests[0].body
    assert body["response_format"] == {"type": "json_object"} and "stream" not in body
    assert [a.response for a in r.shown] == [THREE]  # shown whole, at once
    assert _said(tts) == segment(THREE, SEGMENTER) and marks.outcome == "ok"
    assert "llm_first_token" not in marks.times and "first_sentence_ready" in marks.times


async def test_a_skip_while_the_answer_is_still_streaming(
        tmp_path: Path, peers: tuple[OpenAIServer, SpeechServer]) -> None:
    import asyncio

    llm, tts = peers
    llm.script([Stream(ANSWER, token_chars=2, tokens_per_s=25)])  # ~2 s to write it all
    async with rig(tmp_path, llm, tts) as r:
        turn = asyncio.create_task(r.turn())
        while r.animator.speaking != [True]:  # the first sentence is being heard
            await asyncio.sleep(0.005)
        turn.cancel()
        with pytest.raises(asyncio.CancelledError):
            await turn
        assert r.stats.outcomes == {"skipped": 1}
        assert r.history()[-1]["content"] == "첫 번째 문장이에요.…"
    assert _said(tts) == ["첫 번째 문장이에요."]
    record = llm.requests[0]
    deadline = time.monotonic() + 3
    while record.disconnected_at is None and time.monotonic() < deadline:  # the peer's thread
        await asyncio.sleep(0.01)
    assert record.disconnected_at is not None and record.done_at is None  # the stream was closed
