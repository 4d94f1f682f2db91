"""Automatic jobs that fail are recorded, back off and show in GET /health (jobstate.py), on a real server.

The failures come from ``FailingStoreStandIn``: the real SQLite store, with chosen reads or writes raising
StoreError as a broken disk or database would (a failing disk cannot be made to order here)."""

from __future__ import annotations

import time
import uuid

from pystrument.server.stores.base import StoreError
from pystrument_testing.polling import wait_until

AUTO = {"auto_analysis": True, "auto_analysis_slow_ms": 500.0, "auto_analysis_interval_s": 0.2, "auto_analysis_min_records": 20,
        "job_backoff_max_s": 1.6, "token": "jobs-token"}
BEARER = {"Authorization": "Bearer jobs-token"}


class FailingStoreStandIn:
    """The real store; the methods named in ``broken`` raise StoreError (and are counted) while it is set."""

    def __init__(self, inner) -> None:
        self._inner = inner
        self.broken: set[str] = set()
        self.failed_calls: dict[str, int] = {}

    def __getattr__(self, name):
        value = getattr(self._inner, name)
        if not callable(value):
            return value

        def call(*args, **kwargs):
            if name in self.broken:
                self.failed_calls[name] = self.failed_calls.get(name, 0) + 1
                raise StoreError(f"disk I/O error in {name} (stand-in)")
            return value(*args, **kwargs)

        return call


def _wait_for(predicate, timeout=20.0, describe=lambda: ""):
    return wait_until(predicate, timeout, 0.05, describe)


def _jobs(c, **kw):
    r = c.get("/health", **kw)
    assert r.status_code == 200, r.text
    return r.json()["data"]["jobs"]


def test_a_failing_regression_check_is_recorded_backs_off_and_recovers(start_server, make_record):
    stores = []
    server = start_server(wrap_store=lambda inner: stores.append(FailingStoreStandIn(inner)) or stores[0], **AUTO)
    store = stores[0]
    store.broken.add("durations")  # the comparison's first read
    with server.client(headers=BEARER) as c:
        project = c.post("/api/v1/projects", json={"name": f"jobs-{uuid.uuid4().hex[:6]}"}).json()["data"]
        key = {"X-Project-Key": project["project_key"]}
        for version, helper in (("1.0", 8.0), ("2.0", 48.0)):
            records = [make_record(name="GET /search", duration=helper + 12 + i % 3, helper_ms=helper + i % 3, version=version) for i in range(25)]
            assert c.post("/api/v1/performance/batch", json={"records": records}, headers=key).status_code == 200
            time.sleep(0.05)  # the head version is seen after the base one
        job = _wait_for(lambda: (j := _jobs(c)["regression_check"])["state"] == "failing" and j)
        assert job["project_id"] == project["id"] and job["failures"] >= 1
        assert job["last_error"] == "StoreError: disk I/O error in durations (stand-in)"
        assert job["next_retry_at"] > job["last_error_at"]
        # backing off: retries after 0.2, 0.4, 0.8, 1.6, 1.6 s, not every 0.2 s (~15 runs in 3 s)
        start = store.failed_calls["durations"]
        time.sleep(3.0)
        retried = store.failed_calls["durations"] - start
        assert 1 <= retried <= 5, retried
        job = _jobs(c)["regression_check"]
        assert job["failures"] >= 3 and job["failed_runs"] == job["failures"]
        # without the token, /health still answers, without the error text
        with server.client() as anonymous:
            hidden = _jobs(anonymous)["regression_check"]
        assert hidden["state"] == "failing" and "last_error" not in hidden
        store.broken.clear()
        _wait_for(lambda: _jobs(c)["regression_check"]["state"] == "ok", timeout=5, describe=lambda: _jobs(c))
        found = _wait_for(lambda: c.get(f"/api/v1/projects/{project['id']}/analyses", params={"trigger": "regression"}).json()["data"]["items"])
        assert found[0]["endpoint"] == "GET /search"


def test_a_failing_slow_record_analysis_is_recorded_and_backs_off(start_server, make_record):
    stores = []
    server = start_server(wrap_store=lambda inner: stores.append(FailingStoreStandIn(inner)) or stores[0],
                          **{**AUTO, "auto_analysis_interval_s": 30.0, "job_backoff_max_s": 60.0})
    store = stores[0]
    store.broken.add("save_analysis")  # queuing the analysis fails
    with server.client(headers=BEARER) as c:
        assert _jobs(c)["slow_record_analysis"]["state"] == "idle"
        project = c.post("/api/v1/projects", json={"name": f"slow-{uuid.uuid4().hex[:6]}"}).json()["data"]
        key = {"X-Project-Key": project["project_key"]}
        for i in range(5):  # five batches, each with a slow record of a new endpoint
            batch = [make_record(name=f"GET /slow{i}", duration=900.0)]
            assert c.post("/api/v1/performance/batch", json={"records": batch}, headers=key).status_code == 200
            server.app.state.ctx.auto.wait_idle(10)
        job = _jobs(c)["slow_record_analysis"]
        assert job["state"] == "failing" and job["project_id"] == project["id"] and job["failures"] == 1
        assert job["last_error"] == "StoreError: disk I/O error in save_analysis (stand-in)"
        assert store.failed_calls["save_analysis"] == 1  # the next batches waited for the retry time (30 s)
