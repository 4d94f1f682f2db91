"""Analysis jobs on RQ with real worker subprocesses: queued at once, 20006 while queued, run by
``pystrument-server worker``, retried with backoff, listed by ``GET /api/v1/jobs/failed`` when they fail."""

from __future__ import annotations

import json
import time


def _analysis(api, analysis_id: str, until: set[str], timeout: float = 60) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        a = api.get(f"/api/v1/analysis/{analysis_id}").json()["data"]
        if a["status"] in until:
            return a
        assert time.monotonic() < deadline, a
        time.sleep(0.1)


def test_analysis_runs_on_an_rq_worker(procs, scale_env, scale_project, make_record):
    import httpx

    _pid, key = scale_project
    url = procs.serve(scale_env, log="serve.log")
    with httpx.Client(base_url=url, timeout=30) as api:
        rec = make_record(error="ValueError")
        assert api.post("/api/v1/performance/collect", json=rec, headers={"X-Project-Key": key}).json()["code"] == 0
        r = api.post(f"/api/v1/analysis/analyze/{rec['record_id']}", json={"provider": "example-echo"})
        assert r.status_code == 202, r.text
        task = r.json()["data"]["task_id"]
        again = api.post(f"/api/v1/analysis/analyze/{rec['record_id']}", json={"provider": "example-echo"})
        assert again.json()["code"] == 20006 and again.json()["data"]["analysis_id"] == task
        assert api.get(f"/api/v1/analysis/{task}").json()["data"]["status"] == "queued"  # no worker yet: nothing runs it

        done = procs.run(scale_env, "worker", "--burst", "--no-stream", "--no-periodic")
        assert done.returncode == 0, done.stderr
        a = _analysis(api, task, {"done", "failed"})
        assert a["status"] == "done", a
        assert a["summary"].endswith("findings for GET /users/{id}")  # the echo provider's summary: the job ran it
        assert "example_errors" in {f["analyser"] for f in a["findings"]}  # with the analysers' findings
        # the hold is released: the same record and provider can be analysed again
        assert api.post(f"/api/v1/analysis/analyze/{rec['record_id']}", json={"provider": "example-echo"}).status_code == 202
        assert api.get("/api/v1/jobs/failed").json()["data"] == {"items": [], "total": 0}


def test_failing_job_is_retried_then_listed_as_failed(procs, scale_env, scale_project, make_record, tmp_path):
    import httpx

    _pid, key = scale_project
    config = tmp_path / "server.json"
    config.write_text(json.dumps({"ai": {"example-echo": {"fail": "provider down"}}}))
    env = {**scale_env, "PYSTRUMENT_SERVER_CONFIG": str(config), "PYSTRUMENT_SERVER_JOB_RETRIES": "2", "PYSTRUMENT_SERVER_JOB_RETRY_BACKOFF_S": "1"}
    url = procs.serve(env, log="serve.log")
    worker = procs.start(env, "worker", "--no-stream", "--no-periodic", log="worker.log")
    with httpx.Client(base_url=url, timeout=30) as api:
        rec = make_record()
        api.post("/api/v1/performance/collect", json=rec, headers={"X-Project-Key": key})
        task = api.post(f"/api/v1/analysis/analyze/{rec['record_id']}", json={"provider": "example-echo"}).json()["data"]["task_id"]
        started = time.monotonic()
        a = _analysis(api, task, {"failed"}, timeout=90)
        elapsed = time.monotonic() - started
        assert "provider down" in a["error"] and a["finished_at"]
        assert elapsed >= 1 + 4 - 0.5, f"two retries after 1 s and 4 s of backoff, yet it failed after {elapsed:.1f}s"
        log = worker.log.read_text()
        assert log.count("provider down") >= 3, log[-3000:]  # the first run and two retries
        failed = api.get("/api/v1/jobs/failed").json()["data"]
        assert failed["total"] == 1
        item = failed["items"][0]
        assert item["id"] == task and item["function"] == "pystrument.server.scale.jobs.run_analysis" and "provider down" in item["error"]
        # the hold is released after the last failure
        assert api.post(f"/api/v1/analysis/analyze/{rec['record_id']}", json={"provider": "example-echo"}).status_code == 202


def test_failed_jobs_without_redis_says_why(start_server):
    server = start_server()
    with server.client() as api:
        r = api.get("/api/v1/jobs/failed")
        assert r.status_code == 409 and "--redis" in r.json()["msg"]
