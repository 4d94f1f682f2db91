"""Continuous mode end to end through a memory:// sink: aggregates in the contract's shape, tail keep."""

from __future__ import annotations

import pytest
from core_helpers import memory_client, spin, walk
from pystrument.core import memory_sink, monitor_performance
from pystrument.core.histogram_bins import bin_of
from pystrument.core.record import decode_record, encode


def _request(client, name, seconds=0.0, status=200, exc=None):
    unit = client.start("request", name, method=name.split()[0], path="/x")
    assert unit is not None, "continuous mode starts every unit"
    spin(seconds)
    unit.status_code = status
    client.finish(unit, exc)
    return unit


def test_aggregates_have_the_contract_shape_and_count_every_request():
    client, sink = memory_client(profiling_mode="continuous", continuous_interval_ms=1, tail_keep_ms=10_000,
                                 app_version="1.2.3")
    client._random = lambda: 0.0  # every unit's CPU measured (the share is test_cpu_is_measured_on_a_share...)
    try:
        durations = [_request(client, "GET /items/{id}", 0.004, status=200 if i % 5 else 404).duration_ms for i in range(40)]
        _request(client, "POST /items", 0.002, status=201)
        assert client.flush(5)
    finally:
        client.close(1)
    records = memory_sink.records(sink)
    assert {r.kind for r in records} == {"aggregate"}, "no request record: nothing slow or failed"
    agg = {r.name: r for r in records}
    items = agg["GET /items/{id}"]
    assert items.requests is not None
    assert items.requests.count == 40
    assert items.requests.statuses == {"200": 32, "404": 8}
    assert items.requests.errors == 0
    expected_bins: dict[int, int] = {}
    for d in durations:
        expected_bins[bin_of(d)] = expected_bins.get(bin_of(d), 0) + 1
    assert items.requests.duration_bins == expected_bins
    assert items.requests.max_ms == pytest.approx(max(durations), abs=0.01)
    assert items.requests.cpu_ms > 0
    assert items.sample_rate == 1.0 and items.interval_ms == pytest.approx(1.0)
    assert items.app.version == "1.2.3" and items.method == "GET"
    assert items.duration_ms > 0 and items.started_at.tzinfo is not None
    tree = items.call_tree
    assert tree is not None and tree.function == "[root]"
    assert tree.samples == items.sample_count > 0, "a 4 ms x 40 request load at 1 ms gets samples"
    for node in walk(tree):
        assert node.time_ms == pytest.approx(node.samples * items.interval_ms)
        self_samples = node.samples - sum(c.samples for c in node.children)
        assert node.self_ms == pytest.approx(self_samples * items.interval_ms)
    assert "spin" in {n.function for n in walk(tree)}
    assert agg["POST /items"].requests.count == 1
    assert decode_record(encode(items)) == items, "aggregates travel as JSON like any record"


def test_cpu_is_measured_on_a_share_and_scaled_to_every_request():
    """Reading the thread's CPU clock is a system call holding the GIL: continuous mode reads it for one unit in
    CONTINUOUS_CPU_SHARE; the aggregate's CPU is their sum scaled to every request of the endpoint."""
    client, sink = memory_client(profiling_mode="continuous", continuous_interval_ms=1000, tail_keep_ms=10_000)
    draws = iter([0.0, 0.99, 0.99, 0.99] * 10)  # the share's draw: every fourth unit is measured
    client._random = lambda: next(draws)
    try:
        units = [_request(client, "GET /cpu", 0.003) for _ in range(40)]
        assert client.flush(5)
    finally:
        client.close(1)
    measured = [u for u in units if u.cpu0 >= 0.0]
    assert len(measured) == 10
    assert all(u.cpu_ms == 0.0 for u in units if u.cpu0 < 0.0), "no clock read, no CPU figure"
    assert all(u.cpu_ms > 0.0 for u in measured)
    (agg,) = [r for r in memory_sink.records(sink) if r.name == "GET /cpu"]
    assert agg.requests.count == 40
    assert agg.requests.cpu_ms == pytest.approx(sum(u.cpu_ms for u in measured) * 40 / 10, abs=0.01)
    assert agg.cpu_ms == agg.requests.cpu_ms


def test_tail_keep_ships_slow_and_failed_unsampled_requests():
    client, sink = memory_client(profiling_mode="both", sampling_rate=0.0, continuous_interval_ms=1, tail_keep_ms=60)
    try:
        _request(client, "GET /fast", 0.001)
        slow = _request(client, "GET /slow", 0.09)
        failed = _request(client, "GET /broken", 0.0, status=500)
        raised = _request(client, "GET /raises", 0.0, status=None, exc=ValueError("boom"))
        assert not (slow.detailed or failed.detailed or raised.detailed), "sampling_rate 0: no detailed profiling"
        assert client.flush(5)
    finally:
        client.close(1)
    records = memory_sink.records(sink)
    kept = {r.name: r for r in records if r.kind == "request"}
    assert set(kept) == {"GET /slow", "GET /broken", "GET /raises"}
    assert kept["GET /slow"].tags["profiler"] == "continuous"
    assert kept["GET /slow"].sample_count > 0 and kept["GET /slow"].interval_ms == pytest.approx(1.0)
    assert "spin" in {n.function for n in walk(kept["GET /slow"].call_tree)}
    assert kept["GET /broken"].status_code == 500
    assert kept["GET /raises"].error is not None and kept["GET /raises"].error.type == "ValueError"
    aggregates = {r.name: r for r in records if r.kind == "aggregate"}
    assert aggregates["GET /raises"].requests.errors == 1 and aggregates["GET /broken"].requests.errors == 1
    assert aggregates["GET /fast"].requests.count == 1


def test_both_mode_keeps_detailed_records_beside_the_aggregates():
    client, sink = memory_client(profiling_mode="both", sampling_rate=1.0, continuous_interval_ms=1)
    try:
        for _ in range(3):
            _request(client, "GET /d", 0.003)
        assert client.flush(5)
    finally:
        client.close(1)
    records = memory_sink.records(sink)
    assert sorted(r.kind for r in records) == ["aggregate", "request", "request", "request"]
    detailed = [r for r in records if r.kind == "request"]
    assert all(r.tags.get("profiler") != "continuous" and r.sample_count > 0 for r in detailed), "pyinstrument trees"


def test_decorator_in_continuous_mode_counts_every_call():
    name = "memory://" + __name__ + "-decorator"

    @monitor_performance(name="work", sinks=[name], profiling_mode="continuous", flush_interval=0.05)
    def work(i: int) -> int:
        if i == 3:
            raise KeyError(i)
        return i * 2

    results = []
    for i in range(10):
        try:
            results.append(work(i))
        except KeyError:
            results.append(None)
    assert results == [0, 2, 4, None, 8, 10, 12, 14, 16, 18]
    # the decorator's private client is one of the live clients the exit path knows: flush it
    from pystrument.core import lifecycle

    for client in list(lifecycle._clients):
        if name in client.config.sinks:
            client.flush(5)
            client.close(1)
    records = memory_sink.records(name.removeprefix("memory://"))
    agg = [r for r in records if r.kind == "aggregate"]
    assert len(agg) == 1 and agg[0].requests.count == 10 and agg[0].requests.errors == 1
    assert [r.error.type for r in records if r.kind == "function"] == ["KeyError"], "the failed call is kept"


def test_governed_both_mode_ticks_at_the_window_and_counts_the_sampler():
    client, sink = memory_client(profiling_mode="both", sampling_rate=1.0, max_overhead_pct=2.5,
                                 continuous_flush_interval=0.5, continuous_interval_ms=1)
    try:
        for _ in range(20):
            _request(client, "GET /g", 0.002)
        wait = client._tick()
        assert wait is not None and 0.0 <= wait <= 0.5, "the tick comes back for the window's end at the latest"
        stats = client.stats()
        assert stats["profiling_mode"] == "both" and stats["continuous"]["samples"] > 0
        assert client.flush(5)
    finally:
        client.close(1)
    assert any(r.kind == "aggregate" and r.requests.count == 20 for r in memory_sink.records(sink))


def test_the_sampling_thread_ends_with_the_last_continuous_client_and_comes_back():
    import threading
    import time

    def sampler_threads() -> int:
        return sum(t.name == "pystrument-continuous-sampler" for t in threading.enumerate())

    from pystrument.core import lifecycle

    for leftover in list(lifecycle._clients):  # continuous clients earlier tests left open
        if leftover.continuous is not None:
            leftover.close(1)
    client, sink = memory_client(profiling_mode="continuous", continuous_interval_ms=1)
    _request(client, "GET /a", 0.002)
    assert sampler_threads() == 1
    client.close(1)
    deadline = time.monotonic() + 5
    while sampler_threads() and time.monotonic() < deadline:
        time.sleep(0.01)
    assert sampler_threads() == 0, "no continuous client left: no thread waking 100 times a second"
    again, sink2 = memory_client(profiling_mode="continuous", continuous_interval_ms=1)
    try:
        _request(again, "GET /b", 0.01)
        assert sampler_threads() == 1
        assert again.flush(5)
    finally:
        again.close(1)
    assert [r.requests.count for r in memory_sink.records(sink2)] == [1]


def test_a_unit_is_merged_only_once_the_sampler_has_charged_every_target_up_to_its_end():
    """The sampling thread charges each sample by its target time, often milliseconds late: a unit merged into the
    window before that loses the samples it is still owed (the fast endpoint of test_continuous_attribution read
    -5..-7% when the background thread's roll merged every ended unit)."""
    client, sink = memory_client(profiling_mode="continuous", continuous_interval_ms=1000)
    collector = client.continuous
    collector.sampler.collectors.discard(collector)  # this test drains; the sampling thread's own drains would race it
    try:
        unit = client.start("request", "GET /late")
        spin(0.002)
        client.finish(unit)
        end = unit.t0 + unit.duration_ms / 1000.0
        collector.drain(charged_until=end - 0.001)  # the sampler's last wake-up was before the unit ended
        assert "GET /late" not in collector.window.endpoints and unit in collector._ended
        unit.cont.append(unit.cont[0] if unit.cont else ("late",))  # a late sample, filed after that wake-up
        collector.drain(charged_until=end)
        merged = collector.window.endpoints["GET /late"]
        assert merged.count == 1 and merged.samples == len(unit.cont) >= 1
        # forced (a flush, the exit): everything ended is merged, whatever the sampler has charged
        late = client.start("request", "GET /late")
        client.finish(late)
        window, _ = collector.roll(force=True)
        assert window is not None and window.endpoints["GET /late"].count == 2
    finally:
        client.close(1)
