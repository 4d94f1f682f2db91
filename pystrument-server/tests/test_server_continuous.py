"""Continuous-mode aggregates (issue #16) on both stores: ingest, merge arithmetic, duplicates, separation from the
records, the /continuous API shapes and bounded input."""

from __future__ import annotations

import datetime as dt

import pytest

HOUR = dt.datetime(2026, 3, 2, 10, 0, tzinfo=dt.timezone.utc)  # the hour of the aggregate fixture

def send(api, project, records):
    r = api.post("/api/v1/performance/batch", json={"records": records}, headers={"X-Project-Key": project["project_key"]})
    assert r.status_code == 200, r.text
    return r.json()["data"]


def get(api, project, path, **params):
    r = api.get(f"/api/v1/projects/{project['id']}/{path}", params=params)
    assert r.status_code == 200, r.text
    return r.json()["data"]


def _node(tree, *names):
    for name in names:
        tree = next(c for c in tree["children"] if c["function"] == name)
    return tree


def test_two_aggregates_of_one_hour_add_up(api, project, aggregate):
    a = aggregate(count=100, errors=2, durations=[5.0] * 90 + [50.0] * 10, samples=(30, 10))
    b = aggregate(started=HOUR + dt.timedelta(minutes=40), count=50, errors=1, durations=[5.0] * 50, samples=(20, 5))
    assert send(api, project, [a, b]) == {"accepted": 2, "duplicates": 0, "rejected": []}
    data = get(api, project, "continuous", endpoint="GET /items/{id}")
    assert data["sample_count"] == 65 and data["aggregates"] == 2 and data["window_ms"] == 20_000.0
    req = data["requests"]
    assert (req["count"], req["errors"], req["statuses"]) == (150, 3, {"200": 147, "500": 3})
    assert req["cpu_ms"] == 10.0 and req["max"] == 50.0
    assert 4.8 <= req["p50"] <= 5.2 and 4.8 <= req["p95"] <= 50.0 and 48.0 <= req["p99"] <= 50.0  # 10 of 150 at 50 ms: p95 is 5 ms
    root = data["root"]
    assert root["function"] == "GET /items/{id}" and root["samples"] == 65
    assert _node(root, "view")["samples"] == 65
    assert _node(root, "view", "hot")["samples"] == 50 and _node(root, "view", "hot")["time_ms"] == 50.0
    assert _node(root, "view", "cold")["samples"] == 15


def test_duplicate_aggregate_is_counted_once(api, project, aggregate):
    a = aggregate(count=10, errors=0)
    assert send(api, project, [a])["accepted"] == 1
    assert send(api, project, [a, a]) == {"accepted": 0, "duplicates": 2, "rejected": []}
    data = get(api, project, "continuous")
    assert data["requests"]["count"] == 10 and data["sample_count"] == 40 and data["aggregates"] == 1


def test_aggregates_stay_out_of_the_records(api, project, aggregate, make_record):
    rec = make_record(name="GET /items/{id}", duration=12.0)
    out = send(api, project, [aggregate(count=500), rec])
    assert out["accepted"] == 2
    records = get(api, project, "records")
    assert records["total"] == 1 and [i["record_id"] for i in records["items"]] == [rec["record_id"]]
    assert api.get(f"/api/v1/projects/{project['id']}").json()["data"]["record_count"] == 1
    items = get(api, project, "endpoints")["items"]
    assert len(items) == 1
    item = items[0]
    assert item["count"] == 1  # the records' figure, not the 500 requests of the aggregate
    assert item["continuous"]["count"] == 500 and item["continuous"]["sample_count"] == 40
    assert get(api, project, "flamegraph", endpoint="GET /items/{id}")["records"] == 1
    assert sum(p["count"] for p in get(api, project, "trends", since="3000d")["points"]) == 1


def test_endpoint_seen_only_by_continuous_mode_is_listed(api, project, aggregate):
    send(api, project, [aggregate(name="POST /orders", count=7, errors=0)])
    item = get(api, project, "endpoints")["items"][0]
    assert item["endpoint"] == "POST /orders" and item["count"] == 0 and item["continuous"]["count"] == 7


def test_function_shares(api, project, aggregate):
    send(api, project, [aggregate(samples=(30, 10)), aggregate(samples=(30, 30))])
    data = get(api, project, "continuous/functions", limit=1)
    assert data["total"] == 3 and data["sample_count"] == 100 and data["limit"] == 1
    assert data["items"] == [{"function": "hot", "file": "app.py", "line": 20, "is_app": True, "self_samples": 60,
                              "self_share": 0.6, "self_ms": 60.0}]
    page2 = get(api, project, "continuous/functions", limit=5, offset=1)["items"]
    assert [(i["function"], i["self_samples"], i["self_share"]) for i in page2] == [("cold", 40, 0.4), ("view", 0, 0.0)]


def test_function_shares_leave_out_samples_without_a_stack(api, project, aggregate):
    """Samples the SDK charged to a request without its stack ([stack not seen]) are the endpoint's time but no
    function's: shares are over the seen samples, and the unseen ones are reported."""
    agg = aggregate(samples=(30, 10))
    agg["call_tree"]["children"].append({"function": "[stack not seen]", "samples": 60, "time_ms": 60.0, "self_ms": 60.0})
    agg["call_tree"]["samples"] = agg["sample_count"] = 100
    send(api, project, [agg])
    data = get(api, project, "continuous/functions", limit=5)
    assert data["sample_count"] == 100 and data["unseen_samples"] == 60
    assert [(i["function"], i["self_samples"], i["self_share"]) for i in data["items"]] == [("hot", 30, 0.75), ("cold", 10, 0.25), ("view", 0, 0.0)]


def test_filters_select_hours_versions_environments(api, project, aggregate):
    send(api, project, [aggregate(count=1, errors=0), aggregate(count=2, errors=0, version="2.0"),
                        aggregate(count=4, errors=0, environment="staging"),
                        aggregate(count=8, errors=0, started=HOUR + dt.timedelta(hours=5))])
    count = lambda **f: get(api, project, "continuous", **f)["requests"]["count"]  # noqa: E731
    assert count() == 15
    assert count(version="2.0") == 2
    assert count(environment="staging") == 4
    assert count(since=HOUR.isoformat(), until=(HOUR + dt.timedelta(minutes=59)).isoformat()) == 7
    assert count(since=(HOUR + dt.timedelta(hours=4, minutes=30)).isoformat()) == 8
    assert count(endpoint="GET /nothing") == 0


def test_deleting_a_version_deletes_its_aggregates(api, project, aggregate):
    send(api, project, [aggregate(count=3, errors=0, version="old"), aggregate(count=5, errors=0, version="new")])
    assert api.delete(f"/api/v1/projects/{project['id']}/versions/old").status_code == 200
    assert get(api, project, "continuous")["requests"]["count"] == 5


@pytest.mark.parametrize("change, where", [
    ({"requests": {"count": 1, "duration_bins": {"300": 1}}}, "records[0].requests.duration_bins: a key"),
    ({"requests": {"count": 1, "statuses": {"ok": 1}}}, "records[0].requests.statuses: a key"),
    ({"requests": {"count": -1}}, "records[0].requests.count"),
    ({"requests": {"count": 1, "errors": 2}}, "records[0].requests.errors: 2 errors of 1 requests"),
    ({"requests": {"count": 1, "max_ms": 1e11}}, "records[0].requests.max_ms"),
])
def test_bounded_input_is_refused_with_the_field_named(api, project, aggregate, change, where):
    bad = {**aggregate(), **change}
    r = api.post("/api/v1/performance/batch", json={"records": [bad, aggregate(count=3, errors=0)]},
                 headers={"X-Project-Key": project["project_key"]})
    assert r.status_code == 200, r.text
    data = r.json()["data"]
    assert data["accepted"] == 1 and data["rejected"][0]["error"].startswith(where), data["rejected"]
    assert get(api, project, "continuous")["requests"]["count"] == 3


def test_every_status_code_fits_and_a_bad_query_is_400(api, project, aggregate):
    bad = aggregate()
    bad["requests"]["statuses"] = {str(c): 1 for c in range(100, 600)} | {"599": 2}
    assert send(api, project, [bad])["accepted"] == 1  # 500 distinct codes: the most there are
    r = api.get(f"/api/v1/projects/{project['id']}/continuous", params={"limit_nodes": 0})
    assert r.status_code == 400 and "limit_nodes" in r.json()["msg"]


def test_expand_of_unknown_node_is_404(api, project, aggregate):
    send(api, project, [aggregate()])
    r = api.get(f"/api/v1/projects/{project['id']}/continuous", params={"expand": "root/ffffffff"})
    assert r.status_code == 404 and "expand" in r.json()["msg"]


def test_mongodb_absorbs_aggregates_the_mongo_sink_wrote(api, live, project, aggregate):
    """Aggregates the MongoDB sink wrote into the records collection are absorbed by maintain(), not adopted as records."""
    store = live.app.state.store
    if store.name != "mongodb":
        pytest.skip("only the MongoDB store shares its collection with the MongoDB sink")
    import msgspec
    from pystrument.core.documents import to_document
    from pystrument.core.record import Record

    raw = aggregate(count=9, errors=0)
    raw["project_key"] = project["project_key"]
    store.db.records.insert_one(to_document(msgspec.convert(raw, Record, strict=False)))
    assert store.maintain() == 1 and store.maintain() == 0
    assert get(api, project, "continuous")["requests"]["count"] == 9
    assert get(api, project, "records")["total"] == 0
