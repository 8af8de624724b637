"""Shared fixtures. Tests never read the developer's own .env or environment settings."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from aischoco.settings.model import Settings
from browser_helpers import browser  # noqa: F401 - the shared headless Chromium fixture
from tts_server_helpers import make_engine, serve  # noqa: F401 - shared fixtures: RemoteEngine clients, serve_tts
from turn_peers import llm_peer, llm_server, peers, servers  # noqa: F401 - shared fixtures: the LLM and speech peers

SETTING_KEYS = {name.upper() for name in Settings.model_fields}


@pytest.fixture(autouse=True)
def clean_settings_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for key in list(os.environ):
        if key in SETTING_KEYS:
            monkeypatch.delenv(key, raising=False)
    yield
