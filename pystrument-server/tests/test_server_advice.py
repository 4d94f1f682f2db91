"""Advice that is checked (issue 18 item 5), through the real server API on both stores: version 1.0 has a planted
hot function and a second hot one; the analysis finds both and predicts their savings; version 1.1 removes the
first and keeps the second; once 1.1 has enough requests the first finding is confirmed with the measured saving
and the second is not confirmed. The next AI analysis of the endpoint (the OpenAI-compatible stand-in) is told
what was tried and what it did."""

from __future__ import annotations

import datetime as dt
import json
import time
import uuid

import pytest
from pystrument_testing.llm import OpenAICompatibleStandIn
from pystrument_testing.polling import wait_until

ENDPOINT = "GET /report"
SETTINGS = {"auto_analysis": False, "auto_analysis_interval_s": 0.2, "advice_min_requests": 20}
NOW = dt.datetime.now(dt.timezone.utc)


def _record(version: str, i: int, *, hot: bool, started: dt.datetime, crunch_ms: float = 40.0) -> dict:
    """view -> (crunch: the planted hot function, when ``hot``; render: hot in both versions; fetch)."""
    children = []
    if hot:
        ms = crunch_ms + i % 3
        children.append({"function": "crunch", "file": "report.py", "line": 40, "time_ms": ms, "self_ms": ms, "is_app": True})
    children.append({"function": "render", "file": "report.py", "line": 80, "time_ms": 15.0 + i % 2, "self_ms": 15.0 + i % 2, "is_app": True})
    children.append({"function": "fetch", "file": "report.py", "line": 20, "time_ms": 3.0, "self_ms": 3.0, "is_app": True})
    total = 2.0 + sum(c["time_ms"] for c in children)
    return {
        "schema_version": 1, "record_id": uuid.uuid4().hex, "kind": "request", "name": ENDPOINT, "method": "GET", "path": "/report",
        "status_code": 200, "started_at": (started + dt.timedelta(seconds=i)).isoformat(), "duration_ms": total,
        "app": {"name": "demo", "version": version, "environment": "test"},
        "call_tree": {"function": "view", "file": "report.py", "line": 10, "time_ms": total, "self_ms": 2.0, "is_app": True,
                      "children": children},
    }


def _ingest(c, project, records):
    r = c.post("/api/v1/performance/batch", json={"records": records}, headers={"X-Project-Key": project["project_key"]})
    assert r.status_code == 200 and r.json()["data"]["accepted"] == len(records), r.text


def _project(c):
    r = c.post("/api/v1/projects", json={"name": f"advice-{uuid.uuid4().hex[:8]}"})
    assert r.status_code == 201, r.text
    return r.json()["data"]


def _analyse(c, project, record_id, provider="rules"):
    r = c.post(f"/api/v1/analysis/analyze/{record_id}", json={"provider": provider}, params={"project_id": project["id"]})
    assert r.status_code == 202, r.text
    return _wait(lambda: (a := c.get(f"/api/v1/analysis/{r.json()['data']['analysis_id']}").json()["data"])["status"] in ("done", "failed") and a)


def _wait(fn, timeout=60.0):
    return wait_until(fn, timeout, 0.05)


def _by_function(analysis):
    return {f["function"]: f for f in analysis["findings"]}


def test_a_shipped_fix_is_confirmed_and_one_that_did_not_ship_is_not(start_server, store_kind):
    server = start_server(store_kind, **SETTINGS)
    with server.client() as c:
        project = _project(c)
        v10 = [_record("1.0", i, hot=True, started=NOW - dt.timedelta(hours=2)) for i in range(30)]
        _ingest(c, project, v10)
        analysis = _analyse(c, project, v10[0]["record_id"])
        assert analysis["status"] == "done", analysis
        found = _by_function(analysis)
        crunch, render = found["crunch"], found["render"]
        # the predictions: the function's time per request at 1.0 (its mean over the version's records) times the
        # share of it the finding expects to save
        for finding, baseline in ((crunch, 41.0), (render, 15.5)):
            p = finding["prediction"]
            assert p["target"]["kind"] == "function" and p["version"] == "1.0" and p["endpoint"] == ENDPOINT, p
            assert p["baseline_ms"] == pytest.approx(baseline, abs=0.05) and p["records"] == 30, p
            assert 0 < p["share"] <= 1 and p["predicted_ms"] == pytest.approx(p["baseline_ms"] * p["share"], abs=0.01), p
        assert "check" not in crunch  # no later version yet

        # 1.1 without the hot function, too little traffic at first: nothing is checked
        v11 = [_record("1.1", i, hot=False, started=NOW - dt.timedelta(hours=1)) for i in range(30)]
        _ingest(c, project, v11[:10])
        time.sleep(1.0)  # several periodic runs
        assert "check" not in _by_function(c.get(f"/api/v1/analysis/{analysis['id']}").json()["data"])["crunch"]

        _ingest(c, project, v11[10:])
        checked = _wait(lambda: "check" in (a := c.get(f"/api/v1/analysis/{analysis['id']}").json()["data"])["findings"][0] and a)
        found = _by_function(checked)
        crunch, render = found["crunch"]["check"], found["render"]["check"]
        assert crunch["verdict"] == "confirmed", crunch
        assert crunch["measured_ms"] == pytest.approx(41.0, abs=0.05) and crunch["before_ms"] == pytest.approx(41.0, abs=0.05)
        assert crunch["after_ms"] == 0.0 and crunch["predicted_ms"] == found["crunch"]["prediction"]["predicted_ms"]
        assert (crunch["version"], crunch["against"]) == ("1.0", "1.1")
        assert crunch["requests"] == {"before": 30, "after": 30} and crunch["records"] == {"before": 30, "after": 30}
        assert crunch["endpoint_ms"]["before"] - crunch["endpoint_ms"]["after"] == pytest.approx(41.0, abs=0.1), crunch
        assert render["verdict"] == "not_confirmed" and abs(render["measured_ms"]) < 0.01, render

        # idempotent: later runs leave the verdicts as they are
        time.sleep(1.0)
        again = c.get(f"/api/v1/analysis/{analysis['id']}").json()["data"]
        assert _by_function(again)["crunch"]["check"]["checked_at"] == crunch["checked_at"]

        # the project's analyses list carries the verdicts too
        items = c.get(f"/api/v1/projects/{project['id']}/analyses", params={"endpoint": ENDPOINT}).json()["data"]["items"]
        assert _by_function(items[0])["crunch"]["check"]["verdict"] == "confirmed"

        # a newer version with enough requests checks the advice again: 1.2 brings back most of crunch's time
        _ingest(c, project, [_record("1.2", i, hot=True, crunch_ms=35.0, started=NOW - dt.timedelta(minutes=30)) for i in range(30)])
        rechecked = _wait(lambda: (f := _by_function(c.get(f"/api/v1/analysis/{analysis['id']}").json()["data"]))["crunch"]["check"]["against"] == "1.2" and f)
        crunch = rechecked["crunch"]["check"]
        assert crunch["measured_ms"] == pytest.approx(5.0, abs=0.05) and crunch["after_ms"] == pytest.approx(36.0, abs=0.05), crunch
        assert crunch["verdict"] == "partly_confirmed", crunch  # 5 ms of the ~20 predicted: at least 10%, under 50%
        assert rechecked["render"]["check"]["verdict"] == "not_confirmed" and rechecked["render"]["check"]["against"] == "1.2"


def test_the_next_ai_analysis_is_told_what_the_advice_did(start_server, store_kind):
    stand_in = OpenAICompatibleStandIn()
    try:
        server = start_server(store_kind, **SETTINGS, ai={"openai": {"api_key": "sk-test", "base_url": stand_in.base_url}})
        with server.client() as c:
            project = _project(c)
            v10 = [_record("1.0", i, hot=True, started=NOW - dt.timedelta(hours=2)) for i in range(25)]
            _ingest(c, project, v10)
            stand_in.reply(json.dumps({"summary": "crunch dominates.", "findings": [
                {"title": "crunch recomputes the totals", "function": "crunch", "file": "report.py", "line": 40, "evidence": "41 ms of 61 ms",
                 "suggestion": "Compute the totals once.", "expected_gain_ms": 40.0, "confidence": 0.8}]}))
            first = _analyse(c, project, v10[0]["record_id"], provider="openai")
            assert first["status"] == "done", first
            assert "Earlier advice" not in stand_in.requests[0]["json"]["messages"][1]["content"]  # nothing was tried yet
            assert first["findings"][0]["prediction"]["predicted_ms"] == pytest.approx(41.0 * 40.0 / 40.0, abs=1.0)

            v11 = [_record("1.1", i, hot=False, started=NOW - dt.timedelta(hours=1)) for i in range(25)]
            _ingest(c, project, v11)
            _wait(lambda: "check" in c.get(f"/api/v1/analysis/{first['id']}").json()["data"]["findings"][0])

            second = _analyse(c, project, v11[0]["record_id"], provider="openai")
            assert second["status"] == "done", second
            prompt = stand_in.requests[-1]["json"]["messages"][1]["content"]
            assert "Earlier advice on this endpoint" in prompt, prompt
            line = next(x for x in prompt.splitlines() if "crunch recomputes the totals" in x)
            assert line.startswith("- CONFIRMED"), prompt
            assert "measured 41.0 ms" in prompt and "version 1.0 41.0 ms -> version 1.1 0.0 ms" in prompt, prompt
    finally:
        stand_in.close()


N1 = "SELECT * FROM item WHERE id = ?"


def _n1_record(version: str, i: int, *, batched: bool, started: dt.datetime) -> dict:
    """view -> load_items, which runs one query per item (1.0) or one query for all (1.1): its SQL spans."""
    statement, count, each = ("SELECT * FROM item WHERE id IN (?)", 1, 2.0) if batched else (N1, 20, 1.5)
    spans = [{"kind": "sql", "start_ms": 1.0 + k * 1.6, "duration_ms": each, "statement": statement, "db": "sqlite",
              "file": "shop.py", "line": 31, "function": "load_items"} for k in range(count)]
    load = count * each + 1.0
    total = load + 4.0
    return {
        "schema_version": 1, "record_id": uuid.uuid4().hex, "kind": "request", "name": "GET /items", "method": "GET", "path": "/items",
        "status_code": 200, "started_at": (started + dt.timedelta(seconds=i)).isoformat(), "duration_ms": total,
        "app": {"name": "demo", "version": version, "environment": "test"}, "spans": spans,
        "call_tree": {"function": "view", "file": "shop.py", "line": 10, "time_ms": total, "self_ms": 4.0, "is_app": True, "children": [
            {"function": "load_items", "file": "shop.py", "line": 25, "time_ms": load, "self_ms": load, "is_app": True}]},
    }


def test_an_n_plus_one_finding_is_checked_on_its_statement(start_server, store_kind):
    server = start_server(store_kind, **SETTINGS)
    with server.client() as c:
        project = _project(c)
        v10 = [_n1_record("1.0", i, batched=False, started=NOW - dt.timedelta(hours=2)) for i in range(25)]
        _ingest(c, project, v10)
        analysis = _analyse(c, project, v10[0]["record_id"])
        [n1] = [f for f in analysis["findings"] if (f.get("evidence") or {}).get("statement") == N1]
        p = n1["prediction"]
        assert p["target"] == {"kind": "sql", "text": N1, "function": n1["function"], "file": n1["file"]}, p
        assert p["baseline_ms"] == pytest.approx(30.0) and 0 < p["predicted_ms"] <= 30.0, p
        _ingest(c, project, [_n1_record("1.1", i, batched=True, started=NOW - dt.timedelta(hours=1)) for i in range(25)])
        checked = _wait(lambda: [f for f in c.get(f"/api/v1/analysis/{analysis['id']}").json()["data"]["findings"]
                                 if (f.get("evidence") or {}).get("statement") == N1 and "check" in f])
        check = checked[0]["check"]
        assert check["verdict"] == "confirmed" and check["measured_ms"] == pytest.approx(30.0), check
        assert check["before_ms"] == pytest.approx(30.0) and check["after_ms"] == 0.0 and check["against"] == "1.1", check


def test_the_openapi_document_describes_predictions_and_verdicts(start_server):
    with start_server("sqlite").client() as c:
        schemas = c.get("/api/v1/openapi.json").json()["components"]["schemas"]
    finding = schemas["Finding"]["properties"]
    assert finding["prediction"]["allOf"] == [{"$ref": "#/components/schemas/Prediction"}] and finding["prediction"]["description"]
    assert finding["check"]["allOf"] == [{"$ref": "#/components/schemas/AdviceCheck"}] and finding["check"]["description"]
    verdict = schemas["AdviceCheck"]["properties"]["verdict"]
    assert sorted(verdict["enum"]) == ["confirmed", "not_confirmed", "partly_confirmed"] and "advice_confirm_share" in verdict["description"]
    assert set(schemas["Prediction"]["required"]) >= {"target", "version", "baseline_ms", "predicted_ms"}
