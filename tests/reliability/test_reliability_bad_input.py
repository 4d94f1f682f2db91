"""Malformed, huge, deeply nested and slow bodies against a real server process: each gets a clear 4xx in the
envelope, the good records of the same batch are kept, and the server stays healthy."""

from __future__ import annotations

import gzip
import json
import socket
import threading
import time

import pytest

KEY = "X-Project-Key"


def deep_tree(depth: int) -> str:
    """A call tree nested ``depth`` levels, as JSON text (built without recursion)."""
    node = '{"function":"f","file":"a.py","line":1,"time_ms":1.0,"self_ms":0.0,"children":['
    return node * depth + '{"function":"leaf","time_ms":1.0,"self_ms":1.0}' + "]}" * depth


def envelope(r) -> dict:
    body = r.json()
    assert set(body) == {"code", "msg", "data"}, body
    return body


def healthy(client) -> None:
    r = client.get("/health")
    assert r.status_code == 200 and r.json()["data"]["status"] == "ok", r.text


@pytest.fixture
def served(server_process, project_in):
    server = server_process()
    client = server.client()
    project = project_in(client)
    yield server, client, project
    client.close()


@pytest.mark.parametrize("depth", [1_000, 10_000])
def test_deeply_nested_tree_is_refused_and_its_batch_mates_kept(served, record, stored, figures, depth):
    server, c, project = served
    good = [record(), record()]
    body = ('{"records":[' + json.dumps(good[0]) + ","
            + json.dumps({**record(), "call_tree": None})[:-1].replace('"call_tree": null', '"call_tree": ' + deep_tree(depth)) + "},"
            + json.dumps(good[1]) + "]}")
    started = time.perf_counter()
    r = c.post("/api/v1/performance/batch", content=body, headers={KEY: project["project_key"], "Content-Type": "application/json"})
    elapsed = time.perf_counter() - started
    data = envelope(r)["data"]
    assert r.status_code == 200, r.text
    assert data["accepted"] == 2 and len(data["rejected"]) == 1, data
    assert data["rejected"][0]["index"] == 1 and "deep" in data["rejected"][0]["error"], data
    # alone, on /collect: a 4xx that says what is wrong
    alone = json.dumps({**record(), "call_tree": None}).replace('"call_tree": null', '"call_tree": ' + deep_tree(depth))
    r = c.post("/api/v1/performance/collect", content=alone, headers={KEY: project["project_key"]})
    assert 400 <= r.status_code < 500 and envelope(r)["code"] == 20004 and "deep" in r.json()["msg"], r.text
    assert stored(c, project["id"]) == {g["record_id"] for g in good}
    healthy(c)
    assert server.alive()
    figures(depth=depth, batch_status=200, collect_status=r.status_code, accepted=data["accepted"], rejected=len(data["rejected"]),
            seconds=round(elapsed, 2))


def test_ten_megabyte_bodies(served, record, stored, figures):
    server, c, project = served
    key = {KEY: project["project_key"]}
    padding = "x" * (10 * 1024 * 1024)
    huge = record(error={"type": "Big", "message": padding})
    started = time.perf_counter()
    r = c.post("/api/v1/performance/collect", json=huge, headers=key)
    big_status = r.status_code
    assert r.status_code == 413 and envelope(r)["code"] == 10001 and "split the batch" in r.json()["msg"], r.text[:500]
    # the same as gzip: small on the wire, too big once decompressed
    packed = gzip.compress(json.dumps(huge).encode())
    r = c.post("/api/v1/performance/collect", content=packed, headers={**key, "Content-Encoding": "gzip"})
    gzip_status = r.status_code
    assert r.status_code == 413 and envelope(r)["code"] == 10001, r.text[:500]
    # a body just under the limit with many good records is stored whole
    many = [record(name=f"GET /bulk/{i}", error={"type": "Pad", "message": "p" * 9000}) for i in range(1000)]
    payload = json.dumps({"records": many}).encode()
    assert 9 * 1024 * 1024 < len(payload) < 10 * 1024 * 1024
    r = c.post("/api/v1/performance/batch", content=payload, headers={**key, "Content-Type": "application/json"})
    assert r.status_code == 200 and envelope(r)["data"]["accepted"] == 1000, r.text[:500]
    elapsed = time.perf_counter() - started
    assert stored(c, project["id"]) == {m["record_id"] for m in many}
    healthy(c)
    figures(over_limit_status=big_status, gzip_bomb_status=gzip_status, near_limit_mb=round(len(payload) / 2**20, 2), near_limit_stored=1000,
            seconds=round(elapsed, 2))


MALFORMED = [
    (b"", 422, 20004),
    (b"not json", 422, 20004),
    (b'{"records": "nope"}', 422, 20004),
    (b"[1, 2, 3]", 422, 20004),
    (b'{"records": [{"record_id": "a"}]}', 422, 20004),
    (b"\xff\xfe\x00garbage", 422, 20004),
    (b'{"records": [' + b"[" * 100_000 + b"]" * 100_000 + b"]}", 422, 20004),
    (b'{"records": []}', 400, 10001),
]


def test_malformed_bodies_get_a_clear_4xx(served, figures):
    server, c, project = served
    statuses = []
    for body, status, code in MALFORMED:
        r = c.post("/api/v1/performance/batch", content=body, headers={KEY: project["project_key"], "Content-Type": "application/json"})
        statuses.append(r.status_code)
        assert r.status_code == status and envelope(r)["code"] == code and len(r.json()["msg"]) > 10, (body[:60], r.status_code, r.text[:300])
    r = c.post("/api/v1/performance/batch", content=b"\x1f\x8b\x08garbage", headers={KEY: project["project_key"], "Content-Encoding": "gzip"})
    assert r.status_code == 400 and "gzip" in envelope(r)["msg"]
    r = c.post("/api/v1/performance/batch", content=b"{}", headers={KEY: project["project_key"], "Content-Encoding": "br"})
    assert r.status_code == 415 and envelope(r)["code"] == 10001
    r = c.post("/api/v1/projects", content=b'{"name": ' + b"[" * 50_000, headers={"Content-Type": "application/json"})
    assert r.status_code == 400 and envelope(r)["code"] == 10001
    healthy(c)
    figures(bodies=len(MALFORMED) + 3, statuses=sorted(set(statuses)), server_alive=server.alive())


def test_mixed_batch_keeps_every_good_record(served, record, stored, figures):
    server, c, project = served
    good = [record() for _ in range(50)]
    bad = [{**record(), "duration_ms": "slow"}, {**record(), "record_id": ""}, {**record(), "duration_ms": -1}, {"name": "no id"},
           {**record(), "started_at": "yesterday"}, {**record(), "call_tree": {"children": "x"}}, 17, None, "text"]
    batch = good[:25] + bad + good[25:]
    r = c.post("/api/v1/performance/batch", json={"records": batch}, headers={KEY: project["project_key"]})
    data = envelope(r)["data"]
    assert r.status_code == 200 and data["accepted"] == 50 and len(data["rejected"]) == len(bad), r.text
    assert [x["index"] for x in data["rejected"]] == list(range(25, 25 + len(bad)))
    assert all(x["error"].startswith(f"records[{x['index']}]") for x in data["rejected"]), data["rejected"]
    assert stored(c, project["id"]) == {g["record_id"] for g in good}
    figures(good=len(good), bad=len(bad), accepted=data["accepted"], rejected=len(data["rejected"]))


STALLED = 50


def _raw_request(port: int, head: bytes, chunks: list[bytes], delay: float, hang_up: bool = False) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=30) as s:
        s.sendall(head)
        for chunk in chunks:
            s.sendall(chunk)
            time.sleep(delay)
        if hang_up:  # the client goes away mid-body
            return b""
        out = b""  # no half-close: uvicorn takes EOF before its answer as a disconnect and answers nothing
        while True:
            part = s.recv(65536)
            if not part:
                return out
            out += part


def test_slow_bodies_byte_by_byte_while_others_are_served(served, record, stored, figures):
    server, c, project = served
    rec = record()
    body = json.dumps({"records": [rec]}).encode()
    head = (f"POST /api/v1/performance/batch HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            f"X-Project-Key: {project['project_key']}\r\nContent-Length: {len(body)}\r\nConnection: close\r\n\r\n").encode()
    answers: list[bytes] = []
    slow = threading.Thread(target=lambda: answers.append(_raw_request(server.port, head, [body[i:i + 1] for i in range(len(body))], 0.002)))
    started = time.perf_counter()
    slow.start()
    # while the slow body trickles in, other requests are answered promptly
    fast = []
    while slow.is_alive():
        t0 = time.perf_counter()
        healthy(c)
        fast.append(time.perf_counter() - t0)
        time.sleep(0.05)
    slow.join()
    elapsed = time.perf_counter() - started
    status_line = answers[0].split(b"\r\n", 1)[0]
    assert status_line.startswith(b"HTTP/1.1 200"), answers[0][:300]
    payload = json.loads(answers[0].split(b"\r\n\r\n", 1)[1])
    assert payload["code"] == 0 and payload["data"]["accepted"] == 1
    # a body that stops short of its Content-Length and a client that hangs up mid-body: nothing stored, server fine
    cut = json.dumps({"records": [record()]}).encode()  # another record, whose client hangs up mid-body: not stored
    _raw_request(server.port, head.replace(f"Content-Length: {len(body)}".encode(), f"Content-Length: {len(cut)}".encode()),
                 [cut[: len(cut) - 5]], 0.0, hang_up=True)
    # many clients that send headers and half a body, then stall: others are still served
    stalled = []
    for _ in range(STALLED):
        s = socket.create_connection(("127.0.0.1", server.port), timeout=10)
        s.sendall(head + body[: len(body) // 2])
        stalled.append(s)
    t0 = time.perf_counter()
    healthy(c)
    meanwhile = record()
    r = c.post("/api/v1/performance/batch", json=[meanwhile], headers={KEY: project["project_key"]})
    while_stalled = time.perf_counter() - t0
    assert r.status_code == 200 and r.json()["data"]["accepted"] == 1
    for s in stalled:
        s.close()
    assert stored(c, project["id"]) == {rec["record_id"], meanwhile["record_id"]}
    healthy(c)
    figures(slow_body_bytes=len(body), slow_seconds=round(elapsed, 2), max_health_ms_meanwhile=round(max(fast) * 1000, 1),
            health_checks_meanwhile=len(fast), stalled_connections=STALLED, served_while_stalled_ms=round(while_stalled * 1000, 1))
