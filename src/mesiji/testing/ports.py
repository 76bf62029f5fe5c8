"""A free TCP port for a server started in another process (the kernel's choice for port 0)."""

from __future__ import annotations

import socket


def free_port(host: str = "127.0.0.1") -> int:
    """A port of ``host`` that nobody listens on right now.

    Only for servers in another process, which must be told their port before they start; a
    server in this process should bind port 0 itself, which leaves no window for another
    program to take the port in between.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port
