"""Connection limits of a live server (connlimits.py): the answers of BodyGuard and the protocol, byte by
byte over raw sockets. The attack suite (tests/attack) runs the same limits at scale against `serve`."""

from __future__ import annotations

import json
import socket
import time

import pytest
from pystrument.server.settings import SettingsError, load_settings
from pystrument_testing.sockets import read_until_closed

HEAD = "POST /api/v1/performance/batch HTTP/1.1\r\nHost: x\r\nX-Project-Key: k\r\n"


def _envelope(answer: bytes) -> tuple[int, dict, bytes]:
    head, _, body = answer.partition(b"\r\n\r\n")
    return int(head.split(b" ")[1]), json.loads(body), head.lower()


def test_a_budget_smaller_than_the_body_limit_is_refused():
    with pytest.raises(SettingsError, match="body_bytes_in_flight.*max_body_bytes"):
        load_settings(max_body_bytes=2 * 2**20, body_bytes_in_flight=2**20)


def test_a_body_beyond_the_bytes_in_flight_waits_then_gets_503_with_retry_after(start_server):
    server = start_server(max_body_bytes=4096, body_bytes_in_flight=4096, body_wait_s=0.5, body_timeout_s=5)
    with socket.create_connection(("127.0.0.1", server.port)) as holder, socket.create_connection(("127.0.0.1", server.port)) as late:
        holder.sendall((HEAD + "Content-Length: 4000\r\n\r\n").encode() + b"[")  # reserves 4000 of the 4096 bytes, then stalls
        time.sleep(0.3)
        started = time.monotonic()
        late.sendall((HEAD + "Content-Length: 200\r\n\r\n").encode() + b"[" + b" " * 198 + b"]")
        status, body, head = _envelope(read_until_closed(late, 5))
        waited = time.monotonic() - started
    assert status == 503 and body["code"] == 10004 and "body_bytes_in_flight" in body["msg"], body
    assert b"retry-after: 1" in head and b"connection: close" in head, head
    assert 0.4 < waited < 3, waited
    with server.client() as c:  # the holder's bytes are given back when its request ends
        assert c.get("/health").status_code == 200


def test_a_slow_body_gets_408_within_body_timeout(start_server):
    server = start_server(body_timeout_s=1)
    with socket.create_connection(("127.0.0.1", server.port)) as s:
        s.sendall((HEAD + "Content-Length: 100\r\n\r\n").encode() + b"[")
        started = time.monotonic()
        status, body, head = _envelope(read_until_closed(s, 5))
    assert status == 408 and body["code"] == 10001 and "body_timeout_s" in body["msg"], body
    assert b"connection: close" in head and time.monotonic() - started < 3


def test_slow_headers_get_408_and_are_closed(start_server):
    server = start_server(header_timeout_s=1)
    with socket.create_connection(("127.0.0.1", server.port)) as s:
        s.sendall(b"POST /api/v1/perf")
        started = time.monotonic()
        status, body, _head = _envelope(read_until_closed(s, 5))
    assert status == 408 and "header_timeout_s" in body["msg"] and time.monotonic() - started < 3, body


def test_content_length_with_transfer_encoding_is_refused_and_closed(start_server):
    server = start_server()
    with socket.create_connection(("127.0.0.1", server.port)) as s:
        s.sendall((HEAD + "Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /health HTTP/1.1\r\nHost: x\r\n\r\n").encode())
        answer = read_until_closed(s, 5)
    assert answer.count(b"HTTP/1.1 ") == 1, answer
    status, body, head = _envelope(answer)
    assert status == 400 and "Transfer-Encoding" in body["msg"] and b"connection: close" in head, answer


def test_connections_beyond_max_connections_get_503(start_server):
    server = start_server(max_connections=5)
    socks = [socket.create_connection(("127.0.0.1", server.port)) for _ in range(8)]
    try:
        refused = [a for a in (read_until_closed(s, 0.5) for s in socks) if a.startswith(b"HTTP/1.1 503")]
    finally:
        for s in socks:
            s.close()
    assert len(refused) >= 3 and b"max_connections" in refused[0] and b"retry-after: 1" in refused[0], refused
