"""Two real ``serve`` processes on free ports sharing one Redis and one store behave as one service:
one rate limit per project key, one aggregate cache that either process fills and an ingest clears."""

from __future__ import annotations

import httpx


def test_rate_limit_holds_across_two_servers(procs, scale_env, scale_project, make_record):
    _pid, key = scale_project
    env = {**scale_env, "PYSTRUMENT_SERVER_RATE_LIMIT_RPS": "0.2", "PYSTRUMENT_SERVER_RATE_LIMIT_BURST": "4"}
    urls = [procs.serve(env, log="a.log"), procs.serve(env, log="b.log")]
    codes = []
    for i in range(12):
        r = httpx.post(urls[i % 2] + "/api/v1/performance/collect", json=make_record(), headers={"X-Project-Key": key}, timeout=30)
        codes.append(r.json()["code"])
        if r.json()["code"] == 10004:
            assert r.status_code == 429 and int(r.headers["retry-after"]) >= 1
    accepted = codes.count(0)
    # one shared bucket: the burst of 4 (plus at most one token refilled meanwhile), not 4 per process
    assert 4 <= accepted <= 5, codes
    assert codes.count(10004) == 12 - accepted
    assert 0 in codes[1::2] and 0 in codes[0::2]  # both servers took part


def test_cache_is_shared_and_ingest_invalidates_it(procs, scale_env, scale_project, make_record):
    pid, key = scale_project
    a, b = procs.serve(scale_env, log="a.log"), procs.serve(scale_env, log="b.log")
    ingest = lambda url, n: httpx.post(url + "/api/v1/performance/batch", json={"records": [make_record() for _ in range(n)]},  # noqa: E731
                                       headers={"X-Project-Key": key}, timeout=30).json()
    assert ingest(a, 3)["data"]["accepted"] == 3
    path = f"/api/v1/projects/{pid}/endpoints?since=7d"

    def count(url: str) -> tuple[str, int]:
        r = httpx.get(url + path, timeout=30)
        assert r.status_code == 200, r.text
        return r.headers["x-pystrument-cache"], sum(e["count"] for e in r.json()["data"]["items"])

    assert count(a) == ("miss", 3)
    assert count(b) == ("hit", 3)  # filled by the other process
    assert count(a) == ("hit", 3)
    assert ingest(b, 2)["data"]["accepted"] == 2  # an ingest on either server clears it for both
    assert count(a) == ("miss", 5)
    assert count(b) == ("hit", 5)
    assert ingest(a, 1)["data"]["duplicates"] == 0
    other = httpx.get(b + f"/api/v1/projects/{pid}/endpoints?since=30d", timeout=30)
    assert other.headers["x-pystrument-cache"] == "miss"  # another query is another entry
    assert count(b) == ("miss", 6)


def test_cache_never_answers_a_caller_without_the_token(procs, scale_env, scale_project, make_record):
    pid, key = scale_project
    env = {**scale_env, "PYSTRUMENT_SERVER_TOKEN": "s3cret"}
    url = procs.serve(env, log="a.log")
    httpx.post(url + "/api/v1/performance/collect", json=make_record(), headers={"X-Project-Key": key}, timeout=30)
    good = httpx.get(url + f"/api/v1/projects/{pid}/endpoints", headers={"Authorization": "Bearer s3cret"}, timeout=30)
    assert good.status_code == 200 and good.headers["x-pystrument-cache"] == "miss"
    assert httpx.get(url + f"/api/v1/projects/{pid}/endpoints", headers={"Authorization": "Bearer s3cret"}, timeout=30).headers["x-pystrument-cache"] == "hit"
    bad = httpx.get(url + f"/api/v1/projects/{pid}/endpoints", timeout=30)
    assert bad.status_code == 401 and "x-pystrument-cache" not in bad.headers
