"""GroqClient.stream_chat against the local SSE peer and a byte-exact mock transport."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

import httpx
import pytest
from peers.openai_server import (DEFAULT_USAGE, OpenAIServer, RateLimited, ServerError, Slow,
                                 Status, Stream, sse_body)

from aischoco.ai.groq_client import (GroqClient, LLMError, StreamBroken, StreamDelta, StreamDone,
                                     StreamEvent)
from test_groq_client import FakeSleep

API_KEY = "gsk_STREAM_SECRET_0123456789"
MESSAGES = [{"role": "system", "content": "시스템"}, {"role": "user", "content": "안녕"}]
ANSWER = {"emotion": "happy", "response": "안녕하세요! 오늘도 반가워요."}


@pytest.fixture()
def peer(llm_peer: OpenAIServer) -> OpenAIServer:
    return llm_peer  # (tests/turn_peers.py: one peer per module, cleared for each test)


def _client(base_url: str, **kw: object) -> GroqClient:
    kw.setdefault("sleep", FakeSleep())
    return GroqClient(api_key=API_KEY, base_url=base_url, model="openai/gpt-oss-120b", **kw)  # type: ignore[arg-type]


async def _collect(client: GroqClient) -> list[StreamEvent]:
    try:
        return [event async for event in client.stream_chat(MESSAGES)]
    finally:
        await client.aclose()


def _text(events: list[StreamEvent]) -> str:
    return "".join(e.text for e in events if isinstance(e, StreamDelta))


async def test_deltas_then_usage_and_rate_limits(peer: OpenAIServer) -> None:
    peer.script([Stream(ANSWER, token_chars=3, reasoning=["생각 중: 비밀 추론"])])
    client = _client(peer.base_url)
    events = await _collect(client)
    assert _text(events) == json.dumps(ANSWER, ensure_ascii=False)
    assert "비밀" not in _text(events)  # delta.reasoning is never yielded
    done = events[-1]
    assert isinstance(done, StreamDone) and done.usage == DEFAULT_USAGE
    assert done.finish_reason == "stop"
    assert sum(isinstance(e, StreamDone) for e in events) == 1
    assert client.rate_limits.remaining_requests == 999
    body = peer.requests[0].body
    assert body["stream"] is True and "response_format" not in body
    assert peer.requests[0].headers["accept"] == "text/event-stream"


async def test_byte_splits_inside_hangul_and_events_decode(peer: OpenAIServer) -> None:
    stream = Stream(ANSWER, pieces=['{"emo', 'tion": "happy", "resp', 'onse": "안', '녕하세요!"}'])
    body = b"".join(data for data, _ in sse_body("m", stream))
    hangul = body.index("안".encode())
    splits = [hangul + 1, hangul + 2, body.index(b"data:", 10) + 3, len(body) - 3]
    peer.script([Stream(ANSWER, pieces=stream.pieces, byte_splits=splits)])
    events = await _collect(_client(peer.base_url))
    assert [e.text for e in events if isinstance(e, StreamDelta)] == list(stream.pieces or ())


async def test_every_byte_split_through_a_mock_transport() -> None:
    """httpx hands the SSE parser exactly these byte chunks: every cut position must decode."""
    stream = Stream({"emotion": "sad", "response": "줄\n바꿈 \"인용\" 😀"}, token_chars=2)
    body = b"".join(data for data, _ in sse_body("m", stream))
    expected = json.dumps(stream.content, ensure_ascii=False)
    cut = 0

    class Chunks(httpx.AsyncByteStream):
        async def __aiter__(self) -> AsyncIterator[bytes]:
            yield body[:cut]
            yield body[cut:]

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, headers={"content-type": "text/event-stream"}, stream=Chunks())

    client = _client("http://peer.invalid/v1")
    await client._http.aclose()
    client._http = httpx.AsyncClient(transport=httpx.MockTransport(handler))
    try:
        for cut in range(1, len(body), 5):  # 5: coprime to 3- and 4-byte characters
            events = [event async for event in client.stream_chat(MESSAGES)]
            assert _text(events) == expected, cut
    finally:
        await client.aclose()


async def test_failures_before_the_first_token_are_retried(peer: OpenAIServer) -> None:
    peer.script([ServerError(503), RateLimited(retry_after=0.5), Stream(ANSWER, cut_after=0),
                 Stream(ANSWER)])
    sleep = FakeSleep()
    events = await _collect(_client(peer.base_url, sleep=sleep))
    assert _text(events) == json.dumps(ANSWER, ensure_ascii=False)
    assert len(peer.requests) == 4 and sleep.calls[1] == 0.5


async def test_a_cut_after_content_is_not_retried(peer: OpenAIServer) -> None:
    peer.script([Stream(ANSWER, token_chars=5, cut_after=4), Stream(ANSWER)])
    client = _client(peer.base_url)
    got: list[str] = []
    with pytest.raises(StreamBroken) as err:
        try:
            async for event in client.stream_chat(MESSAGES):
                if isinstance(event, StreamDelta):
                    got.append(event.text)
        finally:
            await client.aclose()
    assert "".join(got) == json.dumps(ANSWER, ensure_ascii=False)[:20]
    assert "broke after 20 characters" in str(err.value) and err.value.retryable
    assert len(peer.requests) == 1


async def test_an_error_event_inside_the_stream(peer: OpenAIServer) -> None:
    peer.script([Stream(ANSWER, error_after=2)])
    with pytest.raises(StreamBroken, match="error inside the stream"):
        await _collect(_client(peer.base_url))


async def test_first_token_timeout_is_retried_but_a_slow_answer_is_not_cut(
        peer: OpenAIServer) -> None:
    # Whole answer takes ~1 s at 40 tokens/s, each gap 25 ms: fine with a 0.3 s timeout.
    slow = Stream(ANSWER, token_chars=1, tokens_per_s=40)
    peer.script([Stream(ANSWER, ttft_ms=800), slow])
    events = await _collect(_client(peer.base_url, timeout_s=0.3))
    assert _text(events) == json.dumps(ANSWER, ensure_ascii=False)
    assert len(peer.requests) == 2
    record = peer.requests[1]
    # The peer stamps done_at just after its last write, which the client may read first.
    for _ in range(200):
        if record.done_at is not None:
            break
        await asyncio.sleep(0.01)
    assert record.done_at is not None and record.done_at - record.received_at > 0.6


async def test_a_gap_after_content_breaks_the_stream(peer: OpenAIServer) -> None:
    peer.script([Stream(ANSWER, pieces=['{"emotion": ', '"happy"'], tokens_per_s=2)])
    with pytest.raises(StreamBroken, match="no data for 0.2 s"):
        await _collect(_client(peer.base_url, timeout_s=0.2))


async def test_fatal_status_is_not_retried_and_hides_the_key(peer: OpenAIServer) -> None:
    peer.script([Status(401, f"Invalid API Key {API_KEY}")])
    with pytest.raises(LLMError) as err:
        await _collect(_client(peer.base_url))
    assert not err.value.retryable and API_KEY not in str(err.value)
    assert len(peer.requests) == 1


async def test_a_server_that_ignores_stream_is_read_whole(peer: OpenAIServer) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"choices": [{"message": {"content": "전체"},
                                                      "finish_reason": "stop"}],
                                         "usage": {"total_tokens": 9}})

    client = _client("http://peer.invalid/v1")
    await client._http.aclose()
    client._http = httpx.AsyncClient(transport=httpx.MockTransport(handler))
    events = await _collect(client)
    assert events[0] == StreamDelta("전체")
    assert isinstance(events[1], StreamDone) and events[1].usage == {"total_tokens": 9}


async def test_retries_run_out_with_one_line(peer: OpenAIServer) -> None:
    peer.script([Slow(0.0, ServerError(500))] * 4)
    with pytest.raises(LLMError, match=r"failed after 4 attempts: server error \(500\)"):
        await _collect(_client(peer.base_url))


async def test_a_server_that_refuses_to_stream_names_the_switch(peer: OpenAIServer) -> None:
    peer.script([Status(400, "stream is not supported")])
    with pytest.raises(LLMError, match="GROQ_STREAM=false") as err:
        await _collect(_client(peer.base_url))
    assert not err.value.retryable and len(peer.requests) == 1


def test_chunk_fields_read_content_only_and_usage_from_either_place() -> None:
    from aischoco.ai.groq_wire import chunk_delta, chunk_usage

    assert chunk_delta({"choices": [{"delta": {"reasoning": "생각"}}]}) == ("", None)
    assert chunk_delta({"choices": [{"delta": {"content": "말"}, "finish_reason": "length"}]}) \
        == ("말", "length")
    assert chunk_delta({"choices": []}) == ("", None) and chunk_delta({}) == ("", None)
    groq = {"x_groq": {"usage": {"total_tokens": 5, "total_time": 0.1}}, "usage": {"x": 1}}
    assert chunk_usage(groq) == {"total_tokens": 5}
    assert chunk_usage({"usage": {"total_tokens": 7}}) == {"total_tokens": 7}
    assert chunk_usage({"x_groq": {"id": "req"}}) == {}
