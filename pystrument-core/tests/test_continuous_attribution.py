"""Attribution without bias (issue #16): two endpoints, ~0.5 ms and ~20 ms of work, mixed traffic.

Each endpoint's share of the samples in the continuous aggregates must match its share of the time
measured by timestamps (perf_counter around the work), within a relative bound; and so must a planted
function's share (estimated as its share of its endpoint's seen stacks times the endpoint's share). The
same with 200 asyncio tasks in flight. The default suite runs 4,000 requests per case with a +-10%
bound; the slow variants (``PYSTRUMENT_SLOW_TESTS=1``) run the issue's 20,000 requests with its +-5% bound.

Asyncio: each sample is charged by the loop's timeline (continuous/looptimeline.py: which unit each
task step ran) and the function shares come from one stack per wake-up of the sampling thread. The
20,000-request variant holds the issue's +-5% (measured on the loaded 2-core machine, 7 runs: the 0.5 ms
endpoint -0.8% to +3.9% (about +1.5% on average: a unit's own SDK and loop overhead lies outside the
timestamps around its work), the 20 ms one -2.1% to +0.4%, the planted function -5.4% to +4.2%, the one
run outside made while three other test jobs ran). The 4,000-request variant: the endpoint shares within +-10% (5 runs within +-1.5%, one -7.3% on a
machine overloaded by other jobs), the planted function within +-30%: its estimate rests on about a
thousand stacks read inside slow steps, and 5 runs spread with a standard deviation of ~11% (-17% to
+9%), so +-30% is ~2.7 standard deviations, a false failure in about 1 run of 150.
"""

from __future__ import annotations

import asyncio
import os
import random
import threading
import time
from collections import Counter

import pytest
from core_helpers import memory_client, spin
from pystrument.core import memory_sink

FAST_S, SLOW_CHUNK_S, PLANTED_S, CHUNKS = 0.0005, 0.003, 0.002, 4  # slow: 4 x (2 ms planted + 3 ms) = 20 ms
SLOW_SHARE = 0.05  # of requests
ASYNC_PLANTED_BOUND_4000 = 0.30  # see the module's docstring
# Threads: a bias found and fixed (2026-12-06): the background thread's roll merged ended units into the window while
# the sampling thread still owed them samples (it charges by target time, often milliseconds late): 9-17% of the
# samples of the 0.5-1 ms units were filed after their unit was merged, and lost (the fast endpoint read -5..-7% at
# 20,000 requests). Units are merged only once every target up to their end is charged (ContinuousCollector.drain);
# since then the endpoints read within +-2% (20,000 requests, 4 runs) and the planted function +1.1% to +4.9%. At
# 4,000 requests the planted function rests on about 200 slow units and spread -6.9% to +12.9% in 6 runs: +-25%
# catches a broken estimator without failing on that spread; the 20,000-request variant keeps the issue's +-5%.
THREAD_PLANTED_BOUND_4000 = 0.25
slow = pytest.mark.skipif(not os.environ.get("PYSTRUMENT_SLOW_TESTS"), reason="20,000 requests: set PYSTRUMENT_SLOW_TESTS=1")


def planted_function(seconds: float) -> None:
    spin(seconds)


def _timed(spent: Counter, key: str, func, seconds: float) -> None:
    t = time.perf_counter()
    func(seconds)
    spent[key] += time.perf_counter() - t


def _estimates(sink: str) -> tuple[dict[str, float], float]:
    """(endpoint -> share of samples, planted function's estimated share) from the aggregates."""
    samples: Counter = Counter()
    seen: Counter = Counter()
    planted: Counter = Counter()
    for record in memory_sink.records(sink):
        if record.kind != "aggregate" or record.call_tree is None:
            continue
        samples[record.name] += record.sample_count
        stack = [record.call_tree]
        while stack:
            node = stack.pop()
            if node.function == "[stack not seen]":
                seen[record.name] -= node.samples
            elif node.function == "planted_function":
                planted[record.name] += node.samples
                continue  # its own callees are within it
            stack.extend(node.children)
        seen[record.name] += record.sample_count
    total = sum(samples.values())
    shares = {name: n / total for name, n in samples.items()}
    planted_share = sum(shares[name] * planted[name] / seen[name] for name in planted if seen[name])
    return shares, planted_share


def _assert_close(estimated: float, measured: float, bound: float, what: str) -> None:
    assert abs(estimated - measured) <= bound * measured, f"{what}: estimated {estimated:.4f}, measured {measured:.4f} (+-{bound:.0%})"


def _check(sink: str, spent: Counter, bound: float, planted_bound: float | None = None) -> None:
    shares, planted = _estimates(sink)
    total = spent["GET /fast"] + spent["GET /slow"]
    for name in ("GET /fast", "GET /slow"):
        _assert_close(shares[name], spent[name] / total, bound, name)
    _assert_close(planted, spent["planted"] / total, planted_bound or bound, "planted_function")


def run_threads(requests: int, bound: float, planted_bound: float | None = None) -> None:
    client, sink = memory_client(profiling_mode="continuous", continuous_interval_ms=1, continuous_flush_interval=5)
    spent: Counter = Counter()
    lock = threading.Lock()

    def worker(n: int, seed: int) -> None:
        rnd = random.Random(seed)
        mine: Counter = Counter()
        for _ in range(n):
            slow = rnd.random() < SLOW_SHARE
            name = "GET /slow" if slow else "GET /fast"
            unit = client.start("request", name)
            t = time.perf_counter()
            if slow:
                for _ in range(CHUNKS):
                    _timed(mine, "planted", planted_function, PLANTED_S)
                    spin(SLOW_CHUNK_S)
            else:
                spin(FAST_S)
            mine[name] += time.perf_counter() - t
            unit.status_code = 200
            client.finish(unit)
        with lock:
            spent.update(mine)

    threads = [threading.Thread(target=worker, args=(requests // 2, seed)) for seed in range(2)]
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert client.flush(10)
    finally:
        client.close(1)
    counted = sum(r.requests.count for r in memory_sink.records(sink) if r.kind == "aggregate")
    assert counted == requests // 2 * 2, "every request is counted"
    _check(sink, spent, bound, planted_bound)


def run_tasks(requests: int, bound: float, planted_bound: float | None = None, in_flight: int = 200) -> None:
    client, sink = memory_client(profiling_mode="continuous", continuous_interval_ms=1, continuous_flush_interval=5)
    spent: Counter = Counter()
    rnd = random.Random(7)
    left = [requests]

    async def task() -> None:
        while left[0] > 0:
            left[0] -= 1
            slow = rnd.random() < SLOW_SHARE
            name = "GET /slow" if slow else "GET /fast"
            unit = client.start("request", name, is_async=True)
            if slow:
                for _ in range(CHUNKS):
                    _timed(spent, "planted", planted_function, PLANTED_S)
                    _timed(spent, name, spin, SLOW_CHUNK_S)
                    await asyncio.sleep(0)
            else:
                _timed(spent, name, spin, FAST_S)
                await asyncio.sleep(0)
            unit.status_code = 200
            client.finish(unit)

    async def main() -> None:
        await asyncio.gather(*(task() for _ in range(in_flight)))

    try:
        asyncio.run(main())
        assert client.flush(10)
    finally:
        client.close(1)
    spent["GET /slow"] += spent["planted"]
    counted = sum(r.requests.count for r in memory_sink.records(sink) if r.kind == "aggregate")
    assert counted == requests
    _check(sink, spent, bound, planted_bound)


def test_threads_attribution_4000_requests():
    run_threads(4000, 0.10, THREAD_PLANTED_BOUND_4000)


def test_asyncio_200_tasks_attribution_4000_requests():
    run_tasks(4000, 0.10, ASYNC_PLANTED_BOUND_4000)


@slow
def test_threads_attribution_20000_requests():
    run_threads(20_000, 0.05)


@slow
def test_asyncio_200_tasks_attribution_20000_requests():
    run_tasks(20_000, 0.05)
