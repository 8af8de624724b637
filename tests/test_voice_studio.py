"""The voice studio's insides: analysis (pure), decoding every upload format, and the studio itself
against real peers: the transcription server (Groq's Whisper API) and a vLLM-Omni-style speech
server that takes the clone reference per request (TTS_REMOTE_SEND_REFERENCE)."""

from __future__ import annotations

import asyncio
import base64
import io
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import numpy as np
import pytest
import soundfile as sf
from pydantic import SecretStr
from peers.speech_server import HF_MODEL_ID, SpeechServer, Status, speech_pcm
from peers.transcription_server import Transcribe, TranscriptionServer
from voice_fixtures.speech import require_espeak
from voice_fixtures.studio import MIC_RATE, SCRIPT, best_match, encode, espeak_clip

from aischoco.voice_studio import studio as voice_studio
from aischoco.settings.model import Settings
from aischoco.tts.audio_decode import MAX_BYTES, MAX_SECONDS, AudioDecodeError, decode_audio
from aischoco.tts.remote_engine import CloneReference, RemoteEngine
from aischoco.tts.sample_analysis import WAVEFORM_BINS, analyze
from aischoco.voice_studio.studio import StudioError, VoiceStudio

require_espeak()


def codes(samples: np.ndarray, rate: int = MIC_RATE) -> list[str]:
    return [a.code for a in analyze(samples, rate).advice]


# ------------------------------------------------------------------------------ analysis (pure)

def test_clean_speech_has_no_advice_and_the_used_part_is_the_speech() -> None:
    clip = espeak_clip()
    padded = np.concatenate([np.zeros(MIC_RATE), clip, np.zeros(MIC_RATE)]).astype(np.float32)
    report = analyze(padded, MIC_RATE)
    assert report.advice == [] and report.usable
    loud = np.flatnonzero(np.abs(clip) > 0.01)
    # the cut keeps the speech (within the 50 ms margin) and drops the seconds of silence
    assert 1.0 - 0.06 <= report.speech_start_s <= 1.0 + loud[0] / MIC_RATE
    assert 1.0 + loud[-1] / MIC_RATE <= report.speech_end_s <= 1.0 + loud[-1] / MIC_RATE + 0.07
    assert -30 < report.speech_rms_db < -10 and report.noise_floor_db == -120.0
    assert 0 < len(report.waveform) <= WAVEFORM_BINS and max(report.waveform) <= 1.0


@pytest.mark.parametrize(("make", "expected"), [
    (lambda c: np.zeros(3 * MIC_RATE, np.float32), ["silent"]),
    (lambda c: c * 0.01, ["too_quiet"]),
    (lambda c: np.clip(c * 8, -1, 1), ["clipped"]),
    (lambda c: c + np.random.default_rng(0).standard_normal(c.size).astype(np.float32) * 0.01,
     ["noisy"]),
    (lambda c: np.concatenate([c, np.full(MIC_RATE // 4, 0.002, np.float32), c, c]), ["too_long"]),
    (lambda c: c[:MIC_RATE * 3 // 2], ["too_short"]),
])
def test_each_problem_gets_its_plain_korean_advice(make: Any, expected: list[str]) -> None:
    samples = np.asarray(make(espeak_clip()), dtype=np.float32)
    report = analyze(samples, MIC_RATE)
    assert [a.code for a in report.advice] == expected
    assert all(any("가" <= ch <= "힣" for ch in a.message) for a in report.advice)
    assert report.usable is (expected != ["silent"])


def test_the_warning_words_streamers_see() -> None:
    clip = espeak_clip()
    messages = {a.code: a.message for a in analyze(np.concatenate([clip, clip, clip]) * 0.01,
                                                   MIC_RATE).advice}
    assert "너무 작아요" in messages["too_quiet"] and "10초를 넘어요" in messages["too_long"]
    noisy = clip + np.random.default_rng(1).standard_normal(clip.size).astype(np.float32) * 0.02
    assert "잡음이 커요" in analyze(noisy, MIC_RATE).advice[0].message


def test_a_low_sample_rate_is_named() -> None:
    assert codes(espeak_clip(rate=16_000), 16_000) == ["low_rate"]


# ------------------------------------------------------------------------------------ decoding

@pytest.mark.parametrize("fmt", ["wav", "wav-float", "mp3", "ogg", "opus", "flac", "m4a", "webm"])
def test_every_upload_format_decodes_to_the_same_sound(fmt: str) -> None:
    clip = espeak_clip()
    samples, rate = decode_audio(encode(clip, MIC_RATE, fmt))
    assert rate == MIC_RATE and samples.dtype == np.float32
    assert abs(samples.size - clip.size) < 0.1 * MIC_RATE  # codecs pad a few frames
    ncc, _ = best_match(samples, clip)
    assert ncc > (0.99 if fmt in ("wav", "wav-float", "flac") else 0.9), ncc


def test_stereo_becomes_mono() -> None:
    clip = espeak_clip()
    buffer = io.BytesIO()
    sf.write(buffer, np.stack([clip, clip], axis=1), MIC_RATE, format="WAV")
    samples, _ = decode_audio(buffer.getvalue())
    assert samples.ndim == 1 and best_match(samples, clip)[0] > 0.99


@pytest.mark.parametrize(("data", "words"), [
    (b"", "빈 파일"),
    (b"<script>alert(1)</script>" * 50, "읽을 수 없습니다"),
    (b"RIFF\x00\x00\x00\x00WAVEfmt " + bytes(100), "읽을 수 없습니다"),
])
def test_what_is_not_audio_is_refused_clearly(data: bytes, words: str) -> None:
    with pytest.raises(AudioDecodeError) as info:
        decode_audio(data)
    assert words in str(info.value)


def test_too_big_and_too_long_files_are_refused() -> None:
    with pytest.raises(AudioDecodeError, match="너무 큽니다"):
        decode_audio(bytes(MAX_BYTES + 1))
    long = np.zeros(int((MAX_SECONDS + 1) * 8000), np.float32)
    with pytest.raises(AudioDecodeError, match="너무 깁니다"):
        decode_audio(encode(long, 8000, "wav"))


# ------------------------------------------------------------------- the studio with real peers

def studio_settings(tmp_path: Path, **values: Any) -> Settings:
    return Settings(_env_file=None, voice_sample=tmp_path / "voice" / "ref.wav",  # type: ignore[call-arg]
                    voice_sample_text=tmp_path / "voice" / "ref_text.txt", **values)


def data_uri_audio(uri: str) -> tuple[np.ndarray, int]:
    head, _, data = uri.partition(",")
    assert head == "data:audio/wav;base64"
    samples, rate = sf.read(io.BytesIO(base64.b64decode(data)), dtype="float32")
    return samples, rate


@pytest.fixture
async def speech_peer() -> AsyncIterator[SpeechServer]:
    with SpeechServer(dialect="vllm-omni", ms_per_char=5) as peer:
        yield peer


async def speak(engine: RemoteEngine, text: str) -> None:
    assert [c async for c in engine.synthesize(text)]


async def test_record_transcribe_preview_save_and_the_next_sentence_uses_it(
        tmp_path: Path, speech_peer: SpeechServer) -> None:
    old = espeak_clip("예전 목소리입니다.")
    settings = studio_settings(tmp_path, tts_engine="remote", tts_remote_url=speech_peer.base_url,
                               tts_remote_send_reference=True, tts_remote_model=HF_MODEL_ID)
    settings.voice_sample.parent.mkdir(parents=True)
    sf.write(settings.voice_sample, old, MIC_RATE, subtype="PCM_16")
    settings.voice_sample_text.write_text("예전 목소리입니다.\n", encoding="utf-8")
    old_bytes = settings.voice_sample.read_bytes()
    engine = RemoteEngine(speech_peer.base_url, model=HF_MODEL_ID, clone_voice=True,
                          clone=CloneReference.from_wav(settings.voice_sample, "예전 목소리입니다."))
    before = (await VoiceStudio(lambda: settings, lambda: engine).info())["sample"]
    assert before["text"] == "예전 목소리입니다." and before["speech_s"] < 3
    assert [a["code"] for a in before["advice"]] == ["too_short"]  # a hand-made sample is checked too
    clip = espeak_clip()
    with TranscriptionServer(default=Transcribe(SCRIPT)) as stt:
        settings = settings.model_copy(update={"stt_engine": "groq", "stt_base_url": stt.base_url,
                                               "stt_api_key": SecretStr("gsk_studio")})
        studio = VoiceStudio(lambda: settings, lambda: engine)
        try:
            added = await studio.add_clip(encode(clip, MIC_RATE, "wav"))
            assert added["report"]["usable"] and added["report"]["advice"] == []

            heard = await studio.transcribe(added["draft"])
            assert heard == {"text": SCRIPT, "engine": "groq"}
            upload, _ = sf.read(io.BytesIO(stt.requests[0].data), dtype="float32")
            assert best_match(upload, espeak_clip(rate=16_000))[0] > 0.95  # our speech, at 16 kHz

            wav = await studio.preview(added["draft"], SCRIPT, "미리 듣기 문장이에요.")
            preview, rate = sf.read(io.BytesIO(wav), dtype="int16")
            assert rate == 24_000  # exactly what the server spoke, as a WAV for the page
            assert preview.tobytes() == speech_pcm("미리 듣기 문장이에요.", rate, ms_per_char=5)
            asked = speech_peer.speech_requests[-1].body
            assert asked["input"] == "미리 듣기 문장이에요." and asked["ref_text"] == SCRIPT
            assert best_match(data_uri_audio(asked["ref_audio"])[0], clip)[0] > 0.99
            await speak(engine, "아직 예전 목소리")  # a preview changes nothing
            assert speech_peer.speech_requests[-1].body["ref_text"] == "예전 목소리입니다."

            saved = await studio.save(added["draft"], f"  {SCRIPT}\n")
        finally:
            await engine.aclose()
    assert saved["applied"] is True and "다시 시작할 필요 없음" in saved["detail"]
    stored, rate = sf.read(settings.voice_sample, dtype="float32")
    assert rate == MIC_RATE and best_match(stored, clip)[0] > 0.99
    assert stored.size <= clip.size  # trimmed to the speech
    assert settings.voice_sample_text.read_text(encoding="utf-8") == SCRIPT + "\n"
    backup = tmp_path / "voice" / "backup" / f"{saved['backup']}.wav"
    assert backup.read_bytes() == old_bytes
    assert backup.with_suffix(".txt").read_text(encoding="utf-8") == "예전 목소리입니다.\n"

    engine = RemoteEngine(speech_peer.base_url, model=HF_MODEL_ID, clone_voice=True)
    studio = VoiceStudio(lambda: settings, lambda: engine)
    try:  # a fresh engine (no sample at its start) takes the saved one live
        again = await studio.add_clip(settings.voice_sample.read_bytes())
        assert (await studio.save(again["draft"], SCRIPT))["applied"] is True
        await speak(engine, "새 목소리로 말해요")
    finally:
        await engine.aclose()
    sent = speech_peer.speech_requests[-1].body
    assert sent["ref_text"] == SCRIPT and best_match(data_uri_audio(sent["ref_audio"])[0],
                                                     clip)[0] > 0.99
    info = await studio.info()
    assert info["sample"]["text"] == SCRIPT and len(info["backups"]) == 2
    assert info["sample"]["advice"] == [] and info["sample"]["sample_rate"] == MIC_RATE


async def test_nothing_is_written_for_a_silent_clip_an_empty_transcript_or_a_lost_draft(
        tmp_path: Path) -> None:
    settings = studio_settings(tmp_path, tts_engine="off")
    studio = VoiceStudio(lambda: settings, lambda: None)
    silent = await studio.add_clip(encode(np.zeros(2 * MIC_RATE, np.float32), MIC_RATE, "wav"))
    assert not silent["report"]["usable"]
    with pytest.raises(StudioError, match="소리가 거의 없어요"):
        await studio.save(silent["draft"], "뭐라도")
    good = await studio.add_clip(encode(espeak_clip(), MIC_RATE, "wav"))
    with pytest.raises(StudioError, match="대본을 적어 주세요"):
        await studio.save(good["draft"], "   ")
    with pytest.raises(StudioError, match="녹음을 찾을 수 없습니다"):
        await studio.save("no-such-draft", SCRIPT)
    with pytest.raises(StudioError, match="읽을 수 없습니다"):
        await studio.add_clip(b"not audio at all" * 10)
    assert not (tmp_path / "voice").exists()
    saved = await studio.save(good["draft"], SCRIPT)  # TTS off: saved, said so, not applied
    assert saved["saved"] and not saved["applied"] and "TTS_ENGINE=off" in saved["detail"]
    assert settings.voice_sample.is_file() and saved["backup"] is None


async def test_a_server_with_its_own_voice_saves_but_says_why_it_is_not_heard(
        tmp_path: Path, speech_peer: SpeechServer) -> None:
    settings = studio_settings(tmp_path, tts_engine="remote", tts_remote_url=speech_peer.base_url)
    engine = RemoteEngine(speech_peer.base_url, model=HF_MODEL_ID)
    studio = VoiceStudio(lambda: settings, lambda: engine)
    try:
        draft = (await studio.add_clip(encode(espeak_clip(), MIC_RATE, "mp3")))["draft"]
        info = await studio.info()
        assert not info["can_preview"] and "TTS_REMOTE_SEND_REFERENCE" in info["preview_why"]
        with pytest.raises(StudioError, match="TTS_REMOTE_SEND_REFERENCE"):
            await studio.preview(draft, SCRIPT, "")
        saved = await studio.save(draft, SCRIPT)
    finally:
        await engine.aclose()
    assert saved["saved"] and not saved["applied"]
    assert "TTS_REMOTE_SEND_REFERENCE=true" in saved["detail"]
    assert speech_peer.speech_requests == []  # nothing was synthesized


async def test_a_failing_preview_says_why_and_leaves_the_voice_and_its_status(
        tmp_path: Path, speech_peer: SpeechServer) -> None:
    from aischoco.core.status import State, StatusBoard

    settings = studio_settings(tmp_path, tts_engine="remote", tts_remote_url=speech_peer.base_url,
                               tts_remote_send_reference=True, tts_remote_model=HF_MODEL_ID)
    engine = RemoteEngine(speech_peer.base_url, model=HF_MODEL_ID, clone_voice=True)
    board = StatusBoard()
    running = asyncio.create_task(engine.run(board.register("tts", "음성 합성")))
    studio = VoiceStudio(lambda: settings, lambda: engine)
    try:
        while board.get("tts").state is not State.RUNNING:  # the component probed the server
            await asyncio.sleep(0.01)
        draft = (await studio.add_clip(encode(espeak_clip(), MIC_RATE, "wav")))["draft"]
        speech_peer.script([Status(500, "CUDA out of memory")])
        with pytest.raises(StudioError, match="미리 듣기 실패.*CUDA out of memory"):
            await studio.preview(draft, SCRIPT, "")
        assert board.get("tts").state is State.RUNNING  # a preview is not the stream's voice
        assert len(speech_peer.speech_requests) == 1  # tried once: the streamer can press again
    finally:
        running.cancel()
        await asyncio.gather(running, return_exceptions=True)
        await engine.aclose()
    assert not settings.voice_sample.exists()


async def test_a_local_engine_that_is_not_installed_explains_why_there_is_no_preview(
        tmp_path: Path) -> None:
    from aischoco.core.stages import UnavailableSpeech

    settings = studio_settings(tmp_path, tts_engine="qwen")  # qwen-tts missing: a stand-in stage
    studio = VoiceStudio(lambda: settings, lambda: UnavailableSpeech("qwen-tts가 없습니다"))
    info = await studio.info()
    assert not info["can_preview"] and "TTS 줄" in info["preview_why"]
    draft = (await studio.add_clip(encode(espeak_clip(), MIC_RATE, "wav")))["draft"]
    with pytest.raises(StudioError, match="미리 들을 수 없습니다"):
        await studio.preview(draft, SCRIPT, "")
    saved = await studio.save(draft, SCRIPT)
    assert saved["saved"] and not saved["applied"] and "준비되면" in saved["detail"]


async def test_without_stt_the_transcript_is_typed(tmp_path: Path) -> None:
    settings = studio_settings(tmp_path)  # no key: STT_ENGINE resolves to off
    studio = VoiceStudio(lambda: settings, lambda: None)
    draft = (await studio.add_clip(encode(espeak_clip(), MIC_RATE, "wav")))["draft"]
    info = await studio.info()
    assert info["stt"] is None and "직접 적어" in info["stt_why"]
    with pytest.raises(StudioError, match="직접 적어"):
        await studio.transcribe(draft)


async def test_backups_are_kept_bounded_and_come_back_as_drafts(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(voice_studio, "MAX_BACKUPS", 2)
    settings = studio_settings(tmp_path, tts_engine="off")
    studio = VoiceStudio(lambda: settings, lambda: None)
    texts = ["첫째 샘플", "둘째 샘플", "셋째 샘플", "넷째 샘플"]
    for text in texts:
        draft = (await studio.add_clip(encode(espeak_clip(text), MIC_RATE, "wav")))["draft"]
        await studio.save(draft, text)
    backups = (await studio.info())["backups"]
    assert [b["text"] for b in backups] == ["셋째 샘플", "둘째 샘플"]  # newest first, two kept
    restored = await studio.draft_from_backup(backups[1]["name"])
    assert restored["text"] == "둘째 샘플" and restored["report"]["usable"]
    assert studio.backup_wav(backups[0]["name"]).is_file()
    for bad in ("../ref", "..", "20261205-000000", "x" * 40):
        with pytest.raises(StudioError):
            await studio.draft_from_backup(bad)


async def test_a_long_upload_is_cut_to_its_best_part(tmp_path: Path) -> None:
    studio = VoiceStudio(lambda: studio_settings(tmp_path), lambda: None)
    clip = espeak_clip()
    gap = np.zeros(MIC_RATE // 2, np.float32)
    long = np.concatenate([clip, gap, espeak_clip("두 번째 문장도 길게 말해요."), gap, clip])
    added = await studio.add_clip(encode(long, MIC_RATE, "m4a"))
    assert [a["code"] for a in added["report"]["advice"]] == ["too_long"]
    cut = await studio.trim(added["draft"], 0.0, clip.size / MIC_RATE + 0.2)
    assert cut["draft"] != added["draft"] and cut["report"]["advice"] == []
    samples, rate = sf.read(io.BytesIO(await studio.draft_wav(cut["draft"])), dtype="float32")
    assert rate == MIC_RATE and best_match(samples, clip)[0] > 0.9
    assert abs(samples.size / rate - (clip.size / MIC_RATE + 0.2)) < 0.05
    for start, end in ((5.0, 3.0), (0.0, 0.5), (0.0, 1000.0), (-1.0, 4.0)):
        with pytest.raises(StudioError, match="구간이 올바르지 않습니다"):
            await studio.trim(added["draft"], start, end)
    assert (await studio.save(cut["draft"], SCRIPT))["saved"]  # the first draft is still there too
    assert (await studio.trim(added["draft"], 1.0, 4.0))["report"]["usable"]


async def test_only_the_newest_drafts_are_kept_in_memory(tmp_path: Path) -> None:
    studio = VoiceStudio(lambda: studio_settings(tmp_path), lambda: None)
    wav = encode(espeak_clip(), MIC_RATE, "wav")
    drafts = [(await studio.add_clip(wav))["draft"] for _ in range(voice_studio.MAX_DRAFTS + 2)]
    with pytest.raises(StudioError):
        await studio.save(drafts[0], SCRIPT)
    assert (await studio.save(drafts[-1], SCRIPT))["saved"]


# ------------------------------------------------------------------------ the HTTP API (ASGI)

@pytest.fixture
async def api(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> AsyncIterator[Any]:
    import httpx

    from aischoco.compose.app import build
    from aischoco.core.status import StatusBoard
    from aischoco.overlay.server import create_app
    from aischoco.settings.model import load_settings
    from aischoco.voice_studio.routes import voice_routes

    monkeypatch.chdir(tmp_path)  # and absolute paths: the viewer memory opens its file later
    for key, value in {"TTS_ENGINE": "off", "VTS_ENABLED": "false",
                       "MEMORY_PATH": str(tmp_path / "history" / "memory.sqlite3"),
                       "HISTORY_DIR": str(tmp_path / "history")}.items():
        monkeypatch.setenv(key, value)
    _, controls, _ = build(load_settings(None), StatusBoard())
    app = create_app(controls, token="t", panel_password="초코 비밀%",
                     routers=[voice_routes(controls)])
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                 base_url="http://127.0.0.1:8000") as client:
        yield client


async def test_the_api_takes_a_raw_file_and_guards_like_the_settings(api: Any) -> None:
    password = {"X-Panel-Password": quote("초코 비밀%")}  # as our pages send it
    wav = encode(espeak_clip(), MIC_RATE, "wav")
    assert (await api.post("/api/voice/clip", content=wav)).status_code == 401
    assert (await api.get("/api/voice")).status_code == 401
    wrong = {"X-Panel-Password": quote("초코 비밀")}
    assert (await api.get("/api/voice", headers=wrong)).status_code == 401
    foreign = await api.post("/api/voice/clip", content=wav,
                             headers={**password, "Origin": "https://evil.example",
                                      "Sec-Fetch-Site": "cross-site"})
    assert foreign.status_code == 403
    page = await api.get("/voice")
    assert page.status_code == 200 and "목소리 스튜디오" in page.text

    added = await api.post("/api/voice/clip", content=wav, headers=password)
    assert added.status_code == 200 and added.json()["report"]["usable"]
    bad = await api.post("/api/voice/clip", content=b"<svg onload=alert(1)>", headers=password)
    assert bad.status_code == 422 and "<svg" not in bad.text  # FFmpeg: an image, no audio track
    assert bad.json()["error"] == "파일에 소리 트랙이 없습니다."
    huge = await api.post("/api/voice/clip", content=b"\0" * 64,
                          headers={**password, "Content-Length": str(40 * 1024 * 1024)})
    assert huge.status_code == 422 and "너무 큽니다" in huge.json()["error"]

    draft = added.json()["draft"]
    saved = await api.post("/api/voice/save", json={"draft": draft, "text": SCRIPT},
                           headers=password)
    assert saved.status_code == 200 and saved.json()["saved"]
    sample = await api.get("/api/voice/sample.wav", headers=password)
    assert sample.headers["content-type"] == "audio/wav"
    assert best_match(sf.read(io.BytesIO(sample.content), dtype="float32")[0],
                      espeak_clip())[0] > 0.99
    missing = await api.get("/api/voice/sample.wav?backup=../../.env", headers=password)
    assert missing.status_code == 422
    info = (await api.get("/api/voice", headers=password)).json()
    assert info["sample"]["text"] == SCRIPT and not info["can_preview"]


def test_doctor_says_what_the_studio_says_about_the_sample(tmp_path: Path) -> None:
    from aischoco.cli.doctor import _voice_sample_checks

    settings = studio_settings(tmp_path, tts_engine="qwen")
    settings.voice_sample.parent.mkdir(parents=True)
    settings.voice_sample_text.write_text(SCRIPT, encoding="utf-8")
    clip = espeak_clip()
    sf.write(settings.voice_sample, clip, MIC_RATE, subtype="PCM_16")
    [clean] = _voice_sample_checks(settings)
    assert clean.level.value == "ok" and "음성 4." in clean.detail
    noise = np.random.default_rng(2).standard_normal(clip.size).astype(np.float32) * 0.02
    sf.write(settings.voice_sample, clip + noise, MIC_RATE, subtype="PCM_16")
    [noisy] = _voice_sample_checks(settings)
    assert noisy.level.value == "warn" and "잡음이 커요" in noisy.todo and "/voice" in noisy.todo
