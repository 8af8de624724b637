"""One daemon per port: before anything starts, is OVERLAY_PORT free, held by another aischoco
(then this one must not start a second chat, voice and VTube Studio link beside it), or held by
some other program (then the streamer changes OVERLAY_PORT)?

The check binds exactly as the overlay server will (core/embedded_server.bind_socket: exclusive
on Windows, SO_REUSEADDR elsewhere) and lets go at once; who holds a busy port is asked over HTTP.
"""

from __future__ import annotations

import errno
from dataclasses import dataclass

import httpx

from ..core.embedded_server import ListenError, bind_socket
from ..overlay.component import listen_todo
from ..overlay.guard import PASSWORD_NEEDED
from ..settings.model import Settings

EXIT_ALREADY_RUNNING = 1
EXIT_PORT_TAKEN = 2  # a setting to change, like any invalid setting
PROBE_TIMEOUT_S = 2.0


@dataclass(frozen=True, slots=True)
class PortProblem:
    message: str  # Korean first, with what to do
    exit_code: int
    other_panel: str | None = None  # the running aischoco's control panel, when it is one


async def overlay_port_problem(settings: Settings) -> PortProblem | None:
    """None when OVERLAY_HOST:OVERLAY_PORT can be listened on now."""
    host, port, url = settings.overlay_host, settings.overlay_port, settings.overlay_base_url
    try:
        bind_socket(host, port).close()
        return None
    except ListenError as exc:
        refused = exc
    not_here = refused.errno in (errno.EADDRNOTAVAIL, getattr(errno, "WSAEADDRNOTAVAIL", -1))
    # Windows may say "access denied" (not "in use") for a port another program holds
    # exclusively: whoever answers there is asked in either case.
    if not not_here and await is_aischoco(url):
        return PortProblem(
            f"aischoco가 이미 {host}:{port}에서 실행 중입니다 — 그 컨트롤 패널: {url}/ · "
            f"오버레이: {url}/overlay. 이 두 번째 실행은 시작하지 않고 끝냅니다 (둘을 함께 켜려면 "
            f"이쪽의 OVERLAY_PORT를 다른 번호로 바꾸세요) — another aischoco already serves "
            f"{host}:{port}", EXIT_ALREADY_RUNNING, f"{url}/")
    if not refused.port_in_use:
        return PortProblem(f"오버레이 서버를 열 수 없습니다: {refused} → {listen_todo(refused)}",
                           EXIT_PORT_TAKEN)
    free = free_port_near(host, port)
    example = f"(예: {free})" if free else ""
    return PortProblem(
        f"포트 {port}({host})를 다른 프로그램이 쓰고 있습니다 → .env의 OVERLAY_PORT를 비어 있는 "
        f"번호{example}로 바꾸거나 그 프로그램을 끄세요 — port {port} is used by another program",
        EXIT_PORT_TAKEN)


async def is_aischoco(base_url: str) -> bool:
    """Whether the server at `base_url` answers GET /api/status the way our daemon does (its
    status, or its PANEL_PASSWORD refusal)."""
    try:
        async with httpx.AsyncClient(timeout=PROBE_TIMEOUT_S, trust_env=False) as client:
            response = await client.get(f"{base_url}/api/status")
        doc = response.json()
    except (httpx.HTTPError, ValueError):
        return False
    if not isinstance(doc, dict):
        return False
    if response.status_code == 401:
        return doc.get("error") == PASSWORD_NEEDED
    return response.status_code == 200 and isinstance(doc.get("components"), list) \
        and isinstance(doc.get("queue"), dict)


def free_port_near(host: str, port: int, tries: int = 30) -> int | None:
    """A port a little above `port` that can be listened on now (a suggestion for OVERLAY_PORT;
    not the very next ones: 8001 is VTube Studio's)."""
    for candidate in range(port + 10, min(port + 10 + tries, 65536)):
        try:
            bind_socket(host, candidate).close()
        except ListenError:
            continue
        return candidate
    return None
