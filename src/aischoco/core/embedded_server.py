"""Serving an ASGI app with uvicorn inside our event loop: a pre-bound socket and no signal
handlers of uvicorn's own. Used by the overlay/panel server and `tts-server`."""

from __future__ import annotations

import contextlib
import errno
import ipaddress
import socket
from collections.abc import Iterator

import uvicorn

from .supervisor import ComponentError


class ListenError(ComponentError):
    """``bind_socket`` could not listen; ``errno`` says why, for callers that explain it."""

    def __init__(self, message: str, code: int | None) -> None:
        super().__init__(message)
        self.errno = code

    @property
    def port_in_use(self) -> bool:
        """Another program (often our own daemon) has the port."""
        return self.errno in (errno.EADDRINUSE, getattr(errno, "WSAEADDRINUSE", -1)) or \
            "in use" in str(self).lower()


def why_not_listening(code: int | None) -> str:
    """Why a bind failed, in Korean (the caller adds which setting to change)."""
    if code in (errno.EADDRINUSE, getattr(errno, "WSAEADDRINUSE", -1)):
        return "이 포트는 이미 다른 프로그램이 쓰고 있습니다"
    if code in (errno.EADDRNOTAVAIL, getattr(errno, "WSAEADDRNOTAVAIL", -1)):
        return "이 PC의 주소가 아닙니다"
    if code in (errno.EACCES, getattr(errno, "WSAEACCES", -1)):  # Windows: a reserved port range
        return "이 포트를 쓸 권한이 없습니다 (1024 아래 포트이거나 Windows가 예약한 포트)"
    return "이 주소와 포트로 연결을 받을 수 없습니다"


class EmbeddedServer(uvicorn.Server):
    """uvicorn without its own signal handling: the caller owns Ctrl-C and SIGTERM."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def bind_socket(host: str, port: int) -> socket.socket:
    """Bind before serving so "port in use" is a clear error instead of uvicorn's sys.exit."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP explicitly: asyncio sets TCP_NODELAY on accepted connections only when the
    # listening socket says TCP; without it small responses wait ~40 ms for delayed ACKs.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    if hasattr(socket, "SO_EXCLUSIVEADDRUSE"):  # Windows: never share a port with another app
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_EXCLUSIVEADDRUSE, 1)
    else:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise ListenError(f"{host}:{port}: {why_not_listening(exc.errno)} (cannot listen on "
                          f"{host}:{port}: {exc.strerror or exc})", exc.errno) from None
    sock.listen(128)
    sock.setblocking(False)
    return sock


def is_loopback(host: str) -> bool:
    """Only this PC can reach a server bound here. Addresses are judged by ``ipaddress``; of the
    names only ``localhost`` counts (``127.evil.example`` or ``localhost.evil.com`` are anyone's)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
