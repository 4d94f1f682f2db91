"""The API suite: runs unchanged against SQLite and MongoDB (nx-27017, or PYSTRUMENT_TEST_MONGODB_URI)."""

from __future__ import annotations

import datetime as dt
import gzip
import json
import statistics

import numpy as np
import pytest


def envelope(r, code=0):
    body = r.json()
    assert set(body) == {"code", "msg", "data"}, body
    assert body["code"] == code, body
    return body["data"]


def ingest(api, project, records):
    r = api.post("/api/v1/performance/batch", json={"records": records}, headers={"X-Project-Key": project["project_key"]})
    assert r.status_code == 200, r.text
    return envelope(r)


def test_health_and_envelope_on_unknown_paths(api, live):
    data = envelope(api.get("/health"))
    assert data["status"] == "ok" and data["store"] == live.app.state.store.name
    r = api.get("/api/v1/nothing-here")
    assert r.status_code == 404 and envelope(r, 10001) == {}
    r = api.delete("/api/v1/projects")
    assert r.status_code == 405 and "not allowed" in r.json()["msg"] and r.json()["code"] == 10001


def test_projects_crud(api, project):
    pid = project["id"]
    assert project["project_key"].startswith("pk_") and project["record_count"] == 0 and project["last_seen_at"] is None
    listed = envelope(api.get("/api/v1/projects"))
    assert pid in [p["id"] for p in listed["items"]] and listed["total"] == len(listed["items"])
    r = api.post("/api/v1/projects", json={"name": project["name"]})
    assert r.status_code == 409 and r.json()["code"] == 20002
    updated = envelope(api.put(f"/api/v1/projects/{pid}", json={"description": "new", "settings": {"retention_days": 30}}))
    assert updated["description"] == "new" and updated["settings"] == {"retention_days": 30} and updated["name"] == project["name"]
    rotated = envelope(api.post(f"/api/v1/projects/{pid}/rotate-key"))
    assert rotated["project_key"] != project["project_key"]
    r = api.post("/api/v1/performance/collect", json={}, headers={"X-Project-Key": project["project_key"]})
    assert r.status_code in (401, 422)
    assert envelope(api.get(f"/api/v1/projects/{pid}"))["project_key"] == rotated["project_key"]
    assert envelope(api.delete(f"/api/v1/projects/{pid}"))["deleted"] is True
    r = api.get(f"/api/v1/projects/{pid}")
    assert r.status_code == 404 and r.json()["code"] == 20001


def test_project_body_errors_name_the_field(api):
    r = api.post("/api/v1/projects", json={"name": 5})
    assert r.status_code == 400 and r.json()["code"] == 10001 and "name" in r.json()["msg"]
    r = api.post("/api/v1/projects", content=b"{not json")
    assert r.status_code == 400 and "JSON" in r.json()["msg"]
    r = api.post("/api/v1/projects", json={"name": "x", "colour": "red"})
    assert r.status_code == 400 and "colour" in r.json()["msg"]


def test_collect_one_record_and_duplicates(api, project, make_record):
    rec = make_record()
    headers = {"X-Project-Key": project["project_key"]}
    assert envelope(api.post("/api/v1/performance/collect", json=rec, headers=headers)) == {"record_id": rec["record_id"], "duplicate": False}
    assert envelope(api.post("/api/v1/performance/collect", json=rec, headers=headers)) == {"record_id": rec["record_id"], "duplicate": True}
    # the key may travel in the record instead of the header
    rec2 = make_record()
    rec2["project_key"] = project["project_key"]
    assert envelope(api.post("/api/v1/performance/collect", json=rec2))["duplicate"] is False
    got = envelope(api.get(f"/api/v1/records/{rec['record_id']}"))
    assert got["call_tree"]["children"][0]["function"] == "helper" and got["project_id"] == project["id"]
    assert envelope(api.get(f"/api/v1/projects/{project['id']}"))["record_count"] == 2


def test_invalid_key_and_invalid_data(api, project, make_record):
    r = api.post("/api/v1/performance/collect", json=make_record(), headers={"X-Project-Key": "pk_wrong"})
    assert r.status_code == 401 and r.json()["code"] == 20003
    r = api.post("/api/v1/performance/collect", json=make_record())
    assert r.status_code == 401 and r.json()["code"] == 20003 and "X-Project-Key" in r.json()["msg"]
    bad = make_record()
    bad["duration_ms"] = "slow"
    r = api.post("/api/v1/performance/collect", json=bad, headers={"X-Project-Key": project["project_key"]})
    assert r.status_code == 422 and r.json()["code"] == 20004
    assert "duration_ms" in r.json()["msg"] and "Expected `float`, got `str`" in r.json()["msg"]
    bad = make_record()
    bad["call_tree"]["children"][0]["self_ms"] = [1]
    r = api.post("/api/v1/performance/collect", json=bad, headers={"X-Project-Key": project["project_key"]})
    assert r.status_code == 422 and "call_tree.children[0].self_ms" in r.json()["msg"]


def test_batch_partial_acceptance(api, project, make_record):
    good = [make_record() for _ in range(3)]
    bad = make_record()
    bad["started_at"] = "yesterday"
    missing = make_record()
    del missing["name"]
    body = {"records": [good[0], bad, good[1], good[0], missing, good[2]]}
    data = ingest(api, project, body["records"])
    assert data["accepted"] == 3 and data["duplicates"] == 1
    assert [(x["index"], x["record_id"], x["code"]) for x in data["rejected"]] == [(1, bad["record_id"], 20004), (4, missing["record_id"], 20004)]
    assert data["rejected"][0]["error"].startswith("records[1].started_at: ")
    assert "name" in data["rejected"][1]["error"]
    # every record rejected -> 422
    r = api.post("/api/v1/performance/batch", json=[bad], headers={"X-Project-Key": project["project_key"]})
    assert r.status_code == 422 and r.json()["code"] == 20004 and r.json()["data"]["rejected"][0]["index"] == 0
    # a bare array is accepted too, and gzip bodies
    more = [make_record() for _ in range(2)]
    r = api.post("/api/v1/performance/batch", content=gzip.compress(json.dumps(more).encode()),
                 headers={"X-Project-Key": project["project_key"], "Content-Encoding": "gzip", "Content-Type": "application/json"})
    assert envelope(r)["accepted"] == 2
    r = api.post("/api/v1/performance/batch", content=b"\x1f\x8bnot gzip", headers={"X-Project-Key": project["project_key"], "Content-Encoding": "gzip"})
    assert r.status_code == 400 and r.json()["code"] == 10001


def _seed(api, project, make_record, n=60):
    now = dt.datetime.now(dt.timezone.utc)
    rng = np.random.default_rng(1)
    recs, durations = [], []
    for i in range(n):
        d = float(rng.uniform(5, 100))
        durations.append(d)
        recs.append(make_record(name="GET /a", duration=d, version="1.0" if i % 2 else "2.0", started=now - dt.timedelta(minutes=i),
                                status=500 if i % 10 == 0 else 200, extra_fn="json.dumps" if i % 3 == 0 else None))
    recs.append(make_record(name="POST /b", duration=300.0, version="1.0", started=now - dt.timedelta(days=3)))
    ingest(api, project, recs)
    return recs, durations


def test_records_listing_filters_paging_and_sorting(api, project, make_record):
    recs, _ = _seed(api, project, make_record)
    base = f"/api/v1/projects/{project['id']}/records"
    page = envelope(api.get(base, params={"page_size": 10}))
    assert page["total"] == 61 and len(page["items"]) == 10 and page["page"] == 1
    assert "call_tree" not in page["items"][0] and "source" not in page["items"][0]
    times = [i["started_at"] for i in page["items"]]
    assert times == sorted(times, reverse=True)
    slow = envelope(api.get(base, params={"sort": "-duration_ms", "page_size": 1}))["items"][0]
    assert slow["name"] == "POST /b"
    assert envelope(api.get(base, params={"endpoint": "GET /a", "version": "2.0"}))["total"] == 30
    assert envelope(api.get(base, params={"status": "error"}))["total"] == 6
    assert envelope(api.get(base, params={"status": "5xx"}))["total"] == 6
    assert envelope(api.get(base, params={"min_duration": 250}))["total"] == 1
    assert envelope(api.get(base, params={"since": "1d"}))["total"] == 60
    page2 = envelope(api.get(base, params={"page": 7, "page_size": 10}))
    assert len(page2["items"]) == 1
    r = api.get(base, params={"since": "last tuesday"})
    assert r.status_code == 400 and r.json()["code"] == 10001 and "since" in r.json()["msg"]
    r = api.get(base, params={"page_size": 0})
    assert r.status_code == 400 and "page_size" in r.json()["msg"]
    r = api.get(base, params={"sort": "name"})
    assert r.status_code == 400


def test_endpoint_statistics_trends_and_versions(api, project, make_record):
    _, durations = _seed(api, project, make_record)
    pid = project["id"]
    items = envelope(api.get(f"/api/v1/projects/{pid}/endpoints"))["items"]
    assert [i["endpoint"] for i in items] == ["POST /b", "GET /a"]  # sorted by p95 descending
    a = items[1]
    assert a["count"] == 60 and a["error_count"] == 6 and a["error_rate"] == pytest.approx(0.1)
    assert a["method"] == "GET" and a["versions"] == ["1.0", "2.0"]
    for q, key in ((50, "p50"), (95, "p95"), (99, "p99")):
        exact = float(np.percentile(durations, q, method="inverted_cdf"))
        assert abs(a[key] - exact) / exact < 0.05, (key, a[key], exact)
    assert a["max"] == pytest.approx(max(durations), abs=1e-3) and a["mean"] == pytest.approx(statistics.mean(durations), abs=1e-3)
    v2 = envelope(api.get(f"/api/v1/projects/{pid}/endpoints", params={"version": "2.0"}))["items"]
    assert [(i["endpoint"], i["count"]) for i in v2] == [("GET /a", 30)]
    recent = envelope(api.get(f"/api/v1/projects/{pid}/endpoints", params={"since": "1d"}))["items"]
    assert [i["endpoint"] for i in recent] == ["GET /a"]

    trend = envelope(api.get(f"/api/v1/projects/{pid}/trends", params={"endpoint": "GET /a", "bucket": "1h"}))
    assert trend["bucket"] == "1h" and sum(p["count"] for p in trend["points"]) == 60
    assert sum(p["error_count"] for p in trend["points"]) == 6
    assert all(p["t"].endswith(":00:00Z") for p in trend["points"])
    daily = envelope(api.get(f"/api/v1/projects/{pid}/trends", params={"bucket": "1d"}))
    assert sum(p["count"] for p in daily["points"]) == 61
    hourly = envelope(api.get(f"/api/v1/projects/{pid}/trends"))  # all endpoints, 1h, last 7 days
    assert sum(p["count"] for p in hourly["points"]) == 61 and sum(p["error_count"] for p in hourly["points"]) == 6
    assert max(p["p99"] for p in hourly["points"]) == pytest.approx(300, rel=0.05)
    v2_trend = envelope(api.get(f"/api/v1/projects/{pid}/trends", params={"version": "2.0"}))
    assert sum(p["count"] for p in v2_trend["points"]) == 30
    r = api.get(f"/api/v1/projects/{pid}/trends", params={"bucket": "7m"})
    assert r.status_code == 400 and "bucket" in r.json()["msg"]

    versions = envelope(api.get(f"/api/v1/projects/{pid}/versions"))["items"]
    assert sorted((v["version"], v["environment"], v["count"]) for v in versions) == [("1.0", "test", 31), ("2.0", "test", 30)]
    assert all(v["first_seen"] <= v["last_seen"] for v in versions)
    assert envelope(api.delete(f"/api/v1/projects/{pid}/versions/2.0"))["deleted"] == 30
    assert [v["version"] for v in envelope(api.get(f"/api/v1/projects/{pid}/versions"))["items"]] == ["1.0"]
    items = envelope(api.get(f"/api/v1/projects/{pid}/endpoints"))["items"]
    assert {i["endpoint"]: i["count"] for i in items} == {"GET /a": 30, "POST /b": 1}
    assert sum(p["count"] for p in envelope(api.get(f"/api/v1/projects/{pid}/trends"))["points"]) == 31


def test_functions(api, project, make_record):
    _seed(api, project, make_record)
    items = envelope(api.get(f"/api/v1/projects/{project['id']}/functions", params={"endpoint": "GET /a"}))["items"]
    by_name = {i["function"]: i for i in items}
    assert set(by_name) == {"view", "helper", "json.dumps"}
    assert items[0]["function"] == "helper" and items[0]["is_app"] is True and items[0]["file"] == "app.py" and items[0]["line"] == 20
    assert by_name["helper"]["request_share"] == 1.0 and by_name["json.dumps"]["request_share"] == pytest.approx(20 / 60)
    assert by_name["json.dumps"]["calls_in"] == 20 and by_name["json.dumps"]["p50_self_ms"] == pytest.approx(1.0, rel=0.05)
    assert sum(i["self_share"] for i in items) == pytest.approx(1.0, abs=1e-4)
    assert by_name["helper"]["p95_self_ms"] >= by_name["helper"]["p50_self_ms"] > 0
    limited = envelope(api.get(f"/api/v1/projects/{project['id']}/functions", params={"limit": 1}))["items"]
    assert len(limited) == 1


def _walk(node):
    yield node
    for c in node["children"]:
        yield from _walk(c)


def test_flamegraph_merges_prunes_and_expands(api, project, make_record):
    _seed(api, project, make_record)
    base = f"/api/v1/projects/{project['id']}/flamegraph"
    full = envelope(api.get(base, params={"endpoint": "GET /a"}))
    assert full["records"] == 60
    root = full["root"]
    for node in _walk(root):  # times add up everywhere
        assert node["time_ms"] == pytest.approx(node["self_ms"] + sum(c["time_ms"] for c in node["children"]), abs=0.01)
    view = root["children"][0]
    assert view["function"] == "view" and {c["function"] for c in view["children"]} == {"helper", "json.dumps"}
    cut = envelope(api.get(base, params={"endpoint": "GET /a", "limit_nodes": 3}))["root"]
    nodes = list(_walk(cut))
    other = [n for n in nodes if n["other"]]
    assert len(other) == 1 and other[0]["time_ms"] == pytest.approx(20.0, abs=0.01)
    for node in nodes:
        assert node["time_ms"] == pytest.approx(node["self_ms"] + sum(c["time_ms"] for c in node["children"]), abs=0.01)
    expanded = envelope(api.get(base, params={"endpoint": "GET /a", "limit_nodes": 3, "expand": other[0]["path"]}))["root"]
    assert [c["function"] for c in expanded["children"]] == ["json.dumps"]
    assert expanded["time_ms"] == pytest.approx(sum(c["time_ms"] for c in expanded["children"]))
    r = api.get(base, params={"expand": "root/deadbeef"})
    assert r.status_code == 404 and r.json()["code"] == 10001


def test_export_formats(api, project, make_record):
    rec = make_record()
    ingest(api, project, [rec])
    base = f"/api/v1/records/{rec['record_id']}/export"
    r = api.get(base, params={"format": "speedscope"})
    assert r.status_code == 200 and "speedscope" in r.json()["$schema"] and ".speedscope.json" in r.headers["content-disposition"]
    r = api.get(base, params={"format": "html"})
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html") and "helper" in r.text
    r = api.get(base, params={"format": "json"})
    assert r.json()["record_id"] == rec["record_id"] and r.json()["call_tree"]["function"] == "view"
    r = api.get(base, params={"format": "pyisession"})
    session = r.json()
    assert session["frame_records"] and session["frame_records"][0][0][0].startswith("view\x00app.py")
    r = api.get(base, params={"format": "pdf"})
    assert r.status_code == 400 and "format" in r.json()["msg"]
    r = api.get("/api/v1/records/nope/export")
    assert r.status_code == 404


def test_compare_endpoint(api, project, make_record):
    rng = np.random.default_rng(7)
    recs = []
    for version, extra in (("1.0", 0.0), ("2.0", 20.0)):
        for _ in range(60):
            helper = float(rng.normal(10, 1)) + extra
            recs.append(make_record(name="GET /slow", duration=helper + 5, helper_ms=helper, version=version))
            d = float(rng.normal(8, 1))
            recs.append(make_record(name="GET /same", duration=d, helper_ms=d * 0.5, version=version))
    ingest(api, project, recs)
    data = envelope(api.get(f"/api/v1/projects/{project['id']}/compare", params={"base": "1.0", "head": "2.0"}))
    eps = {d["name"]: d for d in data["endpoints"]}
    assert eps["GET /slow"]["kind"] == "regression" and eps["GET /slow"]["p_value"] < 0.01
    assert eps["GET /slow"]["delta_ms"] == pytest.approx(20, abs=1.5) and eps["GET /slow"]["base"]["count"] == 60
    assert eps["GET /same"]["kind"] == "unchanged"
    flagged = [(f["endpoint"], f["name"]) for f in data["functions"] if f["significant"]]
    assert flagged == [("GET /slow", "helper")]
    r = api.get(f"/api/v1/projects/{project['id']}/compare", params={"base": "1.0"})
    assert r.status_code == 400 and r.json()["code"] == 10001


def test_retention_purges_old_records_per_project(api, live, project, make_record):
    from pystrument.server.stores.retention import purge_expired

    now = dt.datetime.now(dt.timezone.utc)
    old, fresh = make_record(started=now - dt.timedelta(days=40)), make_record(started=now - dt.timedelta(days=1))
    ingest(api, project, [old, fresh])
    envelope(api.put(f"/api/v1/projects/{project['id']}", json={"settings": {"retention_days": 30}}))
    r = api.put(f"/api/v1/projects/{project['id']}", json={"settings": {"retention_days": -1}})
    assert r.status_code == 400 and "retention_days" in r.json()["msg"]
    assert purge_expired(live.app.state.store, live.settings) >= 1
    assert api.get(f"/api/v1/records/{old['record_id']}").status_code == 404
    assert envelope(api.get(f"/api/v1/records/{fresh['record_id']}"))["record_id"] == fresh["record_id"]
    assert envelope(api.get(f"/api/v1/projects/{project['id']}"))["record_count"] == 1


def test_mongodb_adopts_records_the_mongo_sink_wrote(api, live, project, make_record):
    """The MongoDB sink writes pystrument.core.documents straight into the records collection; the store
    assigns them to the project of their key and rolls them up."""
    store = live.app.state.store
    if store.name != "mongodb":
        pytest.skip("only the MongoDB store shares its collection with the MongoDB sink")
    import msgspec
    from pystrument.core.documents import to_document
    from pystrument.core.record import Record

    raw = make_record(name="GET /from-sink")
    raw["project_key"] = project["project_key"]
    record = msgspec.convert(raw, Record, strict=False)
    store.db.records.insert_one(to_document(record))
    assert store.maintain() == 1 and store.maintain() == 0
    got = envelope(api.get(f"/api/v1/records/{record.record_id}"))
    assert got["project_id"] == project["id"] and got["call_tree"]["function"] == "view"
    items = envelope(api.get(f"/api/v1/projects/{project['id']}/endpoints"))["items"]
    assert [(i["endpoint"], i["count"]) for i in items] == [("GET /from-sink", 1)]
