"""Headless Debian Chromium driven by playwright-python for the browser tests (never a download).

A test module calls `require_browser()` at import (it skips the module where the browser or
playwright is missing); the `browser` fixture reaches every test through conftest.py."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from typing import Any

import pytest

from system_deps import CHROMIUM, require_chromium

LAUNCH_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
               "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def require_browser() -> Any:
    """playwright.sync_api, or skip the calling test module with the reason."""
    if sys.platform == "win32":
        pytest.skip("POSIX only (the daemon is stopped with SIGTERM)", allow_module_level=True)
    require_chromium()
    return pytest.importorskip(
        "playwright.sync_api",
        reason="playwright-python missing (pip install -r requirements-dev.txt)")


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    sync_api = require_browser()
    with sync_api.sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=LAUNCH_ARGS)
        try:
            yield b
        finally:
            b.close()
