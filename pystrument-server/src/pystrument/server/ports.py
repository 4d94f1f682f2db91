"""Is the address free? Checked before the server starts, so a busy port is reported at once with the fix."""

from __future__ import annotations

import socket

import click


def ensure_free(host: str, port: int) -> None:
    """Raise a one-line ClickException when ``host:port`` cannot be listened on (SO_REUSEADDR as uvicorn sets it,
    so a closed connection in TIME_WAIT is no false alarm)."""
    if port == 0:
        return
    try:
        infos = socket.getaddrinfo(host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise click.ClickException(f"cannot listen on {host!r}: {exc.strerror}; pass an address of this machine with --host (e.g. 127.0.0.1)") from None
    family, kind, proto, _name, address = infos[0]
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(address)
        except OSError as exc:
            raise click.ClickException(f"port {port} on {host} is busy ({exc.strerror}): another process listens there (a server "
                                       f"or demo still running?); stop it or choose another port with --port, e.g. --port {port + 1}") from None
