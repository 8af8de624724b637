"""Remote TTS against the servers as they really are (issue 24): the client and the doctor over real
loopback HTTP with peers that answer like vLLM-Omni 0.30 and the faster-qwen3-tts example server
(tests/peers/speech_server.py dialects), plus the SSE and error-body decoding on their own."""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest
import soundfile as sf
from daemon import free_port
from peers.speech_server import HF_MODEL_ID, Ok, SpeechServer, Sse, Status, speech_pcm
from tts_server_helpers import wait_for

from aischoco.core.stages import AudioChunk
from aischoco.core.status import State, StatusBoard, StatusHandle
from aischoco.cli.doctor import _tts
from aischoco.cli.doctor_checks import Level
from aischoco.settings.model import Settings
from aischoco.tts.remote_body import (
    SseAudioDecoder,
    SseServerError,
    error_message,
    names_unknown_model,
)
from aischoco.tts.remote_engine import CloneReference, RemoteEngine, RemoteTTSError

TEXT = "안녕하세요, 여러분!"  # 11 characters → 220 ms of peer audio


@pytest.fixture
def clone(tmp_path: Path) -> CloneReference:
    wav = tmp_path / "ref.wav"
    sf.write(wav, np.zeros(24_000, dtype=np.float32), 24_000, subtype="PCM_16")
    return CloneReference.from_wav(wav, "안녕하세요, 제 목소리예요.")


@pytest.fixture(scope="module")
def vllm_hf() -> Iterator[SpeechServer]:
    """`vllm serve Qwen/Qwen3-TTS-12Hz-1.7B-Base --omni` without --served-model-name."""
    with SpeechServer(dialect="vllm-omni") as srv:
        yield srv


@pytest.fixture(scope="module")
def faster() -> Iterator[SpeechServer]:
    with SpeechServer(dialect="faster-qwen3-tts") as srv:
        yield srv


@pytest.fixture(autouse=True)
def _fresh(vllm_hf: SpeechServer, faster: SpeechServer) -> None:
    for srv in (vllm_hf, faster):
        srv.clear()


async def collect(engine: RemoteEngine, text: str = TEXT) -> list[AudioChunk]:
    return [chunk async for chunk in engine.synthesize(text)]


def joined(chunks: list[AudioChunk]) -> bytes:
    return b"".join(c.pcm for c in chunks)


async def running(engine: RemoteEngine) -> tuple[StatusHandle, asyncio.Task[None]]:
    """The engine as a component, once its start-up probe has found the server."""
    status = StatusBoard().register("tts", "음성 합성 (TTS)")
    task = asyncio.create_task(engine.run(status))
    await wait_for(lambda: status.current.state is State.RUNNING)
    return status, task


# --- vLLM-Omni ---------------------------------------------------------------------------------


async def test_vllm_omni_refuses_our_default_model_name_and_the_error_names_the_fix(
        vllm_hf: SpeechServer, make_engine: Callable[..., RemoteEngine],
        clone: CloneReference) -> None:
    engine = make_engine(vllm_hf.base_url, clone=clone)  # model "qwen3-tts", the default
    status, task = await running(engine)
    try:
        with pytest.raises(RemoteTTSError) as err:
            await collect(engine)
    finally:
        task.cancel()
    message = str(err.value)
    assert "The model `qwen3-tts` does not exist." in message  # the server's own words
    assert "--served-model-name qwen3-tts" in message and "TTS_REMOTE_MODEL" in message
    assert err.value.unknown_model and err.value.status == 404 and not err.value.retryable
    assert len(vllm_hf.speech_requests) == 1  # a setup error: never retried
    assert status.current.state is State.DEGRADED
    assert "'qwen3-tts' 모델이 없음" in status.current.detail
    assert "--served-model-name qwen3-tts" in status.current.hint
    assert "TTS_REMOTE_MODEL" in status.current.hint


@pytest.mark.parametrize(("served", "ours"), [
    ("qwen3-tts", "qwen3-tts"),  # started with --served-model-name qwen3-tts
    (HF_MODEL_ID, HF_MODEL_ID),  # or TTS_REMOTE_MODEL set to the HF id
])
async def test_vllm_omni_streams_raw_pcm_at_the_rate_we_pin(
        make_engine: Callable[..., RemoteEngine], clone: CloneReference,
        served: str, ours: str) -> None:
    # A model whose own rate is 16 kHz: raw PCM carries no rate header, so only the pinned
    # sample_rate makes the bytes mean what the client assumes.
    with SpeechServer(dialect="vllm-omni", served_model=served, native_rate=16_000,
                      default=Ok(chunk_ms=40)) as srv:
        chunks = await collect(make_engine(srv.base_url, model=ours, clone=clone))
        [record] = srv.speech_requests
    assert joined(chunks) == speech_pcm(TEXT, 24_000)
    assert {c.sample_rate for c in chunks} == {24_000}
    assert set(record.sent_sizes[:-1]) == {1920}  # 40 ms raw pieces, not base64 events
    assert record.body["stream"] is True and record.body["stream_format"] == "audio"
    assert record.body["sample_rate"] == 24_000
    assert record.body["task_type"] == "Base" and record.body["ref_audio"] == clone.ref_audio
    assert record.body["language"] == "Korean" and "voice" not in record.body


async def test_the_vllm_omni_peer_keeps_its_rules() -> None:
    """What the client is up against, asked directly: SSE for `stream` alone, the rate set by
    `sample_rate` and unannounced otherwise, only 8000/24000 offered."""
    base = {"model": HF_MODEL_ID, "input": "가나다", "response_format": "pcm",
            "language": "Korean"}
    with SpeechServer(dialect="vllm-omni", native_rate=16_000) as srv:
        async with httpx.AsyncClient(base_url=srv.base_url) as http:
            sse = await http.post("/v1/audio/speech", json={**base, "stream": True})
            raw = await http.post("/v1/audio/speech", json={**base, "stream": True,
                                                            "stream_format": "audio"})
            pinned = await http.post("/v1/audio/speech", json={
                **base, "stream_format": "audio", "sample_rate": 8_000})
            odd = await http.post("/v1/audio/speech", json={**base, "sample_rate": 22_050})
            models = await http.get("/v1/models")
    assert sse.headers["content-type"].startswith("text/event-stream")
    decoder = SseAudioDecoder()
    events = sse.content
    assert decoder.feed(events[:7]) + decoder.feed(events[7:]) + decoder.finish() == speech_pcm(
        "가나다", 16_000)
    assert raw.headers["content-type"] == "audio/pcm" and "x-sample-rate" not in raw.headers
    assert raw.content == speech_pcm("가나다", 16_000)  # its own rate, and nothing says so
    assert pinned.content == speech_pcm("가나다", 8_000)
    assert odd.status_code == 400 and "supported rates: 8000, 24000" in error_message(odd.content)
    assert [m["id"] for m in models.json()["data"]] == [HF_MODEL_ID]


async def test_events_are_decoded_when_a_server_ignores_stream_format(
        make_engine: Callable[..., RemoteEngine], caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING)
    with SpeechServer(default=Sse(chunk_bytes=1000, gap_ms=5)) as srv:
        engine = make_engine(srv.base_url)
        first = await collect(engine)
        second = await collect(engine, "반가워요")
    assert joined(first) == speech_pcm(TEXT) and joined(second) == speech_pcm("반가워요")
    assert len(first) > 5  # played as the events came, not at the end
    assert all(len(c.pcm) % 2 == 0 and c.sample_rate == 24_000 for c in first + second)
    warnings = [r for r in caplog.records if "server-sent events" in r.getMessage()]
    assert len(warnings) == 1  # said once per engine, not per sentence


async def test_an_error_event_is_retried_before_audio_and_fails_the_sentence_after(
        make_engine: Callable[..., RemoteEngine]) -> None:
    with SpeechServer() as srv:
        srv.script([Sse(error_after=0), Sse()])
        assert joined(await collect(make_engine(srv.base_url))) == speech_pcm(TEXT)
        assert len(srv.speech_requests) == 2
        srv.clear()
        srv.script([Sse(chunk_bytes=1200, error_after=4800)])
        got: list[AudioChunk] = []
        with pytest.raises(RemoteTTSError, match="mid-sentence.*illegal memory access") as err:
            async for chunk in make_engine(srv.base_url).synthesize(TEXT):
                got.append(chunk)
        assert len(srv.speech_requests) == 1  # a retry would repeat the words already played
    assert joined(got) == speech_pcm(TEXT)[:4800]
    assert err.value.status == 500


# --- faster-qwen3-tts example server -----------------------------------------------------------


async def test_faster_qwen3_tts_plays_its_own_voice_at_24k(
        faster: SpeechServer, make_engine: Callable[..., RemoteEngine],
        clone: CloneReference) -> None:
    engine = make_engine(faster.base_url, clone=clone)
    _, task = await running(engine)  # /v1/models is 404 there: still a server that answers
    try:
        chunks = await collect(engine)
    finally:
        task.cancel()
    [record] = faster.speech_requests
    assert joined(chunks) == speech_pcm(TEXT, 24_000)  # no rate header: our default is right
    assert {c.sample_rate for c in chunks} == {24_000}
    assert "ref_audio" in record.body  # sent, and dropped unread by that server
    assert any(r.path == "/v1/models" for r in faster.requests)


async def test_faster_qwen3_tts_makes_the_next_sentence_wait_for_an_abandoned_one(
        faster: SpeechServer, make_engine: Callable[..., RemoteEngine]) -> None:
    faster.script([Ok(chunk_ms=100, gap_ms=60)])  # 1 s of audio generated over ~0.55 s
    engine = make_engine(faster.base_url)
    long = engine.synthesize("가" * 50)
    await anext(long)
    skipped_at = time.monotonic()
    await long.aclose()  # type: ignore[attr-defined]  # the streamer pressed "skip"
    chunks = await collect(engine)
    abandoned, following = faster.speech_requests
    assert joined(chunks) == speech_pcm(TEXT)  # the next sentence is intact ...
    assert abandoned.disconnected and not abandoned.completed
    assert abandoned.generated_at is not None and abandoned.generated_at > skipped_at + 0.3
    assert following.first_byte_at is not None  # ... but only after the abandoned one ended
    assert following.first_byte_at >= abandoned.generated_at


# --- error bodies ------------------------------------------------------------------------------


@pytest.mark.parametrize(("dialect", "behaviour"), [
    ("plain", Status(400, "input is too long for this model")),  # OpenAI / vLLM shape
    ("plain", Status(400, "input is too long for this model", shape="detail")),  # FastAPI
    ("faster-qwen3-tts", Status(400, "input is too long for this model")),
])
async def test_error_bodies_of_both_shapes_give_the_servers_message(
        make_engine: Callable[..., RemoteEngine], dialect: str, behaviour: Status) -> None:
    with SpeechServer(dialect=dialect, default=behaviour) as srv:  # type: ignore[arg-type]
        with pytest.raises(RemoteTTSError,
                           match=r"rejected the request \(400\): input is too long") as err:
            await collect(make_engine(srv.base_url))
        assert len(srv.speech_requests) == 1
    assert not err.value.retryable and not err.value.unknown_model


async def test_a_404_that_is_not_about_the_model_points_at_the_url(
        vllm_hf: SpeechServer, make_engine: Callable[..., RemoteEngine]) -> None:
    with pytest.raises(RemoteTTSError, match=r"\(404\): Not Found \(is TTS_REMOTE_URL the "
                                             r"server's address, without /v1\?\)") as err:
        await collect(make_engine(vllm_hf.base_url + "/v1", model=HF_MODEL_ID))
    assert not err.value.unknown_model and not err.value.retryable


@pytest.mark.parametrize(("body", "message"), [
    ({"error": {"message": "The model `x` does not exist.", "code": 404}},
     "The model `x` does not exist."),
    ({"error": "plain string"}, "plain string"),
    ({"detail": "Voice 'x' is not configured."}, "Voice 'x' is not configured."),
    ({"detail": [{"loc": ["body", "input"], "msg": "Field required"},
                 {"loc": ["body", "speed"], "msg": "too fast"}]},
     "input: Field required; speed: too fast"),
    ({"message": "bare"}, "bare"),
])
def test_error_message_reads_every_shape(body: object, message: str) -> None:
    assert error_message(json.dumps(body).encode()) == message


def test_error_message_of_plain_text() -> None:
    assert error_message(b"  Internal Server Error\n") == "Internal Server Error"


@pytest.mark.parametrize(("status", "message", "about_model"), [
    (404, "The model `qwen3-tts` does not exist.", True),  # vLLM-Omni
    (404, "Model not found: 'qwen3-tts' is not a known HuggingFace repo or local path", True),
    (404, "Not Found", False),  # no such endpoint
    (404, "Voice 'choco' not found", False),
    (400, "The model `qwen3-tts` does not exist.", False),
])
def test_names_unknown_model(status: int, message: str, about_model: bool) -> None:
    assert names_unknown_model(status, message) is about_model


def test_sse_decoder_handles_any_split_and_crlf() -> None:
    pcm = speech_pcm("가나다라")
    body = b"".join(
        b"event: speech.audio.delta\r\n: keep-alive\r\ndata: " + json.dumps(
            {"type": "speech.audio.delta", "audio": base64.b64encode(pcm[i:i + 999]).decode()}
        ).encode() + b"\r\n\r\n" for i in range(0, len(pcm), 999))
    body += b'data: {"type":"speech.audio.done"}'  # no closing blank line
    for size in (1, 7, 4096):
        decoder = SseAudioDecoder()
        out = b"".join(decoder.feed(body[i:i + size]) for i in range(0, len(body), size))
        assert out + decoder.finish() == pcm


def test_sse_decoder_errors() -> None:
    with pytest.raises(SseServerError, match="boom") as err:
        SseAudioDecoder().feed(b'data: {"type":"speech.audio.error","error":'
                               b'{"message":"boom","code":503}}\n\n')
    assert err.value.code == 503
    with pytest.raises(ValueError, match="not JSON"):
        SseAudioDecoder().feed(b"data: {nope\n\n")
    with pytest.raises(ValueError, match="not base64"):
        SseAudioDecoder().feed(b'data: {"type":"speech.audio.delta","audio":"@@"}\n\n')
    decoder = SseAudioDecoder()
    decoder.feed(bytes(range(256)) * 4)  # raw audio labelled text/event-stream
    with pytest.raises(ValueError, match="without any events"):
        decoder.finish()


# --- doctor ------------------------------------------------------------------------------------


def remote_settings(url: str) -> Settings:
    return Settings(_env_file=None, tts_engine="remote",  # type: ignore[call-arg]
                    tts_remote_url=url)


async def test_doctor_names_the_model_name_fix(vllm_hf: SpeechServer) -> None:
    [check] = await _tts(remote_settings(vllm_hf.base_url))
    assert check.level is Level.ERROR
    assert "'qwen3-tts' 모델이 없음" in check.detail
    assert "The model `qwen3-tts` does not exist." in check.detail
    assert "--served-model-name qwen3-tts" in check.todo and "TTS_REMOTE_MODEL" in check.todo
    assert HF_MODEL_ID in check.todo  # what the server does serve, from /v1/models
    [probe] = vllm_hf.speech_requests
    assert probe.body["input"] == "" and probe.sent_sizes == []  # nothing was synthesized


@pytest.mark.parametrize(("dialect", "served"), [
    ("vllm-omni", "qwen3-tts"),
    ("faster-qwen3-tts", HF_MODEL_ID),  # takes any model name
    ("plain", HF_MODEL_ID),
])
async def test_doctor_passes_a_server_that_takes_our_model(dialect: str, served: str) -> None:
    with SpeechServer(dialect=dialect, served_model=served) as srv:  # type: ignore[arg-type]
        [check] = await _tts(remote_settings(srv.base_url))
        [probe] = srv.speech_requests
    assert check.level is Level.OK, check
    assert "model 'qwen3-tts'" in check.detail
    assert probe.sent_sizes == []


async def test_doctor_points_a_v1_url_at_the_fix(vllm_hf: SpeechServer) -> None:
    [check] = await _tts(remote_settings(vllm_hf.base_url + "/v1"))
    assert check.level is Level.ERROR
    assert "/v1/audio/speech가 없음" in check.detail and "/v1 없이" in check.todo


async def test_doctor_reports_an_unreachable_server() -> None:
    [check] = await _tts(remote_settings(f"http://127.0.0.1:{free_port()}"))
    assert check.level is Level.ERROR and "연결 안 됨" in check.detail
    assert "켜져 있는지" in check.todo
