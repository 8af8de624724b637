"""GroqClient against a real OpenAI-compatible HTTP server on loopback (tests/peers)."""

from __future__ import annotations

import re
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from peers.openai_server import (
    DEFAULT_USAGE,
    Echo,
    InvalidJson,
    OpenAIServer,
    RateLimited,
    Reply,
    ServerError,
    Slow,
    Status,
)

from aischoco.ai.groq_client import (
    Completion,
    GroqClient,
    LLMError,
    RateLimits,
    parse_duration,
    parse_rate_limits,
    rate_limit_wait,
)
from aischoco.ai.prompts import parse_answer

API_KEY = "gsk_TEST_SECRET_0123456789"
MESSAGES = [
    {"role": "system", "content": "시스템"},
    {"role": "user", "content": "안녕"},
]
PEER_SCRIPT = Path(__file__).parent / "peers" / "openai_server.py"


class FakeSleep:
    """Records requested waits and returns at once, so retry tests take milliseconds."""

    def __init__(self) -> None:
        self.calls: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)


@pytest.fixture(scope="module")
def shared_server() -> Iterator[OpenAIServer]:
    with OpenAIServer() as srv:  # one per module: stopping uvicorn takes ~0.2 s
        yield srv


@pytest.fixture
def server(shared_server: OpenAIServer) -> OpenAIServer:
    shared_server.clear()
    return shared_server


@pytest.fixture
def sleep() -> FakeSleep:
    return FakeSleep()


@pytest.fixture
def statuses() -> list[str]:
    return []


@pytest.fixture
async def client(
    server: OpenAIServer, sleep: FakeSleep, statuses: list[str]
) -> AsyncIterator[GroqClient]:
    groq = GroqClient(
        api_key=API_KEY,
        base_url=server.base_url,
        model="openai/gpt-oss-120b",
        on_status=statuses.append,
        sleep=sleep,
    )
    yield groq
    await groq.aclose()


def assert_clean(err: LLMError) -> None:
    text = str(err)
    assert API_KEY not in text
    assert "\n" not in text and text


# --- success and request shape ----------------------------------------------------------------


async def test_json_answer(server: OpenAIServer, client: GroqClient) -> None:
    server.script([Reply({"response": "안녕하세요, 반가워요!", "emotion": "happy"})])
    done = await client.complete_json(MESSAGES)
    assert isinstance(done, Completion)
    answer = parse_answer(done.content)
    assert (answer.response, answer.emotion, answer.cut) == (
        "안녕하세요, 반가워요!",
        "happy",
        False,
    )
    assert done.usage == DEFAULT_USAGE  # Groq's float timings are dropped
    assert done.finish_reason == "stop"
    assert done.elapsed_s > 0


async def test_request_shape_for_gpt_oss(server: OpenAIServer, client: GroqClient) -> None:
    server.script([Reply({"response": "좋아요", "emotion": "happy"}, reasoning="SECRET PLAN")])
    done = await client.complete_json(MESSAGES, max_tokens=256, temperature=0.5)
    assert "SECRET PLAN" not in done.content  # reasoning is never returned, so never spoken
    [req] = server.requests
    assert req.path == "/v1/chat/completions"
    assert req.headers["authorization"] == f"Bearer {API_KEY}"
    assert req.body == {
        "model": "openai/gpt-oss-120b",
        "messages": MESSAGES,
        "max_completion_tokens": 256,
        "temperature": 0.5,
        "response_format": {"type": "json_object"},
        "reasoning_effort": "low",
        "include_reasoning": False,
    }


async def test_other_models_get_no_reasoning_fields(server: OpenAIServer, sleep: FakeSleep) -> None:
    groq = GroqClient(
        api_key=API_KEY,
        base_url=server.base_url + "/",
        model="llama-3.3-70b-versatile",
        reasoning_effort="high",
        sleep=sleep,
    )
    try:
        await groq.complete_json(MESSAGES)
    finally:
        await groq.aclose()
    [req] = server.requests
    assert req.body["model"] == "llama-3.3-70b-versatile"
    assert "reasoning_effort" not in req.body and "include_reasoning" not in req.body


async def test_complete_text_is_plain(server: OpenAIServer, client: GroqClient) -> None:
    server.script([Reply("요약: 게임 이야기를 했다.")])
    done = await client.complete_text(MESSAGES, max_tokens=300)
    assert done.content == "요약: 게임 이야기를 했다."
    [req] = server.requests
    assert "response_format" not in req.body
    assert req.body["max_completion_tokens"] == 300


async def test_unknown_emotion_becomes_neutral(server: OpenAIServer, client: GroqClient) -> None:
    server.script([Reply({"response": "음... 글쎄요.", "emotion": "confused"})])
    answer = parse_answer((await client.complete_json(MESSAGES)).content)
    assert answer.emotion == "neutral"


async def test_rate_limit_headers_are_parsed(server: OpenAIServer, client: GroqClient) -> None:
    server.script(
        [
            Reply(
                headers={
                    "x-ratelimit-remaining-requests": "14370",
                    "x-ratelimit-remaining-tokens": "5400",
                    "x-ratelimit-reset-requests": "2m59.56s",
                    "x-ratelimit-reset-tokens": "7.66s",
                }
            )
        ]
    )
    await client.complete_json(MESSAGES)
    assert client.rate_limits == RateLimits(
        remaining_requests=14370,
        remaining_tokens=5400,
        reset_requests_s=pytest.approx(179.56),
        reset_tokens_s=pytest.approx(7.66),
        limited_until=None,
    )


# --- retries ---------------------------------------------------------------------------------


async def test_invalid_json_is_retried(
    server: OpenAIServer, client: GroqClient, sleep: FakeSleep
) -> None:
    server.script([InvalidJson(), Reply({"response": "다시 해볼게요", "emotion": "neutral"})])
    done = await client.complete_json(MESSAGES)
    assert parse_answer(done.content).response == "다시 해볼게요"
    assert len(server.requests) == 2
    assert len(sleep.calls) == 1 and 0.125 <= sleep.calls[0] <= 0.25  # backoff(0, 0.25 s)


async def test_429_waits_retry_after_then_succeeds(
    server: OpenAIServer, client: GroqClient, sleep: FakeSleep, statuses: list[str]
) -> None:
    server.script([RateLimited(retry_after=0.2), Reply({"response": "왔어요", "emotion": "happy"})])
    before = time.time()
    done = await client.complete_json(MESSAGES)
    assert parse_answer(done.content).response == "왔어요"
    assert sleep.calls == [0.2]
    assert len(server.requests) == 2
    assert len(statuses) == 1 and re.fullmatch(r"rate limited until \d\d:\d\d:\d\d", statuses[0])
    assert client.rate_limits.limited_until is None  # cleared by the success
    assert client.rate_limits.remaining_tokens == 7850
    assert before < time.time()


async def test_429_without_retry_after_uses_the_empty_bucket_reset(
    server: OpenAIServer, client: GroqClient, sleep: FakeSleep
) -> None:
    server.script([RateLimited(retry_after=None), Reply()])  # remaining-tokens 0, reset 1.125s
    await client.complete_json(MESSAGES)
    assert sleep.calls == [pytest.approx(1.125)]


async def test_429_falls_back_to_the_message_text(
    server: OpenAIServer, client: GroqClient, sleep: FakeSleep
) -> None:
    server.script(
        [
            RateLimited(
                retry_after=None,
                try_again_in="5.289s",
                headers={"x-ratelimit-remaining-tokens": "12"},
            ),
            Reply(),
        ]
    )
    await client.complete_json(MESSAGES)
    assert sleep.calls == [pytest.approx(5.289)]


async def test_429_with_a_long_wait_fails_at_once(
    server: OpenAIServer, client: GroqClient, sleep: FakeSleep, statuses: list[str]
) -> None:
    server.script([RateLimited(retry_after=3600)])
    before = time.time()
    with pytest.raises(LLMError) as info:
        await client.complete_json(MESSAGES)
    assert info.value.retryable and info.value.status == 429
    assert "rate limit" in str(info.value)
    assert_clean(info.value)
    assert len(server.requests) == 1 and sleep.calls == []
    assert statuses and statuses[0].startswith("rate limited until")
    limited = client.rate_limits.limited_until
    assert limited is not None and limited >= before + 3599


async def test_429_counts_toward_retries(
    server: OpenAIServer, client: GroqClient, sleep: FakeSleep
) -> None:
    server.script([RateLimited(retry_after=0.1)] * 4)
    with pytest.raises(LLMError) as info:
        await client.complete_json(MESSAGES)
    assert info.value.retryable and "429" in str(info.value)
    assert len(server.requests) == 4 and sleep.calls == [0.1] * 3


async def test_server_errors_until_retries_run_out(
    server: OpenAIServer, client: GroqClient, sleep: FakeSleep
) -> None:
    server.script([ServerError(500), ServerError(502), ServerError(503), ServerError(500)])
    with pytest.raises(LLMError) as info:
        await client.complete_json(MESSAGES)
    assert info.value.retryable
    assert "after 4 attempts" in str(info.value) and "500" in str(info.value)
    assert_clean(info.value)
    assert len(server.requests) == 4
    assert len(sleep.calls) == 3 and all(0 < s <= 2.0 for s in sleep.calls)


async def test_504_then_success(server: OpenAIServer, client: GroqClient) -> None:
    server.script([ServerError(504), Reply({"response": "됐다", "emotion": "excited"})])
    assert parse_answer((await client.complete_json(MESSAGES)).content).emotion == "excited"


async def test_slow_server_times_out_and_is_retried(server: OpenAIServer, sleep: FakeSleep) -> None:
    groq = GroqClient(
        api_key=API_KEY,
        base_url=server.base_url,
        model="m",
        timeout_s=0.3,
        max_retries=1,
        sleep=sleep,
    )
    server.script([Slow(0.8), Slow(0.8)])
    started = time.perf_counter()
    try:
        with pytest.raises(LLMError) as info:
            await groq.complete_json(MESSAGES)
    finally:
        await groq.aclose()
    took = time.perf_counter() - started
    assert info.value.retryable and "timed out after 0.3 s" in str(info.value)
    assert len(server.requests) == 2
    assert 0.55 < took < 1.5  # two 0.3 s attempts, not the server's 0.8 s


async def test_slow_then_fast_succeeds(server: OpenAIServer, sleep: FakeSleep) -> None:
    groq = GroqClient(
        api_key=API_KEY, base_url=server.base_url, model="m", timeout_s=0.3, sleep=sleep
    )
    server.script([Slow(0.8), Reply({"response": "늦어서 미안", "emotion": "sad"})])
    try:
        done = await groq.complete_json(MESSAGES)
    finally:
        await groq.aclose()
    assert parse_answer(done.content).emotion == "sad"
    assert len(server.requests) == 2


async def test_connection_refused_is_retryable(sleep: FakeSleep) -> None:
    with OpenAIServer() as srv:
        url = srv.base_url  # a port that was just served and is now closed
    groq = GroqClient(api_key=API_KEY, base_url=url, model="m", sleep=sleep)
    try:
        with pytest.raises(LLMError) as info:
            await groq.complete_text(MESSAGES)
    finally:
        await groq.aclose()
    assert info.value.retryable and "connection failed" in str(info.value)
    assert_clean(info.value)
    assert len(sleep.calls) == 3


# --- fatal errors ----------------------------------------------------------------------------


async def test_401_is_not_retried(server: OpenAIServer, client: GroqClient) -> None:
    server.script([Status(401, f"Invalid API Key {API_KEY}", code="invalid_api_key")])
    with pytest.raises(LLMError) as info:
        await client.complete_json(MESSAGES)
    assert not info.value.retryable and info.value.status == 401
    assert str(info.value).startswith("Groq rejected the API key (401)")
    assert_clean(info.value)
    assert len(server.requests) == 1


@pytest.mark.parametrize(
    ("status", "words"),
    [
        (403, "denied"),
        (404, "not found"),
        (413, "too large"),
        (422, "could not process"),
        (400, "rejected the request"),  # a 400 that is not json_validate_failed
    ],
)
async def test_fatal_statuses(
    server: OpenAIServer, client: GroqClient, status: int, words: str
) -> None:
    server.script([Status(status, f"bad thing\nwith key {API_KEY} " + "x" * 500)])
    with pytest.raises(LLMError) as info:
        await client.complete_json(MESSAGES)
    assert not info.value.retryable and info.value.status == status
    assert words in str(info.value) and f"({status})" in str(info.value)
    assert_clean(info.value)
    assert len(str(info.value)) < 400
    assert len(server.requests) == 1


# --- pure helpers ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("7.66s", 7.66),
        ("2m59.56s", 179.56),
        ("1h2m3s", 3723.0),
        ("120ms", 0.12),
        ("1m", 60.0),
        ("5", 5.0),
        ("0.2", 0.2),
        (" 3s ", 3.0),
    ],
)
def test_parse_duration(text: str, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", [None, "", "soon", "5x", "s", "-1", "nan", "1s2", "Wed, 21 Oct"])
def test_parse_duration_rejects(text: str | None) -> None:
    assert parse_duration(text) is None


def test_parse_rate_limits_keeps_what_a_response_does_not_say() -> None:
    first = parse_rate_limits({"x-ratelimit-remaining-requests": "10"}, RateLimits())
    second = parse_rate_limits({"x-ratelimit-remaining-tokens": "oops"}, first)
    assert second == RateLimits(remaining_requests=10)


def test_rate_limit_wait_order() -> None:
    empty = RateLimits(
        remaining_tokens=0, reset_tokens_s=7.5, remaining_requests=5, reset_requests_s=3000
    )
    text = "Please try again in 2m5.5s."
    assert rate_limit_wait({"retry-after": "3"}, text, empty) == 3
    assert rate_limit_wait({}, text, empty) == 7.5
    assert rate_limit_wait({}, text, RateLimits(remaining_tokens=9, reset_tokens_s=7.5)) == 125.5
    assert rate_limit_wait({}, "slow down", RateLimits()) == 1.0


def test_bad_arguments() -> None:
    with pytest.raises(ValueError):
        GroqClient(api_key="k", base_url="http://x", model="m", max_retries=-1)
    with pytest.raises(ValueError):
        GroqClient(api_key="k", base_url="http://x", model="m", timeout_s=0)


# --- the peer as a separate process (what the daemon integration test uses) ---------------------


def test_peer_process_echoes_the_last_viewer_line() -> None:
    proc = subprocess.Popen(
        [sys.executable, str(PEER_SCRIPT), "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        encoding="utf-8",
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        match = re.fullmatch(r"listening on (http://127\.0\.0\.1:\d+/v1)\n", line)
        assert match, line
        chat = "시청자 채팅 2개\n<<<CHAT>>>\n「가」: 첫째\n[방장] 「나」: 둘째 말\n<<<END CHAT>>>"
        with httpx.Client(base_url=match.group(1), timeout=5) as http:
            reply = http.post(
                "/chat/completions",
                json={
                    "model": "m",
                    "response_format": {"type": "json_object"},
                    "messages": [{"role": "user", "content": chat}],
                },
            )
            summary = http.post(
                "/chat/completions",
                json={
                    "model": "m",
                    "messages": [{"role": "user", "content": "요약해줘"}],
                },
            )
        assert reply.status_code == 200
        assert parse_answer(reply.json()["choices"][0]["message"]["content"]).response == "둘째 말"
        assert summary.json()["choices"][0]["message"]["content"].startswith("요약")
    finally:
        proc.terminate()
        out, _ = proc.communicate(timeout=5)
    assert proc.returncode == 0, out
    assert "Traceback" not in out


async def test_echo_default_in_process(server: OpenAIServer, client: GroqClient) -> None:
    assert isinstance(server.default, Echo)
    done = await client.complete_json(
        [{"role": "user", "content": "<<<CHAT>>>\n「a」: 안녕 초코\n<<<END CHAT>>>"}]
    )
    assert parse_answer(done.content).response == "안녕 초코"
