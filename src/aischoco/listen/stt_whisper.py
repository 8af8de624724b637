"""Local speech to text with faster-whisper (``STT_ENGINE=whisper``).

Why local: no upload, no per-minute fee, and Whisper reports ``no_speech_prob``, which the
transcript filter uses to drop the text Whisper invents on silence. Latency first: greedy decoding,
a single temperature (no fallback re-decodes), no conditioning on earlier utterances, no
timestamps and no built-in VAD (Silero already cut the utterance).

Threading: CTranslate2 blocks its caller for the whole decode, so loading and every transcription
run on one dedicated worker thread, one job at a time (a CUDA context is happiest on one thread);
the event loop only awaits.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from ..core.worker_thread import WorkerThread
from .stt import SttError, Transcript

log = logging.getLogger(__name__)
T = TypeVar("T")

INSTALL_HINT = "pip install -r requirements-voice.txt"
CLOSED = "Whisper 받아쓰기가 이미 닫혔습니다. / The Whisper transcriber is closed."


def resolve_device(device: str, compute_type: str) -> tuple[str, str]:
    """``auto`` → cuda when CTranslate2 sees a GPU, else cpu; ``default`` precision → float16
    on cuda, int8 on cpu (the fast choice on each)."""
    import ctranslate2  # type: ignore[import-untyped]

    device = device.strip().lower()
    if device == "auto":
        device = "cuda" if ctranslate2.get_cuda_device_count() > 0 else "cpu"
    if compute_type == "default":
        compute_type = "float16" if device == "cuda" else "int8"
    return device, compute_type


def _looks_like_path(model: str) -> bool:
    """Sizes ("small") and hub ids ("owner/name") are downloaded; anything else is a folder."""
    return (model.startswith((".", "/", "~", "\\")) or "\\" in model or ":" in model
            or model.count("/") > 1)


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= 300 else text[:297] + "..."


class WhisperTranscriber:
    """faster-whisper behind the ``SpeechToText`` protocol."""

    name = "whisper"

    def __init__(self, model: str, *, device: str = "auto", compute_type: str = "default",
                 language: str = "ko", download_root: Path | None = None,
                 beam_size: int = 1) -> None:
        self._model_ref, self._device, self._compute_type = model, device, compute_type
        self._language, self._beam_size = language, beam_size
        self._download_root = download_root
        # A daemon thread: quitting while a model downloads must not wait for the download.
        self._worker = WorkerThread("stt-whisper", lambda: SttError(CLOSED))
        self._model: Any = None  # faster_whisper.WhisperModel, touched only on the worker
        self._closed = False
        self.device, self.compute_type = device, compute_type  # the resolved ones after load()

    @property
    def model(self) -> Any:
        """The loaded ``faster_whisper.WhisperModel`` (None before loading or after closing)."""
        return self._model

    async def _run(self, fn: Callable[..., T], *args: Any) -> T:
        if self._closed:
            raise SttError(CLOSED)
        return await self._worker.run(fn, *args)  # type: ignore[no-any-return]

    async def load(self) -> None:
        await self._run(self._load)

    def _load(self) -> None:
        if self._model is not None:
            return
        try:
            from faster_whisper import WhisperModel  # type: ignore[import-untyped]
            from huggingface_hub.errors import LocalEntryNotFoundError
        except ImportError as exc:
            raise SttError(f"faster-whisper가 설치되어 있지 않습니다: {INSTALL_HINT} / "
                           f"faster-whisper is not installed ({_one_line(exc)}).") from exc
        ref = self._model_ref
        if ref == "auto":  # STT_MODEL unset: the best that runs in real time on this machine
            ref = "large-v3-turbo" if resolve_device(self._device, "default")[0] == "cuda" else "small"
        local = Path(ref).expanduser()
        if not local.is_dir() and _looks_like_path(ref):
            raise SttError(f"Whisper 모델 폴더가 없습니다: {local} / "
                           f"Whisper model folder not found: {local}.")
        source = str(local) if local.is_dir() else ref
        started = time.monotonic()
        try:
            self.device, self.compute_type = resolve_device(self._device, self._compute_type)
            kwargs: dict[str, Any] = {
                "device": self.device, "compute_type": self.compute_type,
                "download_root": str(self._download_root) if self._download_root else None}
            try:  # a cached model starts without touching the network
                model = WhisperModel(source, local_files_only=True, **kwargs)
            except LocalEntryNotFoundError:
                model = WhisperModel(source, **kwargs)
        except Exception as exc:  # noqa: BLE001 - hub, CUDA and format errors alike
            raise SttError(f"Whisper 모델을 불러올 수 없습니다: {ref} ({_one_line(exc)}) / "
                           f"Cannot load Whisper model {ref!r}.") from exc
        if self._closed:  # aclose() came while loading: do not keep the model alive
            raise SttError(CLOSED)
        self._model = model
        log.info("Whisper %s loaded on %s/%s in %.1f s", ref, self.device, self.compute_type,
                 time.monotonic() - started)

    async def transcribe(self, audio: np.ndarray) -> Transcript:
        samples = np.ascontiguousarray(audio, dtype=np.float32)
        if samples.ndim != 1:
            raise SttError(f"모노 오디오가 필요합니다 (shape {samples.shape}). / "
                           "Whisper needs mono audio.")
        if samples.size == 0:
            return Transcript("", self._language, None)
        return await self._run(self._transcribe, samples)

    def _transcribe(self, samples: np.ndarray) -> Transcript:
        model = self._model
        if model is None:  # never loaded, or closed while this job waited
            raise SttError(CLOSED if self._closed else
                           "Whisper 모델을 먼저 불러오세요 (load). / Whisper model not loaded.")
        try:
            segments, info = model.transcribe(
                samples, language=self._language, beam_size=self._beam_size, vad_filter=False,
                condition_on_previous_text=False, without_timestamps=True, temperature=0.0)
            parts = list(segments)  # a lazy generator: the decoding happens here, on the worker
        except Exception as exc:  # noqa: BLE001 - any failure is one STT error to the pipeline
            raise SttError(f"Whisper 받아쓰기 실패: {_one_line(exc)} / "
                           "Whisper transcription failed.") from exc
        text = "".join(part.text for part in parts).strip()
        # an utterance under 30 s is one segment; the mean covers the rare longer one
        no_speech = (float(np.mean([part.no_speech_prob for part in parts])) if parts else None)
        return Transcript(text, info.language or self._language, no_speech)

    async def aclose(self) -> None:
        if self._closed:
            return
        self._closed = True
        # a running job keeps its own reference and finishes; queued ones find no model and
        # raise SttError. Not waiting: a download in progress cannot be interrupted.
        self._model = None
        self._worker.stop()
