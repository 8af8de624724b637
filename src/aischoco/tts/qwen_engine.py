"""The local Qwen3-TTS voice-clone engine (qwen-tts 0.1.1), as a supervised component.

Threading: loading and every inference run on one dedicated daemon thread, one job at a time
(the model is not re-entrant, and a CUDA context is happiest on one thread). A job's audio travels
back to the event loop through ``call_soon_threadsafe`` into a per-sentence asyncio queue.

Streaming (issue #6): the thread side is a ``SentenceProducer`` that calls ``emit(samples,
rate)`` as often as it likes and checks ``cancel``. ``StreamingProducer`` (qwen_stream.py, the
default) emits a chunk every N codec frames while the sentence is generated;
``WholeSentenceProducer`` (streaming off) emits it once. ``synthesize`` forwards every emitted
piece as soon as it arrives.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import itertools
import logging
import threading
import time
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from ..core.stages import AudioChunk, StageError
from ..core.status import State, StatusHandle
from ..core.worker_thread import WorkerThread
from .frame_budget import max_frames
from .pcm import float_to_pcm16, pcm16_to_float
from .qwen_loader import (
    OOM_MESSAGE,
    CancelGate,
    LoadedModel,
    SynthesisCancelled,
    TtsLoadError,
    install_cancel_hooks,
    is_out_of_memory,
    load_model,
)
from .qwen_stream import StreamConfig, StreamingProducer, apply_speedups
from .voice_sample import Reference, VoiceSampleError, load_reference

log = logging.getLogger(__name__)

MAX_CHUNK_S = 0.2  # chunks handed to the audio sink: between 0.1 and 0.2 s when there is enough audio
TAIL_PAD_S = 0.12  # silence after each sentence so Korean endings are not clipped by the sink (#55)
CANCEL_WAIT_S = 2.0  # how long closing a sentence waits for the model to notice
CLOSE_WAIT_S = 3.0  # aclose: a load or download in progress cannot be interrupted; stop waiting
WARM_UP_TEXT = "안녕하세요, 준비됐어요."  # compiles / captures GPU graphs before the first viewer
CLIP_PROMPTS_KEPT = 4  # voice prompts kept for clips other than the sample in use
VOICE_HINT = ("컨트롤 패널의 🎤 목소리(/voice)에서 녹음해 저장하면 바로 켜집니다 (또는 "
              "assets/voice_samples/README.md 안내대로 ref.wav와 ref_text.txt를 넣으세요).")

Emit = Callable[[np.ndarray, int], None]
_Post = Callable[[tuple[Any, ...]], None]


class SentenceProducer(Protocol):
    """Thread side: synthesize one sentence, calling ``emit(float32 mono samples, rate)`` for each
    piece of audio in order. Runs on the inference thread; stops early when ``cancel`` is set
    (returning or raising SynthesisCancelled)."""

    def produce(self, text: str, emit: Emit, cancel: threading.Event) -> None: ...


def split_pcm(samples: np.ndarray, rate: int, max_s: float = MAX_CHUNK_S) -> list[bytes]:
    """int16 PCM pieces of equal length, each at most max_s (and over max_s/2 when the audio is
    longer than max_s), so the sink gets steady small chunks without a tiny last one."""
    pcm = float_to_pcm16(samples)
    total = len(pcm) // 2
    if total == 0:
        return []
    pieces = -(-total // max(1, round(rate * max_s)))
    bounds = [round(i * total / pieces) for i in range(pieces + 1)]
    return [pcm[2 * a:2 * b] for a, b in itertools.pairwise(bounds)]


class WholeSentenceProducer:
    """One ``generate_voice_clone`` call per sentence, emitted at once (qwen-tts 0.1.1 has no
    streaming output). The cancel hooks installed on the model stop it mid-generation."""

    def __init__(self, tts: Any, prompt: Any, language: str, *, seed: int | None,
                 max_new_tokens: int | None, options: Mapping[str, Any]) -> None:
        self._tts, self._prompt, self._language = tts, prompt, language
        self._seed, self._cap, self._options = seed, max_new_tokens, dict(options)

    def produce(self, text: str, emit: Emit, cancel: threading.Event) -> None:
        if self._seed is not None:
            import torch

            torch.manual_seed(self._seed)  # same sentence → same audio
        wavs, rate = self._tts.generate_voice_clone(
            text=text, language=self._language, voice_clone_prompt=self._prompt,
            max_new_tokens=max_frames(text, self._cap), **self._options)
        if not cancel.is_set():  # decoding ran after the last hook check
            emit(np.asarray(wavs[0], dtype=np.float32), int(rate))


@dataclass(frozen=True, slots=True)
class LoadReport:
    device: str
    dtype: str
    attention: str
    source: Path
    load_s: float
    prompt_s: float
    warnings: list[str]


class QwenEngine:
    """Local Qwen3-TTS voice clone. ``run`` loads, then idles; ``synthesize`` follows the
    SpeechEngine contract in ``aischoco.tts``."""

    name = "tts"

    def __init__(self, model: str, *, device: str = "auto", hf_home: Path, voice_wav: Path,
                 voice_text: Path, language: str = "Korean", seed: int | None = None,
                 max_new_tokens: int | None = None,
                 generate_options: Mapping[str, Any] | None = None, streaming: bool = True,
                 stream: StreamConfig | None = None, static_cache: bool = False,
                 compile_mode: str = "off") -> None:
        self._model_ref, self._device = model, device
        self._hf_home = Path(hf_home)
        self._voice_wav, self._voice_text = Path(voice_wav), Path(voice_text)
        self._language, self._seed, self._max_new_tokens = language, seed, max_new_tokens
        self._options = dict(generate_options or {})  # extra generate_voice_clone kwargs (sampling)
        self._stream = (stream or StreamConfig()) if streaming else None
        self._static_cache, self._compile_mode = static_cache, compile_mode
        self._speedups: list[str] = []
        self._thread = WorkerThread(
            "qwen-tts", lambda: StageError("TTS 엔진이 이미 닫혔습니다. / The TTS engine is closed."))
        self._gate = CancelGate()
        self._loaded: LoadedModel | None = None
        self._producer: SentenceProducer | None = None
        self._report: LoadReport | None = None
        self._status: StatusHandle | None = None
        self._clip_prompts: dict[str, SentenceProducer] = {}  # previews, per-request clips
        self._load_lock = asyncio.Lock()
        self._closed = False

    @property
    def available(self) -> bool:
        return self._producer is not None and not self._closed

    @property
    def model(self) -> Any:
        """The loaded ``qwen_tts.Qwen3TTSModel`` (None before loading)."""
        return self._loaded.tts if self._loaded else None

    async def run(self, status: StatusHandle) -> None:
        self._status = status  # use_voice may finish a start that lacked a voice sample
        status.set(State.STARTING, "모델 불러오는 중 …")
        try:
            report = await self.load()
        except TtsLoadError as exc:
            status.set(State.STARTING, "불러오기 실패", exc.hint)  # the supervisor keeps the hint
            raise
        self._show_ready(report)
        await asyncio.Event().wait()

    def _show_ready(self, report: LoadReport) -> None:
        if self._status is None:
            return
        name = Path(self._model_ref).name  # hub id or folder; the snapshot dir is a hash
        detail = f"{name} · {report.device} · {report.dtype} · {report.attention}"
        if report.warnings:
            hints = " ".join(w.split(" / ")[0] for w in report.warnings)
            self._status.set(State.DEGRADED, detail, hints)
        else:
            self._status.set(State.RUNNING, detail)

    async def load(self) -> LoadReport:
        """Load the model (once) and build the voice prompt from the reference clip (once).
        Safe to call again after a failure: only what is missing is redone."""
        async with self._load_lock:
            if self._closed:
                raise TtsLoadError("TTS 엔진이 이미 닫혔습니다. / The TTS engine is closed.")
            if self._report is not None:
                return self._report
            reference: Reference | None = None
            voice_error: VoiceSampleError | None = None
            try:
                reference = await asyncio.to_thread(load_reference, self._voice_wav,
                                                    self._voice_text)
            except VoiceSampleError as exc:
                voice_error = exc  # the model still loads, so fixing the sample is quick
            await self._thread.run(self._load_model_blocking)
            loaded = self._loaded
            assert loaded is not None
            if voice_error is not None:
                raise TtsLoadError(str(voice_error), VOICE_HINT) from voice_error
            assert reference is not None
            for warning in reference.warnings:
                log.warning("%s", warning)
            prompt_s = await self._thread.run(self._build_producer_blocking, reference)
            return self._keep_report(reference, prompt_s)

    def _keep_report(self, reference: Reference, prompt_s: float) -> LoadReport:
        loaded = self._loaded
        assert loaded is not None
        warnings = [loaded.device.warning] if loaded.device.warning else []
        self._report = LoadReport(loaded.device.device, loaded.precision.dtype,
                                  loaded.precision.attention, loaded.source, loaded.load_s,
                                  prompt_s, warnings + reference.warnings)
        return self._report

    def _load_model_blocking(self) -> None:
        if self._loaded is not None:
            return
        loaded = load_model(self._model_ref, self._device, self._hf_home, self._language)
        install_cancel_hooks(loaded.tts, self._gate)
        self._speedups = apply_speedups(loaded.tts, loaded.device.device,
                                        static_cache=self._static_cache,
                                        compile_mode=self._compile_mode)
        self._loaded = loaded  # set here, not by the awaiting side, so a cancelled run keeps it
        log.info("Qwen3-TTS loaded from %s on %s (%s, %s) in %.1f s", loaded.source,
                 loaded.device.device, loaded.precision.dtype, loaded.precision.attention,
                 loaded.load_s)
        if loaded.device.warning:
            log.warning("%s", loaded.device.warning)

    def _build_producer_blocking(self, reference: Reference) -> float:
        producer, elapsed = self._make_producer_blocking(reference)
        if self._speedups:  # compile / capture now, not during the first viewer's sentence
            warm = time.monotonic()
            for _ in range(2):
                producer.produce(WARM_UP_TEXT, lambda _audio, _rate: None, threading.Event())
            log.info("TTS speed-ups %s warmed up in %.1f s", ", ".join(self._speedups),
                     time.monotonic() - warm)
        self._producer = producer
        return elapsed

    def _make_producer_blocking(self, reference: Reference) -> tuple[SentenceProducer, float]:
        assert self._loaded is not None
        started = time.monotonic()
        try:
            prompt = self._loaded.tts.create_voice_clone_prompt(
                ref_audio=(reference.samples, reference.sample_rate), ref_text=reference.text,
                x_vector_only_mode=False)
        except Exception as exc:
            message = OOM_MESSAGE if is_out_of_memory(exc) else f"{type(exc).__name__}: {exc}"
            raise TtsLoadError(f"목소리 샘플로 음성 프롬프트를 만들지 못했습니다 ({message}). / Building the "
                               f"voice prompt from {self._voice_wav} failed.", VOICE_HINT) from exc
        elapsed = time.monotonic() - started
        producer: SentenceProducer
        if self._stream is not None:
            producer = StreamingProducer(
                self._loaded.tts, prompt, self._language, seed=self._seed,
                max_new_tokens=self._max_new_tokens, options=self._options, config=self._stream)
        else:
            producer = WholeSentenceProducer(
                self._loaded.tts, prompt, self._language, seed=self._seed,
                max_new_tokens=self._max_new_tokens, options=self._options)
        log.info("voice prompt built (%.1f s of speech) in %.2f s", reference.speech_s, elapsed)
        return producer, elapsed

    # --- the voice studio (tts.voice_sample.VoiceCloning) ---------------------------------

    @property
    def clones_voice(self) -> bool:
        return True

    async def preview_voice(self, reference: Reference, text: str) -> tuple[np.ndarray, int]:
        """`text` in the voice of `reference`; the voice in use stays as it is. Runs on the
        inference thread between sentences, so the stream's speech is never cut."""
        producer = await self._producer_for(reference)
        pcm, rate = bytearray(), 0
        async for chunk in self._stream_audio(producer, text):
            pcm += chunk.pcm
            rate = chunk.sample_rate
        if not pcm:
            raise StageError("미리 듣기 문장이 비어 있습니다. / The preview text is empty.")
        return pcm16_to_float(bytes(pcm)), rate

    async def use_voice(self, reference: Reference) -> None:
        """Swap the voice prompt in place (no model reload): the next sentence uses it."""
        if self._loaded is None or self._closed:
            raise StageError("로컬 TTS 모델을 아직 불러오는 중이라 다음 시작 때 적용됩니다. / The model is "
                             "not loaded yet; the new sample is used when it is.")
        prompt_s = await self._thread.run(self._build_producer_blocking, reference)
        # Also the first sample of a start that failed for want of one: ready at once.
        self._show_ready(self._keep_report(reference, prompt_s))
        log.info("voice sample replaced (%.1f s of speech)", reference.speech_s)

    async def synthesize_as(self, reference: Reference, text: str) -> AsyncIterator[AudioChunk]:
        """`synthesize` in the voice of `reference` (the tts-server's per-request clip, as
        vLLM-Omni's Base task takes it); prompts are kept for the last few clips."""
        producer = await self._producer_for(reference)
        async with contextlib.aclosing(self._stream_audio(producer, text)) as chunks:
            async for chunk in chunks:
                yield chunk

    async def _producer_for(self, reference: Reference) -> SentenceProducer:
        if self._loaded is None or self._closed:
            raise StageError("로컬 TTS 모델을 아직 불러오는 중입니다. 잠시 후 다시 해 보세요. / The local "
                             "TTS model is still loading.")
        key = hashlib.sha256(reference.samples.tobytes() + reference.text.encode()).hexdigest()
        producer = self._clip_prompts.pop(key, None)
        if producer is None:
            producer, _ = await self._thread.run(self._make_producer_blocking, reference)
        self._clip_prompts[key] = producer  # most recent last
        while len(self._clip_prompts) > CLIP_PROMPTS_KEPT:
            self._clip_prompts.pop(next(iter(self._clip_prompts)))
        return producer

    async def synthesize(self, text: str) -> AsyncIterator[AudioChunk]:
        producer = self._producer
        if producer is None or self._closed:
            raise StageError("로컬 TTS가 아직 준비되지 않았습니다 (모델 불러오는 중이거나 실패). / "
                             "The local TTS engine is not ready.")
        async with contextlib.aclosing(self._stream_audio(producer, text)) as chunks:
            async for chunk in chunks:
                yield chunk

    async def _stream_audio(self, producer: SentenceProducer,
                            text: str) -> AsyncGenerator[AudioChunk, None]:
        text = " ".join(text.split())
        if not text:
            return
        loop = asyncio.get_running_loop()
        inbox: asyncio.Queue[tuple[Any, ...]] = asyncio.Queue()
        cancel = threading.Event()

        def post(item: tuple[Any, ...]) -> None:
            try:
                loop.call_soon_threadsafe(inbox.put_nowait, item)
            except RuntimeError:  # the loop is closed: nobody is listening any more
                cancel.set()

        started = time.monotonic()
        job = self._thread.submit(self._run_job, producer, text, cancel, post)
        rate, samples = 0, 0
        try:
            while (item := await inbox.get())[0] != "done":
                if item[0] == "error":
                    raise _sentence_error(item[1], text)
                if item[0] == "cancelled":
                    raise StageError("음성 합성이 중단되었습니다 (TTS 엔진 종료). / Synthesis was stopped "
                                     "because the TTS engine is closing.")
                audio, rate = item[1], item[2]
                samples += len(audio)
                for pcm in split_pcm(audio, rate):
                    yield AudioChunk(pcm, rate)
            if samples == 0:
                raise StageError(f"모델이 소리를 만들지 않았습니다: {text[:30]!r} / The model produced no audio.")
            log.debug("synthesized %.2f s of audio in %.2f s: %r", samples / rate,
                      time.monotonic() - started, text[:40])
            yield AudioChunk(bytes(2 * round(rate * TAIL_PAD_S)), rate)
        finally:
            cancel.set()  # no-op when the job already finished
            if not job.done():
                await asyncio.wait([asyncio.wrap_future(job)], timeout=CANCEL_WAIT_S)
                if not job.done():
                    log.warning("TTS generation did not stop within %.1f s of cancel", CANCEL_WAIT_S)

    def _run_job(self, producer: SentenceProducer, text: str, cancel: threading.Event,
                 post: _Post) -> None:
        """Inference thread: run one sentence, post each piece, then exactly one terminal item
        ("done", "error" or "cancelled"; the last matters when aclose stopped a listening job)."""
        if cancel.is_set() or self._closed:
            post(("cancelled",))
            return
        self._gate.active = cancel
        outcome: tuple[Any, ...] = ("done",)
        try:
            producer.produce(text, lambda audio, rate: post(("audio", audio, rate)), cancel)
        except SynthesisCancelled:
            log.debug("generation cancelled: %r", text[:40])
        except BaseException as exc:  # noqa: BLE001 - one failed sentence must not kill the thread
            outcome = ("error", exc)
        finally:
            self._gate.active = None
        post(("cancelled",) if cancel.is_set() else outcome)

    async def aclose(self) -> None:
        self._closed = True
        active = self._gate.active
        if active is not None:
            active.set()
        self._thread.stop()
        self._producer, self._loaded = None, None  # let the weights be freed once the thread idles
        self._clip_prompts.clear()
        if not await self._thread.join(CLOSE_WAIT_S):
            log.warning("the TTS thread is still busy (loading?) after %.0f s; not waiting for it",
                        CLOSE_WAIT_S)


def _sentence_error(exc: BaseException, text: str) -> StageError:
    if is_out_of_memory(exc):
        return StageError(f"음성 합성 중 {OOM_MESSAGE}")
    log.error("synthesis failed for %r", text[:40], exc_info=exc)
    return StageError(f"음성 합성 실패 ({type(exc).__name__}: {exc}). / Speech synthesis failed "
                      f"for one sentence.")
