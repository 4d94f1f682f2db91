"""Attribution without bias (issue #16): two endpoints, ~0.5 ms and ~20 ms of CPU work, mixed traffic.

Each endpoint's share of the samples in the continuous aggregates must match its share of the time
measured by timestamps (perf_counter around each request's work, its SDK start and finish within), within
a relative bound; and so must a planted function's share (estimated as its share of its endpoint's seen
stacks times the endpoint's share). The same with 200 asyncio tasks in flight. The default suite runs
4,000 requests per case with a +-10% bound on the endpoints; the slow variants (``PYSTRUMENT_SLOW_TESTS=1``)
run the issue's bound, +-5%, over at least its 20,000 requests.

Endpoint shares come from every target of the sampling thread (a Poisson process at 1 ms here), function
shares from the stacks it reads: one per thread (or loop) and wake-up, at the moment it was read, and
those moments are set by the GIL (the sampling thread waits up to the 5 ms switch interval for it), so
there are far fewer of them than targets (measured: ~175 reads a second beside the busy loop, ~63 beside two
busy threads), and the planted function's estimate is the noisy figure.
Measured 2026-12-06 on the 2-core machine (docs/continuous.md): asyncio, 20,000 requests, 4 runs: the
endpoints within +-1.7%, the planted function -2.4% to +0.8% (standard deviation 1.3%); threads: at 20,000 requests the planted function
spread -6.8% to +2.7% (6 runs, standard deviation 3.4%, mean -1.3%), so the slow thread variant runs
60,000 requests (3 runs: -1.4% to +1.0%, the endpoints within +-1.3%). At 4,000 requests (8 runs each) the
endpoints read within +-2%, the planted function spread with a standard deviation of 5% (threads) and 7%
(asyncio), up to 14% off: its bounds there are +-25% and +-30%, which catch a broken estimator without
failing on that spread.
"""

from __future__ import annotations

import asyncio
import math
import os
import random
import threading
import time
from collections import Counter

import pytest
from core_helpers import memory_client
from pystrument.core import memory_sink

FAST_S, SLOW_CHUNK_S, PLANTED_S, CHUNKS = 0.0005, 0.003, 0.002, 4  # slow: 4 x (2 ms planted + 3 ms) = 20 ms
SLOW_SHARE = 0.05  # of requests
ASYNC_PLANTED_BOUND_4000 = 0.30  # see the module's docstring
THREAD_PLANTED_BOUND_4000 = 0.25
slow = pytest.mark.skipif(not os.environ.get("PYSTRUMENT_SLOW_TESTS"), reason="20,000 requests: set PYSTRUMENT_SLOW_TESTS=1")


def _loops_per_second() -> float:
    """How many rounds of ``burn``'s loop this machine runs in a second (the best of five timings: the least disturbed)."""
    n = 200_000
    best = math.inf
    for _ in range(5):
        t = time.perf_counter()
        for _ in range(n):
            pass
        best = min(best, time.perf_counter() - t)
    return n / best


LOOPS_PER_SECOND = _loops_per_second()


def burn(seconds: float) -> None:
    """A fixed amount of CPU work, about ``seconds`` on an idle core: a thread waiting for the GIL makes no progress
    here, as real work would not. A busy-wait on the clock would: it ends early after such a wait, so the shape of the
    work followed the GIL's 5 ms switches, not the code (with two threads, a clock-bound 2 ms planted call took 43% of
    the slow requests' time, not 40%)."""
    for _ in range(round(seconds * LOOPS_PER_SECOND)):
        pass


def planted_function(seconds: float) -> None:
    burn(seconds)


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
            t = time.perf_counter()  # the whole request, the SDK's own start and finish within it (samples land there too)
            unit = client.start("request", name)
            if slow:
                for _ in range(CHUNKS):
                    _timed(mine, "planted", planted_function, PLANTED_S)
                    burn(SLOW_CHUNK_S)
            else:
                burn(FAST_S)
            unit.status_code = 200
            client.finish(unit)
            mine[name] += time.perf_counter() - t
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
        now = time.perf_counter
        while left[0] > 0:
            left[0] -= 1
            slow = rnd.random() < SLOW_SHARE
            name = "GET /slow" if slow else "GET /fast"
            # each step of the request timed whole, the SDK's own start and finish within it (samples land there too)
            t = now()
            unit = client.start("request", name, is_async=True)
            if slow:
                for _ in range(CHUNKS):
                    _timed(spent, "planted", planted_function, PLANTED_S)
                    burn(SLOW_CHUNK_S)
                    spent[name] += now() - t
                    await asyncio.sleep(0)
                    t = now()
            else:
                burn(FAST_S)
                spent[name] += now() - t
                await asyncio.sleep(0)
                t = now()
            unit.status_code = 200
            client.finish(unit)
            spent[name] += now() - t

    async def main() -> None:
        await asyncio.gather(*(task() for _ in range(in_flight)))

    try:
        asyncio.run(main())
        assert client.flush(10)
    finally:
        client.close(1)
    counted = sum(r.requests.count for r in memory_sink.records(sink) if r.kind == "aggregate")
    assert counted == requests
    _check(sink, spent, bound, planted_bound)


def test_threads_attribution_4000_requests():
    run_threads(4000, 0.10, THREAD_PLANTED_BOUND_4000)


def test_asyncio_200_tasks_attribution_4000_requests():
    run_tasks(4000, 0.10, ASYNC_PLANTED_BOUND_4000)


@slow
def test_threads_attribution_60000_requests():
    run_threads(60_000, 0.05)


@slow
def test_asyncio_200_tasks_attribution_20000_requests():
    run_tasks(20_000, 0.05)
