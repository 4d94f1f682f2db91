"""The continuous sampler's own CPU (issue #16): at 100 Hz with 200 idle threads, and with 1,000 asyncio tasks.

Target: at most 2% of one core, measured with ``time.thread_time`` of the sampling thread (it records its
own after every wake-up) over a fixed stretch of wall time. Two cases, each in a fresh client:

  threads   200 idle threads (blocked on an Event), with no request in flight, and with one thread
            running a continuous unit that sleeps (then every wake-up reads sys._current_frames(),
            whose cost grows with the number of threads)
  tasks     1,000 asyncio tasks in flight, each in its own async unit, awaiting a short sleep in turn

It also prints the samples taken per second (how close to 100 Hz the Poisson clock ran) and how many were
charged to a unit. ``python bench/bench_continuous.py [--seconds 5] [--interval-ms 10]``
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import threading
import time
import uuid

TARGET = 0.02  # of one core


def _client(interval_ms: float):
    from pystrument.core import Client

    return Client(sinks=[f"memory://{uuid.uuid4().hex}"], profiling_mode="continuous", continuous_interval_ms=interval_ms,
                  max_overhead_pct=None)


def _measure(client, seconds: float, during) -> tuple[float, int, int]:
    sampler = client.continuous.sampler
    sampler.ensure_running()
    time.sleep(0.2)  # the thread has started and taken its first samples
    cpu0, wake0, charged0, t0 = sampler.cpu_seconds, sampler.wakeups, sampler.samples, time.perf_counter()
    during(seconds)
    elapsed = time.perf_counter() - t0
    return (sampler.cpu_seconds - cpu0) / elapsed, int((sampler.wakeups - wake0) / elapsed), sampler.samples - charged0


def idle_threads(seconds: float, interval_ms: float, in_flight: bool = False) -> tuple[float, int, int]:
    client = _client(interval_ms)
    stop = threading.Event()
    threads = [threading.Thread(target=stop.wait, daemon=True) for _ in range(200)]
    for t in threads:
        t.start()

    def during(s: float) -> None:
        if not in_flight:
            time.sleep(s)
            return
        unit = client.start("request", "GET /idle")
        time.sleep(s)
        client.finish(unit)

    try:
        return _measure(client, seconds, during)
    finally:
        stop.set()
        client.close(1)


def asyncio_tasks(seconds: float, interval_ms: float) -> tuple[float, int, int]:
    client = _client(interval_ms)

    async def task(deadline: float) -> None:
        unit = client.start("request", "GET /task", is_async=True)
        while time.perf_counter() < deadline:
            await asyncio.sleep(0.05)
        client.finish(unit)

    def during(s: float) -> None:
        async def main() -> None:
            deadline = time.perf_counter() + s
            await asyncio.gather(*(task(deadline) for _ in range(1000)))

        asyncio.run(main())

    try:
        return _measure(client, seconds, during)
    finally:
        client.close(1)


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--interval-ms", type=float, default=10.0)
    parser.add_argument("--rounds", type=int, default=None, help="accepted for nox -s bench -- --rounds N (ignored)")
    args, _ = parser.parse_known_args()
    print(f"continuous sampler: own CPU at a {args.interval_ms:g} ms mean interval, {args.seconds:g}s per case (target <= {TARGET:.0%} of one core)")
    ok = True
    cases = (("200 idle threads", idle_threads), ("  + 1 unit in flight", lambda s, i: idle_threads(s, i, True)),
             ("1,000 asyncio tasks", asyncio_tasks))
    for label, case in cases:
        share, hz, charged = case(args.seconds, args.interval_ms)
        verdict = "OK" if share <= TARGET else "MISS"
        ok &= share <= TARGET
        print(f"  {label:<20} sampler CPU {share:6.2%} of one core, {hz:4d} wake-ups/s, {charged} samples charged: {verdict}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
