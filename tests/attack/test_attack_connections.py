"""Attacks on the connection level against a real server: many unfinished chunked bodies (bounded by
body_bytes_in_flight), oversized headers, more connections than max_connections, and malformed requests
that try to smuggle a second request past the first."""

from __future__ import annotations

import re
import socket
import threading
import time

import pytest
from attack_harness import assert_attack_survived
from attack_payloads import status_of
from pystrument_testing.sockets import read_until_closed

UNFINISHED = 60
CHUNK = b"%x\r\n" % 65536 + b" " * 65536 + b"\r\n"


def _unfinished_chunked(port: int, key: str, megabytes: int, out: list, lock: threading.Lock) -> None:
    """Headers, then ``megabytes`` of chunks as fast as the server takes them, never the last chunk; then wait
    for the server's answer or its close."""
    started = time.monotonic()
    answer = b""
    with socket.create_connection(("127.0.0.1", port), timeout=30) as s:
        try:
            s.sendall(b"POST /api/v1/performance/batch HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
                      b"Content-Type: application/json\r\nX-Project-Key: " + key.encode() + b"\r\n\r\n")
            for _ in range(megabytes * 16):
                s.sendall(CHUNK)
            while chunk := s.recv(65536):
                answer += chunk
        except OSError:  # reset: the server closed while we still sent
            pass
    with lock:
        out.append((round(time.monotonic() - started, 1), status_of(answer)))


@pytest.mark.attack_settings(body_timeout_s=8, body_wait_s=2)
def test_many_unfinished_chunked_bodies_hold_bounded_memory(attack_server, figures):
    ended: list[tuple[float, int | None]] = []
    lock = threading.Lock()
    threads = [threading.Thread(target=_unfinished_chunked, args=(attack_server.port, attack_server.project_key, 9, ended, lock), daemon=True)
               for _ in range(UNFINISHED)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    statuses = sorted({s for _t, s in ended}, key=str)
    figures(connections=UNFINISHED, megabytes_each=9, ended=len(ended), max_end_s=max(t for t, _s in ended), statuses=statuses,
            answered_503=sum(s == 503 for _t, s in ended), answered_408=sum(s == 408 for _t, s in ended),
            answered_413=sum(s == 413 for _t, s in ended))
    assert len(ended) == UNFINISHED, "connections still open after 60 s"
    assert set(statuses) <= {408, 503, None}, statuses  # None: reset before the answer was read
    # the bodies admitted are held until body_timeout_s (8 s), then cut off: answered 408, or reset while the client
    # was still sending (then its 408 is never read: seen on a slow run, every admitted body ended as a reset at 8 s)
    assert any(s == 408 or (s is None and t >= 8 * 0.9) for t, s in ended), ended
    assert_attack_survived(attack_server, figures)


@pytest.mark.parametrize("size", [20_000, 1_000_000])
def test_oversized_headers_are_refused_and_closed(attack_server, figures, size):
    with socket.create_connection(("127.0.0.1", attack_server.port), timeout=20) as s:
        try:
            s.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * size + b"\r\n\r\n")
        except OSError:
            pass
        answer = read_until_closed(s)
    assert status_of(answer) in (400, 431, None), answer[:200]  # closed either way: recv returned
    assert_attack_survived(attack_server, figures, status=status_of(answer))


@pytest.mark.attack_settings(max_connections=100, header_timeout_s=3)
def test_connections_beyond_max_connections_are_refused(attack_server, figures):
    socks = [socket.create_connection(("127.0.0.1", attack_server.port), timeout=10) for _ in range(300)]
    started = time.monotonic()
    refused = still_open = 0
    for s in socks:  # one deadline for all: each is answered and closed by then, or counted as still open
        answer = b""
        try:
            while True:
                s.settimeout(max(0.01, started + 3 + 3 - time.monotonic()))
                chunk = s.recv(4096)
                if not chunk:
                    break
                answer += chunk
        except TimeoutError:
            still_open += 1
        except OSError:
            pass
        refused += status_of(answer) == 503 and b"max_connections" in answer
    seconds = round(time.monotonic() - started, 1)
    for s in socks:
        s.close()
    figures(opened=300, max_connections=100, refused_503=refused, still_open_after_6_s=still_open, seconds=seconds)
    assert refused >= 190, refused  # the ~100 admitted (the fixture's own connections count too) are closed by header_timeout_s
    assert still_open == 0, still_open
    assert_attack_survived(attack_server, figures, status=503)


SMUGGLING = [
    b"POST /api/v1/performance/batch HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /api/v1/projects HTTP/1.1\r\nHost: x\r\n\r\n",
    b"POST /api/v1/performance/batch HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nContent-Length: 60\r\n\r\n[]  GET /api/v1/projects HTTP/1.1\r\nHost: x\r\n\r\n",
    b"POST /api/v1/performance/batch HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked, identity\r\n\r\n2\r\n[]\r\n0\r\n\r\n",
    b"POST /api/v1/performance/batch HTTP/1.1\r\nHost: x\r\nTransfer-Encoding : chunked\r\n\r\n2\r\n[]\r\n0\r\n\r\n",
    b"POST /api/v1/performance/batch HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n",
    b"GET /health HTTP/1.1\nHost: x\n\n\x00\x01GET /api/v1/projects HTTP/1.1\r\n\r\n",
]


def test_smuggling_shaped_requests_get_400_and_no_second_answer(attack_server, figures):
    statuses = []
    for raw in SMUGGLING:
        with socket.create_connection(("127.0.0.1", attack_server.port), timeout=10) as s:
            s.sendall(raw)
            answer = read_until_closed(s)
        codes = [int(c) for c in re.findall(rb"HTTP/1\.1 (\d{3}) ", answer)]
        statuses.append(codes[0] if codes else None)
        # the first request is answered (or refused); whatever follows it is refused by the parser, never run as a request
        assert codes and codes[0] in ((200, 400) if raw.startswith(b"GET /health") else (400, 422, 501)), (raw, answer[:300])
        assert all(c == 400 for c in codes[1:]), (raw, answer)
    assert_attack_survived(attack_server, figures, status=sorted(set(statuses)))
