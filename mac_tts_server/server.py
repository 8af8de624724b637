"""Apple-Silicon TTS server: Qwen3-TTS on mlx-audio 0.6.2, served over the remote TTS contract.

    python mac_tts_server/server.py --port 8880      # then TTS_REMOTE_URL=http://<mac>:8880

Only the engine lives here (``MlxEngine``); HTTP, queueing, streaming and disconnect handling are
``aischoco.tts.server``'s, so the Mac speaks exactly what ``python -m aischoco tts-server`` speaks.
All MLX work (load, warm-up, every generation) runs on one worker thread: MLX streams are not meant
to be shared between threads, and the event loop must stay free for the HTTP side.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import logging
import os
import sys
import tempfile
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from aischoco.core.signals import stop_on_signals
from aischoco.core.stages import AudioChunk, StageError
from aischoco.core.status import State, StatusHandle
from aischoco.core.supervisor import ComponentError
from aischoco.tts.pcm import float_to_pcm16, to_mono
from aischoco.tts.server import serve_tts
from aischoco.tts.voice_sample import Reference

log = logging.getLogger("mac_tts_server")

DEFAULT_MODEL = "mlx-community/Qwen3-TTS-12Hz-0.6B-Base-bf16"
DEFAULT_SAMPLE_RATE = 24_000
WARMUP_TEXT = "안녕하세요."
REFERENCE_PAD_S = 0.5  # silence after the reference keeps its last syllable out of the answer
CLIPS_KEPT = 8  # per-request reference clips kept on disk (the voice studio's previews and saves)
_DONE = object()

Loader = Callable[[str], Any]  # model id → an mlx-audio model (has .generate and .sample_rate)


def pad_reference(source: Path, folder: Path, pad_s: float = REFERENCE_PAD_S) -> Path:
    """A mono copy of the clone reference with ``pad_s`` of silence appended (Qwen3-TTS in ICL
    mode otherwise tends to echo the reference's tail)."""
    import soundfile as sf

    samples, rate = sf.read(str(source), dtype="float32", always_2d=True)
    mono = to_mono(samples)
    padded = np.concatenate([mono, np.zeros(int(rate * pad_s), dtype=np.float32)])
    target = folder / "reference_padded.wav"
    sf.write(str(target), padded, rate, subtype="FLOAT")
    return target


def mlx_loader(model_id: str) -> Any:
    """mlx-audio's loader, imported only here: the rest of the file must import without MLX."""
    try:
        from mlx_audio.tts.utils import load_model
    except ImportError as exc:
        raise ComponentError(
            "mlx-audio가 설치되어 있지 않습니다: pip install -r mac_tts_server/requirements.txt "
            f"(Apple Silicon 맥 전용) — mlx-audio is not installed ({exc})") from None
    return load_model(model_id)


class MlxEngine:
    """The engine contract over ``model.generate(..., stream=True)`` of mlx-audio."""

    name = "tts"

    def __init__(self, model_id: str, *, ref_audio: Path, ref_text: str,
                 language: str = "Korean", streaming_interval_s: float = 0.5,
                 loader: Loader = mlx_loader, warmup: bool = True) -> None:
        self.model_id = model_id
        self._ref_audio = ref_audio
        self._ref_text = ref_text
        self._language = language
        self._interval = streaming_interval_s
        self._loader = loader
        self._warmup = warmup
        self._model: Any = None
        self._mlx = ThreadPoolExecutor(max_workers=1, thread_name_prefix="mlx")
        self._scratch = tempfile.TemporaryDirectory(prefix="mac-tts-")
        self._reference = ref_audio  # replaced by the padded copy once loaded
        self.available = False

    async def run(self, status: StatusHandle) -> None:
        loop = asyncio.get_running_loop()
        status.set(State.STARTING, f"{self.model_id} 불러오는 중")
        self._reference = await loop.run_in_executor(
            self._mlx, pad_reference, self._ref_audio, Path(self._scratch.name))
        self._model = await loop.run_in_executor(self._mlx, self._loader, self.model_id)
        if self._warmup:  # the first generation compiles Metal kernels: not on a viewer's turn
            await loop.run_in_executor(self._mlx, self._drain, WARMUP_TEXT)
        self.available = True
        status.set(State.RUNNING, f"{self.model_id} 준비됨")
        await asyncio.Event().wait()

    def synthesize(self, text: str) -> AsyncIterator[AudioChunk]:
        return self._speak(text, self._reference, self._ref_text)

    async def synthesize_as(self, reference: Reference, text: str) -> AsyncIterator[AudioChunk]:
        """``synthesize`` with the clip a request brought (the streaming PC's voice studio, sent
        with TTS_REMOTE_SEND_REFERENCE=true). mlx-audio reads references from files: each clip
        is written once (already trimmed and padded), the last few kept."""
        loop = asyncio.get_running_loop()
        path = await loop.run_in_executor(self._mlx, self._clip_file, reference)
        async with contextlib.aclosing(self._speak(text, path, reference.text)) as chunks:
            async for chunk in chunks:
                yield chunk

    async def _speak(self, text: str, ref_audio: Path, ref_text: str) -> AsyncIterator[AudioChunk]:
        if self._model is None:
            raise StageError("the MLX model is not loaded yet")
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[Any] = asyncio.Queue()
        stop = threading.Event()

        def put(item: Any) -> None:
            if stop.is_set():  # the consumer left; the loop may be gone too
                return
            with contextlib.suppress(RuntimeError):  # loop closed under us at shutdown
                loop.call_soon_threadsafe(queue.put_nowait, item)

        def work() -> None:
            try:
                for pcm, rate in self._generate(text, stop, ref_audio, ref_text):
                    put(AudioChunk(pcm, rate))
            except BaseException as exc:  # noqa: BLE001 - handed to the consumer, re-raised there
                put(exc)
            finally:
                put(_DONE)

        loop.run_in_executor(self._mlx, work)  # work() reports everything through the queue
        try:
            while (item := await queue.get()) is not _DONE:
                if isinstance(item, BaseException):
                    raise StageError(f"mlx-audio generation failed: {item}") from item
                yield item
        finally:
            stop.set()  # the worker checks it between chunks and closes mlx-audio's generator

    async def aclose(self) -> None:
        self._mlx.shutdown(wait=False, cancel_futures=True)
        self._scratch.cleanup()

    # --- on the MLX thread ---------------------------------------------------------------------

    def _clip_file(self, reference: Reference) -> Path:
        import soundfile as sf

        digest = hashlib.sha256(reference.samples.tobytes() + reference.text.encode()).hexdigest()
        target = Path(self._scratch.name) / f"clip-{digest[:24]}.wav"
        if not target.exists():
            sf.write(str(target), reference.samples, reference.sample_rate, subtype="FLOAT")
        os.utime(target)  # most recently used last
        clips = sorted(Path(self._scratch.name).glob("clip-*.wav"), key=lambda f: f.stat().st_mtime)
        for stale in clips[:-CLIPS_KEPT]:
            stale.unlink(missing_ok=True)
        return target

    def _generate(self, text: str, stop: threading.Event, ref_audio: Path,
                  ref_text: str) -> Iterator[tuple[bytes, int]]:
        results = self._model.generate(
            text, ref_audio=str(ref_audio), ref_text=ref_text,
            lang_code=self._language, stream=True, streaming_interval=self._interval)
        try:
            for result in results:
                if stop.is_set():
                    break
                audio = to_mono(np.asarray(result.audio, dtype=np.float32))
                rate = int(getattr(result, "sample_rate", 0) or DEFAULT_SAMPLE_RATE)
                if audio.size:
                    yield float_to_pcm16(audio), rate
        finally:
            close = getattr(results, "close", None)
            if close is not None:
                close()  # stops mlx-audio at its next step

    def _drain(self, text: str) -> None:
        for _ in self._generate(text, threading.Event(), self._reference, self._ref_text):
            pass


# --------------------------------------------------------------------------------------------
# Command line
# --------------------------------------------------------------------------------------------


def build_engine(args: argparse.Namespace, loader: Loader = mlx_loader) -> MlxEngine:
    ref_audio, ref_text_path = Path(args.ref_audio), Path(args.ref_text)
    for path, what in ((ref_audio, "목소리 샘플"), (ref_text_path, "샘플 대본")):
        if not path.is_file():
            raise ComponentError(f"{what} 파일이 없습니다: {path} — see mac_tts_server/README.md")
    ref_text = ref_text_path.read_text(encoding="utf-8").strip()
    if not ref_text:
        raise ComponentError(f"샘플 대본이 비어 있습니다: {ref_text_path}")
    return MlxEngine(args.model, ref_audio=ref_audio, ref_text=ref_text, language=args.language,
                     streaming_interval_s=args.streaming_interval, loader=loader)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="맥(Apple Silicon)용 Qwen3-TTS 서버 — remote TTS server on mlx-audio")
    parser.add_argument("--model", default=DEFAULT_MODEL, help="mlx-community hub id or a folder")
    parser.add_argument("--ref-audio", default="assets/voice_samples/ref.wav")
    parser.add_argument("--ref-text", default="assets/voice_samples/ref_text.txt")
    parser.add_argument("--language", default="Korean")
    parser.add_argument("--host", default="127.0.0.1",
                        help="0.0.0.0 to accept the streaming PC on your LAN")
    parser.add_argument("--port", type=int, default=8880)
    parser.add_argument("--streaming-interval", type=float, default=0.5,
                        help="seconds of audio per streamed chunk (smaller: earlier first audio)")
    parser.add_argument("--api-key", default=os.environ.get("TTS_SERVER_API_KEY") or None,
                        help="require 'Authorization: Bearer KEY' (default: $TTS_SERVER_API_KEY)")
    return parser.parse_args(argv)


async def _serve(args: argparse.Namespace) -> None:
    engine = build_engine(args)
    stop = asyncio.Event()
    with stop_on_signals(stop):
        await serve_tts(engine, args.host, args.port, model_name=args.model, stop=stop,
                        api_key=args.api_key)


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)
    try:
        asyncio.run(_serve(parse_args(argv)))
    except ComponentError as exc:
        print(f"오류: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
