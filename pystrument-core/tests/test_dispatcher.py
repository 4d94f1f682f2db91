from __future__ import annotations

import logging

import pytest
from core_helpers import memory_client, sink_plugin
from pystrument.core import Client
from pystrument.core.memory_sink import records
from pystrument.core.unit import Unit
from pystrument_testing.polling import wait_for


class FailingSink:
    """A sink whose target is down: every send raises (stands for an unreachable service)."""

    def __init__(self, url, config):
        self.name = url
        self.calls = 0

    def send(self, batch):
        self.calls += 1
        raise ConnectionError("target down")

    def close(self):
        pass


class FlakySink(FailingSink):
    def send(self, batch):
        self.calls += 1
        if self.calls <= 2:
            raise ConnectionError("first two attempts fail")
        self.got = list(batch)


@pytest.fixture
def test_sinks():
    with sink_plugin(failing=FailingSink, flaky=FlakySink) as created:
        yield created


def fake_unit(name="u", duration=1.0, error=False):
    unit = Unit("request", name)
    unit.duration_ms = duration
    if error:
        unit.set_error(ValueError("boom"))
    return unit


def test_queue_overflow_drops_fast_successful_first_and_counts():
    client, sink = memory_client(max_queue_size=10, flush_interval=60, batch_size=10_000)
    dispatcher = client.dispatcher
    dispatcher._thread = object()  # hold delivery back: nothing leaves the queue during the test
    for i in range(30):
        dispatcher.put(fake_unit(f"fast{i}", duration=1.0 + i / 100))
    dispatcher.put(fake_unit("slow", duration=900.0))
    dispatcher.put(fake_unit("failed", duration=0.5, error=True))
    stats = client.stats()
    assert stats["queued"] == 10 and stats["dropped"]["queue_full"] == 22
    dispatcher._thread = None
    client.flush(5)
    names = {r.name for r in records(sink)}
    assert {"slow", "failed"} <= names and len(names) == 10
    assert "fast0" not in names  # the fastest went first


def test_failing_sink_retries_counts_and_never_raises(test_sinks, caplog):
    client = Client(sinks=["failing://a", "memory://beside-failing"], sink_retries=2, async_send=False)
    with caplog.at_level(logging.WARNING):
        for i in range(5):
            unit = client.start("function", f"f{i}")
            client.finish(unit)  # never raises, never waits for the failing sink
        assert client.stats()["sinks"]["memory://beside-failing"]["sent"] == 5  # the other sink is unaffected
        # the first batch failed and waits in memory, the four after it behind it; each lives through 2 failed
        # attempts (sink_retries) at the backoff's pace, then all five are given up
        assert wait_for(lambda: client.stats()["sinks"]["failing://a"]["failed"] == 5, 10, 0.02)
    failing = client.stats()["sinks"]["failing://a"]
    assert failing["failed"] == 5 and failing["retries"] == 2 and "target down" in failing["last_error"]
    assert test_sinks["failing://a"].calls == 3  # the first batch: 1 + 2 retries; the ones behind it never sent
    assert failing["dropped_retries"] == 5 and failing["queued"] == 0
    assert caplog.text.count("sink failing://a failed") == 1
    client.close()


def test_retry_recovers(test_sinks):
    client = Client(sinks=["flaky://b"], sink_retries=3, async_send=False)
    client.finish(client.start("function", "once"))
    assert wait_for(lambda: client.stats()["sinks"]["flaky://b"]["sent"] == 1, 10, 0.02)
    stats = client.stats()["sinks"]["flaky://b"]
    assert stats["sent"] == 1 and stats["retries"] == 2 and stats["failed"] == 0
    client.close()


def test_min_duration_drops_fast_but_keeps_failed():
    client, sink = memory_client(min_duration_ms=50, async_send=False)
    client.finish(client.start("function", "fast"))
    unit = client.start("function", "fast-but-failed")
    client.finish(unit, RuntimeError("x"))
    assert [r.name for r in records(sink)] == ["fast-but-failed"]
    assert client.stats()["skipped_min_duration"] == 1


def test_overhead_governor_lowers_the_rate():
    client, _ = memory_client(max_overhead_pct=0.001)
    sampler = client.sampler
    sampler.adjust(0.0)  # the first tick starts the first window
    sampler.window = 0.0
    sampler.add_cost(0.5)
    import time

    end = time.process_time() + 0.05
    while time.process_time() < end:
        pass
    sampler.adjust(0.0)
    assert sampler.rate < 1.0 and client.stats()["effective_sampling_rate"] == sampler.rate
