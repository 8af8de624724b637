"""The TTS server end to end: serve_tts + create_tts_app on real loopback HTTP, RemoteEngine as the
client, and a deterministic engine whose pace the tests control."""

from __future__ import annotations

import asyncio
import io
import logging
import socket
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import numpy as np
import pytest
import soundfile as sf
from peers.speech_server import speech_pcm
from tts_server_helpers import Serve, wait_for

from aischoco.core.stages import AudioChunk, StageError, StageUnavailable
from aischoco.core.status import State, StatusHandle
from aischoco.core.supervisor import ComponentError
from aischoco.tts.remote_engine import RemoteEngine
from aischoco.tts.server import MAX_INPUT_CHARS, serve_tts

MODEL = "test-tts"
TEXT = "오늘 방송도 즐겁게!"


class ScriptedEngine:
    """Speaks ``speech_pcm(text)`` in ``chunk_bytes`` pieces, ``delay_s`` apart; records its work."""

    name = "tts"

    def __init__(self, *, delay_s: float = 0.0, chunk_bytes: int = 960,
                 sample_rate: int = 24_000, loaded: asyncio.Event | None = None,
                 fail_before: BaseException | None = None, fail_after: int | None = None) -> None:
        self.available = False
        self.delay_s, self.chunk_bytes, self.sample_rate = delay_s, chunk_bytes, sample_rate
        self.loaded = loaded
        self.fail_before, self.fail_after = fail_before, fail_after
        self.started: list[str] = []
        self.finished: dict[str, float] = {}  # text → when its generator ended (any way)
        self.produced: dict[str, int] = {}
        self.active = self.max_active = 0
        self.closed = False

    async def run(self, status: StatusHandle) -> None:
        if self.loaded is not None:
            await self.loaded.wait()
        self.available = True
        status.set(State.RUNNING, "ready")
        await asyncio.Event().wait()

    async def synthesize(self, text: str) -> AsyncIterator[AudioChunk]:
        self.started.append(text)
        self.active += 1
        self.max_active = max(self.max_active, self.active)
        self.produced[text] = 0
        try:
            if self.fail_before is not None:
                raise self.fail_before
            pcm = speech_pcm(text, self.sample_rate)
            for start in range(0, len(pcm), self.chunk_bytes):
                if self.fail_after is not None and self.produced[text] == self.fail_after:
                    raise StageError("decoder blew up")
                await asyncio.sleep(self.delay_s)
                self.produced[text] += 1
                yield AudioChunk(pcm[start:start + self.chunk_bytes], self.sample_rate)
        finally:
            self.active -= 1
            self.finished[text] = time.monotonic()

    async def aclose(self) -> None:
        self.closed = True


@pytest.fixture
async def clients() -> AsyncIterator[Callable[..., RemoteEngine]]:
    made: list[RemoteEngine] = []

    def make(url: str, **kwargs: Any) -> RemoteEngine:
        kwargs.setdefault("retry_delay_s", 0.01)
        made.append(RemoteEngine(url, model=MODEL, **kwargs))
        return made[-1]

    yield make
    for engine in made:
        await engine.aclose()


async def ready(engine: ScriptedEngine) -> ScriptedEngine:
    await wait_for(lambda: engine.available)
    return engine


async def speak(client: RemoteEngine, text: str) -> bytes:
    return b"".join([chunk.pcm async for chunk in client.synthesize(text)])


async def health(url: str) -> dict[str, Any]:
    async with httpx.AsyncClient() as http:
        return (await http.get(f"{url}/health")).json()


async def queued(url: str, count: int) -> None:
    """Wait until ``count`` requests wait for their turn on the server."""
    deadline = time.monotonic() + 3
    while (await health(url))["waiting"] != count:
        assert time.monotonic() < deadline, f"never {count} waiting"
        await asyncio.sleep(0.005)


# --- streaming -------------------------------------------------------------------------------


async def test_first_chunk_reaches_the_client_before_synthesis_ends(
        serve: Serve, clients: Callable[..., RemoteEngine]) -> None:
    engine = ScriptedEngine(delay_s=0.04)
    url = await serve(engine, model_name=MODEL)
    await ready(engine)
    first_at: float | None = None
    received = b""
    async for chunk in clients(url).synthesize(TEXT):
        first_at = first_at or time.monotonic()
        received += chunk.pcm
        assert chunk.sample_rate == 24_000
    assert engine.produced[TEXT] >= 8  # 200 ms of audio in 20 ms pieces
    assert first_at is not None and first_at < engine.finished[TEXT]
    assert received == speech_pcm(TEXT)


async def test_sample_rate_and_content_type(serve: Serve,
                                            clients: Callable[..., RemoteEngine]) -> None:
    engine = ScriptedEngine(sample_rate=16_000)
    url = await serve(engine, model_name=MODEL)
    await ready(engine)
    async with httpx.AsyncClient() as http:
        response = await http.post(f"{url}/v1/audio/speech", json={"input": TEXT})
    assert response.status_code == 200
    assert response.headers["x-sample-rate"] == "16000"
    assert response.headers["content-type"] == "audio/pcm"
    assert response.content == speech_pcm(TEXT, 16_000)
    chunks = [c async for c in clients(url).synthesize(TEXT)]
    assert {c.sample_rate for c in chunks} == {16_000}


async def test_wav_is_answered_whole(serve: Serve) -> None:
    engine = ScriptedEngine()
    url = await serve(engine, model_name=MODEL)
    await ready(engine)
    async with httpx.AsyncClient() as http:
        response = await http.post(f"{url}/v1/audio/speech",
                                   json={"input": TEXT, "response_format": "wav"})
    assert response.status_code == 200 and response.headers["content-type"] == "audio/wav"
    samples, rate = sf.read(io.BytesIO(response.content), dtype="int16")
    assert rate == 24_000
    assert samples.tobytes() == speech_pcm(TEXT)


# --- validation and the other endpoints ------------------------------------------------------


@pytest.mark.parametrize(("body", "needle"), [
    ({}, "input: Field required"),
    ({"input": ""}, "input: Value error, input must not be empty"),
    ({"input": "   "}, "input must not be empty"),
    ({"input": "가" * (MAX_INPUT_CHARS + 1)}, f"at most {MAX_INPUT_CHARS} characters"),
    ({"input": "안녕", "response_format": "mp3"}, "response_format 'mp3' is not supported"),
    ({"input": "안녕", "stream_format": "sse"}, "stream_format 'sse' is not supported"),
    ({"input": "안녕", "speed": 1.5}, "speed is not supported"),
    ({"input": 42}, "input: Input should be a valid string"),
])
async def test_invalid_requests_get_400(serve: Serve, body: dict[str, Any], needle: str) -> None:
    engine = ScriptedEngine()
    url = await serve(engine, model_name=MODEL)
    await ready(engine)
    async with httpx.AsyncClient() as http:
        response = await http.post(f"{url}/v1/audio/speech", json=body)
    assert response.status_code == 400
    assert needle in response.json()["error"]["message"]
    assert engine.started == []


async def test_extras_from_other_clients_are_accepted(serve: Serve) -> None:
    engine = ScriptedEngine()
    url = await serve(engine, model_name=MODEL)
    await ready(engine)
    body = {"input": TEXT, "model": "anything", "voice": "x", "task_type": "Base",
            "ref_audio": "data:audio/wav;base64,AAAA", "ref_text": "참조", "instructions": "밝게",
            "stream_format": "audio", "speed": 1.0, "language": "Korean"}
    async with httpx.AsyncClient() as http:
        response = await http.post(f"{url}/v1/audio/speech", json=body)
    assert response.status_code == 200 and response.content == speech_pcm(TEXT)


async def test_broken_json_models_health_and_unknown_paths(serve: Serve) -> None:
    engine = ScriptedEngine()
    url = await serve(engine, model_name=MODEL)
    await ready(engine)
    async with httpx.AsyncClient() as http:
        broken = await http.post(f"{url}/v1/audio/speech", content=b"{nope",
                                 headers={"content-type": "application/json"})
        models = await http.get(f"{url}/v1/models")
        missing = await http.get(f"{url}/v1/nothing")
    assert broken.status_code == 400 and broken.json()["error"]["message"]
    assert [m["id"] for m in models.json()["data"]] == [MODEL]
    assert missing.status_code == 404 and missing.json() == {
        "error": {"message": "Not Found", "type": "invalid_request_error"}}
    assert await health(url) == {"status": "ok", "model": MODEL, "busy": False, "waiting": 0}


async def test_503_while_the_engine_is_loading(serve: Serve,
                                               clients: Callable[..., RemoteEngine]) -> None:
    loaded = asyncio.Event()
    engine = ScriptedEngine(loaded=loaded)
    url = await serve(engine, model_name=MODEL)
    async with httpx.AsyncClient() as http:
        response = await http.post(f"{url}/v1/audio/speech", json={"input": TEXT})
        assert response.status_code == 503
        assert "불러오는 중" in response.json()["error"]["message"]
        assert (await http.get(f"{url}/health")).status_code == 503
    with pytest.raises(StageError, match="503"):
        await speak(clients(url), TEXT)
    assert engine.started == []
    loaded.set()
    await ready(engine)
    assert (await health(url))["status"] == "ok"
    assert await speak(clients(url), TEXT) == speech_pcm(TEXT)


# --- one synthesis at a time -----------------------------------------------------------------


async def test_requests_are_served_one_at_a_time_in_order(
        serve: Serve, clients: Callable[..., RemoteEngine]) -> None:
    engine = ScriptedEngine(delay_s=0.02)
    url = await serve(engine, model_name=MODEL)
    await ready(engine)
    client = clients(url)
    texts = ["첫 번째 문장이에요", "두 번째", "세 번째 문장"]
    tasks = [asyncio.create_task(speak(client, texts[0]))]
    await wait_for(lambda: engine.started == texts[:1])
    tasks.append(asyncio.create_task(speak(client, texts[1])))
    await queued(url, 1)  # B waits before C is sent, so the arrival order is known
    tasks.append(asyncio.create_task(speak(client, texts[2])))
    await queued(url, 2)
    results = await asyncio.gather(*tasks)
    assert engine.started == texts
    assert engine.max_active == 1
    assert results == [speech_pcm(t) for t in texts]


async def test_a_client_that_leaves_stops_the_engine(
        serve: Serve, clients: Callable[..., RemoteEngine]) -> None:
    engine = ScriptedEngine(delay_s=0.03)
    url = await serve(engine, model_name=MODEL)
    await ready(engine)
    long_text = "가" * 100  # 2 s of audio, 100 pieces 30 ms apart
    chunks = clients(url).synthesize(long_text)
    await anext(chunks)
    await anext(chunks)
    left_at = time.monotonic()
    await chunks.aclose()  # type: ignore[attr-defined]
    await wait_for(lambda: long_text in engine.finished, timeout=2.0)
    assert engine.finished[long_text] - left_at < 0.5
    assert engine.produced[long_text] < 10
    assert engine.active == 0
    assert await speak(clients(url), TEXT) == speech_pcm(TEXT)  # the turn was given back


async def test_a_client_that_leaves_the_queue_is_never_synthesized(
        serve: Serve, clients: Callable[..., RemoteEngine]) -> None:
    engine = ScriptedEngine(delay_s=0.02)
    url = await serve(engine, model_name=MODEL)
    await ready(engine)
    first = asyncio.create_task(speak(clients(url), "긴 문장을 먼저 말해요"))
    await wait_for(lambda: engine.started)
    leaver = asyncio.create_task(speak(clients(url), "기다리다 떠나요"))
    await queued(url, 1)
    leaver.cancel()
    await queued(url, 0)
    await first
    assert await speak(clients(url), TEXT) == speech_pcm(TEXT)
    assert engine.started == ["긴 문장을 먼저 말해요", TEXT]


# --- engine failures -------------------------------------------------------------------------


@pytest.mark.parametrize(("failure", "status", "needle"), [
    (StageError("text has no speakable characters"), 500,
     "synthesis failed: text has no speakable characters"),
    (StageUnavailable("GPU memory exhausted"), 503, "GPU memory exhausted"),
    (RuntimeError("bug"), 500, "synthesis failed (see server log)"),
])
async def test_a_failure_before_audio_is_a_json_error(
        serve: Serve, clients: Callable[..., RemoteEngine], failure: BaseException, status: int,
        needle: str) -> None:
    engine = ScriptedEngine(fail_before=failure)
    url = await serve(engine, model_name=MODEL)
    await ready(engine)
    async with httpx.AsyncClient() as http:
        response = await http.post(f"{url}/v1/audio/speech", json={"input": TEXT})
    assert response.status_code == status
    assert response.json()["error"]["message"] == needle
    with pytest.raises(StageError, match=needle.replace("(", r"\(").replace(")", r"\)")):
        await speak(clients(url), TEXT)
    assert engine.active == 0


async def test_a_failure_mid_stream_breaks_the_body(
        serve: Serve, clients: Callable[..., RemoteEngine]) -> None:
    engine = ScriptedEngine(fail_after=3)
    url = await serve(engine, model_name=MODEL)
    await ready(engine)
    got = b""
    with pytest.raises(StageError, match="mid-sentence"):
        async for chunk in clients(url).synthesize(TEXT):
            got += chunk.pcm
    assert got == speech_pcm(TEXT)[:3 * 960]  # what was sent is never replayed
    assert engine.started == [TEXT]


# --- API key ---------------------------------------------------------------------------------


async def test_api_key(serve: Serve, clients: Callable[..., RemoteEngine]) -> None:
    engine = ScriptedEngine()
    url = await serve(engine, model_name=MODEL, api_key="colab-secret")
    await ready(engine)
    async with httpx.AsyncClient() as http:
        anonymous = await http.post(f"{url}/v1/audio/speech", json={"input": TEXT})
        models = await http.get(f"{url}/v1/models")
        assert (await http.get(f"{url}/health")).status_code == 200  # for uptime checks
    assert anonymous.status_code == 401 and models.status_code == 401
    assert anonymous.json()["error"]["type"] == "authentication_error"
    assert await speak(clients(url, api_key="colab-secret"), TEXT) == speech_pcm(TEXT)
    with pytest.raises(StageError, match="401") as err:
        await speak(clients(url, api_key="wrong"), TEXT)
    assert err.value.retryable is False
    assert engine.started == [TEXT]


# --- serve_tts -------------------------------------------------------------------------------


async def test_stop_ends_the_server_and_closes_the_engine() -> None:
    engine, stop, urls = ScriptedEngine(), asyncio.Event(), []
    task = asyncio.create_task(serve_tts(engine, "127.0.0.1", 0, model_name=MODEL, stop=stop,
                                         on_listening=urls.append))
    await ready(engine)
    assert (await health(urls[0]))["status"] == "ok"
    stop.set()
    await asyncio.wait_for(task, 5)
    assert engine.closed
    with pytest.raises(httpx.ConnectError):
        await health(urls[0])


async def test_a_failed_load_ends_serve_tts() -> None:
    class Broken(ScriptedEngine):
        async def run(self, status: StatusHandle) -> None:
            raise RuntimeError("no such checkpoint")

    with pytest.raises(RuntimeError, match="no such checkpoint"):
        await asyncio.wait_for(serve_tts(Broken(), "127.0.0.1", 0, model_name=MODEL), 5)


async def test_a_taken_port_is_a_clear_error() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(ComponentError, match=f"cannot listen on 127.0.0.1:{port}"):
            await serve_tts(ScriptedEngine(), "127.0.0.1", port, model_name=MODEL)


async def test_listening_beyond_loopback_is_warned(caplog: pytest.LogCaptureFixture) -> None:
    stop = asyncio.Event()
    stop.set()
    with caplog.at_level(logging.WARNING, logger="aischoco.tts.server"):
        await asyncio.wait_for(serve_tts(ScriptedEngine(), "0.0.0.0", 0, model_name=MODEL,
                                         stop=stop), 5)
    assert "anyone who can reach port 0 can use it (no API key set" in caplog.text
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="aischoco.tts.server"):
        await asyncio.wait_for(serve_tts(ScriptedEngine(), "127.0.0.1", 0, model_name=MODEL,
                                         stop=stop), 5)
    assert "anyone" not in caplog.text


def test_pcm_helper_is_what_the_engine_speaks() -> None:
    # Guards the fixtures above: speech_pcm is deterministic and text-length dependent.
    assert speech_pcm(TEXT) == speech_pcm(TEXT)
    assert len(speech_pcm("가나")) == 2 * len(speech_pcm("가")) == 2 * 480 * 2
    assert np.frombuffer(speech_pcm("가"), "<i2").any()
