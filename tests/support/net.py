"""Ports on the loopback interface."""

from __future__ import annotations

import socket


def free_port(*, with_next: bool = False) -> int:
    """A port nothing listens on (and, with ``with_next``, the one after it too: the sandbox
    puts its bot there)."""
    while True:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = int(sock.getsockname()[1])
        if not with_next:
            return port
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port + 1))
            except OSError:
                continue
            return port
