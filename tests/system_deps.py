"""System programs and libraries some tests need (not pip packages): each missing one skips its
tests with the line that installs it. CI installs them all and sets AISCHOCO_REQUIRE_SYSTEM_DEPS=1,
under which a missing one fails instead, so nothing silently stops being tested there."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import NoReturn

import pytest

REQUIRE_ENV = "AISCHOCO_REQUIRE_SYSTEM_DEPS"
ALSA_CONF = Path("/usr/share/alsa/alsa.conf")
CHROMIUM = Path("/usr/bin/chromium")


def missing(what: str, install: str) -> NoReturn:
    """Skip (or, under AISCHOCO_REQUIRE_SYSTEM_DEPS=1, fail) the calling test or module."""
    reason = f"{what} is missing: {install}"
    if os.environ.get(REQUIRE_ENV) == "1":
        pytest.fail(f"{reason} ({REQUIRE_ENV}=1: these tests must run here)", pytrace=False)
    pytest.skip(reason, allow_module_level=True)


def require_portaudio() -> None:
    """PortAudio (sounddevice's library) and ALSA's configuration, for real device streams."""
    try:
        import sounddevice  # noqa: F401 - loading it is the check: it dlopens libportaudio
    except OSError:
        missing("PortAudio (libportaudio2)", "apt-get install libportaudio2")
    if not ALSA_CONF.exists():
        missing(f"ALSA configuration ({ALSA_CONF})", "apt-get install libasound2-data")


def require_chromium() -> None:
    if not CHROMIUM.exists():
        missing(f"Chromium ({CHROMIUM}; no browser is downloaded)", "apt-get install chromium")


def require_node() -> tuple[str, str]:
    """(node, npm) paths."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        missing("Node.js/npm (the CHZZK Socket.IO 2.x test peer)", "apt-get install nodejs npm")
    return node, npm


def require_espeak(problem: str | None) -> None:
    """`problem`: why espeak-ng cannot speak Korean here, or None when it can."""
    if problem is not None:
        missing(f"espeak-ng with a Korean voice ({problem})", "apt-get install espeak-ng")


def require_xvfb() -> str:
    """The virtual X server the screen-capture test draws on; returns its path."""
    path = shutil.which("Xvfb")
    if path is None:
        missing("Xvfb (a virtual X display for the screen-capture test)", "apt-get install xvfb")
    return path
