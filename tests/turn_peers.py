"""The LLM and speech peers a reply turn talks to, shared by the in-process turn tests: one pair
per test module (`servers`), cleared before each test (`peers`)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from peers.openai_server import OpenAIServer
from peers.speech_server import SpeechServer


@pytest.fixture(scope="module")
def servers() -> Iterator[tuple[OpenAIServer, SpeechServer]]:
    with OpenAIServer() as llm, SpeechServer(ms_per_char=5) as tts:
        yield llm, tts


@pytest.fixture()
def peers(servers: tuple[OpenAIServer, SpeechServer]) -> tuple[OpenAIServer, SpeechServer]:
    for server in servers:
        server.clear()
    return servers


@pytest.fixture(scope="module")
def llm_server() -> Iterator[OpenAIServer]:
    """One OpenAI-compatible peer per test module (the LLM client and responder tests)."""
    with OpenAIServer() as srv:
        yield srv


@pytest.fixture()
def llm_peer(llm_server: OpenAIServer) -> OpenAIServer:
    llm_server.clear()
    return llm_server
