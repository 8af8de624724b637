"""Local Whisper STT: faster-whisper's real path (features → CTranslate2 → tokenizer) on a tiny
random model built once per session (~10 s, mostly the torch import), plus the error paths.

The tiny model's text is noise; tests check types, threads, the event loop and error messages.
Machines without faster-whisper skip.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from aischoco.listen.stt import SAMPLE_RATE, SttError, Transcript
from aischoco.listen.stt_whisper import WhisperTranscriber, resolve_device
from voice_fixtures.speech import require_espeak

pytest.importorskip("faster_whisper")
import ctranslate2  # installed with faster-whisper

SPOKEN = "안녕하세요 여러분, 오늘 방송에 와 주셔서 정말 감사합니다."


@pytest.fixture(scope="session")
def tiny_whisper(tmp_path_factory: pytest.TempPathFactory) -> Path:
    import huggingface_hub.constants
    from voice_fixtures.tiny_whisper import build_tiny_whisper

    with pytest.MonkeyPatch.context() as mp:  # the build reads local folders only; make sure
        mp.setenv("HF_HUB_OFFLINE", "1")
        mp.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
        return build_tiny_whisper(tmp_path_factory.mktemp("tiny-whisper"))


@pytest.fixture
def no_gpu(monkeypatch: pytest.MonkeyPatch) -> None:
    """`auto` must pick the CPU here, also on a machine that has a GPU."""
    monkeypatch.setattr(ctranslate2, "get_cuda_device_count", lambda: 0)


@pytest.fixture
def offline(monkeypatch: pytest.MonkeyPatch) -> None:
    """Any hub request fails at once instead of waiting on a network that is not there."""
    import huggingface_hub.constants

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)


@pytest.fixture(scope="session")
def speech(tmp_path_factory: pytest.TempPathFactory) -> np.ndarray:
    """2 s of real Korean speech (espeak-ng), 16 kHz mono float32."""
    require_espeak()
    import soundfile as sf
    import soxr

    wav = tmp_path_factory.mktemp("speech") / "ko.wav"
    subprocess.run(["espeak-ng", "-v", "ko", "-w", str(wav), SPOKEN], check=True, timeout=30)
    samples, rate = sf.read(wav, dtype="float32")
    audio = soxr.resample(samples, rate, SAMPLE_RATE).astype(np.float32)
    assert len(audio) >= 2 * SAMPLE_RATE and np.abs(audio).max() > 0.05  # really speech
    return audio[:2 * SAMPLE_RATE]


@pytest.fixture
async def whisper(tiny_whisper: Path, no_gpu: None) -> Any:
    stt = WhisperTranscriber(model=str(tiny_whisper), device="auto")
    await stt.load()
    yield stt
    await stt.aclose()


class Spy:
    """Wraps ``WhisperModel.transcribe``: records the threads that call it and that consume its
    segment generator (where the decoding happens), and the loop ticks around the decoding."""

    def __init__(self, model: Any, ticks: list[int]) -> None:
        self.real, self.ticks = model.transcribe, ticks
        self.calls: list[threading.Thread] = []
        self.consumers: list[threading.Thread] = []
        self.ticks_during: list[tuple[int, int]] = []

    def __call__(self, *args: Any, **kwargs: Any) -> tuple[Iterator[Any], Any]:
        self.calls.append(threading.current_thread())
        segments, info = self.real(*args, **kwargs)
        return self._consume(segments), info

    def _consume(self, segments: Iterator[Any]) -> Iterator[Any]:
        self.consumers.append(threading.current_thread())
        before = self.ticks[0]
        yield from segments
        self.ticks_during.append((before, self.ticks[0]))


def spy_on(stt: WhisperTranscriber, monkeypatch: pytest.MonkeyPatch,
           ticks: list[int] | None = None) -> Spy:
    spy = Spy(stt.model, ticks if ticks is not None else [0])
    monkeypatch.setattr(stt.model, "transcribe", spy)
    return spy


# ---------------------------------------------------------------- pure choices

@pytest.mark.parametrize(("device", "compute", "gpus", "expected"), [
    ("auto", "default", 0, ("cpu", "int8")),
    ("auto", "default", 1, ("cuda", "float16")),
    (" CPU ", "default", 1, ("cpu", "int8")),
    ("cuda", "int8_float16", 1, ("cuda", "int8_float16")),
    ("auto", "float32", 0, ("cpu", "float32")),
])
def test_resolve_device(monkeypatch: pytest.MonkeyPatch, device: str, compute: str, gpus: int,
                        expected: tuple[str, str]) -> None:
    monkeypatch.setattr(ctranslate2, "get_cuda_device_count", lambda: gpus)
    assert resolve_device(device, compute) == expected


# ---------------------------------------------------------------- the real faster-whisper path

async def test_transcribes_speech_on_the_worker_thread(
        whisper: WhisperTranscriber, speech: np.ndarray, monkeypatch: pytest.MonkeyPatch) -> None:
    assert (whisper.device, whisper.compute_type) == ("cpu", "int8")  # auto, without a GPU
    assert type(whisper.model).__name__ == "WhisperModel"
    ticks = [0]
    spy = spy_on(whisper, monkeypatch, ticks)
    done = asyncio.Event()

    async def tick() -> None:
        while not done.is_set():
            await asyncio.sleep(0.005)
            ticks[0] += 1

    ticker = asyncio.create_task(tick())
    try:
        result = await whisper.transcribe(speech)
    finally:
        done.set()
        await ticker

    assert isinstance(result, Transcript)
    assert isinstance(result.text, str) and result.language == "ko"
    assert isinstance(result.no_speech_prob, float) and 0.0 <= result.no_speech_prob <= 1.0
    loop_thread = threading.current_thread()
    assert len(spy.calls) == 1 and len(spy.consumers) == 1
    assert spy.calls[0] is not loop_thread and spy.calls[0].name.startswith("stt-whisper")
    assert spy.consumers[0] is spy.calls[0]
    (before, after), = spy.ticks_during
    assert after - before >= 3, "the event loop stalled while the model decoded"


async def test_empty_audio_skips_the_model(whisper: WhisperTranscriber,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    spy = spy_on(whisper, monkeypatch)
    assert await whisper.transcribe(np.zeros(0, dtype=np.float32)) == Transcript("", "ko", None)
    assert spy.calls == []


async def test_stereo_audio_is_refused(whisper: WhisperTranscriber) -> None:
    with pytest.raises(SttError, match="mono"):
        await whisper.transcribe(np.zeros((2, 16_000), dtype=np.float32))


async def test_model_failure_becomes_stt_error(whisper: WhisperTranscriber,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("CUDA out of memory\nsecond line")

    monkeypatch.setattr(whisper.model, "transcribe", broken)
    with pytest.raises(SttError) as caught:
        await whisper.transcribe(np.ones(1600, dtype=np.float32) * 0.1)
    message = str(caught.value)
    assert "\n" not in message and "CUDA out of memory second line" in message
    assert message.startswith("Whisper 받아쓰기 실패")


async def test_closed_transcriber_refuses_work(tiny_whisper: Path, no_gpu: None) -> None:
    stt = WhisperTranscriber(model=str(tiny_whisper), device="cpu", compute_type="float32")
    await stt.load()
    await stt.aclose()
    assert stt.model is None
    with pytest.raises(SttError, match="closed"):
        await stt.transcribe(np.ones(1600, dtype=np.float32) * 0.1)
    with pytest.raises(SttError, match="closed"):
        await stt.load()
    await stt.aclose()  # twice is fine


async def test_transcribe_before_load_is_an_error(tiny_whisper: Path) -> None:
    stt = WhisperTranscriber(model=str(tiny_whisper), device="cpu")
    try:
        with pytest.raises(SttError, match="not loaded"):
            await stt.transcribe(np.ones(1600, dtype=np.float32) * 0.1)
    finally:
        await stt.aclose()


# ---------------------------------------------------------------- models that cannot load

async def load_error(model: str, download_root: Path | None = None) -> str:
    stt = WhisperTranscriber(model=model, device="cpu", download_root=download_root)
    try:
        with pytest.raises(SttError) as caught:
            await asyncio.wait_for(stt.load(), timeout=30)
    finally:
        await stt.aclose()
    message = str(caught.value)
    assert "\n" not in message
    return message


async def test_missing_local_folder(tmp_path: Path, offline: None) -> None:
    missing = tmp_path / "no-such-model"
    message = await load_error(str(missing), download_root=tmp_path / "hf")
    assert message.startswith("Whisper 모델 폴더가 없습니다") and str(missing) in message
    assert not (tmp_path / "hf").exists()  # never went to the hub


async def test_unknown_size(tmp_path: Path, offline: None) -> None:
    message = await load_error("huge-v9", download_root=tmp_path)
    assert message.startswith("Whisper 모델을 불러올 수 없습니다: huge-v9")
    assert "Invalid model size" in message and "Cannot load Whisper model 'huge-v9'" in message


async def test_hub_id_offline_and_not_cached(tmp_path: Path, offline: None) -> None:
    message = await load_error("nobody/no-such-whisper", download_root=tmp_path)
    assert message.startswith("Whisper 모델을 불러올 수 없습니다: nobody/no-such-whisper")
    assert "Cannot load Whisper model 'nobody/no-such-whisper'" in message


async def test_folder_that_is_not_a_model(tmp_path: Path) -> None:
    message = await load_error(str(tmp_path))
    assert message.startswith(f"Whisper 모델을 불러올 수 없습니다: {tmp_path}")


async def test_faster_whisper_missing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "faster_whisper", None)  # import now raises ImportError
    message = await load_error(str(tmp_path))
    assert "pip install -r requirements-voice.txt" in message
    assert message.startswith("faster-whisper가 설치되어 있지 않습니다")
