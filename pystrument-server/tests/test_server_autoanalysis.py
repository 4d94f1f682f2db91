"""Automatic analysis through HTTP, on both stores: slow records analysed after ingest (once per endpoint and
version, rate-limited per project), fast ones never, a regression between the two newest versions once, and
ingest doing no extra store work for it. ``GET /projects/{id}/analyses`` lists them per endpoint."""

from __future__ import annotations

import collections
import threading
import time
import uuid

import pytest
from pystrument.core import hookimpl, plugins
from pystrument_testing.polling import wait_until

AUTO = {"auto_analysis": True, "auto_analysis_slow_ms": 500.0, "auto_analysis_interval_s": 0.3, "auto_analysis_min_records": 20}


def _project(c, **settings):
    r = c.post("/api/v1/projects", json={"name": f"auto-{uuid.uuid4().hex[:8]}", "settings": settings})
    assert r.status_code == 201, r.text
    return r.json()["data"]


def _ingest(c, project, records):
    r = c.post("/api/v1/performance/batch", json={"records": records}, headers={"X-Project-Key": project["project_key"]})
    assert r.status_code == 200 and r.json()["data"]["accepted"] == len(records), r.text


def _settle(server):
    """Wait for the hand-off thread, then for the analysis jobs it queued."""
    assert server.app.state.ctx.auto.wait_idle(10)
    assert server.app.state.ctx.worker.wait_idle(30)


def _analyses(c, project, **query):
    r = c.get(f"/api/v1/projects/{project['id']}/analyses", params={"page_size": 200, **query})
    assert r.status_code == 200, r.text
    return r.json()["data"]


def test_slow_records_are_analysed_once_per_endpoint_within_the_rate_limit(start_server, store_kind, make_record):
    server = start_server(store_kind, **AUTO, auto_analysis_per_hour=3)
    with server.client() as c:
        project = _project(c)
        slow = [make_record(name=f"GET /slow/{i}", duration=800.0 + i) for i in range(5)]  # N + k = 3 + 2 endpoints
        twins = [make_record(name="GET /slow/0", duration=700.0) for _ in range(4)]  # the same endpoint and version again
        fast = [make_record(name=f"GET /fast/{i}", duration=30.0) for i in range(20)]
        _ingest(c, project, slow + twins + fast)
        _settle(server)
        page = _analyses(c, project)
        assert page["total"] == 3, [(a["endpoint"], a["record_id"]) for a in page["items"]]
        by_record = {r["record_id"]: r for r in slow + twins}
        for a in page["items"]:
            assert a["trigger"] == "slow_record" and a["status"] == "done", a
            assert a["record_id"] in by_record and a["endpoint"] == by_record[a["record_id"]]["name"] and a["version"] == "1.0"
            assert a["provider"] == "rules" and a["findings"] and a["severity"] in ("low", "medium", "high")
        # the slowest endpoints first, and within GET /slow/0 its slowest record, not one of the twins
        assert {a["endpoint"] for a in page["items"]} == {"GET /slow/4", "GET /slow/3", "GET /slow/2"}
        # more slow records: the rate limit holds (3 at once, refilled at 3 an hour), analysed endpoints are not redone
        _ingest(c, project, [make_record(name=f"GET /slow/{i}", duration=900.0) for i in range(8)])
        _settle(server)
        assert _analyses(c, project)["total"] == 3


def test_fast_records_trigger_nothing(start_server, store_kind, make_record):
    server = start_server(store_kind, **AUTO)
    with server.client() as c:
        project = _project(c)
        _ingest(c, project, [make_record(name=f"GET /f/{i % 3}", duration=499.9) for i in range(30)])
        _settle(server)
        assert _analyses(c, project)["total"] == 0
        off = _project(c, auto_analysis={"enabled": False})  # a project may turn it off
        _ingest(c, off, [make_record(duration=5000.0)])
        _settle(server)
        assert _analyses(c, off)["total"] == 0


def test_project_settings_override_the_server(start_server, store_kind, make_record):
    server = start_server(store_kind, auto_analysis=False, auto_analysis_interval_s=0.3)  # off on the server
    with server.client() as c:
        plain = _project(c)
        own = _project(c, auto_analysis={"enabled": True, "slow_ms": 100, "per_hour": 1})
        _ingest(c, plain, [make_record(name="GET /a", duration=5000.0)])
        _ingest(c, own, [make_record(name="GET /a", duration=150.0), make_record(name="GET /b", duration=120.0),
                         make_record(name="GET /c", duration=99.0)])
        _settle(server)
        assert _analyses(c, plain)["total"] == 0
        page = _analyses(c, own)
        assert page["total"] == 1 and page["items"][0]["endpoint"] == "GET /a"  # per_hour 1: the slowest
        for bad, says in (({"slow_ms": -1}, "slow_ms"), ({"enabld": True}, "enabld"), ({"per_hour": 0}, "per_hour"), ("on", "auto_analysis")):
            r = c.put(f"/api/v1/projects/{own['id']}", json={"settings": {"auto_analysis": bad}})
            assert r.status_code == 400 and r.json()["code"] == 10001 and says in r.json()["msg"], r.text
        r = c.put(f"/api/v1/projects/{own['id']}", json={"settings": {"auto_analysis": {"enabled": False}}})
        assert r.json()["data"]["settings"]["auto_analysis"] == {"enabled": False}


def test_project_analyses_are_listed_per_endpoint_version_and_trigger(start_server, store_kind, make_record):
    server = start_server(store_kind, **AUTO)
    with server.client() as c:
        project = _project(c)
        records = [make_record(name="GET /x", duration=900.0, version="2.0"), make_record(name="GET /y", duration=40.0, version="2.0"),
                   make_record(name="GET /y", duration=45.0, version="2.1")]
        _ingest(c, project, records)
        for rec in records[1:]:
            r = c.post(f"/api/v1/analysis/analyze/{rec['record_id']}", json={})
            assert r.status_code == 202, r.text
        _settle(server)
        assert _analyses(c, project)["total"] == 3
        assert [a["trigger"] for a in _analyses(c, project, endpoint="GET /x")["items"]] == ["slow_record"]
        manual = _analyses(c, project, endpoint="GET /y")
        assert manual["total"] == 2 and {a["trigger"] for a in manual["items"]} == {"manual"}
        assert manual["items"][0]["created_at"] >= manual["items"][1]["created_at"]  # newest first
        assert [a["version"] for a in _analyses(c, project, endpoint="GET /y", version="2.1")["items"]] == ["2.1"]
        assert _analyses(c, project, trigger="slow_record,regression")["total"] == 1
        assert _analyses(c, project, trigger="manual")["total"] == 2
        first = _analyses(c, project, page_size=2, page=1)
        second = _analyses(c, project, page_size=2, page=2)
        assert first["total"] == 3 and len(first["items"]) == 2 and len(second["items"]) == 1
        assert {a["id"] for a in first["items"]}.isdisjoint(a["id"] for a in second["items"])
        r = c.get(f"/api/v1/projects/{project['id']}/analyses", params={"trigger": "slow"})
        assert r.status_code == 400 and "slow_record" in r.json()["msg"]
        assert c.get("/api/v1/projects/nope/analyses").json()["code"] == 20001
        rec = c.get(f"/api/v1/records/{records[0]['record_id']}/analyses").json()["data"]["items"]
        assert [a["trigger"] for a in rec] == ["slow_record"]


def _wait_for(predicate, timeout=30.0):
    return wait_until(predicate, timeout, 0.1)


def test_a_regression_is_analysed_once(start_server, store_kind, make_record):
    server = start_server(store_kind, **{**AUTO, "auto_analysis_slow_ms": 10_000.0})
    with server.client() as c:
        project = _project(c)
        _ingest(c, project, [make_record(name="GET /search", duration=20.0 + i % 3, helper_ms=8.0 + i % 3, version="1.4.0") for i in range(30)])
        _ingest(c, project, [make_record(name="GET /other", duration=10.0 + i % 3, version="1.4.0") for i in range(30)])
        time.sleep(0.05)  # the head version is seen after the base one
        _ingest(c, project, [make_record(name="GET /search", duration=60.0 + i % 3, helper_ms=48.0 + i % 3, version="1.5.0") for i in range(30)])
        _ingest(c, project, [make_record(name="GET /other", duration=10.0 + i % 3, version="1.5.0") for i in range(30)])
        found = _wait_for(lambda: [a for a in _analyses(c, project, trigger="regression")["items"] if a["status"] == "done"])
        assert len(found) == 1
        a = found[0]
        assert a["endpoint"] == "GET /search" and a["version"] == "1.5.0"
        assert a["regression"]["base"] == "1.4.0" and a["regression"]["head"] == "1.5.0"
        assert a["regression"]["delta"]["kind"] == "regression"
        assert any(f["name"] == "helper" for f in a["regression"]["functions"])
        regressed = [f for f in a["findings"] if f["analyser"] == "regressions"]
        assert regressed and regressed[0]["function"] == "helper" and regressed[0]["evidence"]["delta_ms"] > 30, a["findings"]
        time.sleep(1.5)  # several more periodic runs
        assert _analyses(c, project, trigger="regression")["total"] == 1
    # a second server on the same store (or this one restarted) knows it was done
    again = start_server(store_kind, store_url=server.settings.store, **{**AUTO, "auto_analysis_slow_ms": 10_000.0})
    with again.client() as c:
        time.sleep(1.5)
        assert _analyses(c, project, trigger="regression")["total"] == 1


class CountingStore:
    """The store, counting each call by method and by whether the ingest request made it."""

    def __init__(self, inner):
        self._inner = inner
        self.calls: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)

    def __getattr__(self, name):
        value = getattr(self._inner, name)
        if not callable(value):
            return value

        def counted(*args, **kwargs):
            thread = threading.current_thread().name
            where = "auto" if thread.startswith("pystrument-auto") else "analysis" if thread.startswith("pystrument-analysis") else "request"
            self.calls[where][name] += 1
            return value(*args, **kwargs)

        return counted


@pytest.mark.parametrize("auto", [False, True])
def test_ingest_does_the_same_store_work_with_automatic_analysis(start_server, store_kind, make_record, auto):
    counting: list[CountingStore] = []
    server = start_server(store_kind, wrap_store=lambda inner: counting.append(CountingStore(inner)) or counting[0],
                          **{**AUTO, "auto_analysis": auto, "auto_analysis_per_hour": 5, "auto_analysis_interval_s": 3600.0})
    store = counting[0]
    with server.client() as c:
        project = _project(c)
        store.calls.clear()
        _ingest(c, project, [make_record(name=f"GET /e/{i % 50}", duration=600.0 + i) for i in range(400)])  # 400 slow records, 50 endpoints
        _settle(server)
        # the request path: one key lookup and one insert, whatever the batch holds and whether auto analysis is on
        # (MongoDB's periodic adoption of records the sink wrote, "maintain", runs in the same thread pool); the
        # project's first batch in this process also reads its known endpoints and versions (cardinality.py), once
        request_calls = {k: v for k, v in store.calls["request"].items() if k != "maintain"}
        assert request_calls == {"get_project_by_key": 1, "insert_records": 1, "distinct_names": 2}, store.calls
        # the hand-off thread: one queued analysis per token (5), nothing read
        assert dict(store.calls["auto"]) == ({"save_analysis": 5} if auto else {}), store.calls
        store.calls.clear()
        _ingest(c, project, [make_record(name=f"GET /e/{i % 50}", duration=10.0) for i in range(100)])  # known names: cached
        _settle(server)
        request_calls = {k: v for k, v in store.calls["request"].items() if k != "maintain"}
        assert request_calls == {"get_project_by_key": 1, "insert_records": 1}, store.calls


class TinyAI:
    name = "tiny"
    default_model = "tiny-1"

    def is_configured(self, settings):
        return bool(settings.get("api_key"))

    def analyse(self, context, findings, settings):
        from pystrument.core.analysis import AnalysisResult

        return AnalysisResult(summary=f"tiny looked at {context.record.name}", findings=findings)


class TinyPlugin:
    @staticmethod
    @hookimpl
    def register_ai_providers(register):
        register("tiny", TinyAI())
        register("tiny-unset", TinyAI())


def test_an_ai_provider_is_used_only_when_configured(start_server, store_kind, make_record):
    unregister = plugins.register(TinyPlugin(), name="test-auto-ai")
    try:
        server = start_server(store_kind, **AUTO, ai={"tiny": {"api_key": "k-1"}})
        with server.client() as c:
            configured = _project(c, auto_analysis={"provider": "tiny"})
            unset = _project(c, auto_analysis={"provider": "tiny-unset"})
            _ingest(c, configured, [make_record(name="GET /ai", duration=900.0)])
            _ingest(c, unset, [make_record(name="GET /ai", duration=900.0)])
            _settle(server)
            [a] = _analyses(c, configured)["items"]
            assert a["provider"] == "tiny" and a["model"] == "tiny-1" and a["summary"] == "tiny looked at GET /ai", a
            [b] = _analyses(c, unset)["items"]
            assert b["provider"] == "rules" and b["status"] == "done", b  # not configured: the rules, never a failing AI call
    finally:
        unregister()
