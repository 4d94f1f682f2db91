"""Concurrent ingest and queries against a real server process for ``PYSTRUMENT_RELIABILITY_SECONDS``
(60 in ``nox -s reliability``, 15 otherwise): zero 5xx and zero lost records (every acknowledged record
id is stored, and nothing else)."""

from __future__ import annotations

import os
import random
import threading
import time
from collections import Counter

import httpx

SECONDS = float(os.environ.get("PYSTRUMENT_RELIABILITY_SECONDS", "15"))
INGESTERS, READERS, BATCH = 3, 2, 25


def test_concurrent_ingest_and_queries(server_process, project_in, record, stored, figures):
    server = server_process()
    with server.client() as c:
        project = project_in(c)
    pid, key = project["id"], project["project_key"]
    acknowledged: set[str] = set()
    sent = Counter()
    statuses: Counter[int] = Counter()
    failures: list[str] = []
    lock = threading.Lock()
    stop = time.monotonic() + SECONDS

    def note(r: httpx.Response) -> None:
        with lock:
            statuses[r.status_code] += 1
            if r.status_code >= 500 and len(failures) < 5:
                failures.append(f"{r.request.method} {r.request.url} -> {r.status_code} {r.text[:300]}")

    def ingest(worker: int) -> None:
        rng = random.Random(worker)
        with server.client() as c:
            while time.monotonic() < stop:
                names = [f"GET /load/{rng.randrange(8)}" for _ in range(BATCH)]
                batch = [record(name=n, duration=rng.uniform(1, 80), app={"name": "load", "version": rng.choice(["1.0", "1.1"]),
                                                                           "environment": "test"}) for n in names]
                if rng.random() < 0.1:  # now and then a resend: duplicates are acknowledged, stored once
                    batch[0]["record_id"] = f"dup-{worker}-{rng.randrange(20)}"
                if rng.random() < 0.2:  # and a bad record, which must not cost its batch-mates
                    batch.append({**record(), "duration_ms": "nan?"})
                r = c.post("/api/v1/performance/batch", json={"records": batch}, headers={"X-Project-Key": key})
                note(r)
                with lock:
                    sent["records"] += len(batch)
                if r.status_code == 200:
                    body = r.json()["data"]
                    rejected = {x["index"] for x in body["rejected"]}
                    ok = [b["record_id"] for i, b in enumerate(batch) if i not in rejected]
                    assert body["accepted"] + body["duplicates"] == len(ok), body
                    with lock:
                        acknowledged.update(ok)
                        sent["batches_ok"] += 1

    def read(worker: int) -> None:
        rng = random.Random(100 + worker)
        queries = [f"/api/v1/projects/{pid}/endpoints", f"/api/v1/projects/{pid}/trends?since=1h", f"/api/v1/projects/{pid}/versions",
                   f"/api/v1/projects/{pid}/functions", f"/api/v1/projects/{pid}/records?page_size=100&sort=-duration_ms",
                   f"/api/v1/projects/{pid}/flamegraph?endpoint=GET /load/1", f"/api/v1/projects/{pid}/compare?base=1.0&head=1.1",
                   "/api/v1/projects", "/health"]
        with server.client() as c:
            while time.monotonic() < stop:
                r = c.get(rng.choice(queries))
                note(r)
                with lock:
                    sent["queries"] += 1
                if r.status_code == 200 and r.request.url.path.endswith("/records"):
                    items = r.json()["data"]["items"]
                    if items:
                        one = c.get(f"/api/v1/records/{rng.choice(items)['record_id']}")
                        note(one)

    errors: list[BaseException] = []

    def guarded(fn, i):
        try:
            fn(i)
        except BaseException as exc:  # noqa: BLE001 - reported by the test below
            errors.append(exc)

    # both versions have records before the readers start: a comparison or flame graph without data is a 404 by
    # design, and whether the first query came before the first batch was stored depended on the machine's load
    with server.client() as c:
        first = [record(name="GET /load/1", app={"name": "load", "version": v, "environment": "test"}) for v in ("1.0", "1.1")]
        r = c.post("/api/v1/performance/batch", json={"records": first}, headers={"X-Project-Key": key})
        assert r.status_code == 200 and r.json()["data"]["accepted"] == 2, r.text
        acknowledged.update(b["record_id"] for b in first)
    threads = [threading.Thread(target=guarded, args=(ingest, i)) for i in range(INGESTERS)]
    threads += [threading.Thread(target=guarded, args=(read, i)) for i in range(READERS)]
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join(SECONDS + 120)
    elapsed = time.perf_counter() - started
    assert not errors, errors[0]
    with server.client() as c:
        kept = stored(c, pid)
    five = sum(n for s, n in statuses.items() if s >= 500)
    lost = acknowledged - kept
    figures(seconds=round(elapsed, 1), batches_acknowledged=sent["batches_ok"], records_sent=sent["records"],
            records_acknowledged=len(acknowledged), records_stored=len(kept), lost=len(lost), unacknowledged_stored=len(kept - acknowledged),
            queries=sent["queries"], responses_5xx=five, statuses=dict(sorted(statuses.items())),
            ingest_records_per_s=round(len(acknowledged) / elapsed))
    assert five == 0, failures
    assert set(statuses) <= {200}, statuses
    assert not lost, f"{len(lost)} acknowledged records are not stored, e.g. {sorted(lost)[:3]}"
    assert kept == acknowledged
    assert len(acknowledged) > 0 and sent["queries"] > 0
