"""The server killed with SIGKILL in the middle of ingest, then restarted on the same data: every record it
acknowledged before dying is stored (SQLite WAL: a batch is one committed transaction before the answer)."""

from __future__ import annotations

import threading
import time

import httpx

KILLS, INGESTERS, BATCH = 3, 3, 40


def test_sigkill_during_ingest_loses_no_acknowledged_record(server_process, project_in, record, stored, figures):
    server = server_process()
    with server.client() as c:
        project = project_in(c)
    key = project["project_key"]
    acknowledged: set[str] = set()
    attempted: set[str] = set()
    lock = threading.Lock()
    outcome = {"ok": 0, "cut": 0, "5xx": 0}
    running = threading.Event()

    def ingest(worker: int) -> None:
        with httpx.Client(base_url=server.url, timeout=10) as c:
            while running.is_set():
                batch = [record(name=f"GET /crash/{worker}") for _ in range(BATCH)]
                with lock:
                    attempted.update(b["record_id"] for b in batch)
                try:
                    r = c.post("/api/v1/performance/batch", json={"records": batch}, headers={"X-Project-Key": key})
                except httpx.TransportError:
                    with lock:
                        outcome["cut"] += 1  # in flight when the server died: not acknowledged
                    time.sleep(0.02)
                    continue
                with lock:
                    if r.status_code >= 500:
                        outcome["5xx"] += 1
                    elif r.status_code == 200:
                        data = r.json()["data"]
                        assert data["accepted"] + data["duplicates"] == BATCH, data
                        acknowledged.update(b["record_id"] for b in batch)
                        outcome["ok"] += 1

    restarts = []
    for _ in range(KILLS):
        round_start = len(acknowledged)
        running.set()
        threads = [threading.Thread(target=ingest, args=(i,)) for i in range(INGESTERS)]
        for t in threads:
            t.start()
        time.sleep(2.0)
        server.kill()  # SIGKILL while the ingesters are sending
        running.clear()
        for t in threads:
            t.join(30)
        assert len(acknowledged) > round_start, "no batch was acknowledged in this round: nothing was tested"
        t0 = time.perf_counter()
        server.start()
        restarts.append(time.perf_counter() - t0)
    with server.client() as c:
        kept = stored(c, project["id"])
        health = c.get("/health")
    lost = acknowledged - kept
    figures(kills=KILLS, batches_acknowledged=outcome["ok"], requests_cut=outcome["cut"], responses_5xx=outcome["5xx"],
            records_acknowledged=len(acknowledged), records_stored=len(kept), lost=len(lost),
            stored_unacknowledged=len(kept - acknowledged), restart_s_max=round(max(restarts), 2))
    assert not lost, f"{len(lost)} acknowledged records lost after SIGKILL, e.g. {sorted(lost)[:3]}"
    assert kept <= attempted, "the store holds records nobody sent"
    assert outcome["5xx"] == 0
    assert health.status_code == 200 and health.json()["data"]["status"] == "ok"
