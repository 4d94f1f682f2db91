"""The HTTP sink's transport (http.client) against real local HTTP/1.1 servers: keep-alive, a connection
the server closed between requests, an unreachable server."""

from __future__ import annotations

import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler

import pytest
from pystrument.sinks.http.transport import Transport, TransportError
from pystrument_testing.http_servers import LoopbackHTTPServer


class Ingest(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive unless told otherwise
    connections: list[int] = []
    drop_after_answer = False  # close the connection after each answer without saying so (a stale keep-alive)

    def setup(self) -> None:
        super().setup()
        type(self).connections.append(id(self))

    def do_POST(self) -> None:  # noqa: N802
        body = self.rfile.read(int(self.headers["Content-Length"]))
        answer = b'{"code": 0, "msg": "ok", "got": %d}' % len(body)
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)
        self.close_connection = type(self).drop_after_answer

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def server() -> Iterator[tuple[type[Ingest], str]]:
    handler = type("Handler", (Ingest,), {"connections": [], "drop_after_answer": False})
    with LoopbackHTTPServer(handler) as httpd:
        yield handler, httpd.url


def test_posts_share_one_keep_alive_connection(server):
    handler, url = server
    transport = Transport(url + "/api/v1", timeout=5)
    answers = [transport.post("/api/v1/performance/collect", b"x" * n, {"Content-Type": "application/json"}) for n in (1, 2, 3)]
    assert [(a.status, a.data) for a in answers] == [(200, b'{"code": 0, "msg": "ok", "got": %d}' % n) for n in (1, 2, 3)]
    assert answers[0].headers.get("content-type") == "application/json"
    assert len(handler.connections) == 1
    transport.close()


def test_a_connection_the_server_closed_is_replaced_without_an_error(server):
    handler, url = server
    handler.drop_after_answer = True
    transport = Transport(url, timeout=5)
    for n in range(3):  # each request after the first finds its connection closed by the server
        assert transport.post("/p", b"y" * n, {}).status == 200
    assert len(handler.connections) == 3
    transport.close()


def test_each_thread_has_its_own_connection(server):
    handler, url = server
    transport = Transport(url, timeout=5)
    transport.post("/p", b"main", {})
    worker = threading.Thread(target=lambda: [transport.post("/p", b"w", {}) for _ in range(2)])
    worker.start()
    worker.join()
    transport.post("/p", b"main again", {})
    assert len(handler.connections) == 2
    transport.close()


def test_an_unreachable_server_is_a_transport_error_naming_it():
    with pytest.raises(TransportError, match=r"cannot connect to 127\.0\.0\.1:9: ConnectionRefusedError"):
        Transport("http://127.0.0.1:9/api/v1", timeout=1).post("/api/v1/performance/batch", b"{}", {})
    with pytest.raises(ValueError, match="not an http"):
        Transport("ftp://h/x", timeout=1)


def test_the_sink_imports_no_urllib3():
    import subprocess

    code = "import sys, pystrument.sinks.http.sink; print(sorted(m for m in sys.modules if m.split('.')[0] == 'urllib3'))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True).stdout
    assert out.strip() == "[]"
