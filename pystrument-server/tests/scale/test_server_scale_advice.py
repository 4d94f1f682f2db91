"""Advice checked in a Redis cluster: the analysis runs in an RQ worker (which adds its predictions), and the
worker's periodic task ``advice-check`` marks the planted hot function's finding confirmed once the next version
has its requests."""

from __future__ import annotations

import datetime as dt
import json
import time
import uuid

import httpx
import redis


def _record(version: str, i: int, hot: bool, started: dt.datetime) -> dict:
    children = [{"function": "crunch", "file": "report.py", "line": 40, "time_ms": 40.0, "self_ms": 40.0, "is_app": True}] if hot else []
    children.append({"function": "render", "file": "report.py", "line": 80, "time_ms": 15.0, "self_ms": 15.0, "is_app": True})
    total = 2.0 + sum(c["time_ms"] for c in children)
    return {"schema_version": 1, "record_id": uuid.uuid4().hex, "kind": "request", "name": "GET /report", "method": "GET",
            "status_code": 200, "started_at": (started + dt.timedelta(seconds=i)).isoformat(), "duration_ms": total,
            "app": {"name": "demo", "version": version, "environment": "test"},
            "call_tree": {"function": "view", "file": "report.py", "line": 10, "time_ms": total, "self_ms": 2.0, "is_app": True,
                          "children": children}}


def test_a_worker_checks_the_advice(procs, scale_env, scale_project):
    pid, key = scale_project
    env = {**scale_env, "PYSTRUMENT_SERVER_AUTO_ANALYSIS_INTERVAL_S": "1", "PYSTRUMENT_SERVER_ADVICE_MIN_REQUESTS": "20",
           "PYSTRUMENT_SERVER_AUTO_ANALYSIS": "false"}
    url = procs.serve(env, log="serve.log")
    worker = procs.start(env, "worker", "--name", "w1", log="w1.log")
    procs.wait_log(worker, "reading stream")
    now = dt.datetime.now(dt.timezone.utc)
    with httpx.Client(base_url=url, timeout=30) as api:
        v10 = [_record("1.0", i, True, now - dt.timedelta(hours=2)) for i in range(25)]
        assert api.post("/api/v1/performance/batch", json={"records": v10}, headers={"X-Project-Key": key}).json()["data"]["accepted"] == 25
        aid = api.post(f"/api/v1/analysis/analyze/{v10[0]['record_id']}", json={"provider": "rules"}).json()["data"]["analysis_id"]
        deadline = time.monotonic() + 60
        while (a := api.get(f"/api/v1/analysis/{aid}").json()["data"])["status"] != "done":
            assert time.monotonic() < deadline and a["status"] != "failed", a
            time.sleep(0.2)
        crunch = next(f for f in a["findings"] if f["function"] == "crunch")
        assert crunch["prediction"]["baseline_ms"] == 40.0 and "check" not in crunch
        v11 = [_record("1.1", i, False, now - dt.timedelta(hours=1)) for i in range(25)]
        assert api.post("/api/v1/performance/batch", json={"records": v11}, headers={"X-Project-Key": key}).json()["data"]["accepted"] == 25
        while "check" not in (crunch := next(f for f in api.get(f"/api/v1/analysis/{aid}").json()["data"]["findings"] if f["function"] == "crunch")):
            assert time.monotonic() < deadline + 30, crunch
            time.sleep(0.2)
    assert crunch["check"]["verdict"] == "confirmed" and crunch["check"]["measured_ms"] == 40.0, crunch
    client = redis.Redis.from_url(env["PYSTRUMENT_SERVER_REDIS"])
    runs = [json.loads(x) for x in client.lrange(f"{env['PYSTRUMENT_SERVER_REDIS_PREFIX']}periodic:log:advice-check", 0, -1)]
    assert runs and runs[0]["worker"] == "w1" and any(r["result"] == 1 for r in runs), runs
