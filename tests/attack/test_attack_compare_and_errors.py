"""Attack cases: a version comparison over many records and functions, and failing requests that must not pin memory (issue 15, items 1-2)."""

from __future__ import annotations

import json

from attack_harness import assert_attack_survived
from pystrument_server_process import make_record


def _fill(server, records_per_version: int = 500, functions: int = 50) -> None:
    for version in ("1.0", "2.0"):
        for start in range(0, records_per_version, 100):
            batch = []
            for i in range(start, start + 100):
                kids = [{"function": f"fn{j}", "file": "svc.py", "line": j, "time_ms": 1.0 + (i + j) % 7, "self_ms": 1.0 + (i + j) % 7}
                        for j in range(functions)]
                total = sum(k["time_ms"] for k in kids)
                tree = {"function": "view", "file": "app.py", "line": 1, "time_ms": total, "self_ms": 0.0, "children": kids}
                batch.append(make_record(name=f"GET /e{i % 5}", duration=total, tree=tree,
                                         app={"name": "attack", "version": version, "environment": "test"}))
            r = server.ingest(batch)
            assert r.status_code == 200 and r.json()["data"]["accepted"] == 100, r.text[:300]


def test_compare_of_two_versions_of_500_records_under_512_mb(attack_server, figures):
    _fill(attack_server)
    with attack_server.client(timeout=300) as c:
        r = c.get(f"/api/v1/projects/{attack_server.project_id}/compare", params={"base": "1.0", "head": "2.0"}, headers=attack_server.auth)
    assert r.status_code == 200 and r.json()["data"]["functions_compared"] > 0, r.text[:300]
    assert_attack_survived(attack_server, figures, status=r.status_code)


def test_thirty_500s_do_not_grow_rss(attack_server, figures):
    """Requests that fail with 500 must not keep what they held (an exception kept with its traceback keeps
    every frame's locals). The failure is planted by the test-only plugin tests/plugins/pystrument-failing-route
    (a handler that decodes a 2 MB body into objects, then raises), so the case does not depend on which
    input happens to crash the server today."""
    body = json.dumps([{"function": f"fn{i}", "file": "svc.py", "line": i, "self_ms": 1.0} for i in range(30_000)]).encode()
    statuses, rss = [], []
    with attack_server.client(timeout=120) as c:
        for _ in range(31):
            r = c.post("/api/v1/test-plugin/fail", content=body, headers={**attack_server.auth, "Content-Type": "application/json",
                                                                         "Connection": "close"})  # a handler's crash closes its connection
            statuses.append(r.status_code)
            assert r.status_code == 500 and r.json()["code"] == 10000, r.text[:300]
            rss.append(attack_server.rss_mb())
    figures(body_mb=round(len(body) / 2**20, 1), rss_after_first_mb=rss[0], rss_after_last_mb=rss[-1])
    assert rss[-1] - rss[0] < 50, rss
    assert_attack_survived(attack_server, figures, status=500)
