"""Local Qwen3-TTS engine: pure choices, plus the real qwen-tts path on a tiny random checkpoint.

The checkpoint is built once per session (~10 s with the torch import); every engine test loads
it through ``Qwen3TTSModel.from_pretrained`` → ``create_voice_clone_prompt`` →
``generate_voice_clone`` on CPU. Machines without the TTS stack skip those tests.
"""

from __future__ import annotations

import asyncio
import os
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from tts_fixtures.fixtures import CAP, audio_samples, collect, make_engine, tiny_model, voice

from aischoco.core.stages import StageError
from aischoco.core.status import State, StatusBoard
from aischoco.tts.frame_budget import max_frames
from aischoco.tts.qwen_engine import MAX_CHUNK_S, TAIL_PAD_S, split_pcm
from aischoco.tts.qwen_loader import (
    CPU_WARNING,
    TtsLoadError,
    looks_like_path,
    pick_device,
    pick_precision,
    resolve_model_dir,
)
from aischoco.tts.torchaudio_shim import TorchaudioMissing, ensure_torchaudio_importable

__all__ = ["make_engine", "tiny_model", "voice"]  # fixtures, used by name
FRAME_SAMPLES = 1920  # 24 kHz / 12.5 Hz


# ---------------------------------------------------------------- pure logic (no TTS stack needed)

@pytest.mark.parametrize(("requested", "cuda", "mps", "device", "warns"), [
    ("auto", True, True, "cuda:0", False),
    ("auto", False, True, "mps", False),
    ("auto", False, False, "cpu", True),
    ("cuda", True, False, "cuda:0", False),
    ("mps", False, True, "mps", False),
    ("cpu", True, True, "cpu", True),
    (" AUTO ", True, False, "cuda:0", False),
])
def test_pick_device(requested: str, cuda: bool, mps: bool, device: str, warns: bool) -> None:
    choice = pick_device(requested, cuda, mps)
    assert choice.device == device
    assert (choice.warning == CPU_WARNING) is warns


def test_cpu_warning_is_loud_korean_first() -> None:
    korean, english = CPU_WARNING.split(" / ")
    assert "CPU는 실시간보다 느립니다" in korean and "TTS_ENGINE=remote" in korean
    assert "slower than real time" in english


@pytest.mark.parametrize(("requested", "cuda", "mps"), [("cuda", False, True), ("mps", True, False),
                                                          ("tpu", True, True)])
def test_missing_requested_accelerator_is_an_error(requested: str, cuda: bool, mps: bool) -> None:
    with pytest.raises(TtsLoadError) as info:
        pick_device(requested, cuda, mps)
    assert info.value.hint and " / " in str(info.value)


@pytest.mark.parametrize(("device", "flash", "bf16", "dtype", "attention"), [
    ("cuda:0", True, True, "bfloat16", "flash_attention_2"),
    ("cuda:0", False, True, "bfloat16", "sdpa"),
    ("cuda:0", True, False, "float16", "flash_attention_2"),
    ("mps", True, True, "float32", "sdpa"),
    ("cpu", True, True, "float32", "sdpa"),
])
def test_pick_precision(device: str, flash: bool, bf16: bool, dtype: str, attention: str) -> None:
    precision = pick_precision(device, flash_attn_ok=flash, bf16_ok=bf16)
    assert (precision.dtype, precision.attention) == (dtype, attention)


@pytest.mark.parametrize(("value", "is_path"), [
    ("Qwen/Qwen3-TTS-12Hz-1.7B-Base", False), ("./models/qwen", True), ("/opt/qwen", True),
    ("~/qwen", True), ("C:\\models\\qwen", True), ("models/qwen/base", True), ("qwen", True)])
def test_hub_id_or_path(value: str, is_path: bool) -> None:
    assert looks_like_path(value) is is_path


def test_missing_local_model_dir_is_explained(tmp_path: Path) -> None:
    with pytest.raises(TtsLoadError, match="모델 폴더가 없습니다"):
        resolve_model_dir(str(tmp_path / "nope" / "model"), tmp_path / "hf")
    (tmp_path / "empty").mkdir()
    with pytest.raises(TtsLoadError, match="config.json"):
        resolve_model_dir(str(tmp_path / "empty"), tmp_path / "hf")


def test_frame_budget_grows_with_text_and_respects_cap() -> None:
    assert max_frames("안녕", None) == 47  # ceil(12.5 * (3 + 0.7))
    assert max_frames("가" * 40, None) > max_frames("가" * 10, None)
    assert max_frames("가" * 400, 2048) == 1788
    assert max_frames("가" * 400, 500) == 500


def test_split_pcm_even_pieces_within_bounds() -> None:
    rate = 24_000
    audio = np.linspace(-0.5, 0.5, 25_000).astype(np.float32)  # 1.04 s
    pieces = split_pcm(audio, rate)
    assert b"".join(pieces) == split_pcm(audio, rate, max_s=10)[0]
    sizes = [len(p) // 2 for p in pieces]
    assert sum(sizes) == 25_000 and len(pieces) == 6
    assert all(0.1 * rate < s <= MAX_CHUNK_S * rate for s in sizes)
    assert split_pcm(np.zeros(0, dtype=np.float32), rate) == []
    assert [len(p) for p in split_pcm(np.zeros(100, dtype=np.float32), rate)] == [200]


def test_torchaudio_shim() -> None:
    real = ensure_torchaudio_importable()
    from torchaudio.compliance import kaldi  # works either way now

    if real:
        pytest.skip("a working torchaudio is installed")
    assert ensure_torchaudio_importable() is False  # idempotent
    assert sys.modules["torchaudio.compliance.kaldi"].__spec__ is not None
    with pytest.raises(TorchaudioMissing, match="torchaudio"):
        kaldi.fbank(None)
    assert not hasattr(kaldi, "__file__")


# ---------------------------------------------------------------- real qwen-tts on a tiny model

async def test_loads_on_cpu_and_synthesizes_int16_chunks(make_engine: Any) -> None:
    engine = make_engine(seed=7, streaming=False)  # whole sentences: even 0.1-0.2 s pieces
    board = StatusBoard()
    status = board.register("tts", "음성")
    runner = asyncio.create_task(engine.run(status))
    try:
        started = time.monotonic()
        while not engine.available:
            assert not runner.done(), runner.exception() if runner.done() else None
            assert time.monotonic() - started < 60
            await asyncio.sleep(0.02)
        row = board.get("tts")
        # CPU works but is slower than real time: running, flagged for attention
        assert row.state is State.DEGRADED
        assert "cpu" in row.detail and "float32" in row.detail and "sdpa" in row.detail
        assert "CPU는 실시간보다 느립니다" in row.hint

        chunks = await collect(engine, "반갑습니다, 여러분! 오늘도 같이 놀아요.")
        assert chunks and all(c.sample_rate == 24_000 for c in chunks)
        assert all(len(c.pcm) % 2 == 0 for c in chunks)
        pad = chunks[-1]
        assert pad.duration_s == pytest.approx(TAIL_PAD_S) and not any(pad.pcm)
        body = chunks[:-1]
        assert body and all(c.duration_s <= MAX_CHUNK_S + 1e-9 for c in body)
        if len(body) > 1:
            assert all(c.duration_s > MAX_CHUNK_S / 2 for c in body)
        frames = audio_samples(chunks) / FRAME_SAMPLES
        assert 1 <= round(frames) <= CAP and abs(frames - round(frames)) * FRAME_SAMPLES <= 1

        again = await collect(engine, "반갑습니다, 여러분! 오늘도 같이 놀아요.")
        assert b"".join(c.pcm for c in again) == b"".join(c.pcm for c in chunks)  # seeded
    finally:
        runner.cancel()
        await asyncio.gather(runner, return_exceptions=True)


async def test_voice_prompt_is_built_once_and_reused(make_engine: Any,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    from qwen_tts import Qwen3TTSModel

    builds: list[Any] = []
    prompts: list[Any] = []
    build, generate = Qwen3TTSModel.create_voice_clone_prompt, Qwen3TTSModel.generate_voice_clone

    def counting_build(self: Any, *args: Any, **kwargs: Any) -> Any:
        builds.append(kwargs)
        return build(self, *args, **kwargs)

    def spying_generate(self: Any, *args: Any, **kwargs: Any) -> Any:
        prompts.append(kwargs["voice_clone_prompt"])
        return generate(self, *args, **kwargs)

    monkeypatch.setattr(Qwen3TTSModel, "create_voice_clone_prompt", counting_build)
    monkeypatch.setattr(Qwen3TTSModel, "generate_voice_clone", spying_generate)
    engine = make_engine(streaming=False)
    report = await engine.load()
    assert report.prompt_s > 0 and report.load_s > 0
    await engine.load()  # a supervisor restart: nothing is rebuilt
    for text in ("하나", "둘", "셋"):
        assert await collect(engine, text)
    assert len(builds) == 1
    assert builds[0]["ref_text"] == "안녕하세요, 초코예요! 오늘도 같이 놀아요."
    assert builds[0]["x_vector_only_mode"] is False
    samples, rate = builds[0]["ref_audio"]
    assert rate == 24_000 and not np.any(samples[-rate // 2:])  # 0.5 s tail silence appended
    assert len(prompts) == 3 and all(p is prompts[0] for p in prompts)


async def test_cancelling_mid_sentence_stops_generation_quickly(make_engine: Any) -> None:
    from tts_fixtures.tiny_qwen import NEVER_EMITTED_ID

    # an end token the model can never emit: every sentence runs to its frame budget
    engine = make_engine(max_new_tokens=2000,
                         generate_options={"eos_token_id": NEVER_EMITTED_ID})
    await engine.load()
    steps = 0

    def count(_module: Any, _args: Any) -> None:
        nonlocal steps
        steps += 1

    handle = engine.model.model.talker.register_forward_pre_hook(count)
    try:
        long_text = "오늘 방송에 와 주셔서 정말 고마워요. " * 8  # budget: ~1900 frames, minutes on CPU
        consumer = asyncio.create_task(collect(engine, long_text))
        deadline = time.monotonic() + 30
        while steps < 5:
            assert time.monotonic() < deadline and not consumer.done()
            await asyncio.sleep(0.005)
        cancelled_at, steps_at_cancel = time.monotonic(), steps
        consumer.cancel()
        with pytest.raises(asyncio.CancelledError):
            await consumer
        latency = time.monotonic() - cancelled_at
        await asyncio.sleep(0.2)
        assert latency < 1.0, f"cancel took {latency:.3f} s"
        assert steps - steps_at_cancel <= 3, "generation went on after the cancel"
        print(f"cancel latency {latency * 1000:.1f} ms after {steps_at_cancel} frames")

        # the engine is free again at once: a short sentence runs to its own budget
        started = time.monotonic()
        chunks = await collect(engine, "짧게")
        assert audio_samples(chunks) > 0
        assert time.monotonic() - started < 20
    finally:
        handle.remove()


async def test_closing_the_generator_after_the_first_chunk(make_engine: Any) -> None:
    engine = make_engine()
    await engine.load()
    stream = engine.synthesize("첫 조각만 듣고 끊을게요.")
    first = await stream.__anext__()
    assert first.sample_rate == 24_000
    await stream.aclose()
    assert await collect(engine, "다음 문장")


async def test_a_failing_sentence_raises_stage_error_and_the_next_works(
        make_engine: Any) -> None:
    engine = make_engine()
    await engine.load()
    calls = 0

    def fail_at_third_step(_module: Any, _args: Any) -> None:
        nonlocal calls
        calls += 1
        if calls == 3:
            raise RuntimeError("boom inside generation")

    handle = engine.model.model.talker.register_forward_pre_hook(fail_at_third_step)
    try:
        with pytest.raises(StageError, match="boom inside generation") as info:
            await collect(engine, "이 문장은 실패해요.")
        assert "음성 합성 실패" in str(info.value)
        assert engine.available
        assert audio_samples(await collect(engine, "이 문장은 괜찮아요.")) > 0
    finally:
        handle.remove()


async def test_not_ready_and_closed_engines_refuse(make_engine: Any) -> None:
    engine = make_engine()
    assert not engine.available
    with pytest.raises(StageError, match="준비되지"):
        await collect(engine, "아직")
    await engine.load()
    assert engine.available
    assert await collect(engine, "   ") == []  # nothing to say
    await engine.aclose()
    assert not engine.available
    with pytest.raises(StageError):
        await collect(engine, "닫힘")


async def test_missing_voice_sample_fails_clearly_then_recovers(make_engine: Any,
                                                                 voice: tuple[Path, Path]) -> None:
    wav, _txt = voice
    content = wav.read_bytes()
    wav.unlink()
    engine = make_engine()
    board = StatusBoard()
    status = board.register("tts", "음성")
    with pytest.raises(TtsLoadError) as info:
        await engine.run(status)
    message = str(info.value)
    assert str(wav) in message and "assets/voice_samples/README.md" in message
    assert "voice_samples" in board.get("tts").hint
    model = engine.model
    assert model is not None  # loaded anyway: the restart only builds the prompt
    wav.write_bytes(content)
    await engine.load()
    assert engine.available and engine.model is model


async def test_hub_id_is_downloaded_into_hf_home(make_engine: Any, tiny_model: Path,
                                                 tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    import huggingface_hub

    calls: list[dict[str, Any]] = []

    def fake_snapshot_download(**kwargs: Any) -> str:  # no network: hand back the tiny model
        calls.append(kwargs)
        return str(tiny_model)

    monkeypatch.setattr(huggingface_hub, "snapshot_download", fake_snapshot_download)
    engine = make_engine("Qwen/Qwen3-TTS-12Hz-0.6B-Base")
    report = await engine.load()
    assert calls == [{"repo_id": "Qwen/Qwen3-TTS-12Hz-0.6B-Base",
                      "cache_dir": str(tmp_path / "hf" / "hub")}]
    assert report.source == tiny_model
    assert await collect(engine, "내려받은 모델")


async def test_download_failure_is_explained(make_engine: Any,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    import huggingface_hub
    from huggingface_hub.errors import LocalEntryNotFoundError

    def offline(**_kwargs: Any) -> str:
        raise LocalEntryNotFoundError("offline")

    monkeypatch.setattr(huggingface_hub, "snapshot_download", offline)
    engine = make_engine("Qwen/Qwen3-TTS-12Hz-0.6B-Base")
    with pytest.raises(TtsLoadError, match="내려받지 못했습니다") as info:
        await engine.load()
    assert "HF_HUB_OFFLINE" in info.value.hint
    assert not engine.available


async def test_custom_voice_models_are_refused(tmp_path: Path, tiny_model: Path,
                                               make_engine: Any) -> None:
    import json
    import shutil

    other = tmp_path / "custom"
    shutil.copytree(tiny_model, other)
    config = json.loads((other / "config.json").read_text(encoding="utf-8"))
    config["tts_model_type"] = "custom_voice"
    (other / "config.json").write_text(json.dumps(config), encoding="utf-8")
    with pytest.raises(TtsLoadError, match="Base 모델"):
        await make_engine(str(other)).load()


def test_environment_for_tiny_model(tiny_model: Path) -> None:
    assert (tiny_model / "speech_tokenizer" / "config.json").is_file()
    assert (tiny_model / "generation_config.json").is_file()
    assert os.environ.get("HF_HUB_OFFLINE") == "1"
