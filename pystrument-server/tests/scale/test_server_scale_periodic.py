"""Periodic work is done once per cluster: two workers, one retention purge and one roll-up maintenance
per interval; and records the stream brings in clear the aggregate cache the servers share."""

from __future__ import annotations

import datetime as dt
import json
import time

import httpx
import msgspec
import redis


def test_two_workers_run_a_periodic_job_once(procs, scale_env, scale_project, make_record):
    pid, key = scale_project
    env = {**scale_env, "PYSTRUMENT_SERVER_PURGE_INTERVAL_S": "60", "PYSTRUMENT_SERVER_RETENTION_DAYS": "1"}
    client = redis.Redis.from_url(env["PYSTRUMENT_SERVER_REDIS"])
    prefix = env["PYSTRUMENT_SERVER_REDIS_PREFIX"]
    url = procs.serve(env, log="serve.log")
    old = dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=3)
    records = [make_record(started=old), make_record(started=old), make_record()]
    assert httpx.post(url + "/api/v1/performance/batch", json={"records": records}, headers={"X-Project-Key": key}, timeout=30).json()["data"]["accepted"] == 3

    started = time.monotonic()
    workers = [procs.start(env, "worker", "--name", name, log=f"{name}.log") for name in ("w1", "w2")]
    for w in workers:
        procs.wait_log(w, "reading stream")
    time.sleep(3.5)  # several scheduler ticks of each worker (one a second)
    runs = [json.loads(x) for x in client.lrange(f"{prefix}periodic:log:retention-purge", 0, -1)]
    assert len(runs) == 1 and runs[0]["worker"] in ("w1", "w2"), runs  # every 60 s: once, by one of the two
    # roll-up maintenance is due every 5 s: once per 5 s window, whichever worker runs it
    maint = [dt.datetime.fromisoformat(json.loads(x)["at"]) for x in client.lrange(f"{prefix}periodic:log:rollup-maintenance", 0, -1)]
    assert 1 <= len(maint) <= (time.monotonic() - started) // 5 + 1, maint
    assert all((a - b).total_seconds() >= 4.9 for a, b in zip(maint, maint[1:], strict=False)), maint
    purge = json.loads(client.lindex(f"{prefix}periodic:log:retention-purge", 0))
    assert purge["result"] == 2  # the two records older than a day, once
    listed = httpx.get(url + f"/api/v1/projects/{pid}/records?since=30d", timeout=30).json()["data"]
    assert listed["total"] == 1
    assert client.pttl(f"{prefix}periodic:retention-purge") > 50_000  # the next run is a minute away, whoever does it
    assert all(w.poll() is None for w in workers)


def test_records_from_the_stream_clear_the_shared_cache(procs, scale_env, scale_project, make_record):
    pid, key = scale_project
    url = procs.serve(scale_env, log="serve.log")
    worker = procs.start(scale_env, "worker", "--name", "w", "--no-periodic", log="w.log")
    procs.wait_log(worker, "reading stream")
    path = url + f"/api/v1/projects/{pid}/endpoints?since=7d"
    first = httpx.get(path, timeout=30)
    assert first.headers["x-pystrument-cache"] == "miss" and first.json()["data"]["items"] == []
    assert httpx.get(path, timeout=30).headers["x-pystrument-cache"] == "hit"
    rec = make_record()
    rec["project_key"] = key
    client = redis.Redis.from_url(scale_env["PYSTRUMENT_SERVER_REDIS"])
    client.xadd(scale_env["PYSTRUMENT_SERVER_REDIS_STREAM"], {"record": msgspec.json.encode(rec), "record_id": rec["record_id"]})
    deadline = time.monotonic() + 30
    while True:
        r = httpx.get(path, timeout=30)
        if r.json()["data"]["items"]:
            break
        assert time.monotonic() < deadline, "the stream's record never showed: the cache kept an old answer"
        time.sleep(0.1)
    assert r.headers["x-pystrument-cache"] == "miss" and r.json()["data"]["items"][0]["count"] == 1
