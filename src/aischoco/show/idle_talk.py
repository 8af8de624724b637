"""Idle talk: when chat goes quiet the character speaks first, in character, with variety.

`IdlePlanner` is pure (time and randomness are passed in): from what was said lately, who is
here, the streamer's topics and (when vision is on) the latest scene note, it picks the next
cue: pick up a recent chat thread, greet or ask a regular who is here, ask the audience a
question, talk about a topic, or comment on the screen. No topic and no opening is used again
within the last `variety` idle lines, and the openings of the last lines said are handed to
the LLM to avoid.

`IdleTalk` holds the schedule (IDLE_TALK_AFTER_S of quiet, IDLE_TALK_MIN_GAP_S between two idle
lines, the panel's switch) and turns a cue into the daemon's own message (kind IDLE) for the
director. What a viewer wrote reaches the LLM only as fenced data (`message`), never as the
instruction (`notice`).
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from enum import Enum
from pathlib import Path

from ..core.messages import ChatMessage, Kind, Role

log = logging.getLogger(__name__)

RECENT_LINES = 20  # viewer lines kept as threads to pick up
THREAD_MAX_AGE_S = 600.0  # older chat is not "a recent thread", and its sender not "here"
OPENING_WORDS = 2  # the first words of a line said: "an opening", not to be reused soon
MAX_TOPICS = 200
MAX_TOPIC_CHARS = 100


class CueKind(str, Enum):
    THREAD = "thread"
    REGULAR = "regular"
    QUESTION = "question"
    TOPIC = "topic"
    SCENE = "scene"


# (opening key, instruction) per kind. The key is what "not repeated" means for an opening.
OPENINGS: dict[CueKind, tuple[tuple[str, str], ...]] = {
    CueKind.THREAD: (
        ("thread-more", "아래 채팅에서 나온 이야기를 이어서, 당신의 생각을 한두 문장 덧붙이세요."),
        ("thread-ask", "아래 채팅에서 나온 이야기를 다시 꺼내 그 시청자에게 더 물어보세요."),
    ),
    CueKind.REGULAR: (
        ("regular-greet", "아래 시청자가 와 있습니다. 기억하는 것이 있으면 살려서 반갑게 인사하세요."),
        ("regular-ask", "아래 시청자가 와 있습니다. 그 시청자의 근황을 가볍게 물어보세요."),
    ),
    CueKind.QUESTION: (
        ("question-today", "시청자 모두에게 오늘 하루가 어땠는지 가볍게 물어보세요."),
        ("question-pick", "시청자들이 채팅으로 답하기 쉬운 둘 중 하나 고르기 질문을 하나 던지세요."),
        ("question-recommend", "시청자들에게 요즘 추천할 만한 것(노래, 게임, 음식 등)을 물어보세요."),
    ),
    CueKind.TOPIC: (
        ("topic-talk", "아래 주제로 당신의 생각이나 짧은 이야기를 꺼내세요."),
        ("topic-ask", "아래 주제를 꺼내면서 시청자들의 생각을 물어보세요."),
    ),
    CueKind.SCENE: (
        ("scene-comment", "아래는 지금 방송 화면에 대한 메모입니다. 화면에 보이는 것에 대해 한마디 하세요."),
    ),
}


@dataclass(frozen=True, slots=True)
class IdleCue:
    kind: CueKind
    opening: str  # the OPENINGS key
    instruction: str  # trusted: what the character is asked to do
    data: str = ""  # untrusted: the chat line, topic or scene note it is about (fenced)
    user: str = ""  # REGULAR/THREAD: whose line or whom to greet (their memory card is recalled)
    user_id: str = ""
    topic: str = ""


@dataclass(frozen=True, slots=True)
class _Line:
    user: str
    user_id: str
    text: str
    at: float


class IdlePlanner:
    """Chooses the next idle cue. Pure apart from the `rng` it is given."""

    def __init__(self, *, rng: random.Random, variety: int = 5) -> None:
        self._rng = rng
        self._variety = variety
        self._lines: deque[_Line] = deque(maxlen=RECENT_LINES)
        self._cues: deque[IdleCue] = deque(maxlen=max(1, variety))
        self._said: deque[str] = deque(maxlen=max(1, variety))  # openings of recent idle lines

    def note_chat(self, msg: ChatMessage, now: float) -> None:
        """A viewer's accepted chat: a thread to pick up later, and a sign they are here."""
        if msg.kind is Kind.CHAT and msg.role is not Role.STREAMER and msg.text_for_llm().strip():
            self._lines.append(_Line(msg.user, msg.memory_key, msg.text_for_llm(), now))

    def present(self, now: float) -> list[tuple[str, str]]:
        """(nickname, user id) of the viewers who chatted lately, the latest first."""
        seen: dict[str, str] = {}
        for line in reversed(self._lines):
            if now - line.at <= THREAD_MAX_AGE_S and line.user_id not in seen:
                seen[line.user_id] = line.user
        return [(nick, uid) for uid, nick in seen.items()]

    def said(self, text: str) -> None:
        """The idle line that was actually shown: its opening is not to be reused soon."""
        opening = " ".join(text.split()[:OPENING_WORDS])
        if opening:
            self._said.append(opening)

    @property
    def recent_openings(self) -> list[str]:
        return list(self._said)

    def plan(self, now: float, *, topics: Sequence[str] = (),
             regulars: Sequence[tuple[str, str]] = (), scene: str | None = None) -> IdleCue:
        used_openings = {c.opening for c in self._cues}
        used_topics = {c.topic for c in self._cues if c.topic}
        used_users = {c.user_id for c in self._cues if c.user_id}
        options: list[IdleCue] = []
        if scene:
            options += self._cues_for(CueKind.SCENE, data=scene)
        lines = [ln for ln in self._lines if now - ln.at <= THREAD_MAX_AGE_S]
        if lines:
            line = lines[-1]
            options += self._cues_for(CueKind.THREAD, data=f"{line.user}: {line.text}",
                                      user=line.user, user_id=line.user_id)
        for nick, uid in regulars:
            if uid not in used_users:
                options += self._cues_for(CueKind.REGULAR, data=nick, user=nick, user_id=uid)
                break
        fresh_topics = [t for t in topics if t not in used_topics]
        if fresh_topics:
            topic = self._rng.choice(fresh_topics)
            options += self._cues_for(CueKind.TOPIC, data=topic, topic=topic)
        options += self._cues_for(CueKind.QUESTION)
        fresh = [c for c in options if c.opening not in used_openings]
        last_kind = self._cues[-1].kind if self._cues else None
        # A different kind than last time when there is one; the questions are always there.
        pool = ([c for c in fresh if c.kind is not last_kind] or fresh
                or [c for c in options if c.kind is not last_kind] or options)
        cue = self._rng.choice(pool)
        self._cues.append(cue)
        return cue

    @staticmethod
    def _cues_for(kind: CueKind, **fields: str) -> list[IdleCue]:
        return [IdleCue(kind, key, text, **fields) for key, text in OPENINGS[kind]]


def parse_topics(text: str) -> list[str]:
    """config/topics.txt: one topic a line; blank lines and `#` comments are skipped."""
    topics = []
    for line in text.lstrip("\ufeff").splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            topics.append(line[:MAX_TOPIC_CHARS])
    return list(dict.fromkeys(topics))[:MAX_TOPICS]


@dataclass(frozen=True, slots=True)
class IdleTalkConfig:
    after_s: float  # quiet this long (no turn) before an idle line; 0 = off
    min_gap_s: float  # at least this long between two idle lines
    topics_path: Path | None = None


Regulars = Callable[[Sequence[str]], Awaitable[list[str]]]  # user ids → those who are regulars


class IdleTalk:
    """The schedule and the cue → message step; the director asks `due()` and `cue()`."""

    def __init__(self, config: IdleTalkConfig, *, regulars: Regulars | None = None,
                 scene: Callable[[], str | None] = lambda: None,
                 clock: Callable[[], float] = time.perf_counter,
                 rng: random.Random | None = None) -> None:
        self.config = config
        self.enabled = config.after_s > 0
        self.planner = IdlePlanner(rng=rng or random.Random())
        self._regulars = regulars
        self._scene = scene
        self.clock = clock
        self._quiet_since = clock()  # the end of the last turn (or the start)
        self._last_idle: float | None = None
        self.lines = 0  # idle lines shown
        self.cancelled = 0  # idle lines a chat cancelled before they were shown
        self._topics_warned = False

    # --- schedule ------------------------------------------------------------------------------
    def turn_over(self, *, idle: bool = False) -> None:
        """A turn just ended: the quiet starts now. After an idle line the gap to the next one
        starts now too: counted from what viewers saw and heard end, not from the decision
        (a slow line would otherwise leave less than IDLE_TALK_MIN_GAP_S on screen)."""
        self._quiet_since = self.clock()
        if idle:
            self._last_idle = self._quiet_since

    def next_at(self) -> float | None:
        """When the next idle line may come (clock time), or None when off."""
        if not self.enabled or self.config.after_s <= 0:
            return None
        due = self._quiet_since + self.config.after_s
        if self._last_idle is not None:
            due = max(due, self._last_idle + self.config.min_gap_s)
        return due

    def due(self) -> bool:
        at = self.next_at()
        return at is not None and self.clock() >= at

    def set_enabled(self, enabled: bool) -> None:
        self.enabled = enabled and self.config.after_s > 0
        log.info("idle talk %s", "on" if self.enabled else "off")

    def snapshot(self) -> dict[str, object]:
        at = self.next_at()
        return {"enabled": self.enabled, "available": self.config.after_s > 0,
                "after_s": self.config.after_s, "min_gap_s": self.config.min_gap_s,
                "next_in_s": None if at is None else round(max(0.0, at - self.clock()), 1),
                "lines": self.lines, "cancelled": self.cancelled}

    # --- the cue -------------------------------------------------------------------------------
    def note_chat(self, msg: ChatMessage) -> None:
        self.planner.note_chat(msg, self.clock())

    async def cue(self) -> tuple[IdleCue, ChatMessage]:
        """The next cue and the message that carries it to the LLM (kind IDLE)."""
        now = self.clock()
        self._last_idle = now  # tried now: a failed or cancelled line also waits the gap
        topics = await self._topics()
        regulars = await self._present_regulars(now)
        cue = self.planner.plan(now, topics=topics, regulars=regulars, scene=self._scene())
        return cue, self.message(cue, now)

    def shown(self, text: str) -> None:
        self.lines += 1
        self.planner.said(text)

    def message(self, cue: IdleCue, now: float) -> ChatMessage:
        quiet = max(0, round(now - self._quiet_since))
        notice = f"채팅이 {quiet}초째 조용합니다. 먼저 말을 거세요: {cue.instruction}"
        avoid = self.planner.recent_openings
        if avoid:
            notice += " 최근 혼잣말과 다른 말로 시작하세요 (쓰지 말 것: " + " / ".join(avoid) + ")"
        return ChatMessage(user=cue.user, user_id=cue.user_id, message=cue.data,
                           kind=Kind.IDLE, role=Role.VIEWER, source="idle", notice=notice)

    async def _topics(self) -> list[str]:
        path = self.config.topics_path
        if path is None:
            return []
        try:
            text = await asyncio.to_thread(path.read_text, encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            if not self._topics_warned:
                self._topics_warned = True
                log.warning("idle talk: topics file %s unreadable (%s): no topics", path, exc)
            return []
        return parse_topics(text)

    async def _present_regulars(self, now: float) -> list[tuple[str, str]]:
        present = self.planner.present(now)
        if not present or self._regulars is None:
            return []
        try:
            ids = set(await self._regulars([uid for _, uid in present]))
        except Exception:  # noqa: BLE001 - memory trouble only means no greeting this time
            log.debug("idle talk: regulars lookup failed", exc_info=True)
            return []
        return [(nick, uid) for nick, uid in present if uid in ids]
