"""The LLM stage: a chat batch in, an in-character answer out, remembered for next time.

Two ways to answer. ``reply_stream`` (the default, GROQ_STREAM=true) streams the answer and hands
out each sentence the moment it is final, the emotion before them. ``reply`` asks for the whole
answer in JSON mode (GROQ_STREAM=false, for servers that cannot stream).

With tools (TOOLS=on) either way may first ask for tool calls: they run (a round at a time, the
calls of a round together), their results go back as `tool` messages and the model is asked
again, at most TOOL_MAX_CALLS rounds; then it must answer without tools. The whole-answer way
cannot use JSON mode while tools are offered (Groq refuses the pair): the prompt's JSON is read
from plain text, and only if that fails is the answer asked for once more in JSON mode.

A server that refuses tools for its model (a local model: Ollama, llama.cpp without --jinja,
vLLM without --enable-auto-tool-choice) gets the same turn again without them, and that base URL
and model are offered no tools for the rest of the run; the AI row says so.

An answer that is not the JSON object (small local models ignore the format) is read leniently
(prompts.parse_answer): a Python-style dict, or plain text spoken with emotion neutral. A streamed
one can only be known for plain text once it ended, so it is spoken then, not sentence by sentence.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import AsyncGenerator, Callable, Sequence
from typing import Any, Protocol

from ..core.messages import ChatMessage, Kind
from ..core.segmenter import SegmenterConfig
from ..core.stages import (AIResponse, AnswerDone, EmotionReady, FirstToken, ReplyEvent,
                           SentenceReady, ToolsDone, ToolsStarted, normalize_emotion)
from ..core.status import State, StatusHandle
from .answer_stream import AnswerParser
from .budget import MINUTE_WAIT_S, WHY_KO, ModelChain, trim_history
from .character import CharacterPrompt
from .groq_client import (GroqClient, LLMError, RateLimited, RequestTooLarge, StreamBroken,
                          StreamDelta, StreamDone, StreamToolCalls, ToolsRefused)
from .history import SUMMARY_PREFIX
from .conversation import ConversationMemory
from .prompts import AnswerError, OutputFilter, ParsedAnswer, format_batch, parse_answer
from .sentence_stream import SentenceStream
from .speech_text import spoken_text
from .tool_calls import ToolCall, assistant_message

log = logging.getLogger(__name__)

ANSWER_MAX_TOKENS = 512
# The model sometimes ignores JSON mode without the server noticing: ask again, then give up.
PARSE_ATTEMPTS = 2
# This many turns failing in a row (wrong model name, rejected key, quota) turn the LLM row
# degraded with the server's own words; the next answer that works turns it back.
FAILURES_BEFORE_DEGRADED = 2
# A streamed answer that breaks (or is not the JSON asked for) before its first sentence was
# handed out is asked for again, this many times in all. The client has already retried
# failures that came before the first token.
STREAM_ATTEMPTS = 2
TOOLLESS_NOTE = "이 모델은 도구를 지원하지 않아 도구 없이 답합니다"
# A turn switches models (a spent limit) or shrinks its request (413) at most this many times.
MAX_SWITCHES = 8
# With the plan's TPM known, the history sent is sized to it: never less than this many tokens,
# and refilled to this share of its room, so that it then grows append-only for several turns
# (the same leading messages each time: Groq's prompt cache keeps them).
MIN_HISTORY_TOKENS = 200
HISTORY_REFILL_SHARE = 0.5
# A 413 drops history until the request is this share of the model's TPM.
SHRINK_TO_SHARE = 0.6
SUMMARY_NEED_TOKENS = 1500  # what a background summary may cost, for the reserve check
FALLBACK_HINT = ("Groq 무료 요금제의 모델별 한도: 다음 모델(GROQ_FALLBACK_MODELS)로 이어서 답하고, "
                 "첫 모델의 한도가 풀리면 저절로 돌아갑니다")


class ViewerMemoryPort(Protocol):
    """Long-term viewer memory as the responder uses it (memory/component.ViewerMemory)."""

    async def recall(self, batch: Sequence[ChatMessage]) -> str:
        """Fenced cards about the batch's senders, or ""; never slow, never raises."""

    def note_answer(self, batch: Sequence[ChatMessage], answer: str) -> None: ...


class ToolPort(Protocol):
    """The tools the model may call (tools/registry.ToolRegistry)."""

    max_rounds: int

    def specs(self, *, streamer: bool) -> list[dict[str, Any]]:
        """OpenAI `tools` for this turn: all for the streamer's voice, else the viewer set."""

    async def run(self, calls: Sequence[ToolCall], *, streamer: bool) -> list[dict[str, Any]]:
        """One round, concurrently; one `tool` message per call (errors included)."""


def _tool_scope(tools: ToolPort | None, batch: Sequence[ChatMessage],
                offer: bool = True) -> tuple[list[dict[str, Any]], bool]:
    """(tools offered, streamer?): the streamer's voice turn may use every tool."""
    streamer = bool(batch) and all(m.kind is Kind.VOICE for m in batch)
    return (tools.specs(streamer=streamer) if tools is not None and offer else []), streamer


class GroqResponder:
    """Implements core.stages.LanguageModel. `available` turns true once memory is loaded."""

    def __init__(self, client: GroqClient, character: CharacterPrompt, output_filter: OutputFilter,
                 *, max_answer_chars: int, stream: bool = True) -> None:
        self.client = client
        self.streaming = stream  # the turn uses reply_stream while this is true
        self.memory: ConversationMemory | None = None
        self.viewers: ViewerMemoryPort | None = None  # long-term memory of the people in chat
        self.tools: ToolPort | None = None  # TOOLS=on: what the model may call
        self.scene: Callable[[], str] | None = None  # VISION: fenced notes about the screen
        self._character = character
        self._filter = output_filter
        self._max_answer_chars = max_answer_chars
        self.usage: dict[str, int] = {}  # summed over the run, for the control panel
        self.status: StatusHandle | None = None
        self._failures = 0  # turns failed in a row
        # (base URL, model) pairs whose server refused tools: never offered them again this run,
        # and the hint (Korean) for how to get tools there.
        self._toolless: dict[tuple[str, str], str] = {}
        # GROQ_MODEL + GROQ_FALLBACK_MODELS with each model's budget (None: one model, no
        # budget; compose/wiring.py sets it). `clock`/`sleep` are swapped by bench/tests.
        self.chain: ModelChain | None = None
        self.clock: Callable[[], float] = time.monotonic
        self.sleep: Callable[[float], Any] = asyncio.sleep
        self.turn_model: str | None = None  # the model that answered the last request
        self._anchor: object | None = None  # first history entry sent last time

    def report_rate_limit(self, text: str) -> None:
        """GroqClient's on_status: a 429 made us wait."""
        if self.status is not None:
            self.status.set(State.DEGRADED, text, "Groq 요청 한도에 걸려 잠시 기다립니다 (자동으로 이어짐)")

    @property
    def _server(self) -> tuple[str, str]:
        return self.client.base_url, self.client.model

    @property
    def offers_tools(self) -> bool:
        """False once this server refused tools for this model."""
        return self._server not in self._toolless

    def _tools_refused(self, exc: ToolsRefused) -> None:
        """Remember the refusal for this server and model; the turn goes on without tools."""
        if self._server not in self._toolless:
            log.warning("%s; answering without tools for %s at %s from now on", exc,
                        self.client.model, self.client.base_url)
        self._toolless[self._server] = exc.hint

    def _report_ok(self) -> None:
        self._failures = 0
        if self.status is None:
            return
        current = self.status.current
        hint = self._toolless.get(self._server)
        if hint is not None:
            detail = f"{self.client.model} 준비됨 — {TOOLLESS_NOTE}"
            if current.state is not State.RUNNING or current.detail != detail:
                self.status.set(State.RUNNING, detail, hint)
        elif (note := self._fallback_note()) is not None:
            if current.state is not State.RUNNING or current.detail != note:
                self.status.set(State.RUNNING, note, FALLBACK_HINT)
                log.info("LLM: %s", note)
        elif current.state is not State.RUNNING or "(대신" in current.detail:
            back = "(대신" in current.detail
            self.status.set(State.RUNNING, f"{self.client.model} 준비됨"
                            + (" — 한도가 풀려 다시 답합니다" if back else ""))
            log.info("LLM answering again (%s)", self.client.model)

    def _fallback_note(self) -> str | None:
        """The AI row (Korean) while another model than GROQ_MODEL answers: which, and why."""
        if self.chain is None or self.turn_model in (None, self.chain.primary):
            return None
        now, wall = self.clock(), time.time()
        reasons = []
        for model in self.chain.models:
            if model == self.turn_model:
                break
            why, until = self.chain.budget(model).unavailable(now)
            if why:
                at = "" if until is None else time.strftime(
                    " %H:%M쯤 풀림", time.localtime(wall + until - now))
                reasons.append(f"{model} {WHY_KO.get(why, why)}{at}")
        because = ", ".join(reasons) or "앞 모델의 한도"
        return f"{self.turn_model}이(가) 답합니다 (대신: {because})"

    # --- budget: which model answers, a 413 shrinks the request ------------------------------
    def _on_headers(self, model: str, headers: Any) -> None:
        if self.chain is not None:
            self.chain.budget(model).observe_headers(headers, self.clock())

    async def _choose(self, skip: set[str]) -> str:
        """The model for the next request (GROQ_MODEL unless its limit is spent)."""
        if self.chain is None:
            return self.client.model
        self.client.on_headers = self._on_headers
        if len(self.chain.models) > 1:
            self.client.max_rate_limit_wait_s = MINUTE_WAIT_S
        choice = self.chain.choose(self.clock(), skip=skip)
        if choice.wait_s > MINUTE_WAIT_S:
            until = time.strftime("%H:%M:%S", time.localtime(time.time() + choice.wait_s))
            raise LLMError(f"Groq rate limit reached (429): every model is spent "
                           f"({choice.why}); try again after {until}", retryable=True,
                           status=429)
        if choice.wait_s > 0:
            await self.sleep(choice.wait_s)
        return choice.model

    def _spent(self, exc: RateLimited) -> None:
        """A 429 longer than a short wait: that model rests until Groq said, the next answers."""
        if self.chain is None:
            raise exc
        self.chain.budget(exc.model).block(exc.limit, exc.wait_s, self.clock())
        log.warning("%s is spent (%s, for %.0f s): the next model answers", exc.model,
                    exc.limit or "429", exc.wait_s)

    def _shrink(self, messages: list[dict[str, Any]], exc: RequestTooLarge) -> bool:
        """413: drop the oldest history of this request (in place) until it fits the TPM."""
        users = [i for i, m in enumerate(messages) if m.get("role") == "user"]
        end = users[-1] if users else 0
        if end <= 1 or self.memory is None:
            return False
        counter = self.memory.window.counter

        def cost(message: dict[str, Any]) -> int:
            return counter.count(str(message.get("content") or "")) + 4

        if exc.limit and exc.requested:
            drop = exc.requested - int(exc.limit * SHRINK_TO_SHARE)
        else:
            drop = sum(cost(m) for m in messages[1:end]) // 2
        shrunk, dropped = trim_history(messages, 1, end, max(drop, 1), cost)
        if not dropped:
            return False
        messages[:] = shrunk
        if self.chain is not None and exc.limit:
            self.chain.budget(exc.model).limit_tokens = exc.limit
        self._anchor = None
        log.warning("%s refused the request as too large (413, TPM %s, asked %s): %d oldest "
                    "history messages dropped, asking again", exc.model, exc.limit,
                    exc.requested, dropped)
        return True

    async def _ask(self, messages: list[dict[str, Any]], call: Callable[..., Any]) -> Any:
        """One whole (not streamed) request, on the model the budget picks; a spent model
        hands over to the next, a 413 shrinks `messages` (in place) and asks at once."""
        skip: set[str] = set()
        for _ in range(MAX_SWITCHES):
            model = await self._choose(skip)
            try:
                completion = await call(messages, model)
            except RateLimited as exc:
                self._spent(exc)
                continue
            except RequestTooLarge as exc:
                if not self._shrink(messages, exc):
                    skip.add(model)
                    if self.chain is None or set(self.chain.models) <= skip:
                        raise
                continue
            self._add_usage(completion.usage, model)
            self.turn_model = model
            return completion
        raise LLMError("no model could take the request (limits)", retryable=True, status=429)

    def _report_failure(self, exc: LLMError) -> None:
        """A turn failed. Once it keeps happening the row says why, in the server's words."""
        self._failures += 1
        message = str(exc).splitlines()[0][:300]
        if self.status is not None:
            self.status.note_error(message)
            if self._failures >= FAILURES_BEFORE_DEGRADED:
                self.status.set(State.DEGRADED, f"답변 실패 {self._failures}번 연속: {message}",
                                _failure_hint(exc.status, message))

    @property
    def available(self) -> bool:
        return self.memory is not None

    async def _messages(self, batch: Sequence[ChatMessage]) -> list[dict[str, Any]]:
        assert self.memory is not None, "reply before the memory was loaded"
        # HISTORY_LIMIT_TOKENS bounds history + summary; system prompt and chat come on top,
        # and MEMORY_PROMPT_TOKENS bounds the viewer cards (the history keeps the chat only).
        # The recall (memory thread) overlaps the character file check (a worker thread).
        chat = format_batch(batch)
        if self.viewers is not None:
            system, cards = await asyncio.gather(self._character.get(),
                                                 self.viewers.recall(batch))
        else:
            system, cards = await self._character.get(), ""
        # The freshest scene notes there are: a reply never waits for the vision model.
        scene = self.scene() if self.scene is not None else ""
        # Ordered for prompt caching: what never changes first (the system prompt; the tools
        # go before it in the request), then the summary and the history as an append-only
        # log, and what changes every turn (screen note, memory cards, the new chats) last.
        user = "\n\n".join(part for part in (scene, cards, chat) if part)
        return [{"role": "system", "content": system}, *self._history(system, user, batch),
                {"role": "user", "content": user}]

    def _history(self, system: str, user: str, batch: Sequence[ChatMessage]
                 ) -> list[dict[str, str]]:
        """The conversation sent: within HISTORY_LIMIT_TOKENS, and where the model's TPM is
        known, within its share of it (prompt_cap) after the system prompt, tools and chat."""
        assert self.memory is not None
        cap = None
        if self.chain is not None:
            model = self.chain.choose(self.clock()).model
            cap = self.chain.budget(model).prompt_cap()
        if cap is None:
            return self.memory.context(0)
        window = self.memory.window
        counter = window.counter
        specs, _ = _tool_scope(self.tools, batch, self.offers_tools)
        fixed = counter.count(system) + counter.count(user) + 8
        if specs:
            fixed += counter.count(json.dumps(specs, ensure_ascii=False))
        room = max(min(cap - fixed, window.limit_tokens), MIN_HISTORY_TOKENS)
        messages: list[dict[str, str]] = []
        if window.summary and window.summary_tokens <= room // 3:
            messages.append({"role": "system", "content": SUMMARY_PREFIX + window.summary})
            room -= window.summary_tokens
        entries = window.entries
        start = next((i for i, e in enumerate(entries) if e is self._anchor), None)
        if start is not None and sum(e.tokens for e in entries[start:]) > room:
            start = None
        if start is None:  # refill: the newest that fit in part of the room, to grow into
            left, start = int(room * HISTORY_REFILL_SHARE), len(entries)
            while start > 0 and entries[start - 1].tokens <= left:
                left -= entries[start - 1].tokens
                start -= 1
        self._anchor = entries[start] if start < len(entries) else None
        return [*messages, *({"role": e.role, "content": e.content} for e in entries[start:])]

    async def reply(self, batch: Sequence[ChatMessage]) -> AIResponse:
        try:
            return await self._reply(batch)
        except LLMError as exc:
            self._report_failure(exc)
            raise

    async def _reply(self, batch: Sequence[ChatMessage]) -> AIResponse:
        started = time.perf_counter()
        messages = await self._messages(batch)
        specs, streamer = _tool_scope(self.tools, batch, self.offers_tools)
        tools_at: tuple[float, float] | None = None
        for _ in range(self.tools.max_rounds if specs and self.tools else 0):
            try:
                completion = await self._ask(messages, lambda m, model: self.client.complete_tools(
                    m, specs, max_tokens=ANSWER_MAX_TOKENS, model=model))
            except ToolsRefused as exc:
                self._tools_refused(exc)
                break  # this turn is answered below, in JSON mode, without tools
            if not completion.tool_calls:
                try:  # no JSON mode with tools: the prompt's JSON, read from the text
                    # (plain text here is asked for again in JSON mode, which gives an emotion)
                    answer = parse_answer(completion.content, max_chars=self._max_answer_chars,
                                          plain=False)
                except AnswerError as exc:
                    log.info("answer with tools offered was not the JSON asked for (%s); asking "
                             "again in JSON mode", exc)
                    break
                return self._whole(answer, started, tools_at)
            messages, ran = await self._run_tools(messages, completion.tool_calls, streamer)
            tools_at = (tools_at or ran)[0], ran[1]
        for attempt in range(1, PARSE_ATTEMPTS + 1):
            completion = await self._ask(messages, lambda m, model: self.client.complete_json(
                m, max_tokens=ANSWER_MAX_TOKENS, model=model))
            try:
                answer = parse_answer(completion.content, max_chars=self._max_answer_chars)
                break
            except AnswerError as exc:
                if attempt == PARSE_ATTEMPTS:
                    raise LLMError(f"unusable answer after {attempt} tries: {exc}",
                                   retryable=True) from None
                log.warning("unusable answer (%s); asking again", exc)
        return self._whole(answer, started, tools_at)

    def _whole(self, answer: ParsedAnswer, started: float,
               tools_at: tuple[float, float] | None) -> AIResponse:
        if answer.plain:
            log.info("the answer was plain text, not the JSON asked for: said as is, emotion "
                     "neutral")
        if answer.cut:
            log.info("answer longer than %d characters: cut at a sentence boundary",
                     self._max_answer_chars)
        shown, masked = self._filter.apply(answer.response)
        if masked:
            log.warning("banned words masked in the AI's answer")
        self._report_ok()
        return AIResponse(response=shown, emotion=answer.emotion,
                          processing_time=time.perf_counter() - started,
                          spoken=spoken_text(shown), tools_at=tools_at)

    async def _run_tools(self, messages: list[dict[str, Any]], calls: Sequence[ToolCall],
                         streamer: bool) -> tuple[list[dict[str, Any]], tuple[float, float]]:
        """One round: the calls run, and the conversation grows by the ask and the results."""
        assert self.tools is not None
        began = time.perf_counter()
        results = await self.tools.run(calls, streamer=streamer)
        return [*messages, assistant_message(calls), *results], (began, time.perf_counter())

    async def reply_stream(self, batch: Sequence[ChatMessage],
                           segmenter: SegmenterConfig) -> AsyncGenerator[ReplyEvent, None]:
        """FirstToken, EmotionReady, SentenceReady..., AnswerDone (core.stages). Raises LLMError;
        once a sentence was yielded it is never asked again (it may have been spoken)."""
        try:
            async for event in self._reply_stream(batch, segmenter):
                yield event
        except LLMError as exc:
            self._report_failure(exc)
            raise

    async def _reply_stream(self, batch: Sequence[ChatMessage],
                            segmenter: SegmenterConfig) -> AsyncGenerator[ReplyEvent, None]:
        started = time.perf_counter()
        messages = await self._messages(batch)
        specs, streamer = _tool_scope(self.tools, batch, self.offers_tools)
        rounds = 0
        while True:
            # After the last round the model must answer: no tools offered any more.
            offer = specs if specs and self.tools and rounds < self.tools.max_rounds else None
            calls: list[ToolCall] = []
            try:
                async for event in self._stream_attempts(messages, segmenter, started, offer,
                                                         calls):
                    yield event
            except ToolsRefused as exc:
                # Refused before any output: the same round again, without tools.
                self._tools_refused(exc)
                specs = []
                continue
            if not calls:
                self._report_ok()
                return
            if offer is None:
                raise LLMError("the model asked for tools again after the last tool round",
                               retryable=False)
            rounds += 1
            yield ToolsStarted(tuple(c.name for c in calls), time.perf_counter())
            messages, ran = await self._run_tools(messages, calls, streamer)
            yield ToolsDone(ran[1])

    async def _stream_attempts(self, messages: list[dict[str, Any]], segmenter: SegmenterConfig,
                               started: float, tools: list[dict[str, Any]] | None,
                               calls: list[ToolCall]) -> AsyncGenerator[ReplyEvent, None]:
        attempt, switches, skip = 0, 0, set[str]()
        while True:
            attempt += 1
            handed_out = 0
            yielded = False
            calls.clear()
            model = await self._choose(skip)
            try:
                async for event in self._stream_once(messages, segmenter, started, tools, calls,
                                                     model):
                    yielded = True
                    handed_out += isinstance(event, SentenceReady)
                    yield event
                self.turn_model = model
                return
            except (RateLimited, RequestTooLarge) as exc:
                # Refused before any output: another model, or a smaller request, at once.
                if yielded or switches >= MAX_SWITCHES:
                    raise
                switches += 1
                attempt -= 1
                if isinstance(exc, RateLimited):
                    self._spent(exc)
                elif not self._shrink(messages, exc):
                    skip.add(model)
                    if self.chain is None or set(self.chain.models) <= skip:
                        raise
                continue
            except (StreamBroken, AnswerError) as exc:
                if handed_out:
                    raise LLMError(f"answer stream failed after {handed_out} sentences: {exc}",
                                   retryable=True) from None
                if attempt == STREAM_ATTEMPTS:
                    raise LLMError(f"unusable answer stream after {attempt} tries: {exc}",
                                   retryable=True) from None
                log.warning("answer stream failed before its first sentence (%s); asking again",
                            exc)

    async def _stream_once(self, messages: list[dict[str, Any]], segmenter: SegmenterConfig,
                           started: float, tools: list[dict[str, Any]] | None,
                           calls: list[ToolCall], model: str | None = None
                           ) -> AsyncGenerator[ReplyEvent, None]:
        """One streamed request. If the model asks for tools (and wrote no answer), `calls`
        gets them and nothing else is yielded."""
        parser = AnswerParser()
        sentences = SentenceStream(segmenter, max_chars=self._max_answer_chars,
                                   output_filter=self._filter)
        emotion: str | None = None
        first = True
        raw: list[str] = []  # the whole content, for the lenient reading
        broken: AnswerError | None = None  # not the JSON object: read whole at the end
        handed = False  # a sentence went out: the answer can no longer be read another way
        events = self.client.stream_chat(messages, max_tokens=ANSWER_MAX_TOKENS, tools=tools,
                                         model=model)
        async with contextlib.aclosing(events):
            async for event in events:
                if isinstance(event, StreamDone):  # the final usage
                    self._add_usage(event.usage, model)
                    continue
                if isinstance(event, StreamToolCalls):
                    if parser.response.strip():
                        log.warning("the model asked for tools after answering: ignored")
                    else:
                        calls.extend(event.calls)
                    continue
                assert isinstance(event, StreamDelta)
                if first:
                    first = False
                    yield FirstToken(time.perf_counter())
                raw.append(event.text)
                if broken is not None:
                    continue
                try:
                    fed = parser.feed(event.text)
                except AnswerError as exc:
                    if handed:
                        raise
                    broken = exc
                    continue
                if fed.emotion is not None:
                    emotion = normalize_emotion(fed.emotion)
                    yield EmotionReady(emotion)
                for sentence in sentences.push(fed.text):
                    handed = True
                    yield SentenceReady(sentence.shown, sentence.spoken)
                if parser.complete and not sentences.closed:
                    # The object closed: the last sentence is final (the rest of the stream is
                    # only the usage).
                    if not parser.response.strip():
                        raise AnswerError("model answer has an empty 'response'")
                    for sentence in sentences.finish():
                        handed = True
                        yield SentenceReady(sentence.shown, sentence.spoken)
        if calls:
            return
        if broken is None:
            try:
                parser.close()
            except AnswerError as exc:
                if handed:
                    raise
                broken = exc
        if broken is not None:
            # Not the object (plain text, a Python-style dict) and nothing said yet: the whole
            # text, read leniently. AnswerError here means nothing sayable: asked again.
            answer = parse_answer("".join(raw), max_chars=self._max_answer_chars)
            log.info("the streamed answer was not the JSON asked for (%s): %s", broken,
                     "said as plain text, emotion neutral" if answer.plain
                     else "read as a Python-style dict")
            sentences = SentenceStream(segmenter, max_chars=self._max_answer_chars,
                                       output_filter=self._filter)
            if emotion is None:
                emotion = answer.emotion
                yield EmotionReady(emotion)
            for sentence in [*sentences.push(answer.response), *sentences.finish()]:
                yield SentenceReady(sentence.shown, sentence.spoken)
        elif not parser.response.strip():
            raise AnswerError("model answer has an empty 'response'")
        if emotion is None:
            emotion = "neutral"
            yield EmotionReady("neutral")
        if sentences.cut:
            log.info("answer longer than %d characters: cut at a sentence boundary",
                     self._max_answer_chars)
        if sentences.masked:
            log.warning("banned words masked in the AI's answer")
        yield AnswerDone(AIResponse(response=sentences.shown, emotion=normalize_emotion(emotion),
                                    processing_time=time.perf_counter() - started,
                                    spoken=sentences.spoken))

    async def remember(self, batch: Sequence[ChatMessage], answer: AIResponse, heard: str) -> None:
        """Called by the turn once speech is over, with only what was heard (or shown)."""
        assert self.memory is not None, "remember() before the memory was loaded"
        if self.viewers is not None:
            self.viewers.note_answer(batch, heard)
        # An idle line is the character's own: no one asked, so the history keeps only the line.
        own = bool(batch) and batch[0].kind is Kind.IDLE
        if own:
            await self.memory.record_turn(None, heard)
            return
        viewers = tuple(sorted({m.memory_key for m in batch}))
        await self.memory.record_turn(format_batch(batch), heard, viewers=viewers,
                                      asked_at=min(m.received_at for m in batch))

    def forget_viewer(self, key: str) -> int:
        """A viewer's "forget me": their lines and the answers to them leave the conversation."""
        return self.memory.forget_viewer(key) if self.memory is not None else 0

    async def summarize(self, prompt: list[dict[str, str]]) -> str:
        """A history summary (background): on a model that has more left today than the
        answers' reserve, else not now (the conversation summarises later)."""
        model = None
        if self.chain is not None:
            now = self.clock()
            model = next((m for m in self.chain.models
                          if self.chain.background_ok(m, now, SUMMARY_NEED_TOKENS)), None)
            if model is None:
                raise LLMError("summary put off: what is left today is kept for answers",
                               retryable=True)
        try:
            completion = await self.client.complete_text(prompt, model=model)
        except RateLimited as exc:
            if self.chain is not None:
                self.chain.budget(exc.model).block(exc.limit, exc.wait_s, self.clock())
            raise
        self._add_usage(completion.usage, model or self.client.model, answer=False)
        return completion.content

    def background_ok(self, need_tokens: int = 1000, model: str | None = None) -> bool:
        """Whether background work (memory facts, vision) may spend on `model` (default
        GROQ_MODEL) now without taking what the answers need."""
        if self.chain is None:
            return True
        return self.chain.background_ok(model or self.chain.primary, self.clock(), need_tokens)

    def note_background(self, model: str, headers: Any = None,
                        usage: dict[str, int] | None = None) -> None:
        """Background work on another client (memory facts, vision) spent on `model`."""
        if self.chain is None:
            return
        if headers is not None:
            self.chain.budget(model).observe_headers(headers, self.clock())
        if usage:
            self.chain.budget(model).record(usage, self.clock())

    def snapshot(self) -> dict[str, object]:
        """Headroom and usage for /api/state and the control panel."""
        limits = self.client.rate_limits
        window = self.memory.window if self.memory else None
        return {
            "model": self.client.model,
            "remaining_requests": limits.remaining_requests,
            "remaining_tokens": limits.remaining_tokens,
            "limited_until": limits.limited_until,
            "usage": dict(self.usage),
            "history_tokens": window.total_tokens if window else None,
            "history_messages": len(window) if window else None,
            "has_summary": bool(window and window.summary),
            **({"budget": self.chain.snapshot(self.clock()), "answering": self.turn_model
                or self.chain.primary} if self.chain is not None else {}),
        }

    def _add_usage(self, usage: dict[str, int], model: str | None = None, *,
                   answer: bool = True) -> None:
        for key, value in usage.items():
            self.usage[key] = self.usage.get(key, 0) + value
        if self.chain is not None and model is not None and usage:
            self.chain.budget(model).record(usage, self.clock())
            if answer:
                self.chain.note_answer(model, usage.get("total_tokens", 0))


def _failure_hint(status: int | None, message: str) -> str:
    """What the streamer can do about a failing LLM, by the server's answer."""
    if status == 401:
        return "GROQ_API_KEY가 맞는지 확인하세요 (console.groq.com/keys)"
    if status == 404 or (status == 400 and "model" in message.lower()):
        return "GROQ_MODEL 이름을 확인하세요 (console.groq.com/docs/models)"
    if status == 429:
        return "요청 한도(일일 할당량)에 걸렸습니다: 한도가 풀리면 자동으로 이어집니다"
    if status == 413:
        return "HISTORY_LIMIT_TOKENS를 줄이세요"
    if status in (400, 422) and "GROQ_STREAM=false" in message:
        return "이 서버가 스트리밍을 못 하면 GROQ_STREAM=false로 설정하세요"
    return "GROQ_BASE_URL 서버 상태를 확인하세요; 다음 답변이 되면 자동으로 돌아옵니다"
