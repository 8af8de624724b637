"""A living stream in one process: the real director, intake, overlay state, responder (GroqClient
against the OpenAI peer) and RemoteEngine (against the speech peer) into the `file:` audio output.

Idle talk, donation tiers and blinds are asserted on the peers' request logs and on what reached
TTS, never on sleeps alone."""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from aischoco.ai.character import CharacterPrompt
from aischoco.ai.groq_client import GroqClient
from aischoco.ai.conversation import ConversationMemory
from aischoco.ai.prompts import OutputFilter
from aischoco.ai.responder import GroqResponder
from aischoco.chat.filters import ChatFilter, FilterConfig
from aischoco.core.messages import Blind, ChatMessage, Kind
from aischoco.core.metrics import LatencyStats
from aischoco.core.segmenter import SegmenterConfig
from aischoco.core.stages import tier_emotion
from aischoco.core.status import StatusBoard
from aischoco.overlay.state import OverlayState
from aischoco.show.director import Director
from aischoco.show.idle_talk import IdleTalk, IdleTalkConfig
from aischoco.show.intake import ChatIntake
from aischoco.show.reply_queue import ReplyQueue
from aischoco.show.on_overlay import turn_on_overlay
from aischoco.show.turn import Stages, TurnRunner
from aischoco.show.turn_events import TurnEvents
from aischoco.tts.remote_engine import RemoteEngine
from audio_helpers import file_output
from peers.openai_server import OpenAIServer, Reply, Slow, Stream
from peers.speech_server import SpeechServer

LIMITS = {"keep_tokens": 5000, "summarize_at": 7000, "limit_tokens": 8000}
IDLE_MARK = "[방송 진행 메모]"


@dataclass
class Animator:
    emotions: list[str] = field(default_factory=list)
    reactions: list[int] = field(default_factory=list)

    def set_emotion(self, emotion: str) -> None:
        self.emotions.append(emotion)

    def set_speaking(self, speaking: bool) -> None:
        return None

    def react_to_donation(self, tier: int) -> str:
        self.reactions.append(tier)
        self.emotions.append(tier_emotion(tier))
        return tier_emotion(tier)


@dataclass
class Show:
    director: Director
    intake: ChatIntake
    overlay: OverlayState
    responder: GroqResponder
    animator: Animator
    stats: LatencyStats
    talking: list[bool]

    def chat(self, text: str, user: str = "민수", **kw: object) -> ChatMessage:
        msg = ChatMessage(user=user, user_id=f"id-{user}", message=text, **kw)  # type: ignore[arg-type]
        self.intake.accept(msg)
        return msg

    def history(self) -> list[dict[str, str]]:
        assert self.responder.memory is not None
        return self.responder.memory.window.context_messages(0)

    def answers(self) -> list[dict]:
        return self.overlay.snapshot()["assistant_messages"]


@asynccontextmanager
async def show(tmp: Path, llm: OpenAIServer, tts: SpeechServer, *, stream: bool = True,
               idle: IdleTalkConfig | None = None) -> AsyncIterator[Show]:
    client = GroqClient(api_key="gsk_living", base_url=llm.base_url, model="openai/gpt-oss-120b",
                        timeout_s=5)
    responder = GroqResponder(client, CharacterPrompt(tmp / "character.txt"), OutputFilter(()),
                              max_answer_chars=300, stream=stream)
    responder.memory = await ConversationMemory.open(tmp / "history", responder.summarize,
                                                     **LIMITS)
    engine = RemoteEngine(tts.base_url)
    animator, stats, overlay = Animator(), LatencyStats(), OverlayState()
    talking = [False]
    try:
        async with file_output(tmp / "out.wav") as audio:
            runner = TurnRunner(
                Stages(responder, engine, audio, animator), stats,
                segmenter=SegmenterConfig(min_chars=2),
                events=TurnEvents(turn_on_overlay(overlay)))
            idle_talk = IdleTalk(idle, rng=random.Random(4)) if idle else None
            director = Director(ReplyQueue(50, 60), runner, batch_size=3, idle=idle_talk,
                                streamer_talking=lambda: talking[0])
            intake = ChatIntake(ChatFilter(FilterConfig(min_length=1)), overlay, director)
            status = StatusBoard().register("director", "디렉터")
            task = asyncio.create_task(director.run(status))
            try:
                yield Show(director, intake, overlay, responder, animator, stats, talking)
            finally:
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
    finally:
        await engine.aclose()
        await client.aclose()
        await responder.memory.aclose()


async def until(cond, timeout: float = 5.0, what: str = "condition"):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if value := cond():
            return value
        await asyncio.sleep(0.01)
    raise AssertionError(f"{what} not reached")


def idle_requests(llm: OpenAIServer) -> list:
    return [r for r in llm.requests if IDLE_MARK in r.body["messages"][-1]["content"]]


def said(tts: SpeechServer) -> list[str]:
    return [r.body["input"] for r in tts.speech_requests]


# --- idle talk -----------------------------------------------------------------------------------


async def test_quiet_chat_gets_idle_lines_on_schedule_with_variety(
        tmp_path: Path, peers: tuple[OpenAIServer, SpeechServer]) -> None:
    llm, tts = peers
    lines = [f"혼잣말 {i}번째예요." for i in range(6)]
    llm.script([Stream({"emotion": "happy", "response": "비 오면 파전이죠!"}),
                *(Stream({"emotion": "happy", "response": text}) for text in lines)])
    (tmp_path / "topics.txt").write_text("게임\n노래\n야식\n", encoding="utf-8")
    config = IdleTalkConfig(after_s=0.4, min_gap_s=0.7, topics_path=tmp_path / "topics.txt")
    started = time.monotonic()
    async with show(tmp_path, llm, tts, idle=config) as s:
        s.chat("오늘 비 온대요")  # answered first; then the quiet starts
        await until(lambda: len(idle_requests(llm)) >= 4, timeout=15, what="four idle lines")
        await until(lambda: sum(a["proactive"] for a in s.answers()) >= 4, what="shown")
        history = s.history()
    requests = idle_requests(llm)[:4]
    chat_done = llm.requests[0].done_at
    assert chat_done is not None and IDLE_MARK not in llm.requests[0].body["messages"][-1]["content"]
    # Timing from the peer's own clock: quiet >= after_s after the chat turn, gap >= min_gap_s
    # (less the few ms a request may take on loopback: the daemon's decision is the clock).
    assert requests[0].received_at - chat_done >= 0.4 - 0.03
    for a, b in zip(requests, requests[1:]):
        assert b.received_at - a.received_at >= 0.7 - 0.03
    assert requests[0].received_at - started < 10
    prompts = [r.body["messages"][-1]["content"] for r in requests]
    openings = [p.splitlines()[0] for p in prompts]
    assert len(set(openings)) == 4  # no cue repeated within these lines
    assert "다른 말로 시작하세요" in prompts[-1] and "혼잣말" in prompts[-1]  # earlier openings
    shown = [a for a in s.answers() if a["proactive"]]
    assert [a["message"] for a in shown][:4] == lines[:4]
    assert [a["proactive"] for a in s.answers() if a["message"] == "비 오면 파전이죠!"] == [False]
    assert said(tts)[1:5] == lines[:4]  # spoken, after the chat's answer
    # History: the chat as a user/assistant pair; each idle line as the character's own line.
    idle_entries = [h for h in history if h["content"] in lines]
    assert idle_entries and all(h["role"] == "assistant" for h in idle_entries)
    assert not any(IDLE_MARK in h["content"] for h in history)
    assert s.stats.summary()["idle_to_voice"]["count"] >= 4


async def test_a_chat_cancels_the_idle_line_before_it_is_shown_or_heard(
        tmp_path: Path, peers: tuple[OpenAIServer, SpeechServer]) -> None:
    llm, tts = peers
    llm.script([Slow(3.0, then=Reply({"emotion": "happy", "response": "아무도 못 들을 혼잣말"})),
                Stream({"emotion": "happy", "response": "민수님 어서 와요!"})])
    config = IdleTalkConfig(after_s=0.2, min_gap_s=30)
    async with show(tmp_path, llm, tts, idle=config) as s:
        await until(lambda: idle_requests(llm), what="the idle request")
        s.chat("안녕하세요")
        await until(lambda: s.stats.turns == 2, what="the cancelled line and the chat's turn")
        snapshot = s.director.snapshot()
        outcomes = dict(s.stats.outcomes)
        history = s.history()
    assert len(llm.requests) == 2 and IDLE_MARK not in llm.requests[1].body["messages"][-1]["content"]
    assert [a["message"] for a in s.answers()] == ["민수님 어서 와요!"]
    assert said(tts) == ["민수님 어서 와요!"]
    assert snapshot["idle_talk"]["cancelled"] == 1 and snapshot["idle_talk"]["lines"] == 0
    assert outcomes == {"skipped": 1, "ok": 1}
    assert [h["content"] for h in history if h["role"] == "assistant"] == ["민수님 어서 와요!"]


async def test_no_idle_line_while_paused_or_while_the_streamer_talks(
        tmp_path: Path, peers: tuple[OpenAIServer, SpeechServer]) -> None:
    llm, tts = peers
    config = IdleTalkConfig(after_s=0.2, min_gap_s=0.2)
    async with show(tmp_path, llm, tts, idle=config) as s:
        s.director.set_paused(True)
        await asyncio.sleep(0.8)  # four times the quiet time: would have been due
        assert idle_requests(llm) == []
        s.talking[0] = True
        s.director.set_paused(False)
        await asyncio.sleep(0.8)
        assert idle_requests(llm) == []  # the streamer is talking (voice input)
        s.talking[0] = False
        await until(lambda: idle_requests(llm), what="an idle line once both are over")
        s.director.set_idle_talk(False)
        count = len(idle_requests(llm))
        await until(lambda: not s.director.speaking)
        await asyncio.sleep(0.6)
        assert len(idle_requests(llm)) == count  # the panel's switch
        assert s.director.snapshot()["idle_talk"]["enabled"] is False


# --- donations by tier ---------------------------------------------------------------------------


@pytest.mark.parametrize("stream", [True, False], ids=["streamed", "whole"])
async def test_the_donor_and_amount_reach_tts_even_when_the_model_omits_them(
        tmp_path: Path, peers: tuple[OpenAIServer, SpeechServer], stream: bool) -> None:
    llm, tts = peers
    forgetful = {"emotion": "sad", "response": "와 정말 고마워요. 오늘 최고예요!"}
    named = {"emotion": "sad", "response": "치즈왕님 1만 치즈 감사해요! 잘 쓸게요."}
    llm.script([Stream(forgetful), Stream(named)] if stream else [Reply(forgetful), Reply(named)])
    async with show(tmp_path, llm, tts, stream=stream) as s:
        s.chat("방송 잘 보고 있어요", user="큰손", kind=Kind.DONATION, amount=50000)
        await until(lambda: s.stats.turns == 1, what="the first donation turn")
        s.chat("응원합니다", user="치즈왕", kind=Kind.DONATION, amount=10000)
        await until(lambda: s.stats.turns == 2, what="the second donation turn")
        answers = s.answers()
    heard = " ".join(said(tts))  # (a whole answer is cut into sentences by the segmenter)
    assert heard == ("우와, 큰손님! 50,000치즈 후원 정말 정말 감사합니다! "  # the daemon's line
                     "와 정말 고마워요. 오늘 최고예요! "
                     "치즈왕님 1만 치즈 감사해요! 잘 쓸게요.")  # named: no extra line
    first, second = answers
    assert first["message"].startswith("우와, 큰손님! 50,000치즈") and first["emotion"] == "excited"
    assert second["message"] == named["response"] and second["emotion"] == "excited"
    assert s.animator.reactions == [3, 2] and "sad" not in s.animator.emotions
    told = [r.body["messages"][-1]["content"] for r in llm.requests]
    assert "50,000치즈, 3단계" in told[0] and "10,000치즈, 2단계" in told[1]


async def test_anonymous_donations_are_thanked_as_anonymous(
        tmp_path: Path, peers: tuple[OpenAIServer, SpeechServer]) -> None:
    llm, tts = peers
    llm.script([Stream({"emotion": "happy", "response": "고마워요!"})])
    async with show(tmp_path, llm, tts) as s:
        s.intake.accept(ChatMessage(user="익명", message="", kind=Kind.DONATION, amount=1000))
        await until(lambda: s.stats.turns == 1)
    assert said(tts)[0] == "익명의 후원자님, 1,000치즈 후원 감사합니다!"
    assert "익명의 후원자" in llm.requests[0].body["messages"][-1]["content"]


# --- blinds --------------------------------------------------------------------------------------


def _keyed(text: str, key: str, user: str = "악플러") -> ChatMessage:
    return ChatMessage(user=user, user_id=f"id-{user}", message=text, platform_key=key)


async def test_a_blinded_message_leaves_the_overlay_and_the_queue_unanswered(
        tmp_path: Path, peers: tuple[OpenAIServer, SpeechServer]) -> None:
    llm, tts = peers
    async with show(tmp_path, llm, tts) as s:
        s.director.set_paused(True)  # queued, not yet answered
        s.intake.accept(_keyed("나쁜 말", "u1:100"))
        s.intake.accept(_keyed("좋은 말", "u2:200", user="착한이"))
        assert len(s.overlay.snapshot()["viewer_messages"]) == 2
        assert s.intake.hide(Blind("u1:100", "BLIND"))
        assert not s.intake.hide(Blind("u9:999"))  # unknown: nothing happens
        viewer = s.overlay.snapshot()["viewer_messages"]
        assert [m["message"] for m in viewer] == ["좋은 말"]
        s.director.set_paused(False)
        await until(lambda: s.stats.turns == 1)
        assert s.director.snapshot()["withdrawn"] == 1 and s.intake.hidden == 1
    sent = llm.requests[0].body["messages"][-1]["content"]
    assert "좋은 말" in sent and "나쁜 말" not in sent and len(llm.requests) == 1


async def test_a_blind_while_the_answer_is_spoken_stops_the_speech(
        tmp_path: Path, peers: tuple[OpenAIServer, SpeechServer]) -> None:
    llm, tts = peers
    tts.ms_per_char = 40  # ~1 s per sentence: the blind lands mid-speech
    try:
        llm.script([Stream({"emotion": "happy",
                            "response": "첫 문장을 아주 길게 말하는 중이에요. 두 번째 문장도 길게 이어져요. "
                                        "세 번째 문장은 나오면 안 돼요."})])
        async with show(tmp_path, llm, tts) as s:
            msg = _keyed("이상한 말", "u1:300")
            s.intake.accept(msg)
            await until(lambda: tts.speech_requests, what="speech started")
            s.intake.hide(Blind("u1:300", "BLIND"))
            await until(lambda: s.stats.turns == 1, what="the turn over")
            outcomes = dict(s.stats.outcomes)
            assert s.overlay.snapshot()["viewer_messages"] == []
    finally:
        tts.ms_per_char = 5
    assert outcomes == {"skipped": 1}
    assert "세 번째 문장은 나오면 안 돼요." not in said(tts)
