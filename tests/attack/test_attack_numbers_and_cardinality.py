"""Attack cases: huge finite numbers in a batch, and one record with 440,000 distinct functions (issue 15, items 3-4)."""

from __future__ import annotations

import json

import pytest
from attack_harness import KEY, assert_attack_survived
from pystrument_server_process import make_record


@pytest.mark.parametrize("field", ["duration_ms", "self_ms"])
def test_1e308_is_refused_with_422_and_the_good_record_kept(attack_server, figures, field):
    good = make_record()
    bad = make_record(duration=10.0)
    if field == "duration_ms":
        bad["duration_ms"] = 1e308
    else:
        bad["call_tree"]["self_ms"] = 1e308
    with attack_server.client() as c:
        r = c.post("/api/v1/performance/collect", content=json.dumps(bad), headers={KEY: attack_server.project_key})
        assert r.status_code == 422 and r.json()["code"] == 20004 and field in r.json()["msg"], r.text[:300]
        r = c.post("/api/v1/performance/batch", json={"records": [good, {**bad, "record_id": bad["record_id"] + "b"}]},
                   headers={KEY: attack_server.project_key})
    data = r.json()["data"]
    assert r.status_code == 200 and data["accepted"] == 1 and [x["index"] for x in data["rejected"]] == [1], r.text[:300]
    attack_server.acknowledged.add(good["record_id"])
    assert_attack_survived(attack_server, figures, status=422)


@pytest.mark.attack_settings(max_body_bytes=64 * 1024 * 1024, body_bytes_in_flight=128 * 1024 * 1024)
def test_440k_distinct_functions_in_one_record_then_functions_under_512_mb(attack_server, figures):
    children = [{"function": f"f{i}", "file": "m.py", "line": i, "time_ms": 0.001, "self_ms": 0.001} for i in range(440_000)]
    rec = make_record(tree={"function": "root", "file": "m.py", "line": 1, "time_ms": 440.0, "self_ms": 0.0, "children": children})
    body = json.dumps(rec, separators=(",", ":")).encode()
    with attack_server.client(timeout=300) as c:
        r = c.post("/api/v1/performance/collect", content=body, headers={KEY: attack_server.project_key, "Content-Type": "application/json"})
        ingest_status = r.status_code
        if r.status_code == 200:
            attack_server.acknowledged.add(rec["record_id"])
        assert r.status_code in (200, 413, 422), r.text[:300]
        r = c.get(f"/api/v1/projects/{attack_server.project_id}/functions", params={"limit": 1000}, headers=attack_server.auth)
        assert r.status_code == 200, r.text[:300]
    assert_attack_survived(attack_server, figures, status=r.status_code, ingest_status=ingest_status, body_mb=round(len(body) / 2**20, 1))
