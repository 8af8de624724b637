"""Shared pytest fixtures for tests that run the real qwen-tts path on the tiny checkpoint.

Import them into a test module (``from tts_fixtures.fixtures import tiny_model, voice,
make_engine``). A session fixture imported into two modules is set up once per module, so the
checkpoint itself is built once per session and memoised here.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from aischoco.core.stages import AudioChunk
from aischoco.tts.qwen_engine import QwenEngine
from aischoco.tts.torchaudio_shim import ensure_torchaudio_importable

CAP = 24  # codec frames per test sentence (~2 s of audio): keeps the CPU runs short
_built: dict[str, Path] = {}


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    with pytest.MonkeyPatch.context() as mp:
        cache = tmp_path_factory.mktemp("xdg-cache")
        mp.setenv("XDG_CACHE_HOME", str(cache))  # onnxruntime / numba write under ~/.cache
        mp.setenv("HF_HUB_OFFLINE", "1")
        ensure_torchaudio_importable()  # the CPU stand-in, before qwen_tts imports torchaudio
        pytest.importorskip("qwen_tts")
        import torch

        # tiny matrices: threading overhead dominates, and CI shares its cores
        threads = torch.get_num_threads()
        torch.set_num_threads(1)
        from tts_fixtures.tiny_qwen import build_tiny_checkpoint

        if "model" not in _built:
            _built["model"] = build_tiny_checkpoint(
                tmp_path_factory.mktemp("tiny-qwen3-tts") / "model")
        yield _built["model"]
        torch.set_num_threads(threads)


@pytest.fixture
def voice(tmp_path: Path) -> tuple[Path, Path]:
    from tts_fixtures.tiny_qwen import write_reference_voice

    return write_reference_voice(tmp_path / "voice")


@pytest.fixture
async def make_engine(tiny_model: Path, voice: tuple[Path, Path], tmp_path: Path,
                      monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Any]:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    engines: list[QwenEngine] = []

    def make(model: str | None = None, **options: Any) -> QwenEngine:
        options.setdefault("max_new_tokens", CAP)
        engine = QwenEngine(model or str(tiny_model), device="auto", hf_home=tmp_path / "hf",
                            voice_wav=voice[0], voice_text=voice[1], language="Korean", **options)
        engines.append(engine)
        return engine

    yield make
    for engine in engines:  # a torch thread still alive at process exit aborts the interpreter
        await engine.aclose()


async def collect(engine: QwenEngine, text: str) -> list[AudioChunk]:
    return [chunk async for chunk in engine.synthesize(text)]


def audio_samples(chunks: list[AudioChunk]) -> int:
    return sum(len(c.pcm) for c in chunks[:-1]) // 2  # the last chunk is the silence pad
