"""Streaming Qwen3-TTS (issue #6) on the tiny random checkpoint, CPU.

Stated tolerance: for the same codes, the concatenated streamed audio equals qwen-tts' own full
decode within JOIN_TOLERANCE (max absolute sample error; measured ~7e-7, float32 rounding, with 25
frames of left context). Without left context the joins are audibly wrong (~0.1-0.7), which the
last equality test checks so the tolerance test can fail.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from tts_fixtures.fixtures import collect, make_engine, tiny_model, voice

from aischoco.tts.qwen_loader import CancelGate, SynthesisCancelled
from aischoco.tts.qwen_stream import StreamConfig, StreamingProducer, apply_speedups

__all__ = ["make_engine", "tiny_model", "voice"]  # fixtures, used by name
SPF = 1920  # samples per codec frame
JOIN_TOLERANCE = 1e-5
BUDGET = 40  # frames per test sentence
SEED = 3  # random weights emit the codec EOS early for most seeds; this one runs 38 frames
TEXT = "오늘 방송에 와 주셔서 정말 고마워요. 같이 놀아요!"


@pytest.fixture(scope="module")
def loaded(tiny_model: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Any, Any]]:
    """(Qwen3TTSModel, voice-clone prompt), loaded once for this module."""
    from tts_fixtures.tiny_qwen import write_reference_voice

    from aischoco.tts.qwen_loader import load_model
    from aischoco.tts.voice_sample import load_reference

    root = tmp_path_factory.mktemp("stream")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("XDG_CACHE_HOME", str(root / "xdg"))
        mp.setenv("HF_HUB_OFFLINE", "1")
        tts = load_model(str(tiny_model), "cpu", root / "hf", "Korean").tts
        reference = load_reference(*write_reference_voice(root / "voice"))
        prompt = tts.create_voice_clone_prompt(ref_audio=(reference.samples, reference.sample_rate),
                                               ref_text=reference.text)
        yield tts, prompt


def long_options() -> dict[str, Any]:
    from tts_fixtures.tiny_qwen import NEVER_EMITTED_ID

    return {"eos_token_id": NEVER_EMITTED_ID}  # random weights: run to the frame budget


def whole_sentence(tts: Any, prompt: Any, seed: int) -> tuple[np.ndarray, Any]:
    """The non-streamed path (generate_voice_clone) and the codes it generated."""
    import torch

    seen: list[Any] = []
    generate = tts.model.generate

    def spy(*args: Any, **kwargs: Any) -> Any:
        result = generate(*args, **kwargs)
        seen.append(result[0][0])
        return result

    tts.model.generate = spy
    try:
        torch.manual_seed(seed)
        wavs, rate = tts.generate_voice_clone(text=TEXT, language="Korean", voice_clone_prompt=prompt,
                                              max_new_tokens=BUDGET, **long_options())
    finally:
        del tts.model.generate
    assert rate == 24_000
    # the full decode of reference + sentence codes, cut exactly at the reference's end.
    # generate_voice_clone cuts proportionally (int(ref/total * len)): float rounding can keep one
    # reference sample, so its output may be 1 sample longer; otherwise identical
    ref = prompt[0].ref_code
    full, _ = tts.model.speech_tokenizer.decode([{"audio_codes": torch.cat([ref, seen[0]])}])
    exact = np.asarray(full[0], dtype=np.float32)[len(ref) * SPF:]
    wav = np.asarray(wavs[0], dtype=np.float32)
    assert wav.size - exact.size in (0, 1) and np.array_equal(wav[wav.size - exact.size:], exact)
    return exact, seen[0]


def streamed(tts: Any, prompt: Any, seed: int, config: StreamConfig,
             cancel: threading.Event | None = None) -> tuple[list[np.ndarray], list[Any]]:
    codes: list[Any] = []
    chunks: list[np.ndarray] = []
    producer = StreamingProducer(tts, prompt, "Korean", seed=seed, max_new_tokens=BUDGET,
                                 options=long_options(), config=config, on_codes=codes.append)
    producer.produce(TEXT, lambda audio, rate: chunks.append(audio), cancel or threading.Event())
    return chunks, codes


@pytest.mark.parametrize(("first", "chunk"), [(2, 4), (1, 1), (8, 8), (3, 5)])
def test_streamed_audio_equals_the_full_decode_and_the_codes_match(
        loaded: tuple[Any, Any], first: int, chunk: int) -> None:
    import torch

    tts, prompt = loaded
    whole, whole_codes = whole_sentence(tts, prompt, seed=SEED)
    chunks, codes = streamed(tts, prompt, SEED, StreamConfig(chunk, first, 25))
    assert torch.equal(codes[0], whole_codes)  # same seed → same codes as generate_voice_clone
    frames = len(whole_codes)
    assert frames > first + 2 * chunk and whole.size == frames * SPF and np.abs(whole).max() > 0.1
    sizes = [c.size // SPF for c in chunks]
    assert all(c.size % SPF == 0 for c in chunks)
    assert sizes[0] == first and all(s == chunk for s in sizes[1:-1]) and 1 <= sizes[-1] <= chunk
    joined = np.concatenate(chunks)
    assert joined.size == whole.size
    error = np.abs(joined - whole)
    where = int(error.argmax())
    print(f"first={first} chunk={chunk}: max abs error {error.max():.2e} at sample {where} "
          f"(frame {where // SPF}, {where % SPF} samples into it)")
    assert error.max() <= JOIN_TOLERANCE


def test_without_left_context_the_joins_break(loaded: tuple[Any, Any]) -> None:
    tts, prompt = loaded
    whole, _ = whole_sentence(tts, prompt, seed=SEED)
    chunks, _ = streamed(tts, prompt, SEED, StreamConfig(4, 2, 0))
    error = np.abs(np.concatenate(chunks) - whole)
    assert error.max() > 100 * JOIN_TOLERANCE
    first_bad = int(np.flatnonzero(error > JOIN_TOLERANCE)[0])
    assert first_bad < 2 * SPF  # already the first window misses the reference's context


@pytest.mark.parametrize("first", [1, 3])
def test_first_chunk_comes_after_exactly_the_configured_frames(loaded: tuple[Any, Any],
                                                              first: int) -> None:
    tts, prompt = loaded
    frames_done: list[int] = []
    steps = 0

    def count(_module: Any, _args: Any) -> None:
        nonlocal steps
        steps += 1

    handle = tts.model.talker.register_forward_pre_hook(count)
    producer = StreamingProducer(tts, prompt, "Korean", seed=SEED, max_new_tokens=BUDGET,
                                 options=long_options(), config=StreamConfig(4, first, 25))
    try:
        producer.produce(TEXT, lambda audio, rate: frames_done.append(steps - 1),
                         threading.Event())
    finally:
        handle.remove()
    # talker forward k+2 (prefill is forward 1) completes frame k: at the first emit, `first`
    # frames exist and the talker has not run a step beyond them
    assert frames_done[0] == first
    assert frames_done[1] == first + 4


def test_cancelling_mid_stream_stops_generation_at_once(loaded: tuple[Any, Any]) -> None:
    from aischoco.tts.qwen_loader import install_cancel_hooks

    tts, prompt = loaded
    gate = CancelGate()
    install_cancel_hooks(tts, gate)  # as the engine does (idempotent in effect: one more hook)
    cancel = threading.Event()
    gate.active = cancel
    steps = 0
    emitted: list[int] = []

    def count(_module: Any, _args: Any, _output: Any) -> None:
        nonlocal steps
        steps += 1

    def emit(audio: np.ndarray, _rate: int) -> None:
        emitted.append(steps)
        if len(emitted) == 2:
            cancel.set()

    handle = tts.model.talker.register_forward_hook(count)
    producer = StreamingProducer(tts, prompt, "Korean", seed=SEED, max_new_tokens=BUDGET,
                                 options=long_options(), config=StreamConfig(2, 2, 25))
    try:
        with pytest.raises(SynthesisCancelled):
            producer.produce(TEXT, emit, cancel)
    finally:
        handle.remove()
        gate.active = None
    # the emit ran inside talker forward `emitted[-1]`; the next forward's pre-hook refuses
    assert len(emitted) == 2 and steps == emitted[-1]
    assert steps < BUDGET // 2


def test_speedups_are_ignored_off_cuda(loaded: tuple[Any, Any]) -> None:
    tts, _ = loaded
    forward = tts.model.talker.model.forward
    assert apply_speedups(tts, "cpu", static_cache=True, compile_mode="cudagraphs") == []
    assert tts.model.talker.model.forward == forward
    assert getattr(tts.model.talker.generation_config, "cache_implementation", None) != "static"
    with pytest.raises(ValueError, match="TTS_COMPILE"):
        apply_speedups(tts, "cpu", static_cache=False, compile_mode="fast")


def test_stream_config_is_validated() -> None:
    with pytest.raises(ValueError):
        StreamConfig(chunk_frames=0)
    with pytest.raises(ValueError):
        StreamConfig(left_context_frames=-1)


async def test_engine_streams_and_the_off_switch_gives_whole_sentences(make_engine: Any) -> None:
    streaming = make_engine(seed=SEED, stream=StreamConfig(4, 2, 25), max_new_tokens=BUDGET,
                            generate_options=long_options())
    whole = make_engine(seed=SEED, streaming=False, max_new_tokens=BUDGET,
                        generate_options=long_options())
    await streaming.load()
    await whole.load()
    a, b = await collect(streaming, TEXT), await collect(whole, TEXT)
    pcm_a = np.frombuffer(b"".join(c.pcm for c in a), dtype="<i2").astype(np.int32)
    pcm_b = np.frombuffer(b"".join(c.pcm for c in b), dtype="<i2").astype(np.int32)
    extra = pcm_b.size - pcm_a.size  # whole sentences may keep 1 reference sample (see above)
    assert extra in (0, 1) and pcm_a.size > 20 * SPF
    assert np.abs(pcm_a - pcm_b[extra:]).max() <= 1  # int16 rounding of a ~1e-6 difference
    assert a[0].duration_s == pytest.approx(2 * SPF / 24_000)  # the first 2-frame chunk
    assert b[0].duration_s > a[0].duration_s


async def test_tts_server_sends_the_first_chunk_before_generation_ends(make_engine: Any) -> None:
    from aischoco.tts.remote_engine import RemoteEngine
    from aischoco.tts.server import serve_tts

    engine = make_engine(stream=StreamConfig(4, 2, 25), max_new_tokens=BUDGET,
                         generate_options=long_options())
    received = threading.Event()
    waited: list[bool] = []
    steps = 0

    def hold(_module: Any, _args: Any, _output: Any) -> None:
        nonlocal steps
        steps += 1
        if steps == 6:  # frame 4 done, first chunk (2 frames) long emitted: wait for the client
            waited.append(received.wait(timeout=20))

    stop, urls = asyncio.Event(), []
    server = asyncio.create_task(serve_tts(engine, "127.0.0.1", 0, model_name="qwen3-tts",
                                           stop=stop, on_listening=urls.append))
    client: RemoteEngine | None = None
    try:
        while not engine.available:
            assert not server.done(), server
            await asyncio.sleep(0.02)
        handle = engine.model.model.talker.register_forward_hook(hold)
        client = RemoteEngine(urls[0], model="qwen3-tts", first_byte_timeout_s=60)
        chunks = []
        async for chunk in client.synthesize(TEXT):
            chunks.append(chunk)
            received.set()
        handle.remove()
    finally:
        if client is not None:
            await client.aclose()
        stop.set()
        await asyncio.wait_for(server, 10)
    assert waited == [True]  # generation was paused mid-sentence until the client had audio
    assert steps > 6 and sum(len(c.pcm) for c in chunks) > 2 * 2 * SPF


def test_settings_reach_the_engine(monkeypatch: pytest.MonkeyPatch) -> None:
    from aischoco.settings.model import load_settings
    from aischoco.compose.wiring import build_tts

    monkeypatch.setenv("TTS_STREAM_CHUNK_FRAMES", "6")
    monkeypatch.setenv("TTS_STREAM_FIRST_FRAMES", "1")
    monkeypatch.setenv("TTS_COMPILE", "cudagraphs")
    engine = build_tts(load_settings(None))
    assert engine._stream == StreamConfig(6, 1, 25)  # type: ignore[attr-defined]
    assert engine._compile_mode == "cudagraphs"  # type: ignore[attr-defined]
    monkeypatch.setenv("TTS_STREAMING", "false")
    assert build_tts(load_settings(None))._stream is None  # type: ignore[attr-defined]
