"""POSTs to the server over keep-alive connections, on the standard library's ``http.client``.

urllib3 cost every monitored process 34 modules and ~3 MB of memory more than ``http.client`` (measured in
bench_footprint's scenario (iii), docs/benchmarks.md); the sink needs only this much of it: one origin,
one connection per sending thread (the dispatcher's; the host's with ``async_send=False``), timeouts, and one more try on a fresh
connection when a request fails after it was sent (a keep-alive connection the server had closed) —
never when connecting fails, that is an outage for the dispatcher's retry queue.
"""

from __future__ import annotations

import http.client
import threading
from dataclasses import dataclass
from urllib.parse import urlsplit


class TransportError(Exception):
    """The request got no answer: cannot connect, timed out, or the connection broke."""


@dataclass
class Response:
    status: int
    headers: http.client.HTTPMessage
    data: bytes


class Transport:
    """Keep-alive POSTs to the origin of ``base_url`` (http or https, certificates verified)."""

    def __init__(self, base_url: str, timeout: float) -> None:
        parts = urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"not an http(s) URL: {base_url!r}")
        self._cls = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
        self._host, self._port = parts.hostname, parts.port
        self._where = f"{parts.hostname}:{parts.port}" if parts.port else parts.hostname
        self.timeout = timeout
        self._local = threading.local()
        self._lock = threading.Lock()
        self._open: list[http.client.HTTPConnection] = []

    def post(self, path: str, body: bytes, headers: dict[str, str]) -> Response:
        for attempt in (1, 2):
            conn = self._connection()
            try:
                conn.request("POST", path, body=body, headers=headers)
                resp = conn.getresponse()
                data = resp.read()
            except (OSError, http.client.HTTPException) as exc:
                self._discard(conn)
                if attempt == 2:
                    raise TransportError(f"{type(exc).__name__}: {exc}") from exc
                continue
            if resp.will_close:
                self._discard(conn)
            return Response(resp.status, resp.headers, data)
        raise AssertionError("unreachable")  # pragma: no cover

    def close(self) -> None:
        with self._lock:
            conns, self._open = self._open, []
        for conn in conns:
            conn.close()

    def _connection(self) -> http.client.HTTPConnection:
        conn: http.client.HTTPConnection | None = getattr(self._local, "conn", None)
        if conn is not None and conn.sock is not None:
            return conn
        conn = self._cls(self._host, self._port, timeout=self.timeout)
        try:
            conn.connect()  # a failure here is not retried: the server is down or unreachable
        except OSError as exc:
            conn.close()
            raise TransportError(f"cannot connect to {self._where}: {type(exc).__name__}: {exc}") from exc
        self._local.conn = conn
        with self._lock:
            self._open.append(conn)
        return conn

    def _discard(self, conn: http.client.HTTPConnection) -> None:
        conn.close()
        if getattr(self._local, "conn", None) is conn:
            self._local.conn = None
        with self._lock:
            if conn in self._open:
                self._open.remove(conn)
