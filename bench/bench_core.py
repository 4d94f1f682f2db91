"""Core SDK benchmarks (issue 2). Ratios are measured side by side in one run; absolute times drift.

All three measure detailed mode (profiling_mode "detailed", stated since the default became "both", issue 16).

(a) a decorated function at sampling_rate=0 against the bare function: added µs per call (target <= 1 µs);
(b) at sampling_rate=1, the calling thread's cost against a bare pyinstrument Profiler().start()/stop()
    around the same function (target <= 1.2x);
(c) 500-frame profiles per second turned into encoded records by the background thread's code path
    (tree building + record + msgspec encoding), against pyinstrument's own JSONRenderer on the same
    profiles (targets >= 1,000/s and >= 4x). The rate is per second of the thread's CPU time
    (time.thread_time: what the background thread gets done while it has a core; on a shared machine
    wall time also counts other processes' turns), with the wall-clock rate printed beside it.
"""

from __future__ import annotations

import os
import random
import statistics
import sys
import time
import timeit

os.environ.setdefault("PYINSTRUMENT_IGNORE_OVERHEAD_WARNING", "1")

from pyinstrument import Profiler  # noqa: E402
from pyinstrument.renderers import JSONRenderer  # noqa: E402
from pyinstrument.session import Session  # noqa: E402
from pystrument.core import Client, monitor_performance  # noqa: E402
from pystrument.core.builder import RecordBuilder  # noqa: E402
from pystrument.core.record import encode  # noqa: E402
from pystrument.core.unit import Unit  # noqa: E402


def best_of(fn, number: int, repeat: int = 7) -> float:
    """Best per-call time in seconds over ``repeat`` runs of ``number`` calls."""
    return min(timeit.repeat(fn, number=number, repeat=repeat)) / number


def workload():
    total = 0
    for i in range(200):
        total += i * i
    return total


def bench_unsampled() -> tuple[float, float]:
    client = Client(sinks=["memory://bench-a"], sampling_rate=0.0, profiling_mode="detailed")
    decorated = monitor_performance(config=client.config)(workload)
    decorated()  # create the private client
    bare = best_of(workload, 20000)
    wrapped = best_of(decorated, 20000)
    return bare, wrapped


def bench_sampled() -> tuple[float, float]:
    def spin():
        end = time.perf_counter() + 0.0005
        while time.perf_counter() < end:
            pass

    client = Client(sinks=["memory://bench-b"], sampling_rate=1.0, max_queue_size=100_000, batch_size=500,
                    profiling_mode="detailed")
    decorated = monitor_performance(config=client.config)(spin)
    decorated()

    def floor():
        profiler = Profiler(interval=0.001)
        profiler.start()
        spin()
        profiler.stop()

    results_floor, results_sdk = [], []
    for _ in range(5):  # interleave so drift hits both sides alike
        results_floor.append(best_of(floor, 300, repeat=3))
        results_sdk.append(best_of(decorated, 300, repeat=3))
    return statistics.median(results_floor), statistics.median(results_sdk)


# -- (c) ------------------------------------------------------------------------------------
def make_profile(rng: random.Random, nodes: int = 500, samples: int = 1000) -> tuple[Unit, list[str]]:
    """A synthetic profile of about ``nodes`` distinct frames under 15 framework frames."""
    thread = "MainThread\x00<thread>\x00140000"
    prefix = [f"framework_{i}\x00/venv/lib/python3.11/site-packages/fw/mod{i}.py\x00{10 + i}\x01l{20 + i}" for i in range(15)]
    tree: list[tuple[int, str]] = [(-1, "handler\x00/srv/app/views.py\x0010")]
    while len(tree) < nodes:
        parent = rng.randrange(len(tree))
        depth = 0
        p = parent
        while p >= 0:
            depth += 1
            p = tree[p][0]
        if depth > 30:
            continue
        i = len(tree)
        tree.append((parent, f"func_{i}\x00/srv/app/module_{i % 40}.py\x00{i}\x01l{i + 3}"))
    children: dict[int, list[int]] = {}
    for i, (parent, _) in enumerate(tree):
        children.setdefault(parent, []).append(i)
    leaves_set = {i for i in range(len(tree)) if i not in children}
    unit = Unit("request", "GET /bench")
    # samples in execution order, as a real run produces them: a depth-first walk of the call tree,
    # each node getting a run of consecutive samples in proportion to a random weight
    order: list[int] = []

    def walk(node: int) -> None:
        order.append(node)
        for child in children.get(node, []):
            walk(child)

    walk(0)
    weights = [rng.random() if i in leaves_set else rng.random() * 0.2 for i in order]
    scale = samples / sum(weights)
    for node, weight in zip(order, weights, strict=True):
        path = []
        n = node
        while n >= 0:
            path.append(tree[n][1])
            n = tree[n][0]
        stack_strings = [thread] + prefix + path[::-1]
        for _ in range(max(1, round(weight * scale))):
            # a fresh copy of each string, as pyinstrument builds them anew at every sample
            unit.add_sample([(s + ".")[:-1] for s in stack_strings], 0.001)
    unit.cuts[thread] = (len(prefix) + 1, prefix[-1].partition("\x01")[0], len(prefix), False)
    unit.duration_ms = samples * 1.0
    return unit, [thread] + prefix


def bench_build(samples: int, n: int = 200) -> dict[str, float]:
    rng = random.Random(7)
    profiles = [make_profile(rng, samples=samples) for _ in range(20)]
    # pyinstrument's Session takes (stack, seconds) pairs: built here, outside the timed part
    frame_records = [[(stack, weight) for stack, weight, _ in unit.samples] for unit, _ in profiles]
    client = Client(sinks=["memory://bench-c"], profiling_mode="detailed")
    builder = RecordBuilder(client.config, [])

    def ours():
        for unit, _ in profiles:
            encode(builder.build(unit))

    def theirs():
        for (_unit, start_stack), records in zip(profiles, frame_records, strict=True):
            session = Session(frame_records=records, start_time=0.0, duration=1.0, min_interval=0.001,
                              max_interval=0.001, sample_count=len(records), start_call_stack=start_stack,
                              target_description="bench", cpu_time=1.0, sys_path=sys.path,
                              sys_prefixes=Session.current_sys_prefixes())
            JSONRenderer().render(session)

    def count(node):
        return 1 + sum(count(c) for c in node.children)

    def per_profile(fn, number: int, clock) -> float:
        best = float("inf")
        for _ in range(3):
            t0 = clock()
            for _ in range(number):
                fn()
            best = min(best, (clock() - t0) / (number * len(profiles)))
        return best

    rounds = max(1, n // 20)
    return {
        "nodes": count(builder.build(profiles[0][0]).call_tree),
        "samples": statistics.mean(len(unit.samples) for unit, _ in profiles),
        "ours_cpu": per_profile(ours, rounds, time.thread_time),
        "theirs_cpu": per_profile(theirs, 1, time.thread_time),
        "ours_wall": per_profile(ours, rounds, time.perf_counter),
        "theirs_wall": per_profile(theirs, 1, time.perf_counter),
    }


def main() -> None:
    print("== pystrument-core benchmarks (bench/bench_core.py) ==")
    bare, wrapped = bench_unsampled()
    added = (wrapped - bare) * 1e6
    print(f"(a) sampling_rate=0: bare {bare * 1e6:.2f} µs/call, decorated {wrapped * 1e6:.2f} µs/call, "
          f"added {added:.2f} µs/call (target <= 1.00)  {'OK' if added <= 1.0 else 'MISS'}")
    floor, sdk = bench_sampled()
    ratio = sdk / floor
    print(f"(b) sampling_rate=1, 0.5 ms function: Profiler().start()/stop() {floor * 1e6:.1f} µs/call, "
          f"pystrument {sdk * 1e6:.1f} µs/call, ratio {ratio:.2f}x (target <= 1.20)  {'OK' if ratio <= 1.2 else 'MISS'}")
    for samples in (500, 1000):
        r = bench_build(samples)
        rate, their_rate = 1 / r["ours_cpu"], 1 / r["theirs_cpu"]
        ok = rate >= 1000 and rate / their_rate >= 4
        print(f"(c) {r['nodes']}-frame profiles of {r['samples']:,.0f} samples, per CPU-second of the building thread: "
              f"pystrument {rate:,.0f} records/s ({r['ours_cpu'] * 1e3:.2f} ms each), pyinstrument JSONRenderer "
              f"{their_rate:,.0f}/s ({r['theirs_cpu'] * 1e3:.2f} ms each), {rate / their_rate:.1f}x "
              f"(targets >= 1,000/s and >= 4x)  {'OK' if ok else 'MISS'}; wall clock: {1 / r['ours_wall']:,.0f}/s "
              f"vs {1 / r['theirs_wall']:,.0f}/s, load average {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
