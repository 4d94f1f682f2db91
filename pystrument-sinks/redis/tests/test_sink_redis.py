"""The Redis sink against the Redis on this machine (a stream key of the test's own) and a private one."""

from __future__ import annotations

import pytest
import redis
from pystrument.core import Client, PerformanceCollector
from pystrument.core.record import decode_record
from pystrument.core.sinks import create_sink
from pystrument.sinks.redis import FIELDS, RedisSink
from pystrument_testing.polling import wait_for
from pystrument_testing.units import collect_units, produce_until_stored


def test_a_batch_becomes_stream_entries_with_the_documented_fields(redis_url, redis_stream_key, make_record):
    sink = RedisSink(f"{redis_url}?stream={redis_stream_key}", None)
    batch = [make_record(name=f"r{i}", project_key="pk") for i in range(30)]
    sink.send(batch)
    entries = redis.Redis.from_url(redis_url).xrange(redis_stream_key)
    assert len(entries) == 30
    first = entries[0][1]
    assert set(first) == {f.encode() for f in FIELDS}
    assert [decode_record(fields[b"record"]) for _id, fields in entries] == batch
    assert first[b"record_id"].decode() == batch[0].record_id
    assert sink.stats() == {"added": 30, "pipelines": 1}
    sink.close()


def test_the_stream_is_capped_approximately(redis_url, redis_stream_key, make_record):
    sink = RedisSink(f"{redis_url}?stream={redis_stream_key}&maxlen=100", None)
    for _ in range(20):
        sink.send([make_record(size=200) for _ in range(50)])
    length = redis.Redis.from_url(redis_url).xlen(redis_stream_key)
    assert 100 <= length < 1000 - 100  # trimmed by whole macro nodes: about the cap, never all 1000
    sink.close()


def test_through_the_client_as_a_plugin(redis_url, redis_stream_key):
    collector = PerformanceCollector(profiling_mode="detailed", sinks=[f"{redis_url}?stream={redis_stream_key}"], flush_interval=0.05)
    collect_units(collector, "job", 5)
    assert collector.flush(5)
    entries = redis.Redis.from_url(redis_url).xrange(redis_stream_key)
    assert sorted(decode_record(f[b"record"]).name for _i, f in entries) == [f"job-{i}" for i in range(5)]
    collector.close()


@pytest.mark.parametrize("url, message", [
    ("redis://127.0.0.1:6379/0?maxlen=lots", "option maxlen='lots' is invalid"),
    ("redis://127.0.0.1:6379/0?maxlen=-1", "maxlen must be 0"),
    ("redis:///0", "needs a host"),
    ("redis://127.0.0.1:6379/0?strem=x", "unexpected keyword argument 'strem'.*our options: maxlen, stream"),
])
def test_bad_urls_are_explained(url, message):
    with pytest.raises(ValueError, match=message):
        create_sink(url, None)


def test_a_key_that_is_not_a_stream_stops_the_sink_with_a_clear_error(redis_url, redis_stream_key, make_record, caplog):
    redis.Redis.from_url(redis_url).set(redis_stream_key, "not a stream")
    client = Client(sinks=[f"{redis_url}?stream={redis_stream_key}"], async_send=False, profiling_mode="detailed")
    collector = PerformanceCollector(client.config)
    collector.client = client
    for i in range(3):
        with collector.collect(f"job-{i}"):
            pass
    stats = next(iter(client.stats()["sinks"].values()))
    assert "not a stream" in stats["disabled"] and stats["failed"] == 3
    client.close()


def test_a_restarted_redis_gets_the_outages_records_in_order(private_redis, tmp_path):
    stream = "pystrument:outage"
    collector = PerformanceCollector(profiling_mode="detailed", sinks=[f"{private_redis.url}?stream={stream}"], flush_interval=0.05,
                                     sink_retries=1, sink_timeout=1.0, spool_dir=str(tmp_path))
    client = redis.Redis.from_url(private_redis.url)

    def produce(prefix, n):
        collect_units(collector, prefix, n)
        collector.flush(10)

    def stored():
        return [decode_record(f[b"record"]).name for _i, f in client.xrange(stream)]

    produce("before", 10)
    assert client.xlen(stream) == 10
    private_redis.kill()
    produce("during", 10)  # the host carries on; these wait in the sink's spool (sink_retries is for memory only)
    assert next(iter(collector.stats()["sinks"].values()))["spool_records"] == 10
    private_redis.start()  # a new, empty Redis on the same port
    arrived = produce_until_stored(produce, lambda: set(stored()), 60)
    assert arrived, f"delivery did not resume: {collector.stats()}"
    assert wait_for(lambda: {f"during-{i}" for i in range(10)} <= set(stored()), 30, 0.1), collector.stats()
    names = stored()
    last_during = max(i for i, n in enumerate(names) if n.startswith("during"))
    assert all(n.startswith("after") for n in names[last_during + 1:]) and names[0].startswith("during")  # order kept
    stats = next(iter(collector.stats()["sinks"].values()))
    assert stats["failed"] == 0 and stats["replayed"] >= 10 and stats["sink"]["errors_connection"] >= 1
    collector.close()


def test_a_forked_child_makes_its_own_connection_and_leaves_the_parents_open(redis_url, redis_stream_key, make_record):
    """A pre-fork server forks after the sink connected: the child must not share (or close) the parent's socket."""
    import os

    sink = RedisSink(f"{redis_url}?stream={redis_stream_key}", None)
    sink.send([make_record(name="parent-before")])
    pid = os.fork()
    if pid == 0:  # the child: send on its own connection, close it, exit without the parent's exit handlers
        code = 0
        try:
            sink.send([make_record(name="child")])
            sink.close()
        except BaseException:  # noqa: BLE001 - reported through the exit code
            code = 1
        os._exit(code)
    _pid, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    sink.send([make_record(name="parent-after")])  # the parent's connection survived the child's close
    names = [decode_record(f[b"record"]).name for _i, f in redis.Redis.from_url(redis_url).xrange(redis_stream_key)]
    assert names == ["parent-before", "child", "parent-after"]
    sink.close()
