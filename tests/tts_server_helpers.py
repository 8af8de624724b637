"""Shared by the TTS-server tests: serving an engine with `serve_tts` on a free loopback port for
the length of a test, and polling for a condition without sleeping a fixed time."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest

from aischoco.tts.remote_engine import RemoteEngine
from aischoco.tts.server import serve_tts

Serve = Callable[..., Awaitable[str]]


async def wait_for(predicate: Callable[[], object], timeout: float = 3.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached in time"
        await asyncio.sleep(0.005)


@pytest.fixture
async def serve() -> AsyncIterator[Serve]:
    """`url = await serve(engine, model_name=…, **serve_tts options)`; stopped after the test."""
    running: list[tuple[asyncio.Event, asyncio.Task[None]]] = []

    async def start(engine: Any, *, model_name: str, **kwargs: Any) -> str:
        stop, urls = asyncio.Event(), []
        task = asyncio.create_task(serve_tts(engine, "127.0.0.1", 0, model_name=model_name,
                                             stop=stop, on_listening=urls.append, **kwargs))
        await wait_for(lambda: urls or task.done(), timeout=5.0)
        running.append((stop, task))
        return urls[0]

    yield start
    for stop, task in running:
        stop.set()
        await asyncio.wait_for(task, 5)


@pytest.fixture
async def make_engine() -> AsyncIterator[Callable[..., RemoteEngine]]:
    """RemoteEngine clients with a short retry delay, closed after the test."""
    engines: list[RemoteEngine] = []

    def make(base_url: str, **kwargs: object) -> RemoteEngine:
        kwargs.setdefault("retry_delay_s", 0.01)
        engine = RemoteEngine(base_url, **kwargs)  # type: ignore[arg-type]
        engines.append(engine)
        return engine

    yield make
    for engine in engines:
        await engine.aclose()


