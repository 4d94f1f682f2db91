"""The Redis stream path applies the ingest edge too: a record out of range or of an endpoint beyond the
project's limit goes to the rejected stream with the reason, its neighbours are stored, a too-wide tree is folded."""

from __future__ import annotations

import sqlite3

import msgspec
import redis


def test_worker_refuses_bad_numbers_and_new_endpoints_beyond_the_limit(procs, scale_env, scale_project, make_record):
    _pid, key = scale_project
    env = {**scale_env, "PYSTRUMENT_SERVER_MAX_ENDPOINTS_PER_PROJECT": "2", "PYSTRUMENT_SERVER_MAX_NODES_PER_RECORD": "20"}
    client = redis.Redis.from_url(env["PYSTRUMENT_SERVER_REDIS"])
    stream = env["PYSTRUMENT_SERVER_REDIS_STREAM"]
    good = [make_record(name=f"GET /e{i % 2}") for i in range(6)]
    beyond = make_record(name="GET /e2")
    huge = make_record(name="GET /e0")
    huge["duration_ms"] = 1e308
    wide = make_record(name="GET /e1")
    wide["call_tree"]["children"] = [{"function": f"f{i}", "time_ms": 0.01, "self_ms": 0.01} for i in range(100)]
    for rec in [*good, beyond, huge, wide]:
        rec["project_key"] = key
        client.xadd(stream, {"record": msgspec.json.encode(rec), "record_id": rec["record_id"]})
    done = procs.run(env, "worker", "--burst", "--no-periodic")
    assert done.returncode == 0, done.stderr
    assert "'accepted': 7" in done.stdout and "'rejected': 2" in done.stdout, done.stdout
    reasons = {f[b"reason"].decode() for _id, f in client.xrange(env["PYSTRUMENT_SERVER_REDIS_PREFIX"] + "stream:rejected")}
    assert any("duration_ms" in r and "<= 10000000000.0" in r for r in reasons), reasons
    assert any("endpoint 'GET /e2' is new" in r and "max_endpoints_per_project=2" in r for r in reasons), reasons
    db = env["PYSTRUMENT_SERVER_STORE"].removeprefix("sqlite:///")
    with sqlite3.connect(db) as conn:
        stored = {r[0] for r in conn.execute("SELECT record_id FROM records")}
        summary = conn.execute("SELECT summary FROM records WHERE record_id = ?", (wide["record_id"],)).fetchone()[0]
    assert stored == {r["record_id"] for r in [*good, wide]}
    assert msgspec.json.decode(summary)["truncated"] is True
