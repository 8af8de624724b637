"""The voice studio with the local Qwen3-TTS engine: the real qwen-tts path on the tiny random
checkpoint (CPU). A preview builds a prompt from the new clip without touching the voice in use;
saving swaps the prompt in place, with no model reload; a start that failed for want of a sample
becomes ready the moment one is saved."""

from __future__ import annotations

import asyncio
import base64
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from tts_fixtures.fixtures import collect, make_engine, tiny_model, voice
from voice_fixtures.speech import require_espeak
from voice_fixtures.studio import SCRIPT, encode, espeak_clip

from aischoco.core.stages import StageError
from aischoco.core.status import State, StatusBoard
from aischoco.settings.model import Settings
from aischoco.tts.qwen_loader import TtsLoadError
from aischoco.tts.remote_engine import RemoteEngine
from aischoco.tts.voice_sample import prepare_reference
from aischoco.voice_studio.studio import VoiceStudio

__all__ = ["make_engine", "tiny_model", "voice"]  # fixtures, used by name
require_espeak()
RATE = 24_000


def prompts_built(engine: Any, monkeypatch: pytest.MonkeyPatch) -> list[tuple[int, str]]:
    """Each voice prompt the model is asked for: (clip samples, transcript); the real call runs."""
    calls: list[tuple[int, str]] = []
    real = engine.model.create_voice_clone_prompt

    def recording(**kwargs: Any) -> Any:
        audio, _rate = kwargs["ref_audio"]
        calls.append((len(audio), kwargs["ref_text"]))
        return real(**kwargs)

    monkeypatch.setattr(engine.model, "create_voice_clone_prompt", recording)
    return calls


async def test_preview_leaves_the_voice_and_use_voice_swaps_it_without_a_reload(
        make_engine: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    engine = make_engine(streaming=False)
    await engine.load()
    model, producer = engine.model, engine._producer
    calls = prompts_built(engine, monkeypatch)
    reference = prepare_reference(espeak_clip(rate=RATE), RATE, SCRIPT)

    audio, rate = await engine.preview_voice(reference, "미리 듣기")
    assert rate == RATE and audio.dtype == np.float32 and audio.size > 0
    assert calls == [(reference.samples.size, SCRIPT)]
    assert engine._producer is producer  # the stream's voice is untouched

    await engine.use_voice(reference)
    assert calls[-1] == (reference.samples.size, SCRIPT) and len(calls) == 2
    assert engine._producer is not producer and engine.model is model  # no reload
    assert await collect(engine, "새 목소리")


async def test_the_studio_saves_a_first_sample_and_the_failed_start_recovers(
        make_engine: Any, voice: tuple[Path, Path], tmp_path: Path) -> None:
    wav, text = voice
    wav.unlink()  # a new streamer: no ref.wav yet
    text.unlink()
    engine = make_engine()
    board = StatusBoard()
    with pytest.raises(TtsLoadError):
        await engine.run(board.register("tts", "음성 합성"))
    assert not engine.available and engine.model is not None
    with pytest.raises(StageError):
        await collect(engine, "아직 목소리가 없어요")

    settings = Settings(_env_file=None, tts_engine="qwen",  # type: ignore[call-arg]
                        voice_sample=wav, voice_sample_text=text)
    studio = VoiceStudio(lambda: settings, lambda: engine)
    assert (await studio.info())["can_preview"]
    draft = (await studio.add_clip(encode(espeak_clip(), 48_000, "m4a")))["draft"]
    preview = await studio.preview(draft, SCRIPT, "처음 들어 보는 목소리")
    assert preview[:4] == b"RIFF" and len(preview) > 1000
    saved = await studio.save(draft, SCRIPT)
    assert saved["applied"] is True and saved["backup"] is None
    assert wav.is_file() and text.read_text(encoding="utf-8") == SCRIPT + "\n"
    assert engine.available and board.get("tts").state in (State.RUNNING, State.DEGRADED)
    assert await collect(engine, "이제 말할 수 있어요")
    report = await engine.load()  # the supervisor's next try: ready, nothing rebuilt
    assert report.prompt_s >= 0 and engine.available


async def test_a_tts_server_speaks_with_the_clip_the_studio_sends(
        make_engine: Any, serve: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The streaming PC's studio owns the voice of a Qwen `tts-server` on another PC: previews
    and saved samples travel as vLLM-Omni's ref_audio/ref_text (TTS_REMOTE_SEND_REFERENCE)."""
    server_engine = make_engine()
    url = await serve(server_engine, model_name="qwen3-tts")
    await wait_for_ready(server_engine)
    calls = prompts_built(server_engine, monkeypatch)
    client = RemoteEngine(url, model="qwen3-tts", clone_voice=True, retry_delay_s=0.01)
    settings = Settings(_env_file=None, tts_engine="remote", tts_remote_url=url,  # type: ignore[call-arg]
                        tts_remote_send_reference=True, voice_sample=tmp_path / "ref.wav",
                        voice_sample_text=tmp_path / "ref_text.txt")
    studio = VoiceStudio(lambda: settings, lambda: client)
    try:
        draft = (await studio.add_clip(encode(espeak_clip(), 48_000, "wav")))["draft"]
        wav = await studio.preview(draft, SCRIPT, "원격으로 미리 듣기")
        assert wav[:4] == b"RIFF" and len(wav) > 1000
        assert calls and calls[-1][1] == SCRIPT  # the server built a prompt from our clip
        assert (await studio.save(draft, SCRIPT))["applied"]
        assert [c async for c in client.synthesize("저장한 목소리로 말해요")]
        assert len(calls) == 1  # same clip: the server's prompt for it was kept, not rebuilt

        async with httpx.AsyncClient() as http:
            bad = await http.post(f"{url}/v1/audio/speech", json={
                "input": "안녕", "ref_audio": "/etc/passwd", "ref_text": "x"})
            quiet = base64.b64encode(encode(np.zeros(24_000, np.float32), 24_000, "wav"))
            silent = await http.post(f"{url}/v1/audio/speech", json={
                "input": "안녕", "ref_text": "x",
                "ref_audio": "data:audio/wav;base64," + quiet.decode()})
    finally:
        await client.aclose()
    assert bad.status_code == 400 and "data: URI" in bad.json()["error"]["message"]
    assert silent.status_code == 400 and "무음" in silent.json()["error"]["message"]


async def wait_for_ready(engine: Any) -> None:
    for _ in range(600):
        if engine.available:
            return
        await asyncio.sleep(0.05)
    raise AssertionError("the TTS server's engine did not load")
