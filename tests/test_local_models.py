"""Local models (Ollama, LM Studio, llama.cpp, vLLM) behind GROQ_BASE_URL, in one process: the real
client, responder and turn runner against the OpenAI peer answering exactly as those servers do.

A server that refuses `tools` for its model: the turn is answered again without them, that base URL
and model get no tools afterwards, and the AI row says so. An answer that ignores the JSON format:
plain text is said with emotion neutral, a Python-style dict is read as one, and only an answer
with nothing sayable drops the turn. The daemon-level versions are in test_local_models_daemon.py.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import httpx
import pytest
from peers.openai_server import (
    Echo,
    OpenAIServer,
    RefuseJsonMode,
    RefuseTools,
    Reply,
    Status,
    Stream,
)
from peers.speech_server import SpeechServer
from test_groq_client import FakeSleep
from test_stream_turn import rig
from test_tool_turns import registry, said

from aischoco.ai.groq_client import GroqClient, LLMError, ToolsRefused
from aischoco.ai.responder import TOOLLESS_NOTE
from aischoco.core.status import State, StatusBoard

VLLM = '"auto" tool choice requires --enable-auto-tool-choice and --tool-call-parser to be set'
# Each server's refusal of `tools`, byte for byte as its source writes it (see the peer's
# TOOLS_REFUSALS for where in each source): (status, content type, body) for model gemma3:4b.
REFUSALS = {
    # ollama/ollama server/routes.go + middleware/openai.go (Go's json.Encoder: compact, "\n")
    "ollama": (400, "application/json",
               ('{"error":{"message":"registry.ollama.ai/library/gemma3:4b does not support tools",'
                '"type":"invalid_request_error","param":null,"code":null}}\n')),
    # ggml-org/llama.cpp tools/server: runtime_error in oaicompat_chat_params_parse → ex_wrapper
    "llamacpp": (500, "application/json; charset=utf-8",
                 ('{"error":{"code":500,"message":"tools param requires --jinja flag",'
                  '"type":"server_error"}}')),
    # vllm-project/vllm renderers/online_renderer.py render_chat → create_error_response
    "vllm": (400, "application/json", json.dumps(
        {"error": {"message": VLLM, "type": "BadRequestError", "param": None, "code": 400}})),
    "vllm-legacy": (400, "application/json", json.dumps(
        {"object": "error", "message": VLLM, "type": "BadRequestError", "param": None,
         "code": 400})),
}
# What the AI row's hint names for each (how to get tools from that server).
HINT_WORDS = {"ollama": "GROQ_MODEL", "llamacpp": "--jinja", "vllm": "--enable-auto-tool-choice",
              "vllm-legacy": "--enable-auto-tool-choice"}
TOOL = [{"type": "function", "function": {"name": "korea_time", "description": "시간",
                                          "parameters": {"type": "object", "properties": {}}}}]
MESSAGES = [{"role": "user", "content": "안녕"}]
SERVERS = list(REFUSALS)


@pytest.fixture()
def tts(peers: tuple[OpenAIServer, SpeechServer]) -> SpeechServer:
    return peers[1]


# --- the peer speaks each refusal as that server does ---------------------------------------------


@pytest.mark.parametrize("server", SERVERS)
@pytest.mark.parametrize("stream", [True, False])
def test_the_peer_refuses_tools_in_each_servers_own_words(server: str, stream: bool) -> None:
    status, content_type, body = REFUSALS[server]
    with OpenAIServer(default=RefuseTools(server)) as peer:
        url = f"{peer.base_url}/chat/completions"
        refused = httpx.post(url, json={"model": "gemma3:4b", "messages": MESSAGES, "tools": TOOL,
                                        "tool_choice": "auto", "stream": stream})
        plain = httpx.post(url, json={"model": "gemma3:4b", "messages": MESSAGES})
    assert (refused.status_code, refused.headers["content-type"], refused.text) == (
        status, content_type, body)
    assert plain.status_code == 200  # without tools the same model answers


# --- the client: refused at once, never retried ---------------------------------------------------


@pytest.mark.parametrize("server", SERVERS)
@pytest.mark.parametrize("stream", [True, False])
async def test_a_refusal_of_tools_is_told_apart_and_not_retried(server: str, stream: bool) -> None:
    with OpenAIServer(default=RefuseTools(server)) as peer:
        sleep = FakeSleep()
        client = GroqClient(api_key="k", base_url=peer.base_url, model="gemma3:4b", sleep=sleep)
        try:
            with pytest.raises(ToolsRefused) as info:
                if stream:
                    async for _ in client.stream_chat(MESSAGES, tools=TOOL):
                        pass
                else:
                    await client.complete_tools(MESSAGES, TOOL)
        finally:
            await client.aclose()
        assert len(peer.requests) == 1 and sleep.calls == []  # llama.cpp's 500 too
    error = info.value
    assert error.status == REFUSALS[server][0] and not error.retryable
    assert json.loads(REFUSALS[server][2]).get("error", {}).get("message", VLLM) in str(error)
    assert HINT_WORDS[server] in error.hint and "GROQ_STREAM" not in str(error)


async def test_other_errors_with_tools_stay_what_they_were(llm_peer: OpenAIServer) -> None:
    missing = "The model `gemma3:4b` does not exist or you do not have access to it."
    llm_peer.script([Status(400, missing, code="model_not_found"), Status(500, "boom")])
    client = GroqClient(api_key="k", base_url=llm_peer.base_url, model="gemma3:4b",
                        max_retries=0, sleep=FakeSleep())
    try:
        for _ in range(2):
            with pytest.raises(LLMError) as info:
                await client.complete_tools(MESSAGES, TOOL)
            assert not isinstance(info.value, ToolsRefused)
    finally:
        await client.aclose()


# --- a turn: answered without tools, remembered for that server and model -------------------------


@pytest.mark.parametrize("server", SERVERS)
@pytest.mark.parametrize("stream", [True, False])
async def test_a_refused_turn_is_answered_without_tools_and_later_turns_send_none(
        tmp_path: Path, tts: SpeechServer, server: str, stream: bool,
        caplog: pytest.LogCaptureFixture) -> None:
    with OpenAIServer(default=RefuseTools(server, then=Echo("happy"))) as llm:
        async with rig(tmp_path, llm, tts, stream=stream) as r:
            r.responder.tools, ran = registry()
            row = StatusBoard().register("llm", "AI 답변")
            r.responder.status = row
            row.set(State.RUNNING, "openai/gpt-oss-120b 준비됨")
            with caplog.at_level(logging.INFO):
                first = await r.turn("안녕!")
                second = await r.turn("또 왔어!")
        bodies = [req.body for req in llm.requests]
    assert first.outcome == second.outcome == "ok"
    assert said(tts) == ["안녕!", "또 왔어!"]  # this turn answered, not dropped
    assert [bool(b.get("tools")) for b in bodies] == [True, False, False]
    assert not any("tool_choice" in b for b in bodies[1:])  # llama.cpp refuses that alone too
    assert all(b.get("stream", False) is stream for b in bodies)
    if not stream:  # the whole answer is then asked for in JSON mode, as without tools
        assert [b.get("response_format") for b in bodies[1:]] == [{"type": "json_object"}] * 2
    assert ran == []
    assert row.current.state is State.RUNNING and TOOLLESS_NOTE in row.current.detail
    assert HINT_WORDS[server] in row.current.hint
    assert row.current.last_error == ""  # not a failure
    refused = [rec for rec in caplog.records if "refused tools" in rec.getMessage()]
    assert len(refused) == 1 and refused[0].levelno == logging.WARNING  # said once, not per turn


async def test_another_model_on_the_same_server_is_offered_tools_again(
        tmp_path: Path, tts: SpeechServer) -> None:
    with OpenAIServer(default=RefuseTools("ollama")) as llm:
        async with rig(tmp_path, llm, tts) as r:
            r.responder.tools, _ = registry()
            await r.turn("안녕!")
            old, r.responder.client = r.responder.client, GroqClient(
                api_key="k", base_url=llm.base_url, model="qwen3:8b")
            await old.aclose()
            llm.script([Stream({"emotion": "happy", "response": "qwen3는 도구를 써요!"})])
            await r.turn("모델 바꿨어")
        bodies = [req.body for req in llm.requests]
    assert [bool(b.get("tools")) for b in bodies] == [True, False, True]
    assert said(tts)[-1] == "qwen3는 도구를 써요!"


# --- answers that ignore the format ---------------------------------------------------------------


@pytest.mark.parametrize("stream", [True, False])
@pytest.mark.parametrize(("content", "words", "emotion"), [
    ("안녕하세요! 오늘도 와 줘서 고마워요.", ["안녕하세요!", "오늘도 와 줘서 고마워요."], "neutral"),
    ("<think>JSON으로 답하라고 했지만...</think>\n반가워요! 좋은 저녁이에요.",
     ["반가워요!", "좋은 저녁이에요."], "neutral"),
    ("{'emotion': 'sad', 'response': '오늘은 조금 슬퍼요. 그래도 힘낼게요.'}",
     ["오늘은 조금 슬퍼요.", "그래도 힘낼게요."], "sad"),
    ("네! {'response': \"작은따옴표 사전도 읽어요.\", 'emotion': 'excited'}",
     ["작은따옴표 사전도 읽어요."], "excited"),
])
async def test_an_answer_that_ignores_the_format_is_said_not_retried(
        tmp_path: Path, peers: tuple[OpenAIServer, SpeechServer], stream: bool, content: str,
        words: list[str], emotion: str) -> None:
    llm, tts = peers
    llm.script([Stream(content, token_chars=3) if stream else Reply(content)])
    async with rig(tmp_path, llm, tts, stream=stream) as r:
        marks = await r.turn()
        history = r.history()
    assert len(llm.requests) == 1 and marks.outcome == "ok"
    assert said(tts) == words
    assert r.shown[-1].emotion == emotion and r.animator.emotions[-1][0] == emotion
    assert r.shown[-1].response == " ".join(words)
    assert history[-1] == {"role": "assistant", "content": " ".join(words)}
    assert "think" not in " ".join([*said(tts), r.shown[-1].response])


@pytest.mark.parametrize("stream", [True, False])
async def test_an_answer_with_nothing_to_say_still_drops_the_turn(
        tmp_path: Path, peers: tuple[OpenAIServer, SpeechServer], stream: bool,
        caplog: pytest.LogCaptureFixture) -> None:
    llm, tts = peers
    empty = "<think>생각만 하다가 토큰이 다 떨어졌어요"
    llm.script([Stream(empty) if stream else Reply(empty)] * 2)
    with caplog.at_level(logging.INFO):
        async with rig(tmp_path, llm, tts, stream=stream) as r:
            marks = await r.turn()
            history = r.history()
    assert len(llm.requests) == 2 and marks.outcome == "error"  # asked once more, then dropped
    assert said(tts) == [] and r.shown == [] and history == []
    assert any("turn 1 dropped" in rec.getMessage() and "nothing to say" in rec.getMessage()
               for rec in caplog.records)


# --- LM Studio: no JSON mode ----------------------------------------------------------------------


async def test_a_server_that_refuses_json_mode_is_asked_without_it(
        tmp_path: Path, tts: SpeechServer, caplog: pytest.LogCaptureFixture) -> None:
    with OpenAIServer() as llm:  # GROQ_STREAM=false asks for the whole answer in JSON mode
        llm.script([RefuseJsonMode(),
                    RefuseJsonMode(then=Reply({"emotion": "excited", "response": "저도 답해요!"})),
                    RefuseJsonMode(then=Reply("JSON 없이도 말해요."))])
        with caplog.at_level(logging.WARNING):
            async with rig(tmp_path, llm, tts, stream=False) as r:
                first = await r.turn("LM Studio야?")
                second = await r.turn("또 말해 봐")
        bodies = [req.body for req in llm.requests]
    assert first.outcome == second.outcome == "ok"
    assert said(tts) == ["저도 답해요!", "JSON 없이도 말해요."]
    assert [a.emotion for a in r.shown] == ["excited", "neutral"]
    assert ["response_format" in b for b in bodies] == [True, False, False]  # remembered
    assert sum("refused JSON mode" in rec.getMessage() for rec in caplog.records) == 1
