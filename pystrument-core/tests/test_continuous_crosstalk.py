"""No cross-talk: every continuous sample of f_i is charged to unit i, for threads and for asyncio tasks.

Each unit burns CPU in its own distinctly named function (``make_marker``); threads and tasks interleave
(the GIL switches threads every few ms, tasks yield at every ``await``). A sample of f_j filed under unit
i != j would be a wrong charge: there must be none, and every unit's own function must be seen.
"""

from __future__ import annotations

import asyncio
import threading

from core_helpers import make_marker, memory_client
from pystrument.core import memory_sink
from pystrument.core.continuous.frames import code_of


def _functions(stack) -> set[str]:
    return {getattr(code_of(entry), "co_name", entry) for entry in stack}


def _check(units_by_index: dict[int, list], n: int) -> None:
    seen_own = 0
    for i, units in units_by_index.items():
        for unit in units:
            for stack in unit.cont:
                names = _functions(stack)
                wrong = {f"f_{j}" for j in range(n) if j != i} & names
                assert not wrong, f"unit {i} got a sample of {wrong}: {names}"
                seen_own += f"f_{i}" in names
    # a thread's stacks read well after their sample's target are filed unseen (busy threads hand the GIL
    # over late): what matters is that the seen ones are right, and that there are enough of them
    assert seen_own >= 20, f"only {seen_own} samples of the units' own functions were seen"


def test_threads_no_cross_talk():
    n = 8
    client, _ = memory_client(profiling_mode="continuous", continuous_interval_ms=1)
    markers = [make_marker(f"f_{i}") for i in range(n)]
    units: dict[int, list] = {i: [] for i in range(n)}
    barrier = threading.Barrier(n)

    def worker(i: int) -> None:
        barrier.wait()
        for _ in range(60):
            unit = client.start("request", f"GET /t{i}")
            markers[i](0.002)
            client.finish(unit)
            units[i].append(unit)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(n)]
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        client.close(1)
    _check(units, n)
    assert all(len(u) == 60 for u in units.values())


def test_asyncio_tasks_no_cross_talk():
    n = 60
    client, sink = memory_client(profiling_mode="continuous", continuous_interval_ms=1)
    markers = [make_marker(f"f_{i}", is_async=True) for i in range(n)]
    units: dict[int, list] = {i: [] for i in range(n)}

    async def task(i: int) -> None:
        for _ in range(3):
            unit = client.start("request", f"GET /a{i}", is_async=True)
            await markers[i](0.0005, 10)  # 10 steps of 0.5 ms, yielding to the other tasks between them
            client.finish(unit)
            units[i].append(unit)

    async def main() -> None:
        await asyncio.gather(*(task(i) for i in range(n)))

    try:
        asyncio.run(main())
        client.flush(5)
    finally:
        client.close(1)
    _check(units, n)
    # the aggregates say the same: endpoint i's merged tree holds f_i and no other marker
    for record in memory_sink.records(sink):
        i = int(record.name.removeprefix("GET /a"))
        stack = [record.call_tree] if record.call_tree else []
        names = set()
        while stack:
            node = stack.pop()
            names.add(node.function)
            stack.extend(node.children)
        assert not ({f"f_{j}" for j in range(n) if j != i} & names), (i, names)
