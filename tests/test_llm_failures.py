"""When the LLM keeps failing: the error says the real cause (the streaming hint only when the
server's words are about streaming), the LLM row turns degraded with the server's message after
repeated failed turns, and the first answer that works turns it back. Real OpenAI-compatible peer."""

from __future__ import annotations

from pathlib import Path

import pytest

from aischoco.ai.character import CharacterPrompt
from aischoco.ai.groq_client import GroqClient, LLMError
from aischoco.ai.conversation import ConversationMemory
from aischoco.ai.prompts import OutputFilter
from aischoco.ai.responder import GroqResponder
from aischoco.core.messages import ChatMessage
from aischoco.core.segmenter import SegmenterConfig
from aischoco.core.status import State, StatusBoard
from peers.openai_server import OpenAIServer, Reply, Status, Stream
from test_groq_client import FakeSleep

MODEL_400 = ("The model `openai/gpt-oss-12b` does not exist or you do not have access to it.")
KEY_401 = "Invalid API Key"


@pytest.fixture()
def peer(llm_peer: OpenAIServer) -> OpenAIServer:
    return llm_peer  # (tests/turn_peers.py: one peer per module, cleared for each test)


async def _responder(peer: OpenAIServer, tmp_path: Path, *, stream: bool) -> GroqResponder:
    client = GroqClient(api_key="gsk_failures_test", base_url=peer.base_url,
                        model="openai/gpt-oss-12b", sleep=FakeSleep())
    responder = GroqResponder(client, CharacterPrompt(tmp_path / "character.txt"),
                              OutputFilter(()), max_answer_chars=300, stream=stream)
    responder.memory = await ConversationMemory.open(tmp_path / "history", responder.summarize,
                                                     keep_tokens=5000, summarize_at=7000,
                                                     limit_tokens=8000)
    board = StatusBoard()
    responder.status = board.register("llm", "AI 답변")
    responder.status.set(State.RUNNING, "openai/gpt-oss-12b 준비됨")
    return responder


async def _turn(responder: GroqResponder) -> None:
    batch = [ChatMessage(user="민수", message="안녕")]
    if responder.streaming:
        async for _ in responder.reply_stream(batch, SegmenterConfig(min_chars=2)):
            pass
    else:
        await responder.reply(batch)


@pytest.mark.parametrize(("status", "message", "hint"), [
    (400, MODEL_400, False),
    (401, KEY_401, False),
    (400, "stream is not supported for this model", True),
    (422, "'stream': extra inputs are not permitted", True),
])
async def test_the_streaming_hint_only_when_the_server_talks_about_streaming(
        peer: OpenAIServer, tmp_path: Path, status: int, message: str, hint: bool) -> None:
    responder = await _responder(peer, tmp_path, stream=True)
    peer.script([Status(status, message)])
    try:
        with pytest.raises(LLMError) as err:
            await _turn(responder)
        assert ("GROQ_STREAM=false" in str(err.value)) is hint
        assert len(peer.requests) == 1  # a 4xx is never retried
    finally:
        await responder.client.aclose()


@pytest.mark.parametrize("stream", [True, False])
@pytest.mark.parametrize(("status", "message", "todo"), [
    (400, MODEL_400, "GROQ_MODEL"),
    (401, KEY_401, "GROQ_API_KEY"),
])
async def test_repeated_failures_turn_the_row_degraded_and_an_answer_turns_it_back(
        peer: OpenAIServer, tmp_path: Path, stream: bool, status: int, message: str,
        todo: str) -> None:
    responder = await _responder(peer, tmp_path, stream=stream)
    row = responder.status
    assert row is not None
    peer.script([Status(status, message), Status(status, message)])
    try:
        with pytest.raises(LLMError):
            await _turn(responder)
        assert row.current.state is State.RUNNING  # one failure may be a blip
        assert message.split()[0] in row.current.last_error
        with pytest.raises(LLMError):
            await _turn(responder)
        current = row.current
        assert current.state is State.DEGRADED
        assert "답변 실패 2번 연속" in current.detail and f"({status})" in current.detail
        assert todo in current.hint
        good = {"emotion": "happy", "response": "안녕하세요!"}
        peer.script([Stream(good) if stream else Reply(good)])
        await _turn(responder)
        assert row.current.state is State.RUNNING
    finally:
        await responder.client.aclose()
