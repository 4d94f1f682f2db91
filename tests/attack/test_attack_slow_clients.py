"""Slow clients (issue 15, item 5): 100 connections sending one byte a second, of their headers or of their
body, are closed by the server within its timeout (header_timeout_s, body_timeout_s), while a normal client's
ingest goes on: its records are acknowledged during the attack and stored."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest
from attack_harness import assert_attack_survived
from attack_payloads import slow_client, status_of
from pystrument_server_process import make_record

CLIENTS = 100
TIMEOUT_S = 4.0
SLACK_S = 2.0  # the timers' own lateness and a loaded 2-core machine

HEAD = b"POST /api/v1/performance/batch HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"


class NormalIngest(threading.Thread):
    """A well-behaved client posting batches of 10 records in a loop until stopped."""

    def __init__(self, server) -> None:
        super().__init__(daemon=True)
        self.server = server
        self.acknowledged = 0
        self.failures: list[str] = []
        self.halt = threading.Event()

    def run(self) -> None:
        with self.server.client(timeout=30) as c:
            while not self.halt.is_set():
                r = self.server.ingest([make_record(name="GET /during") for _ in range(10)], client=c)
                if r.status_code == 200:
                    self.acknowledged += r.json()["data"]["accepted"]
                else:
                    self.failures.append(f"{r.status_code} {r.text[:200]}")


async def _attack(port: int, head: bytes, trickle: bytes) -> list[tuple[float | None, bytes]]:
    give_up = TIMEOUT_S + SLACK_S + 6
    return await asyncio.gather(*(slow_client(port, head, trickle, 1.0, give_up) for _ in range(CLIENTS)))


@pytest.mark.attack_settings(header_timeout_s=TIMEOUT_S, body_timeout_s=TIMEOUT_S)
@pytest.mark.parametrize("part", ["headers", "body"])
def test_slow_clients_are_closed_in_time_while_ingest_goes_on(attack_server, figures, part):
    key = attack_server.project_key.encode()
    if part == "headers":
        head, trickle = b"", HEAD + b"X-Project-Key: " + key + b"\r\nContent-Length: 2\r\n\r\n[]"
    else:
        head, trickle = HEAD + b"X-Project-Key: " + key + b"\r\nContent-Length: 1000\r\n\r\n", b'{"records": [' + b" " * 990 + b"]}"
    ingest = NormalIngest(attack_server)
    ingest.start()
    time.sleep(0.5)
    before = ingest.acknowledged
    started = time.monotonic()
    results = asyncio.run(_attack(attack_server.port, head, trickle))
    seconds = time.monotonic() - started
    during = ingest.acknowledged - before
    ingest.halt.set()
    ingest.join(30)
    closed = [t for t, _a in results if t is not None]
    statuses = sorted({status_of(a) for _t, a in results}, key=str)
    rate = round(during / seconds, 1)
    figures(part=part, connections=CLIENTS, closed=len(closed), max_close_s=max(closed, default=None),
            min_close_s=min(closed, default=None), statuses=statuses, ingest_records_per_s_during=rate, ingest_failures=len(ingest.failures))
    assert len(closed) == CLIENTS, f"{CLIENTS - len(closed)} slow connection(s) still open after {TIMEOUT_S + SLACK_S + 6} s"
    assert max(closed) <= TIMEOUT_S + SLACK_S, f"closed after {max(closed)} s; the timeout is {TIMEOUT_S} s"
    assert statuses == [408], statuses  # each was told why, in the envelope
    assert b'"code":10001' in results[0][1] and b"_timeout_s" in results[0][1], results[0][1][-300:]
    assert during > 0 and not ingest.failures, (during, ingest.failures[:3])
    assert_attack_survived(attack_server, figures)  # every acknowledged record, during the attack too, is stored
