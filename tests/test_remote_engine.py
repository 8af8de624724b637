"""RemoteEngine against a real OpenAI-compatible speech server on loopback (tests/peers)."""

from __future__ import annotations

import asyncio
import base64
import io
import logging
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from peers.speech_server import (
    DropMidStream,
    Ok,
    SpeechServer,
    Status,
    WavBody,
    speech_pcm,
    wav_header,
)
from daemon import free_port
from tts_server_helpers import wait_for

from aischoco.core.stages import AudioChunk, StageError
from aischoco.core.status import State, StatusBoard, StatusHandle
from aischoco.tts.pcm import float_to_pcm16, to_mono
from aischoco.tts.remote_engine import (
    CloneReference,
    PcmStreamDecoder,
    RemoteEngine,
    RemoteTTSError,
)

TEXT = "안녕하세요, 여러분!"  # 11 characters → 220 ms of peer audio
API_KEY = "sk-TTS_SECRET_0123456789"
PEER_SCRIPT = Path(__file__).parent / "peers" / "speech_server.py"


@pytest.fixture(scope="module")
def shared_server() -> Iterator[SpeechServer]:
    with SpeechServer() as srv:
        yield srv


@pytest.fixture
def server(shared_server: SpeechServer) -> SpeechServer:
    shared_server.clear()
    shared_server.models_status = 200
    return shared_server


async def collect(engine: RemoteEngine, text: str = TEXT) -> list[AudioChunk]:
    return [chunk async for chunk in engine.synthesize(text)]


def joined(chunks: list[AudioChunk]) -> bytes:
    return b"".join(c.pcm for c in chunks)





def board_handle() -> tuple[StatusBoard, StatusHandle]:
    board = StatusBoard()
    return board, board.register("tts", "음성 합성 (TTS)")


# --- streaming and bytes ---------------------------------------------------------------------


async def test_chunks_arrive_while_the_server_is_still_sending(
        server: SpeechServer, make_engine: Callable[..., RemoteEngine]) -> None:
    server.script([Ok(chunk_ms=40, gap_ms=60)])
    engine = make_engine(server.base_url)
    arrivals: list[float] = []
    chunks: list[AudioChunk] = []
    async for chunk in engine.synthesize(TEXT):
        arrivals.append(time.monotonic())
        chunks.append(chunk)
    [record] = server.speech_requests
    assert len(record.sent_at) == 6  # 220 ms in 40 ms pieces
    # The first audio was in our hands before the server had even handed over its last piece.
    assert arrivals[0] < record.sent_at[-1]
    assert len(chunks) >= 2
    assert joined(chunks) == speech_pcm(TEXT)


async def test_request_body_follows_the_contract(
        server: SpeechServer, make_engine: Callable[..., RemoteEngine]) -> None:
    engine = make_engine(server.base_url + "/", model="Qwen3-TTS", voice="choco",
                         language="Korean")
    chunks = await collect(engine, "  반가워요  ")
    assert joined(chunks) == speech_pcm("반가워요")
    [record] = server.speech_requests
    assert record.body == {"model": "Qwen3-TTS", "input": "반가워요", "voice": "choco",
                           "response_format": "pcm", "stream": True, "stream_format": "audio",
                           "sample_rate": 24_000, "language": "Korean"}
    assert "authorization" not in record.headers
    await collect(make_engine(server.base_url, voice=None))
    assert "voice" not in server.speech_requests[1].body


async def test_blank_text_sends_nothing(server: SpeechServer,
                                        make_engine: Callable[..., RemoteEngine]) -> None:
    assert await collect(make_engine(server.base_url), "   ") == []
    assert server.speech_requests == []


async def test_odd_network_pieces_never_split_a_sample(
        server: SpeechServer, make_engine: Callable[..., RemoteEngine]) -> None:
    server.script([Ok(chunk_bytes=333, gap_ms=3)])
    chunks = await collect(make_engine(server.base_url))
    [record] = server.speech_requests
    assert set(record.sent_sizes[:-1]) == {333}
    assert all(len(c.pcm) % 2 == 0 and c.pcm for c in chunks)
    assert len(chunks) > 10
    assert joined(chunks) == speech_pcm(TEXT)


@pytest.mark.parametrize(("behaviour", "rate"), [
    (Ok(sample_rate=16_000), 16_000),
    (Ok(sample_rate=24_000, rate_header=False), 24_000),  # the contract's default
])
async def test_sample_rate_header(server: SpeechServer, make_engine: Callable[..., RemoteEngine],
                                  behaviour: Ok, rate: int) -> None:
    server.script([behaviour])
    chunks = await collect(make_engine(server.base_url))
    assert {c.sample_rate for c in chunks} == {rate}
    assert joined(chunks) == speech_pcm(TEXT, rate)


@pytest.mark.parametrize("behaviour", [
    WavBody(sample_rate=22_050, chunk_bytes=7),  # header split over many pieces
    WavBody(sample_rate=22_050, streaming_size=False, chunk_bytes=1000),
])
async def test_a_wav_body_is_parsed_and_its_header_skipped(
        server: SpeechServer, make_engine: Callable[..., RemoteEngine],
        behaviour: WavBody) -> None:
    server.script([behaviour])
    chunks = await collect(make_engine(server.base_url))
    assert {c.sample_rate for c in chunks} == {22_050}
    assert joined(chunks) == speech_pcm(TEXT, 22_050)


# --- the decoder on its own ------------------------------------------------------------------


def feed_in_pieces(data: bytes, sizes: list[int]) -> tuple[bytes, PcmStreamDecoder]:
    decoder = PcmStreamDecoder()
    out, pos, i = b"", 0, 0
    while pos < len(data):
        size = sizes[i % len(sizes)]
        piece = decoder.feed(data[pos:pos + size])
        assert len(piece) % 2 == 0
        out += piece
        pos, i = pos + size, i + 1
    return out + decoder.finish(), decoder


def test_decoder_carries_odd_bytes() -> None:
    pcm = speech_pcm(TEXT)
    out, decoder = feed_in_pieces(pcm, [1, 3, 5, 2, 7])
    assert out == pcm and decoder.sample_rate == 24_000


def test_decoder_converts_float_stereo_wav() -> None:
    rng = np.random.default_rng(5)
    stereo = rng.uniform(-0.9, 0.9, size=(4000, 2)).astype(np.float32)
    buffer = io.BytesIO()
    sf.write(buffer, stereo, 44_100, format="WAV", subtype="FLOAT")
    out, decoder = feed_in_pieces(buffer.getvalue(), [5, 11, 1, 300])
    assert decoder.sample_rate == 44_100
    assert out == float_to_pcm16(to_mono(stereo))


def test_decoder_stops_at_the_declared_data_size() -> None:
    pcm = speech_pcm("가나다")
    trailer = b"LIST" + (4).to_bytes(4, "little") + b"INFO"
    out, _ = feed_in_pieces(wav_header(24_000, len(pcm)) + pcm + trailer, [64])
    assert out == pcm


def test_decoder_refuses_formats_it_cannot_play() -> None:
    buffer = io.BytesIO()
    sf.write(buffer, np.zeros(100, dtype=np.float32), 24_000, format="WAV", subtype="PCM_24")
    with pytest.raises(ValueError, match="24 bit"):
        feed_in_pieces(buffer.getvalue(), [4096])


# --- retries and errors ----------------------------------------------------------------------


async def test_a_5xx_is_retried_once(server: SpeechServer,
                                     make_engine: Callable[..., RemoteEngine]) -> None:
    server.script([Status(503, "GPU busy"), Ok()])
    chunks = await collect(make_engine(server.base_url))
    assert joined(chunks) == speech_pcm(TEXT)
    assert len(server.speech_requests) == 2


async def test_two_5xx_fail_the_sentence(server: SpeechServer,
                                         make_engine: Callable[..., RemoteEngine]) -> None:
    server.script([Status(500, "CUDA out of memory"), Status(502, "bad gateway")])
    with pytest.raises(StageError, match=r"after 2 attempts.*502.*bad gateway") as err:
        await collect(make_engine(server.base_url))
    assert isinstance(err.value, RemoteTTSError) and err.value.status == 502
    assert len(server.speech_requests) == 2


async def test_a_4xx_is_not_retried_and_keeps_the_server_message(
        server: SpeechServer, make_engine: Callable[..., RemoteEngine]) -> None:
    server.script([Status(400, "input is too long for this model")])
    with pytest.raises(StageError, match=r"\(400\): input is too long for this model") as err:
        await collect(make_engine(server.base_url))
    assert err.value.retryable is False
    assert len(server.speech_requests) == 1


async def test_connection_refused_fails_quickly(
        make_engine: Callable[..., RemoteEngine]) -> None:
    engine = make_engine(f"http://127.0.0.1:{free_port()}")
    started = time.monotonic()
    with pytest.raises(StageError, match="after 2 attempts: cannot reach"):
        await collect(engine)
    assert time.monotonic() - started < 1.0


async def test_a_drop_before_any_audio_is_retried(
        server: SpeechServer, make_engine: Callable[..., RemoteEngine]) -> None:
    server.script([DropMidStream(after_bytes=0), Ok()])
    chunks = await collect(make_engine(server.base_url))
    assert joined(chunks) == speech_pcm(TEXT)
    assert len(server.speech_requests) == 2


async def test_a_drop_after_audio_fails_without_repeating_words(
        server: SpeechServer, make_engine: Callable[..., RemoteEngine]) -> None:
    server.script([DropMidStream(after_bytes=4800, chunk_bytes=1200)])
    got: list[AudioChunk] = []
    with pytest.raises(StageError, match="mid-sentence"):
        async for chunk in make_engine(server.base_url).synthesize(TEXT):
            got.append(chunk)
    assert joined(got) == speech_pcm(TEXT)[:4800]
    assert len(server.speech_requests) == 1


async def test_a_stall_between_chunks_times_out(
        server: SpeechServer, make_engine: Callable[..., RemoteEngine]) -> None:
    server.script([Ok(chunk_ms=40, gap_ms=5000)])
    engine = make_engine(server.base_url, chunk_gap_timeout_s=0.3)
    got: list[AudioChunk] = []
    started = time.monotonic()
    with pytest.raises(StageError, match="stalled: no audio for 0.3 s"):
        async for chunk in engine.synthesize(TEXT):
            got.append(chunk)
    assert 0.3 <= time.monotonic() - started < 2.0
    assert joined(got) == speech_pcm(TEXT)[:1920]
    [record] = server.speech_requests
    await wait_for(lambda: record.disconnected)


async def test_a_slow_first_byte_times_out_without_retry(
        server: SpeechServer, make_engine: Callable[..., RemoteEngine]) -> None:
    server.script([Ok(first_byte_ms=3000)])
    engine = make_engine(server.base_url, first_byte_timeout_s=0.3)
    started = time.monotonic()
    with pytest.raises(StageError, match="within 0.3 s"):
        await collect(engine)
    assert time.monotonic() - started < 1.5
    assert len(server.speech_requests) == 1


async def test_a_long_stream_is_fine_when_chunks_keep_coming(
        server: SpeechServer, make_engine: Callable[..., RemoteEngine]) -> None:
    # 16 pieces 40 ms apart: the whole answer outlasts every timeout, no single gap does.
    server.script([Ok(chunk_ms=20, gap_ms=40)])
    engine = make_engine(server.base_url, first_byte_timeout_s=0.3, chunk_gap_timeout_s=0.3)
    text = "가" * 16
    assert joined(await collect(engine, text)) == speech_pcm(text)


@pytest.mark.parametrize(("content_type", "needle"), [
    ("application/json", "answered application/json, not audio"),
    # Raw audio labelled as events: decoded as SSE (see test_remote_tts_servers), finds none.
    ("text/event-stream", "cannot play: a text/event-stream body without any events"),
])
async def test_a_non_audio_answer_is_refused(
        server: SpeechServer, make_engine: Callable[..., RemoteEngine], content_type: str,
        needle: str) -> None:
    server.script([Ok(content_type=content_type)])
    with pytest.raises(StageError, match=needle) as err:
        await collect(make_engine(server.base_url))
    assert err.value.retryable is False
    assert len(server.speech_requests) == 1


# --- closing ---------------------------------------------------------------------------------


async def test_closing_the_generator_closes_the_connection(
        server: SpeechServer, make_engine: Callable[..., RemoteEngine]) -> None:
    server.script([Ok(chunk_ms=20, gap_ms=50)])
    text = "가" * 100  # 2 s of audio, 100 pieces: ~5 s to send in full
    chunks = make_engine(server.base_url).synthesize(text)
    await anext(chunks)
    await anext(chunks)
    closed_at = time.monotonic()
    await chunks.aclose()  # type: ignore[attr-defined]
    [record] = server.speech_requests
    await wait_for(lambda: record.disconnected, timeout=2.0)
    assert not record.completed
    assert record.bytes_sent < len(speech_pcm(text)) // 4
    assert time.monotonic() - closed_at < 1.0


# --- credentials and the clone reference -----------------------------------------------------


async def test_api_key_is_sent_and_never_logged(
        server: SpeechServer, make_engine: Callable[..., RemoteEngine],
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    engine = make_engine(server.base_url, api_key=API_KEY)
    _, status = board_handle()
    runner = asyncio.create_task(engine.run(status))
    await wait_for(lambda: status.current.state is State.RUNNING)  # the probe went out
    server.script([Ok(), Status(500, f"rejected key {API_KEY}"), Status(500, f"again {API_KEY}")])
    await collect(engine)
    with pytest.raises(StageError) as err:
        await collect(engine)
    runner.cancel()
    requests = server.requests
    assert {r.headers["authorization"] for r in requests} == {f"Bearer {API_KEY}"}
    assert any(r.path == "/v1/models" for r in requests)
    assert caplog.records
    text = caplog.text + str(err.value) + status.current.last_error + status.current.detail
    assert "***" in str(err.value)
    assert API_KEY not in text


async def test_clone_reference_fields(server: SpeechServer,
                                      make_engine: Callable[..., RemoteEngine],
                                      tmp_path: Path) -> None:
    wav = tmp_path / "ref.wav"
    sf.write(wav, np.zeros(2400, dtype=np.float32), 24_000, subtype="PCM_16")
    clone = CloneReference.from_wav(wav, " 안녕하세요, 제 목소리예요. ")
    await collect(make_engine(server.base_url, clone=clone))
    [record] = server.speech_requests
    assert record.body["task_type"] == "Base"
    assert "voice" not in record.body  # the reference is the voice; no placeholder speaker
    assert record.body["ref_text"] == "안녕하세요, 제 목소리예요."
    prefix = "data:audio/wav;base64,"
    assert record.body["ref_audio"].startswith(prefix)
    assert base64.b64decode(record.body["ref_audio"][len(prefix):]) == wav.read_bytes()
    await collect(make_engine(server.base_url, clone=clone, voice="choco"))  # an uploaded voice
    assert server.speech_requests[1].body["voice"] == "choco"


def test_clone_reference_needs_a_wav_and_text(tmp_path: Path) -> None:
    not_wav = tmp_path / "ref.mp3"
    not_wav.write_bytes(b"ID3" + bytes(100))
    with pytest.raises(ValueError, match="not a WAV"):
        CloneReference.from_wav(not_wav, "text")
    wav = tmp_path / "ref.wav"
    sf.write(wav, np.zeros(240, dtype=np.float32), 24_000)
    with pytest.raises(ValueError, match="transcript"):
        CloneReference.from_wav(wav, "  ")


# --- status ----------------------------------------------------------------------------------


async def test_status_follows_reachability_and_sentences(
        make_engine: Callable[..., RemoteEngine]) -> None:
    port = free_port()
    engine = make_engine(f"http://127.0.0.1:{port}", probe_interval_s=0.05)
    _, status = board_handle()
    runner = asyncio.create_task(engine.run(status))
    try:
        await wait_for(lambda: status.current.state is State.DEGRADED)
        assert "연결할 수 없음" in status.current.detail
        assert "TTS_REMOTE_URL" in status.current.hint
        with SpeechServer(port=port) as srv:  # the streamer starts the TTS server late
            await wait_for(lambda: status.current.state is State.RUNNING)
            assert status.current.detail == f"원격 TTS 연결됨 (http://127.0.0.1:{port})"
            srv.script([Status(500, "boom"), Status(500, "boom")])
            with pytest.raises(StageError):
                await collect(engine)
            assert status.current.state is State.DEGRADED
            assert "boom" in status.current.last_error
            await collect(engine)  # a success after failures restores it
            assert status.current.state is State.RUNNING
        assert not runner.done()  # an unreachable server never crashes the component
    finally:
        runner.cancel()


async def test_status_while_the_server_is_loading(
        server: SpeechServer, make_engine: Callable[..., RemoteEngine]) -> None:
    server.models_status = 503
    engine = make_engine(server.base_url, probe_interval_s=0.05)
    _, status = board_handle()
    runner = asyncio.create_task(engine.run(status))
    try:
        await wait_for(lambda: status.current.state is State.DEGRADED)
        assert "불러오는 중" in status.current.detail
        server.models_status = 200
        await wait_for(lambda: status.current.state is State.RUNNING)
    finally:
        runner.cancel()


# --- the peer as a process -------------------------------------------------------------------


def test_peer_runs_as_a_process() -> None:
    proc = subprocess.Popen([sys.executable, str(PEER_SCRIPT), "--port", "0", "--chunk-ms", "20"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, encoding="utf-8")

    async def speak(url: str) -> bytes:
        engine = RemoteEngine(url)
        try:
            return joined(await collect(engine))
        finally:
            await engine.aclose()

    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line.startswith("listening on http://127.0.0.1:")
        assert asyncio.run(speak(line.split()[-1])) == speech_pcm(TEXT)
    finally:
        proc.terminate()
        assert proc.wait(timeout=10) == 0
