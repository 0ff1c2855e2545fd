"""Free loopback TCP ports for services started by tests and `poc devnet`."""

from __future__ import annotations

import socket


def free_port() -> int:
    """A port that was free a moment ago. The kernel does not hand out the same ephemeral
    port again right away, which is all a service started immediately after needs."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def port_is_open(host: str, port: int, timeout: float = 0.5) -> bool:
    """Whether something accepts TCP connections on host:port."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False
