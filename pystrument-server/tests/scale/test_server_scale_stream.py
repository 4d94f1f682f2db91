"""The Redis stream path with real worker subprocesses: a worker SIGKILLed in the middle of a batch
loses nothing, and every record ends up in the store exactly once."""

from __future__ import annotations

import datetime as dt
import signal
import sqlite3
import time

import msgspec
import redis
from pystrument_testing.mongo import database_url


def _fill(client, stream: str, key: str, make_record, n: int, duplicates: int) -> list[str]:
    ids = []
    pipe = client.pipeline(transaction=False)
    start = dt.datetime.now(dt.timezone.utc) - dt.timedelta(minutes=30)
    for i in range(n):
        rec = make_record(name=f"GET /items/{{id}}/{i % 7}", duration=5.0 + i % 40, started=start + dt.timedelta(milliseconds=i))
        rec["project_key"] = key
        ids.append(rec["record_id"])
        pipe.xadd(stream, {"record": msgspec.json.encode(rec), "record_id": rec["record_id"]})  # as the Redis sink writes it
        if i < duplicates:  # the sink retried: the same record twice in the stream
            pipe.xadd(stream, {"record": msgspec.json.encode(rec), "record_id": rec["record_id"]})
    pipe.xadd(stream, {"record": b'{"schema_version": 1, "record_id": "bad"}', "record_id": "bad"})  # not a valid record
    pipe.execute()
    return ids


def _stored(db: str) -> tuple[int, int]:
    with sqlite3.connect(db, timeout=30) as conn:
        return conn.execute("SELECT count(*), count(DISTINCT record_id) FROM records").fetchone()


def test_sigkill_mid_batch_loses_nothing_and_stores_once(procs, scale_env, scale_project, make_record):
    _pid, key = scale_project
    env = {**scale_env, "PYSTRUMENT_SERVER_STREAM_BATCH": "400", "PYSTRUMENT_SERVER_STREAM_CLAIM_IDLE_S": "1"}
    client = redis.Redis.from_url(env["PYSTRUMENT_SERVER_REDIS"])
    stream, group = env["PYSTRUMENT_SERVER_REDIS_STREAM"], env["PYSTRUMENT_SERVER_REDIS_PREFIX"] + "store"
    db = env["PYSTRUMENT_SERVER_STORE"].removeprefix("sqlite:///")
    n, dups = 12_000, 300
    ids = _fill(client, stream, key, make_record, n, dups)

    # kill a worker while it holds a batch it read (XREADGROUP) and has not acknowledged (XACK). A kill can
    # land just after an XACK already on the wire; then the batch was finished: start again, up to 5 times.
    for attempt in range(5):
        victim = procs.start(env, "worker", "--name", f"victim{attempt}", log=f"victim{attempt}.log")
        before = _stored(db)[0]
        deadline = time.monotonic() + 60
        while True:
            count = _stored(db)[0]
            if count >= before + 400 and client.xpending(stream, group)["pending"] > 0 and _stored(db)[0] == count:
                victim.send_signal(signal.SIGKILL)
                break
            assert victim.poll() is None, victim.log.read_text()[-3000:]
            assert time.monotonic() < deadline, "the worker never held a batch"
            time.sleep(0.002)
        victim.wait(10)
        left = client.xpending(stream, group)
        if left["pending"] > 0:
            break
    stored_at_kill = _stored(db)[0]
    assert left["pending"] > 0, "five kills all landed between batches"
    assert {c["name"] for c in left["consumers"]} == {f"victim{attempt}".encode()}
    assert stored_at_kill < n, "the kill came too late to test anything"

    second = procs.start(env, "worker", "--name", "heir", log="heir.log")
    deadline = time.monotonic() + 90
    while _stored(db)[0] < n or client.xpending(stream, group)["pending"]:
        assert second.poll() is None, second.log.read_text()[-3000:]
        assert time.monotonic() < deadline, f"stored {_stored(db)}, pending {client.xpending(stream, group)}"
        time.sleep(0.1)

    total, distinct = _stored(db)
    assert (total, distinct) == (n, n)  # every record, once, though some were delivered twice
    with sqlite3.connect(db) as conn:
        stored_ids = {r[0] for r in conn.execute("SELECT record_id FROM records")}
    assert stored_ids == set(ids)
    rejected = client.xrange(env["PYSTRUMENT_SERVER_REDIS_PREFIX"] + "stream:rejected")
    assert len(rejected) == 1 and b"record" in rejected[0][1] and b"name" in rejected[0][1][b"reason"]
    assert client.xinfo_groups(stream)[0]["lag"] == 0


def test_burst_worker_drains_and_exits(procs, scale_env, scale_project, make_record):
    _pid, key = scale_project
    client = redis.Redis.from_url(scale_env["PYSTRUMENT_SERVER_REDIS"])
    _fill(client, scale_env["PYSTRUMENT_SERVER_REDIS_STREAM"], key, make_record, 50, 5)
    done = procs.run(scale_env, "worker", "--burst", "--no-periodic")
    assert done.returncode == 0, done.stderr
    assert "'accepted': 50" in done.stdout and "'duplicates': 5" in done.stdout and "'rejected': 1" in done.stdout, done.stdout
    db = scale_env["PYSTRUMENT_SERVER_STORE"].removeprefix("sqlite:///")
    assert _stored(db) == (50, 50)


def test_worker_without_redis_says_how(procs, tmp_path):
    done = procs.run({"PYSTRUMENT_SERVER_STORE": f"sqlite:///{tmp_path / 'x.db'}", "PYSTRUMENT_SERVER_REDIS": ""}, "worker", "--burst")
    assert done.returncode != 0 and "--redis" in done.stderr
    bad = procs.run({"PYSTRUMENT_SERVER_STORE": f"sqlite:///{tmp_path / 'x.db'}", "PYSTRUMENT_SERVER_REDIS": "redis://127.0.0.1:1/0"}, "worker", "--burst")
    assert bad.returncode != 0 and "cannot connect" in bad.stderr, bad.stderr


def test_unknown_queue_is_named(procs, scale_env):
    done = procs.run(scale_env, "worker", "--burst", "--queues", "analysis,analysys")
    assert done.returncode != 0 and "unknown queue(s) analysys; the queues are: analysis" in done.stderr, done.stderr


def test_records_from_the_sdks_redis_sink_reach_the_store(procs, scale_env, scale_project):
    """End to end: an app with the real Redis sink, a worker, the project's records in the store."""
    import httpx
    from pystrument.core import PerformanceCollector

    pid, key = scale_project
    sink = f"{scale_env['PYSTRUMENT_SERVER_REDIS']}?stream={scale_env['PYSTRUMENT_SERVER_REDIS_STREAM']}"
    collector = PerformanceCollector(sinks=[sink], project_key=key, app_version="2.0", flush_interval=0.05,
                                     profiling_mode="detailed")  # 7 request records, no continuous aggregates
    for i in range(7):
        with collector.collect(f"job-{i % 3}"):
            sum(range(1000))
    assert collector.flush(5)
    collector.close()
    done = procs.run(scale_env, "worker", "--burst", "--no-periodic")
    assert done.returncode == 0 and "'accepted': 7" in done.stdout, done.stdout + done.stderr
    url = procs.serve(scale_env, log="serve.log")
    page = httpx.get(url + f"/api/v1/projects/{pid}/records?since=1h", timeout=30).json()["data"]
    assert page["total"] == 7 and {r["name"] for r in page["items"]} == {"job-0", "job-1", "job-2"}


def test_worker_into_mongodb_stores_each_record_once(procs, scale_env, mongo_uri, make_record):
    """The deployment's store (MongoDB: nx-27017 here, or PYSTRUMENT_TEST_MONGODB_URI): the stream's
    duplicates, and a second pass over entries already stored, leave one document per record."""
    import uuid

    import pymongo

    name = "pystrument_scale_" + uuid.uuid4().hex[:8]
    env = {**scale_env, "PYSTRUMENT_SERVER_STORE": database_url(mongo_uri, name)}
    created = procs.run(env, "projects", "create", "scale-mongo")
    assert created.returncode == 0, created.stderr
    key = created.stdout.split("project key: ", 1)[1].strip()
    client = redis.Redis.from_url(env["PYSTRUMENT_SERVER_REDIS"])
    stream = env["PYSTRUMENT_SERVER_REDIS_STREAM"]
    ids = _fill(client, stream, key, make_record, 200, 20)
    mongo = pymongo.MongoClient(mongo_uri)
    try:
        first = procs.run(env, "worker", "--burst", "--no-periodic")
        assert first.returncode == 0 and "'accepted': 200" in first.stdout and "'duplicates': 20" in first.stdout, first.stdout + first.stderr
        # the same entries again, as after a crash between insert and XACK: all duplicates
        pipe = client.pipeline(transaction=False)
        for _id, fields in client.xrange(stream, count=50):
            pipe.xadd(stream, fields)
        pipe.execute()
        again = procs.run(env, "worker", "--burst", "--no-periodic")
        assert again.returncode == 0 and "'accepted': 0" in again.stdout and "'duplicates': 50" in again.stdout, again.stdout
        records = mongo[name].records
        assert records.count_documents({}) == 200
        assert set(records.distinct("record_id")) == set(ids)
    finally:
        mongo.drop_database(name)
        mongo.close()
