"""Spans in the server: stored with the record in both stores, returned by GET /records/{id}, left out of record
lists, bounded at ingest, and summarised per version by GET /projects/{id}/endpoints/spans."""

from __future__ import annotations

from .test_server_api import envelope, ingest


def _spans(queries: int, http: int = 0, query_ms: float = 2.0) -> list[dict]:
    spans = [{"kind": "sql", "start_ms": 1.0 + i, "duration_ms": query_ms, "statement": "SELECT name FROM item WHERE id = ?",
              "db": "postgresql", "file": "/app/views.py", "line": 42, "function": "item_list"} for i in range(queries)]
    spans += [{"kind": "http", "start_ms": 50.0, "duration_ms": 10.0, "method": "GET", "url": "http://prices/v1/items?id=?",
               "host": "prices", "status": 200, "file": "/app/views.py", "line": 50, "function": "prices"} for _ in range(http)]
    return spans


def test_spans_are_stored_and_returned_with_the_record(api, project, make_record):
    rec = make_record(name="GET /items")
    rec["spans"], rec["spans_dropped"] = _spans(3, http=1), 7
    ingest(api, project, [rec])
    got = envelope(api.get(f"/api/v1/records/{rec['record_id']}"))
    assert got["spans"] == rec["spans"] and got["spans_dropped"] == 7
    listed = envelope(api.get(f"/api/v1/projects/{project['id']}/records"))["items"]
    assert [item["record_id"] for item in listed] == [rec["record_id"]] and "spans" not in listed[0]


def test_a_bad_span_is_refused_with_its_path(api, project, make_record):
    for span, path in (({"kind": "sql", "start_ms": -1, "duration_ms": 1}, "spans[0].start_ms"),
                       ({"kind": "grpc", "start_ms": 1, "duration_ms": 1}, "spans[0].kind")):
        rec = make_record()
        rec["spans"] = [span]
        r = api.post("/api/v1/performance/batch", json={"records": [rec]}, headers={"X-Project-Key": project["project_key"]})
        assert r.status_code == 422 and r.json()["code"] == 20004 and f"records[0].{path}" in r.json()["msg"]


def test_endpoint_spans_per_version(api, project, make_record):
    records = []
    for version, queries in (("1.0", [10, 10, 10, 12]), ("1.1", [1, 1, 1, 1])):
        for n in queries:
            rec = make_record(name="GET /items", version=version)
            rec["spans"] = _spans(n, http=1)
            records.append(rec)
    records.append(make_record(name="GET /items", version="1.1"))  # no spans: a request that made none
    records.append(make_record(name="GET /other", version="1.0"))
    ingest(api, project, records)
    url = f"/api/v1/projects/{project['id']}/endpoints/spans"
    data = envelope(api.get(url, params={"endpoint": "GET /items"}))
    by_version = {item["version"]: item for item in data["items"]}
    assert set(by_version) == {"1.0", "1.1"} and data["endpoint"] == "GET /items"
    old, new = by_version["1.0"], by_version["1.1"]
    assert (old["records"], old["records_with_spans"], new["records"], new["records_with_spans"]) == (4, 4, 5, 4)
    assert old["queries"]["p50"] == 10 and 10 < old["queries"]["p95"] <= 12 and old["query_ms"]["p50"] == 20
    assert new["queries"] == {"p50": 1, "p95": 1, "mean": 0.8} and new["http_calls"]["p50"] == 1
    only = envelope(api.get(url, params={"endpoint": "GET /items", "version": "1.1"}))["items"]
    assert [item["version"] for item in only] == ["1.1"]
    r = api.get(url)
    assert r.status_code == 400 and r.json()["code"] == 10001 and "endpoint is required" in r.json()["msg"]
