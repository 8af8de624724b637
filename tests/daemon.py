"""Start `python -m aischoco run` as a real subprocess on a free loopback port (test helper)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from conftest import SETTING_KEYS
from peers import free_port

BASE_ENV = {"CHAT_SOURCE": "local", "TTS_ENGINE": "off", "VTS_ENABLED": "false"}



@dataclass
class Daemon:
    proc: subprocess.Popen[str]
    url: str

    log_path: Path

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 5.0) -> tuple[int, float, str]:
        """Send `sig`; return (exit code, seconds to exit, combined output)."""
        started = time.monotonic()
        self.proc.send_signal(sig)
        self.proc.communicate(timeout=timeout)
        return self.proc.returncode, time.monotonic() - started, self.output()

    def output(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")


@contextmanager
def run_daemon(workdir: Path, *, stdin: int = subprocess.DEVNULL, **env: str) -> Iterator[Daemon]:
    port = int(env.pop("OVERLAY_PORT", 0)) or free_port()
    full_env = {k: v for k, v in os.environ.items() if k not in SETTING_KEYS}
    full_env.update(BASE_ENV, OVERLAY_PORT=str(port), PYTHONUNBUFFERED="1", **env)
    # Output goes to a file, not a pipe: nobody reads a pipe until the end, and a full pipe
    # would block a chatty daemon.
    log_path = workdir / f"daemon-{port}.log"
    with open(log_path, "w", encoding="utf-8") as log_file:
        proc = subprocess.Popen(
            [sys.executable, "-m", "aischoco", "run"], cwd=workdir, env=full_env,
            stdin=stdin, stdout=log_file, stderr=subprocess.STDOUT, text=True, encoding="utf-8",
        )
    daemon = Daemon(proc, f"http://127.0.0.1:{port}", log_path)
    try:
        deadline = time.monotonic() + 20
        while True:
            if proc.poll() is not None:
                raise AssertionError(f"daemon exited early:\n{daemon.output()}")
            try:
                if httpx.get(f"{daemon.url}/api/state", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise AssertionError("daemon did not start serving within 20 s")
            time.sleep(0.1)
        yield daemon
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate(timeout=5)


def voice_env(llm_url: str, tts_url: str, wav: Path, **extra: str) -> dict[str, str]:
    """Settings for a daemon that answers through a Groq peer and speaks through a TTS peer into
    a WAV file (`AUDIO_OUTPUT_DEVICE=file:`)."""
    return {"GROQ_API_KEY": "gsk_voice_test", "GROQ_BASE_URL": llm_url, "GROQ_TIMEOUT_S": "3",
            "TTS_ENGINE": "remote", "TTS_REMOTE_URL": tts_url,
            "AUDIO_OUTPUT_DEVICE": f"file:{wav}", "SEGMENT_MIN_CHARS": "2", **extra}


def wait_until(check, timeout: float = 15.0, what: str = "condition"):  # type: ignore[no-untyped-def]
    """Poll `check` every 50 ms until it returns something truthy; return that."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} not reached")
        time.sleep(0.05)
