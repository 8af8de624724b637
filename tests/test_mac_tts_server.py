"""mac_tts_server over real loopback HTTP with mlx-audio's model swapped for a test double
(MLX needs Apple Silicon). What is checked: the adapter feeds ``model.generate`` what mlx-audio 0.6.2
expects, turns its float chunks into the exact PCM the contract promises, and stops generating when
the client leaves; HTTP is aischoco.tts.server's."""

from __future__ import annotations

import importlib.util
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx
import numpy as np
import pytest
import soundfile as sf
from peers.speech_server import speech_pcm
from tts_server_helpers import wait_for

from aischoco.core.stages import StageError
from aischoco.core.supervisor import ComponentError
from aischoco.tts.pcm import pcm16_to_float
from aischoco.tts.remote_engine import RemoteEngine

SERVER_FILE = Path(__file__).resolve().parents[1] / "mac_tts_server" / "server.py"
TEXT = "맥에서도 잘 들리나요?"


def load_mac_server() -> ModuleType:
    spec = importlib.util.spec_from_file_location("mac_tts_server_app", SERVER_FILE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


mac = load_mac_server()


@dataclass
class FakeResult:  # the fields of mlx_audio.tts.models.base.GenerationResult the adapter reads
    audio: np.ndarray
    sample_rate: int


class FakeMlxModel:
    """Yields ``speech_pcm(text)`` as float chunks of ``chunk_samples``, like a streaming
    ``model.generate``; records calls, steps and whether its generator was closed."""

    sample_rate = 24_000

    def __init__(self, *, chunk_samples: int = 2400, step_s: float = 0.0,
                 fail: Exception | None = None) -> None:
        self.chunk_samples, self.step_s, self.fail = chunk_samples, step_s, fail
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.threads: set[str] = set()
        self.steps: dict[str, int] = {}
        self.closed: dict[str, bool] = {}

    def generate(self, text: str, **kwargs: Any) -> Iterator[FakeResult]:
        self.calls.append((text, kwargs))
        self.steps[text], self.closed[text] = 0, False
        try:
            if self.fail is not None:
                raise self.fail
            audio = pcm16_to_float(speech_pcm(text))
            for start in range(0, len(audio), self.chunk_samples):
                self.threads.add(threading.current_thread().name)
                time.sleep(self.step_s)  # stands in for a decode step on the GPU
                self.steps[text] += 1
                yield FakeResult(audio[start:start + self.chunk_samples], self.sample_rate)
        finally:
            self.closed[text] = True


@pytest.fixture
def voice(tmp_path: Path) -> tuple[Path, Path]:
    t = np.arange(4800) / 16_000
    stereo = np.stack([np.sin(2 * np.pi * 220 * t), np.sin(2 * np.pi * 330 * t)], axis=1) * 0.3
    wav, text = tmp_path / "ref.wav", tmp_path / "ref_text.txt"
    sf.write(wav, stereo.astype(np.float32), 16_000)
    text.write_text("안녕하세요, 초코예요!\n", encoding="utf-8")
    return wav, text


def make_engine(voice: tuple[Path, Path], model: FakeMlxModel, *extra: str,
                loader: Callable[[str], Any] | None = None) -> Any:
    args = mac.parse_args(["--ref-audio", str(voice[0]), "--ref-text", str(voice[1]), *extra])
    return mac.build_engine(args, loader=loader or (lambda model_id: model))





async def speak(url: str, text: str = TEXT) -> bytes:
    client = RemoteEngine(url, retry_delay_s=0.01)
    try:
        return b"".join([c.pcm async for c in client.synthesize(text)])
    finally:
        await client.aclose()


async def test_speaks_the_contract_with_what_mlx_audio_expects(
        serve: Callable[..., Any], voice: tuple[Path, Path]) -> None:
    model = FakeMlxModel()
    engine = make_engine(voice, model, "--streaming-interval", "0.32")
    url = await serve(engine, model_name=engine.model_id)
    await wait_for(lambda: engine.available, timeout=5.0)
    assert await speak(url) == speech_pcm(TEXT)
    (warmup, _), (text, kwargs) = model.calls
    assert (warmup, text) == (mac.WARMUP_TEXT, TEXT)  # Metal kernels compile before any viewer
    reference = Path(kwargs.pop("ref_audio"))
    assert kwargs == {"ref_text": "안녕하세요, 초코예요!", "lang_code": "Korean", "stream": True,
                      "streaming_interval": 0.32}
    padded, rate = sf.read(reference, dtype="float32")
    assert rate == 16_000 and padded.ndim == 1 and len(padded) == 4800 + 8000  # + 0.5 s silence
    assert not padded[4800:].any() and padded[:4800].any()
    assert model.threads == {next(iter(model.threads))}  # all MLX work on one thread
    async with httpx.AsyncClient() as http:
        models = (await http.get(f"{url}/v1/models")).json()
    assert models["data"][0]["id"] == mac.DEFAULT_MODEL


async def test_503_until_the_model_is_loaded(serve: Callable[..., Any],
                                             voice: tuple[Path, Path]) -> None:
    release = threading.Event()
    model = FakeMlxModel()

    def slow_loader(model_id: str) -> FakeMlxModel:
        assert release.wait(5)
        return model

    engine = make_engine(voice, model, loader=slow_loader)
    url = await serve(engine, model_name=engine.model_id)
    async with httpx.AsyncClient() as http:
        response = await http.post(f"{url}/v1/audio/speech", json={"input": TEXT})
    assert response.status_code == 503 and model.calls == []
    release.set()
    await wait_for(lambda: engine.available, timeout=5.0)
    assert await speak(url) == speech_pcm(TEXT)


async def test_a_client_that_leaves_stops_generation(serve: Callable[..., Any],
                                                     voice: tuple[Path, Path]) -> None:
    model = FakeMlxModel(chunk_samples=480, step_s=0.02)
    engine = make_engine(voice, model)
    url = await serve(engine, model_name=engine.model_id)
    await wait_for(lambda: engine.available, timeout=5.0)
    long_text = "가" * 100  # 100 steps of 20 ms
    client = RemoteEngine(url)
    try:
        chunks = client.synthesize(long_text)
        await anext(chunks)
        await anext(chunks)
        await chunks.aclose()  # type: ignore[attr-defined]
        await wait_for(lambda: model.closed.get(long_text), timeout=2.0)
    finally:
        await client.aclose()
    assert model.steps[long_text] < 20
    assert await speak(url) == speech_pcm(TEXT)  # the MLX thread is free again


async def test_a_generation_error_is_reported(serve: Callable[..., Any],
                                              voice: tuple[Path, Path]) -> None:
    model = FakeMlxModel()
    engine = make_engine(voice, model)
    url = await serve(engine, model_name=engine.model_id)
    await wait_for(lambda: engine.available, timeout=5.0)
    model.fail = ValueError("Speech tokenizer not loaded")
    with pytest.raises(StageError, match="mlx-audio generation failed: Speech tokenizer not loaded"):
        await speak(url)


def test_missing_voice_files_are_explained(tmp_path: Path, voice: tuple[Path, Path]) -> None:
    args = mac.parse_args(["--ref-audio", str(tmp_path / "none.wav"), "--ref-text", str(voice[1])])
    with pytest.raises(ComponentError, match="목소리 샘플 파일이 없습니다"):
        mac.build_engine(args)
    empty = tmp_path / "empty.txt"
    empty.write_text("  \n", encoding="utf-8")
    args = mac.parse_args(["--ref-audio", str(voice[0]), "--ref-text", str(empty)])
    with pytest.raises(ComponentError, match="샘플 대본이 비어 있습니다"):
        mac.build_engine(args)
    assert mac.main(["--ref-audio", str(tmp_path / "none.wav")]) == 2


def test_without_mlx_audio_the_loader_says_how_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "mlx_audio", None)  # import fails as on a non-Mac machine
    with pytest.raises(ComponentError, match="pip install -r mac_tts_server/requirements.txt"):
        mac.mlx_loader(mac.DEFAULT_MODEL)


async def test_a_request_with_a_clip_speaks_with_that_clip(serve: Callable[..., Any],
                                                           voice: tuple[Path, Path]) -> None:
    """TTS_REMOTE_SEND_REFERENCE=true from the streaming PC's voice studio: mlx-audio gets the
    request's clip (written once, already trimmed and padded) and its transcript."""
    from aischoco.tts.remote_engine import CloneReference
    from aischoco.tts.voice_sample import prepare_reference

    model = FakeMlxModel()
    engine = make_engine(voice, model)
    url = await serve(engine, model_name=engine.model_id)
    await wait_for(lambda: engine.available, timeout=5.0)
    t = np.arange(24_000 * 2) / 24_000
    clips = [prepare_reference((0.3 * np.sin(2 * np.pi * f * t)).astype(np.float32), 24_000,
                               f"{f}헤르츠 목소리") for f in range(200, 200 + 10 * 20, 20)]
    for reference in [clips[0], clips[0], *clips[1:]]:
        client = RemoteEngine(url, model=engine.model_id, clone_voice=True, retry_delay_s=0.01,
                              clone=CloneReference.from_reference(reference))
        try:
            assert b"".join([c.pcm async for c in client.synthesize(TEXT)]) == speech_pcm(TEXT)
        finally:
            await client.aclose()
    sent = [kwargs for text, kwargs in model.calls if text == TEXT]
    assert [k["ref_text"] for k in sent] == [clips[0].text, *[c.text for c in clips]]
    assert sent[0]["ref_audio"] == sent[1]["ref_audio"]  # the same clip: one file
    written, rate = sf.read(sent[-1]["ref_audio"], dtype="float32")
    speech = t.size  # the clip's sound, then silence (the server pads what it was sent)
    assert rate == 24_000 and np.allclose(written[:speech], clips[-1].samples[:speech], atol=1e-4)
    assert written.size - speech >= 0.5 * rate and not written[speech:].any()
    kept = list(Path(sent[-1]["ref_audio"]).parent.glob("clip-*.wav"))
    assert len(kept) == mac.CLIPS_KEPT and not Path(sent[0]["ref_audio"]).exists()  # bounded
