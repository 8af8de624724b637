"""The voice-input component ("voice"): microphone or file → 16 kHz → Silero VAD → utterances →
speech to text → a `streamer`/`voice` chat message, plus barge-in while the AI is speaking.

Threads: the capture's own thread (PortAudio callback or file pacer) only queues blocks; one VAD
worker thread resamples, runs Silero frame by frame and posts events to the loop. The loop only
reacts: barge-in, then transcription (one utterance at a time, in order) and the message.

End of turn (VOICE_TURN_DETECTION): `silence` — VOICE_END_SILENCE_MS of silence. `smart` — after
SmartTurnConfig.check_after_ms of silence the VAD worker hands the utterance to the turn-end model
on its own thread ("voice-turn-end"); its verdict comes back through the worker's queue, and
"finished" ends the utterance at once, while "not yet" keeps listening up to the cap. Without the
model file or onnxruntime, `silence` with the reason in the status row.
"""

from __future__ import annotations

import asyncio
import collections
import dataclasses
import logging
import math
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np

from ..audio.devices import AudioDeviceError, find_input
from ..audio.resample import StreamResampler
from ..core.messages import ChatMessage, Kind, Role, VoiceTiming
from ..core.backoff import backoff_delay
from ..core.status import DEVICE_RETRY_CAP_S, State, StatusHandle
from ..core.supervisor import ComponentError
from .barge_in import AudibleWindow, BargeIn
from .capture import Capture, DeviceCapture, FileCapture
from .stt import SAMPLE_RATE, SpeechToText, SttError
from .transcript_filter import TranscriptRules, screen
from .turn_end import INSTALL_HINT as TURN_END_INSTALL_HINT
from .turn_end import SmartTurnModel, TurnEndJudge, TurnEndUnavailable, TurnVerdict
from .utterances import (EndCheck, SpeechDiscarded, SpeechStarted, Utterance, UtteranceDetector,
                         VadConfig, VadEvent)
from .vad import SileroVad

log = logging.getLogger(__name__)

WATCH_INTERVAL_S = 0.25
MAX_QUEUED_BLOCKS = 400  # ~13 s of audio: the worker is far behind only if the CPU is starved


@dataclass(frozen=True, slots=True)
class BargeInReady:
    """The streamer has spoken for VOICE_BARGE_IN_MIN_MS in this utterance (once per utterance)."""

    at: float  # capture time of the end of the frame that reached it


@dataclass(slots=True)
class ListenerStats:
    utterances: int = 0
    turns: int = 0  # transcripts that became a message
    dropped: collections.Counter[str] = field(default_factory=collections.Counter)
    stt_errors: int = 0
    vad_frames: int = 0
    vad_cpu_s: float = 0.0  # worker thread CPU time spent in Silero + detector
    gated_frames: int = 0  # echo gate: heard while the AI's voice was audible
    level_db: float | None = None  # the last frame's level (dBFS), for the panel's meter
    speech_prob: float | None = None  # the last frame's Silero speech probability
    # VOICE_TURN_DETECTION=smart: the turn-end model's checks and what came of them
    turn_checks: int = 0
    turn_finished: int = 0  # "finished": the utterance ended at once
    turn_not_finished: int = 0  # "not yet": kept listening
    turn_stale: int = 0  # "finished", but speech had come back meanwhile
    turn_failed: int = 0  # the model raised
    turn_cpu_s: float = 0.0  # the judge thread's CPU (features + inference)
    turn_wall_ms: collections.deque[float] = field(
        default_factory=lambda: collections.deque(maxlen=200))  # per check, newest last
    turn_last_probability: float | None = None


class VadWorker:
    """Runs on its own thread: capture blocks → 16 kHz frames → Silero → detector events."""

    def __init__(self, vad: SileroVad, detector: UtteranceDetector, *, in_rate: int,
                 post: Callable[[list[object]], None], barge_in_min_s: float,
                 gate: Callable[[float], bool] | None, stats: ListenerStats,
                 lossless: bool = False, judge: TurnEndJudge | None = None,
                 inline_checks: bool = False) -> None:
        """`judge`: the turn-end model, asked on its own thread at each EndCheck (the detector's
        config sets when); `inline_checks`: ask it on this thread instead (a file read faster
        than real time, where the audio would otherwise run ahead of the verdicts)."""
        self._vad = vad
        self._detector = detector
        self._resampler = StreamResampler(in_rate, SAMPLE_RATE)
        self._in_rate = in_rate
        self._post = post
        self._barge_min_s = barge_in_min_s
        self._threshold = detector.config.threshold
        self._gate = gate
        self._stats = stats
        self._blocks: queue.Queue[tuple[np.ndarray, float] | None] = queue.Queue(MAX_QUEUED_BLOCKS)
        self._pending = np.zeros(0, dtype=np.float32)
        self._pending_at = 0.0  # capture time of _pending[0]
        self._expected_at: float | None = None  # when the next input block should start
        self._barge_sent_for: float | None = None  # start of the utterance that got BargeInReady
        self._gated = False
        self.lossless = lossless
        self._judge = judge
        self._inline_checks = inline_checks

    def feed(self, block: np.ndarray, at: float) -> None:
        """Capture thread: hand a block over. A microphone callback must never wait, so a starved
        worker drops audio; a file (`lossless`) waits instead."""
        try:
            self._blocks.put((block, at), block=self.lossless)
        except queue.Full:
            log.warning("voice input: VAD is behind, dropping %.0f ms of audio",
                        1000 * block.size / self._in_rate)

    def close(self) -> None:
        self._blocks.put(None)

    def _verdict_ready(self, verdict: TurnVerdict | None) -> None:
        """Judge thread: the verdict joins the audio in the worker's queue (in order with it)."""
        if verdict is None:
            self._stats.turn_failed += 1
            return
        try:
            self._blocks.put(verdict, timeout=1.0)
        except queue.Full:  # the worker is far behind or gone: the cap ends the turn
            pass

    def run(self) -> None:
        while (item := self._blocks.get()) is not None:
            if isinstance(item, TurnVerdict):
                # Capture times are time.monotonic() for a microphone or a file in real time.
                self._apply(item, time.monotonic())
                continue
            block, at = item
            if self._expected_at is None or abs(at - self._expected_at) > 0.25:
                # First block, or a gap (device reopened, stall): time restarts from this block.
                self._pending = np.zeros(0, dtype=np.float32)
                self._pending_at = at
            self._expected_at = at + block.size / self._in_rate
            self._pending = np.concatenate([self._pending, self._resampler.process(block)])
            frame = SileroVad.FRAME
            while self._pending.size >= frame:
                chunk, self._pending = self._pending[:frame], self._pending[frame:]
                self._frame(chunk, self._pending_at)
                self._pending_at += frame / SAMPLE_RATE
        events = self._detector.flush(self._pending_at)
        if events:
            self._post(events)

    def _frame(self, chunk: np.ndarray, at: float) -> None:
        if self._gate is not None and self._gate(at):
            self._stats.gated_frames += 1
            if not self._gated:  # the AI's voice is audible: what the mic hears is not the streamer
                self._gated = True
                self._detector.reset()
            return
        if self._gated:
            self._gated = False
            self._vad.reset()
        started = time.thread_time()
        # One dot product: the panel's meter runs on every frame, and numpy's square/mean/sqrt
        # chain cost ~0.15 ms per frame at real time (cold caches), a fifth of the VAD's CPU.
        power = float(np.dot(chunk, chunk)) / chunk.size if chunk.size else 0.0
        self._stats.level_db = round(10 * math.log10(max(power, 1e-10)), 1)
        prob = self._vad.probability(chunk)
        self._stats.speech_prob = round(prob, 3)
        events: list[object] = []
        for event in self._detector.push(chunk, prob, at):
            if isinstance(event, EndCheck):
                self._ask(event)
            else:
                events.append(event)
        self._stats.vad_cpu_s += time.thread_time() - started
        self._stats.vad_frames += 1
        start = self._detector.speech_started_at  # None once this frame closed the utterance
        end = at + chunk.size / SAMPLE_RATE
        if (start is not None and start != self._barge_sent_for and prob >= self._threshold
                and end - start >= self._barge_min_s):
            self._barge_sent_for = start
            events.append(BargeInReady(end))
        if events:
            self._post(events)

    def _ask(self, check: EndCheck) -> None:
        if self._judge is None:
            return
        self._stats.turn_checks += 1
        if self._inline_checks:
            verdict = self._judge.judge(check.check, check.audio)
            self._apply(verdict, check.at + verdict.wall_ms / 1000)
        else:
            self._judge.submit(check.check, check.audio, self._verdict_ready)

    def _apply(self, verdict: TurnVerdict, at: float) -> None:
        s = self._stats
        s.turn_cpu_s += verdict.cpu_ms / 1000
        s.turn_wall_ms.append(verdict.wall_ms)
        s.turn_last_probability = round(verdict.probability, 3)
        if not verdict.finished:
            s.turn_not_finished += 1
            return
        events = self._detector.finish(verdict.check, at)
        if events:
            s.turn_finished += 1
            self._post(list(events))
        else:
            s.turn_stale += 1


@dataclass(frozen=True, slots=True)
class SmartTurnConfig:
    """VOICE_TURN_DETECTION=smart. Measured in bench/bench_turn_end.py (README): the check after
    ~200 ms of silence, the model's "finished" at FINISHED_AT, otherwise at most cap_ms."""

    check_after_ms: int = 200
    cap_ms: int = 2000  # never below VOICE_END_SILENCE_MS


@dataclass(frozen=True, slots=True)
class ListenerConfig:
    vad: VadConfig = VadConfig()
    barge_in_min_ms: int = 300
    user_name: str = "방장"
    rules: TranscriptRules = TranscriptRules()
    file_realtime: bool = True
    turn_detection: Literal["smart", "silence"] = "silence"
    smart: SmartTurnConfig = SmartTurnConfig()

    def smart_vad(self) -> VadConfig:
        """`vad` with the turn-end model's check and cap (VOICE_TURN_DETECTION=smart)."""
        check = self.smart.check_after_ms
        return dataclasses.replace(self.vad, check_after_ms=check,
                                   pad_ms=min(self.vad.pad_ms, check),
                                   cap_ms=max(self.smart.cap_ms, self.vad.end_silence_ms))


class VoiceListener:
    name = "voice"

    def __init__(self, spec: str, stt: SpeechToText, barge_in: BargeIn,
                 submit: Callable[[ChatMessage], object], *,
                 config: ListenerConfig = ListenerConfig(), audible: AudibleWindow | None = None,
                 load_vad: Callable[[], SileroVad] = SileroVad.load,
                 load_turn_model: Callable[[], SmartTurnModel] = SmartTurnModel.load) -> None:
        self.spec = spec
        self.stt = stt
        self.barge_in = barge_in
        self._submit = submit
        self._config = config
        self._audible = audible
        self._load_vad = load_vad
        self._load_turn_model = load_turn_model
        self._judge: TurnEndJudge | None = None
        # Why VOICE_TURN_DETECTION=smart runs as silence (None: it does not, or was not asked).
        self.turn_fallback: str | None = None
        self.stats = ListenerStats()
        self._utterances: asyncio.Queue[Utterance] = asyncio.Queue()
        self._speech_started: float | None = None  # SpeechStarted, until its utterance ends
        self._transcribing = False
        self._status: StatusHandle | None = None
        self._label = spec

    # --- the component --------------------------------------------------------------------
    async def run(self, status: StatusHandle) -> None:
        self._status = status
        status.set(State.STARTING, "음성 인식 준비 중 (Silero VAD, STT)")
        vad = await asyncio.to_thread(self._load_vad)
        if self._config.turn_detection == "smart" and self._judge is None:
            try:
                self._judge = TurnEndJudge(await asyncio.to_thread(self._load_turn_model))
                self.turn_fallback = None
            except TurnEndUnavailable as exc:
                self.turn_fallback = str(exc)
                log.warning("voice input: VOICE_TURN_DETECTION=smart without its model, the end "
                            "of a turn is %d ms of silence: %s",
                            self._config.vad.end_silence_ms, exc)
        try:
            await self.stt.load()
        except SttError as exc:
            raise ComponentError(str(exc)) from None
        async with asyncio.TaskGroup() as tasks:
            tasks.create_task(self._transcribe_loop(), name="voice-stt")
            tasks.create_task(self._listen(vad, status), name="voice-capture")

    async def _listen(self, vad: SileroVad, status: StatusHandle) -> None:
        attempt = 0
        loop = asyncio.get_running_loop()
        while True:
            status.set(State.STARTING, f"음성 입력 여는 중: {self.spec}")
            try:
                capture = await asyncio.to_thread(self._open_capture, attempt > 0)
            except AudioDeviceError as exc:
                attempt += 1
                await status.retry_later(attempt, exc, "VOICE_INPUT을 확인하세요 "
                                         "(`python -m aischoco devices`)", "voice input")
                continue
            vad.reset()
            cfg = self._config
            realtime = not isinstance(capture, FileCapture) or cfg.file_realtime
            worker = VadWorker(
                vad, UtteranceDetector(cfg.smart_vad() if self._judge else cfg.vad),
                in_rate=capture.rate,
                post=lambda events: loop.call_soon_threadsafe(self._on_events, events),
                barge_in_min_s=cfg.barge_in_min_ms / 1000,
                gate=self._audible.covers if self._audible and self.barge_in.gates_echo else None,
                stats=self.stats, lossless=isinstance(capture, FileCapture),
                judge=self._judge, inline_checks=not realtime)
            thread = threading.Thread(target=worker.run, name="voice-vad", daemon=True)
            thread.start()
            try:
                await asyncio.to_thread(capture.start, worker.feed)
                attempt = 0
                self._label = capture.label
                self._report()
                log.info("voice input: %s (barge-in: %s)", capture.label, self.barge_in.mode)
                problem = await self._watch(capture)
            except AudioDeviceError as exc:
                problem = str(exc)
            finally:
                await asyncio.to_thread(capture.stop)
                worker.close()
                await asyncio.to_thread(thread.join, 2.0)
            if problem is None:  # a file input played to its end: nothing more will come
                status.set(State.RUNNING, f"{capture.label}: 파일 끝까지 들었습니다")
                await asyncio.Event().wait()
            attempt += 1
            delay = backoff_delay(attempt, cap_s=DEVICE_RETRY_CAP_S)
            log.warning("voice input lost: %s (retry in %.1f s)", problem, delay)
            status.set(State.DEGRADED, f"{problem} — 다시 연결합니다")
            await asyncio.sleep(delay)

    def _open_capture(self, refresh: bool) -> Capture:
        if self.spec.startswith("file:"):
            return FileCapture(Path(self.spec[5:]), realtime=self._config.file_realtime)
        return DeviceCapture(find_input(self.spec, refresh=refresh))

    async def _watch(self, capture: Capture) -> str | None:
        while True:
            await asyncio.sleep(WATCH_INTERVAL_S)
            problem = capture.problem()
            if problem:
                return problem
            if isinstance(capture, FileCapture) and capture.finished.is_set():
                return None

    # --- loop side ---------------------------------------------------------------------------
    @property
    def talking(self) -> bool:
        """The streamer is speaking, or what they said is still being transcribed: the
        character does not start an idle line over them."""
        started = self._speech_started
        # A start whose end never came (the echo gate reset the detector) stops counting once
        # no utterance could still be that long.
        open_speech = (started is not None
                       and time.monotonic() - started < self._config.vad.max_utterance_s + 2)
        return open_speech or not self._utterances.empty() or self._transcribing

    def _on_events(self, events: list[object]) -> None:
        for event in events:
            if isinstance(event, SpeechStarted):
                self._speech_started = time.monotonic()
            elif isinstance(event, BargeInReady):
                self.barge_in.speech_confirmed()
            elif isinstance(event, SpeechDiscarded):
                self._speech_started = None
                self.barge_in.speech_over()
            elif isinstance(event, Utterance):
                self._speech_started = None
                self.barge_in.speech_over()
                self.stats.utterances += 1
                self._utterances.put_nowait(event)

    async def _transcribe_loop(self) -> None:
        while True:
            utterance = await self._utterances.get()
            self._transcribing = True
            try:
                await self._transcribe(utterance)
            finally:
                self._transcribing = False

    async def _transcribe(self, utterance: Utterance) -> None:
        try:
            transcript = await self.stt.transcribe(utterance.audio)
        except SttError as exc:
            self.stats.stt_errors += 1
            log.warning("voice input: transcription failed, utterance dropped: %s", exc)
            if self._status is not None:
                self._status.set(State.DEGRADED, f"음성 인식 실패: {exc}",
                                 "STT_ENGINE 설정과 네트워크를 확인하세요")
            return
        text, reason = screen(transcript, self._config.rules)
        if not text:
            self.stats.dropped[reason] += 1
            log.info("voice input: transcript dropped (%s): %r", reason, transcript.text[:80])
            self._report()
            return
        self.stats.turns += 1
        self._submit(ChatMessage(
            user=self._config.user_name, message=text, role=Role.STREAMER, kind=Kind.VOICE,
            source="voice", voice=VoiceTiming(_perf(utterance.ended_at),
                                              _perf(utterance.decided_at))))
        self._report()

    @property
    def turn_detection(self) -> str:
        """What decides the end of a turn: `smart` (the model) or `silence` (asked for, or the
        model could not be loaded)."""
        smart = self._config.turn_detection == "smart" and self.turn_fallback is None
        return "smart" if smart else "silence"

    def _report(self) -> None:
        if self._status is None:
            return
        s = self.stats
        dropped = sum(s.dropped.values())
        silence = f"말 끝: 침묵 {self._config.vad.end_silence_ms} ms"
        turn = "말 끝: 모델(smart-turn)" if self._judge is not None else silence
        hint = ""
        if self.turn_fallback is not None:
            turn = f"{silence} ({self.turn_fallback.split(' / ')[0]})"
            hint = (f"VOICE_TURN_DETECTION=smart에는 모델이 필요합니다: {TURN_END_INSTALL_HINT} "
                    "(또는 VOICE_TURN_DETECTION=silence)")
        self._status.set(State.RUNNING, f"듣는 중: {self._label} · 발화 {s.utterances} · 턴 {s.turns}"
                         + (f" · 버림 {dropped}" if dropped else "") + f" · {turn}", hint)

    def snapshot(self) -> dict[str, object]:
        s, b = self.stats, self.barge_in.stats
        return {"utterances": s.utterances, "turns": s.turns, "dropped": dict(s.dropped),
                "stt_errors": s.stt_errors, "vad_frames": s.vad_frames,
                "vad_cpu_ms_per_s": round(1000 * s.vad_cpu_s / max(s.vad_frames * 0.032, 1e-9), 3),
                "gated_frames": s.gated_frames, "barge_in": self.barge_in.mode,
                "turn_detection": self.turn_detection, "turn_fallback": self.turn_fallback,
                "turn_checks": s.turn_checks, "turn_finished": s.turn_finished,
                "turn_not_finished": s.turn_not_finished, "turn_stale": s.turn_stale,
                "turn_failed": s.turn_failed,
                "turn_check_ms": round(sorted(s.turn_wall_ms)[len(s.turn_wall_ms) // 2], 1)
                if s.turn_wall_ms else None,
                "turn_probability": s.turn_last_probability,
                "level_db": s.level_db, "speech_prob": s.speech_prob,
                "interrupted": b.interrupted, "ducked": b.ducked}

    async def aclose(self) -> None:
        if self._judge is not None:
            self._judge.close()
            self._judge = None  # a later run() loads it again
        await self.stt.aclose()


def _perf(monotonic_at: float) -> float:
    """A capture time (time.monotonic) on the perf_counter clock the latency marks use."""
    return time.perf_counter() - (time.monotonic() - monotonic_at)


__all__ = ["BargeInReady", "ListenerConfig", "VadEvent", "VadWorker", "VoiceListener"]
