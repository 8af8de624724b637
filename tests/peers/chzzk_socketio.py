"""Start the Node Socket.IO 2.x CHZZK peer (tests/peers/node/chzzk_socketio_server.js) for tests.

It serves the Open API session, subscribe and token-refresh endpoints and the socket on one port,
as CHZZK_OPENAPI_URL is one base URL in the daemon. Needs node and npm; skips with the reason
when they (or `npm ci`) are unavailable.
"""

from __future__ import annotations

import queue
import shutil
import subprocess
import tempfile
import threading
from pathlib import Path
from typing import Any

import httpx

from system_deps import missing, require_node

NODE_DIR = Path(__file__).parent / "node"
SERVER_JS = NODE_DIR / "chzzk_socketio_server.js"


def _ensure_node_modules() -> None:
    _node, npm = require_node()
    if (NODE_DIR / "node_modules" / "socket.io" / "package.json").exists():
        return
    try:
        done = subprocess.run([npm, "ci", "--no-audit", "--no-fund"], cwd=NODE_DIR, check=False,
                              capture_output=True, text=True, timeout=300, encoding="utf-8")
    except (OSError, subprocess.TimeoutExpired) as err:
        missing(f"the Socket.IO 2.x peer's packages (`npm ci` failed: {err})",
                f"npm ci --prefix {NODE_DIR}")
    if done.returncode != 0:
        tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
        missing(f"the Socket.IO 2.x peer's packages (`npm ci` failed: {' | '.join(tail)})",
                f"npm ci --prefix {NODE_DIR}")


class NodePeer:
    def __init__(self) -> None:
        _ensure_node_modules()
        self._stderr = tempfile.TemporaryFile(mode="w+", encoding="utf-8")  # noqa: SIM115 - a pipe nobody reads could fill up
        self.proc = subprocess.Popen(
            [shutil.which("node") or "node", str(SERVER_JS), "0"], cwd=NODE_DIR,
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._stderr, text=True, encoding="utf-8")
        lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=lambda: lines.put(self.proc.stdout.readline()),  # type: ignore[union-attr]
                         daemon=True).start()
        try:
            first = lines.get(timeout=15)
        except queue.Empty:
            self.stop()
            raise RuntimeError("the Node Socket.IO peer did not start in 15 s") from None
        if not first.startswith("listening "):
            self.proc.poll()
            self._stderr.seek(0)
            err = self._stderr.read()
            self.stop()
            raise RuntimeError(f"the Node Socket.IO peer failed: {first!r} {err[-500:]}")
        self.port = int(first.split()[1])
        self.base_url = f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        try:
            if self.proc.stdin:
                self.proc.stdin.close()
        except OSError:
            pass
        self.proc.terminate()
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=5)
        if self.proc.stdout:
            self.proc.stdout.close()
        self._stderr.close()

    async def post(self, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        async with httpx.AsyncClient(base_url=self.base_url, timeout=10) as http:
            response = await http.post(path, json=body or {})
            response.raise_for_status()
            return response.json()

    async def state(self) -> dict[str, Any]:
        return await self.post("/test/state")

    async def emit(self, event: str, payload: Any, count: int | None = None) -> dict[str, Any]:
        body: dict[str, Any] = {"event": event, "payload": payload}
        if count:
            body["count"] = count
        return await self.post("/test/emit", body)
