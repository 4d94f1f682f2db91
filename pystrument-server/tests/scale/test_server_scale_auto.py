"""Automatic analysis across processes sharing Redis: two ``serve`` processes keep one rate limit and one
cooldown per project; the workers' periodic task analyses a regression once, on RQ."""

from __future__ import annotations

import time
import uuid

import httpx

AUTO_ENV = {"PYSTRUMENT_SERVER_AUTO_ANALYSIS": "true", "PYSTRUMENT_SERVER_AUTO_ANALYSIS_SLOW_MS": "100",
            "PYSTRUMENT_SERVER_AUTO_ANALYSIS_PER_HOUR": "3", "PYSTRUMENT_SERVER_AUTO_ANALYSIS_INTERVAL_S": "0.5",
            "PYSTRUMENT_SERVER_AUTO_ANALYSIS_MIN_RECORDS": "20"}


def _listed(url: str, pid: str, **query) -> dict:
    return httpx.get(f"{url}/api/v1/projects/{pid}/analyses", params={"page_size": 100, **query}, timeout=30).json()["data"]


def test_rate_limit_and_cooldown_hold_across_two_servers(procs, scale_env, scale_project, make_record):
    pid, key = scale_project
    env = {**scale_env, **AUTO_ENV}
    urls = [procs.serve(env, log="a.log"), procs.serve(env, log="b.log")]
    sent = []
    for i in range(8):  # N + k = 3 + 5 slow records of different endpoints, one per request, alternating servers
        rec = make_record(name=f"GET /slow/{i}", duration=300.0)
        sent.append(rec)
        r = httpx.post(urls[i % 2] + "/api/v1/performance/collect", json=rec, headers={"X-Project-Key": key}, timeout=30)
        assert r.json()["code"] == 0, r.text
    deadline = time.monotonic() + 20
    while _listed(urls[0], pid)["total"] < 3 and time.monotonic() < deadline:
        time.sleep(0.1)
    time.sleep(1.0)  # both servers have handed off everything by now
    page = _listed(urls[1], pid)
    assert page["total"] == 3, page  # one bucket per project in Redis, not 3 per process
    assert {a["trigger"] for a in page["items"]} == {"slow_record"} and {a["status"] for a in page["items"]} == {"queued"}

    # the workers run them (RQ)
    done = procs.run(env, "worker", "--burst", "--no-stream", "--no-periodic")
    assert done.returncode == 0, done.stderr
    assert {a["status"] for a in _listed(urls[0], pid)["items"]} == {"done"}


def test_workers_analyse_a_regression_once(procs, scale_env, make_record):
    env = {**scale_env, **AUTO_ENV, "PYSTRUMENT_SERVER_AUTO_ANALYSIS_SLOW_MS": "100000"}
    created = procs.run(env, "projects", "create", f"reg-{uuid.uuid4().hex[:6]}")
    assert created.returncode == 0, created.stderr
    key = dict(line.split(": ", 1) for line in created.stdout.splitlines() if ": " in line)["project key"].strip()
    pid = created.stdout.split("(id ", 1)[1].split(")", 1)[0]
    url = procs.serve(env, log="serve.log")
    for version, helper in (("1.0", 8.0), ("1.1", 48.0)):
        records = [make_record(name="GET /search", duration=helper + 12 + i % 3, helper_ms=helper + i % 3, version=version) for i in range(25)]
        r = httpx.post(url + "/api/v1/performance/batch", json={"records": records}, headers={"X-Project-Key": key}, timeout=30)
        assert r.json()["data"]["accepted"] == 25, r.text
        time.sleep(0.05)
    # the periodic task (in whichever worker takes its lock) queues it, the worker's RQ loop runs it
    done = procs.run(env, "worker", "--burst", "--no-stream")
    assert done.returncode == 0, done.stderr
    page = _listed(url, pid, trigger="regression")
    assert page["total"] == 1 and page["items"][0]["status"] == "done", page
    a = page["items"][0]
    assert a["regression"]["base"] == "1.0" and a["regression"]["head"] == "1.1" and a["version"] == "1.1"
    assert any(f["analyser"] == "regressions" and f["function"] == "helper" for f in a["findings"]), a["findings"]
    time.sleep(0.6)  # the lock has expired: the next run checks again, and finds it analysed
    again = procs.run(env, "worker", "--burst", "--no-stream")
    assert again.returncode == 0, again.stderr
    assert _listed(url, pid, trigger="regression")["total"] == 1
