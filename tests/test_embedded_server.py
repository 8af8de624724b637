"""core/embedded_server: which hosts count as this PC only, and why a port cannot be had."""

from __future__ import annotations

import socket

import pytest

from aischoco.core.embedded_server import ListenError, bind_socket, is_loopback
from aischoco.core.supervisor import ComponentError


@pytest.mark.parametrize("host", ["127.0.0.1", "::1", "localhost", "127.1.2.3"])
def test_loopback(host: str) -> None:
    assert is_loopback(host)


@pytest.mark.parametrize("host", [
    "0.0.0.0",  # every interface, not only this PC
    "::",
    "192.168.0.2",
    "localhost.evil.com",  # a name that only starts like ours
    "127.evil.example",
    "",
])
def test_not_loopback(host: str) -> None:
    assert not is_loopback(host)


def test_a_taken_port_is_a_listen_error_that_says_so() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        with pytest.raises(ListenError) as err:
            bind_socket("127.0.0.1", port)
    assert isinstance(err.value, ComponentError)  # the supervisor still shows it as one line
    assert err.value.port_in_use
    assert str(port) in str(err.value)


def test_an_address_not_on_this_pc_is_not_a_taken_port() -> None:
    with pytest.raises(ListenError) as err:
        bind_socket("192.0.2.1", 0)  # TEST-NET-1: never one of our addresses
    assert not err.value.port_in_use
