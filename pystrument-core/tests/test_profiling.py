"""Each unit's tree holds its own functions and no other's, under asyncio concurrency and threads."""

from __future__ import annotations

import asyncio
import sys
import threading
from concurrent.futures import ThreadPoolExecutor

from core_helpers import check_sums, functions, make_marker, memory_client, spin, walk
from pystrument.core import PerformanceCollector, monitor_performance
from pystrument.core.memory_sink import records


def test_200_concurrent_asyncio_tasks_each_hold_only_their_marker():
    client, sink = memory_client(profiler_interval=0.0005, max_queue_size=1000)
    markers = [make_marker(f"marker_{i}", is_async=True) for i in range(200)]

    async def task(i):
        unit = client.start("task", f"task-{i}", is_async=True)
        try:
            await markers[i](0.0015, 4)
        finally:
            client.finish(unit)

    async def main():
        await asyncio.gather(*(task(i) for i in range(200)))

    asyncio.run(main())
    assert client.flush(10)
    recs = records(sink)
    assert len(recs) == 200
    empty = 0
    for rec in recs:
        i = int(rec.name.split("-")[1])
        names = functions(rec.call_tree)
        others = {n for n in names if n.startswith("marker_") and n != f"marker_{i}"}
        assert not others, f"{rec.name} holds other units' markers {sorted(others)[:5]}"
        if f"marker_{i}" not in names:
            empty += 1
        else:
            check_sums(rec.call_tree)
    assert empty == 0, f"{empty} of 200 trees miss their own marker"


def test_16_threads_each_hold_only_their_marker():
    client, sink = memory_client(profiler_interval=0.0005)
    markers = [make_marker(f"tmarker_{i}") for i in range(16)]
    barrier = threading.Barrier(16)

    def run(i):
        barrier.wait()
        for _ in range(3):
            unit = client.start("function", f"thread-{i}")
            markers[i](0.01)
            client.finish(unit)

    with ThreadPoolExecutor(16) as pool:
        list(pool.map(run, range(16)))
    assert client.flush(10)
    recs = records(sink)
    assert len(recs) == 48
    for rec in recs:
        i = int(rec.name.split("-")[1])
        names = {n for n in functions(rec.call_tree) if n.startswith("tmarker_")}
        assert names == {f"tmarker_{i}"}, (rec.name, names)


def test_decorator_sync_and_async_keep_results_exceptions_and_signature():
    _, sink = memory_client()
    settings = {"sinks": [f"memory://{sink}"], "async_send": False}

    @monitor_performance(config=settings, name="adder")
    def add(a, b=1):
        "adds"
        spin(0.003)
        return a + b

    @monitor_performance(config=settings)
    async def fail(x):
        await asyncio.sleep(0.001)
        raise KeyError(x)

    assert add(2, b=3) == 5 and add.__doc__ == "adds" and add.__name__ == "add"
    err = None
    try:
        asyncio.run(fail("k"))
    except KeyError as exc:
        err = exc
    assert err is not None and err.args == ("k",)
    by_name = {r.name: r for r in records(sink)}
    assert by_name["adder"].kind == "function" and "add" in functions(by_name["adder"].call_tree)
    failed = by_name[f"{fail.__module__}.{fail.__qualname__}"]
    assert failed.error.type == "KeyError" and failed.error.message == "'k'"


def test_seed_decorator_keywords_and_collector_blocks():
    _, sink = memory_client()

    @monitor_performance(project_key="pk-1", sinks=[f"memory://{sink}"], async_send=False)
    def seeded():
        spin(0.002)

    seeded()
    collector = PerformanceCollector({"sinks": [f"memory://{sink}"], "async_send": False, "project_key": "pk-2"})
    block_marker = make_marker("block_marker")
    with collector.collect("sync-block"):
        block_marker(0.005)

    async def main():
        async with collector.collect("async-block"):
            await asyncio.sleep(0.002)
            block_marker(0.003)

    asyncio.run(main())
    by_name = {r.name: r for r in records(sink)}
    assert by_name[f"{seeded.__module__}.{seeded.__qualname__}"].project_key == "pk-1"
    assert "block_marker" in functions(by_name["sync-block"].call_tree)
    assert by_name["async-block"].kind == "block" and "block_marker" in functions(by_name["async-block"].call_tree)
    assert "[await]" in functions(by_name["async-block"].call_tree)


def test_work_in_a_thread_pool_is_followed():
    client, sink = memory_client(async_send=False)
    pooled = make_marker("pooled_marker")
    unit = client.start("request", "GET /pool")
    with ThreadPoolExecutor(1) as pool:
        pool.submit(client.collector.follow(pooled), 0.01).result()
    client.finish(unit)
    tree = records(sink)[0].call_tree
    assert "pooled_marker" in functions(tree)
    # the pool's frames hang under one [thread] node: they did not run on the unit's own thread
    threads = [n for n in walk(tree) if n.function == "[thread]"]
    assert len(threads) == 1 and "pooled_marker" in functions(threads[0])


def test_unsampled_units_are_not_recorded_and_hook_is_released():
    import sys

    client, sink = memory_client(sampling_rate=0.0, async_send=False)
    unit = client.start("function", "never")
    assert unit is None
    assert sys.getprofile() is None
    client.finish(unit)  # what start returned is ended without a check by the caller (an internal error before)
    client.finish_later(unit)
    assert records(sink) == [] and client.stats()["dropped"] == {}


def test_fast_units_are_sampled_in_proportion_to_their_time():
    """0.3 ms units at a 1 ms interval: the clock keeps running across units, so about 30% get a sample."""
    client, sink = memory_client(profiler_interval=0.001, max_queue_size=5000)
    fast = make_marker("fast_marker")
    for _ in range(2000):
        unit = client.start("request", "GET /fast", entry_frame=sys._getframe())
        fast(0.0003)
        client.finish(unit)
    assert client.flush(10)
    recs = records(sink)
    with_samples = [r for r in recs if r.sample_count]
    share = len(with_samples) / len(recs)
    sampled_ms = sum(r.call_tree.time_ms for r in with_samples)
    real_ms = sum(r.duration_ms for r in recs)
    assert 0.1 < share < 0.7, share
    assert 0.5 < sampled_ms / real_ms < 2.0, (sampled_ms, real_ms)
    assert all(functions(r.call_tree) & {"fast_marker", "[pystrument]"} for r in with_samples)


def test_capture_source_sends_hot_application_functions():
    client, sink = memory_client(async_send=False, capture_source=True)
    unit = client.start("function", "src", entry_frame=sys._getframe())
    spin(0.02)
    client.finish(unit)
    (record,) = records(sink)
    key = next(k for k in record.source if k.endswith(f":{spin.__code__.co_firstlineno}"))
    assert record.source[key].startswith("def spin(")
    assert "def make_marker" not in record.source[key]  # just the function, not what follows it


def test_a_later_client_with_a_finer_interval_is_honoured_and_reported():
    """One sampler per thread serves every client of a process: it samples at the finest interval asked
    for, and records say which interval was in effect (a fresh interpreter: the collector is per process)."""
    import json
    import subprocess
    import textwrap

    script = textwrap.dedent('''
        import json, time
        from pystrument.core import Client
        from pystrument.core.memory_sink import records
        coarse = Client(sinks=["memory://coarse"], profiler_interval=0.001, async_send=False)
        fine = Client(sinks=["memory://fine"], profiler_interval=0.0001, async_send=False)
        def work():  # 20 ms of this thread's CPU, not of the wall clock: a loaded machine deschedules us
            end = time.thread_time() + 0.02
            while time.thread_time() < end:
                pass
        for client in (coarse, fine):
            for _ in range(3):
                unit = client.start("function", "work")
                work()
                client.finish(unit)
        print(json.dumps({name: [(r.sample_count, r.interval_ms) for r in records(name)] for name in ("coarse", "fine")}))
    ''')
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=True).stdout
    result = json.loads(out.strip().splitlines()[-1])
    for name in ("coarse", "fine"):
        assert len(result[name]) == 3
        assert all(interval == 0.1 for _, interval in result[name]), result
        # 20 ms at 0.1 ms: far more than the 20 samples a 1 ms interval gives
        assert all(count > 40 for count, _ in result[name]), result


def _hook_on_here(client) -> bool:
    from pyinstrument.stack_sampler import get_stack_sampler

    target = client.collector._state().target
    return any(s.target is target for s in get_stack_sampler().subscribers)


def test_a_unit_ended_from_another_thread_leaves_this_threads_hook_and_unit_alone():
    """A unit still running in its own thread's books and ended from another thread must not switch off
    the hook of the thread ending it (nor count against its running units): that thread's unit runs on."""
    client, sink = memory_client(profiler_interval=0.001)
    started = []

    def worker():
        unit = client.start("function", "worker-unit")
        spin(0.03)  # sampled on its own
        started.append(unit)  # not ended here

    thread = threading.Thread(target=worker)
    thread.start()
    thread.join()
    [worker_unit] = started
    assert worker_unit.samples
    mine = client.start("function", "main-unit")
    client.finish(worker_unit)
    assert _hook_on_here(client), "ending another thread's unit switched this thread's hook off"
    spin(0.03)
    client.finish(mine)
    assert client.flush(5)
    by_name = {rec.name: rec for rec in records(sink)}
    assert sorted(by_name) == ["main-unit", "worker-unit"]
    assert "spin" in functions(by_name["main-unit"].call_tree)


def _host_async_profile(client) -> str:
    """A host's own pyinstrument profiler bound to an async context, started inside a unit we profile in detail on
    the same thread: its output, as text."""
    from pyinstrument import Profiler

    async def awaited():
        await asyncio.sleep(0.05)

    async def main():
        unit = client.start("function", "outer")
        try:
            profiler = Profiler(interval=0.001, async_mode="enabled")
            profiler.start()
            await awaited()
            profiler.stop()
        finally:
            client.finish(unit)
        return profiler.output_text()

    return asyncio.run(main())


def test_our_hook_leaves_out_pyinstruments_context_var_but_a_hosts_async_profiler_keeps_it():
    """Our subscribers are not bound to an async context, so the hook is installed without pyinstrument's ContextVar
    (profiling/lean_hook.py: fewer instructions per call). A host's pyinstrument profiler with async_mode on the same
    thread gets the ContextVar back: its awaited time shows as [await], as without pystrument."""
    from pyinstrument.stack_sampler import get_stack_sampler

    client, _ = memory_client(sampling_rate=1.0, max_overhead_pct=None)
    try:
        unit = client.start("function", "lean")
        sampler = get_stack_sampler()
        assert getattr(sampler, "_pystrument_lean", False) and sampler.subscribers
        assert not any(s.bound_to_async_context for s in sampler.subscribers)
        client.finish(unit)
        assert "[await]" in _host_async_profile(client)
    finally:
        client.close(1)
