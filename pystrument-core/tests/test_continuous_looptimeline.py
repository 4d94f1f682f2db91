"""The event loop's timeline (continuous/looptimeline.py): the loop runs exactly as without it, the
timeline says which unit ran when, and the loop gets its own queue back when the sampling thread stops."""

from __future__ import annotations

import asyncio
import collections
import threading

from core_helpers import make_marker, memory_client, spin
from pystrument.core.continuous import sampler as sampler_module
from pystrument.core.continuous.frames import code_of
from pystrument.core.continuous.looptimeline import _ReadyQueue


async def _workload(trace: list, client, n_tasks: int = 20) -> None:
    """Tasks that yield, wait for futures and get callbacks from another thread."""
    loop = asyncio.get_running_loop()
    done = loop.create_future()

    async def task(i: int) -> None:
        unit = client.start("request", f"GET /t{i % 3}", is_async=True) if client else None
        for step in range(4):
            trace.append((i, step))
            if step % 2:
                await asyncio.sleep(0)
            else:  # woken through a future (no timers: the order must not depend on the clock)
                fut = loop.create_future()
                loop.call_soon(fut.set_result, None)
                await fut
        if client:
            client.finish(unit)

    def from_thread() -> None:
        for k in range(50):
            loop.call_soon_threadsafe(trace.append, ("thread", k))
        loop.call_soon_threadsafe(done.set_result, None)

    await asyncio.gather(*(task(i) for i in range(n_tasks)))
    threading.Thread(target=from_thread).start()
    await done


def _run(client) -> tuple[list, list]:
    trace: list = []
    errors: list = []

    async def main() -> None:
        asyncio.get_running_loop().set_exception_handler(lambda loop, context: errors.append(context))
        await _workload(trace, client)

    asyncio.run(main())
    return trace, errors


def test_the_loop_runs_every_handle_once_and_in_order():
    plain, plain_errors = _run(None)
    client, _ = memory_client(profiling_mode="continuous", continuous_interval_ms=1)
    try:
        stamped, stamped_errors = _run(client)
    finally:
        client.close(1)
    assert plain_errors == [] and stamped_errors == []
    # the tasks' steps in the same order; every callback from the other thread run once, in order
    assert [t for t in stamped if t[0] != "thread"] == [t for t in plain if t[0] != "thread"]
    assert [t for t in stamped if t[0] == "thread"] == [("thread", k) for k in range(50)]


def test_timeline_is_installed_while_units_run_and_removed_when_the_sampler_stops():
    client, _ = memory_client(profiling_mode="continuous", continuous_interval_ms=1)
    seen: dict = {}

    async def main() -> None:
        loop = asyncio.get_running_loop()
        unit = client.start("request", "GET /x", is_async=True)
        await asyncio.sleep(0)
        seen["ready"] = type(loop._ready)
        seen["run_once"] = "_run_once" in loop.__dict__
        client.finish(unit)
        client.close(1)
        sampler_module.stop_sampler(1)
        await asyncio.sleep(0)  # one round ends: the loop takes its own queue back
        await asyncio.sleep(0)
        seen["ready_after"] = type(loop._ready)
        seen["run_once_after"] = "_run_once" in loop.__dict__

    asyncio.run(main())
    assert seen == {"ready": _ReadyQueue, "run_once": True, "ready_after": collections.deque, "run_once_after": False}


def test_samples_are_charged_to_the_unit_whose_step_ran_at_their_target():
    """Units of one loop interleave at every await; units whose steps burn CPU in their own function get
    the samples, the ones that only await get none of its stacks (and a child task's CPU counts for the
    unit that started it, on every Python version). Four busy tasks make a round of the loop longer than
    the GIL's switch interval, so that stacks are read inside steps, not only at the loop's I/O poll."""
    client, _ = memory_client(profiling_mode="continuous", continuous_interval_ms=1)
    busy = make_marker("busy_marker")
    units: dict[str, list] = {"busy": [], "idle": [], "parent": []}

    async def busy_task() -> None:
        for _ in range(2):
            unit = client.start("request", "GET /busy", is_async=True)
            for _ in range(10):
                busy(0.002)
                await asyncio.sleep(0)
            client.finish(unit)
            units["busy"].append(unit)

    async def idle_task() -> None:
        for _ in range(10):
            unit = client.start("request", "GET /idle", is_async=True)
            for _ in range(10):
                await asyncio.sleep(0)
            client.finish(unit)
            units["idle"].append(unit)

    async def child() -> None:
        for _ in range(10):
            spin(0.002)
            await asyncio.sleep(0)

    async def parent_task() -> None:
        unit = client.start("request", "GET /parent", is_async=True)
        await asyncio.gather(child(), child())
        client.finish(unit)
        units["parent"].append(unit)

    async def main() -> None:
        await asyncio.gather(*(busy_task() for _ in range(4)), idle_task(), parent_task())

    try:
        asyncio.run(main())
    finally:
        client.close(1)
    busy_samples = [s for u in units["busy"] for s in u.cont]
    idle_samples = [s for u in units["idle"] for s in u.cont]
    parent_samples = [s for u in units["parent"] for s in u.cont]
    names = lambda stack: {getattr(code_of(entry), "co_name", entry) for entry in stack}  # noqa: E731
    assert sum("busy_marker" in names(s) for s in busy_samples) >= 10, len(busy_samples)
    assert not any("busy_marker" in names(s) for s in idle_samples + parent_samples)
    # 400 ms of the busy units' CPU against ~0 for the idle one (1 ms interval): the idle one gets at
    # most a few samples (its steps are a few us each)
    assert len(idle_samples) <= len(busy_samples) // 5, (len(idle_samples), len(busy_samples))
    # the children's 40 ms, read outside the parent's entry frame: the whole stack (or unseen)
    assert len(parent_samples) >= 5, len(parent_samples)
    assert any("child" in names(s) for s in parent_samples), parent_samples


def test_a_callback_scheduled_while_a_unit_ran_but_run_after_it_ended_is_not_charged_to_it():
    """A handle copies the context it was scheduled in, the unit's: run after the unit has ended (a transport's
    reader re-armed at the end of a request, a done-callback), its time is the loop's, not the request's."""
    client, _ = memory_client(profiling_mode="continuous", continuous_interval_ms=1)
    late = make_marker("late_callback_marker")
    units: list = []

    async def request() -> None:
        loop = asyncio.get_running_loop()
        unit = client.start("request", "GET /ends-early", is_async=True)
        spin(0.001)
        ran = loop.create_future()
        loop.call_later(0.001, lambda: (late(0.05), ran.set_result(None)))  # scheduled now, runs after the unit
        client.finish(unit)
        units.append(unit)
        await ran

    try:
        asyncio.run(request())
    finally:
        client.close(1)
    (unit,) = units
    names = {getattr(code_of(entry), "co_name", entry) for stack in unit.cont for entry in stack}
    # 50 ms of the callback at a 1 ms interval would be ~50 samples; the unit itself ran ~1 ms
    assert "late_callback_marker" not in names and len(unit.cont) < 15, (len(unit.cont), names)


def test_a_loop_whose_run_once_someone_else_replaced_gets_no_timeline_and_keeps_theirs():
    """install() recognises the loop's own ``_run_once`` without reading ``loop.__dict__`` (which would slow every
    attribute of the loop from then on); a replacement set on the instance (a tracer's, a test tool's) is left alone:
    the loop runs as before, its samples charged to the task running at the wake-up."""
    client, _ = memory_client(profiling_mode="continuous", continuous_interval_ms=1)
    seen: dict = {}

    async def main() -> None:
        loop = asyncio.get_running_loop()
        theirs = loop._run_once
        rounds = []

        def their_run_once() -> None:
            rounds.append(1)
            theirs()

        loop._run_once = their_run_once
        unit = client.start("request", "GET /x", is_async=True)
        await asyncio.sleep(0)
        client.finish(unit)
        seen["ready"] = type(loop._ready)
        seen["theirs_kept"] = loop._run_once is their_run_once
        seen["theirs_ran"] = bool(rounds)

    asyncio.run(main())
    client.close(1)
    assert seen == {"ready": collections.deque, "theirs_kept": True, "theirs_ran": True}


def test_step_timeline_stamps_the_steps_through_the_entry_code_and_is_forgotten_when_sampling_stops():
    """continuous/steptimeline.py (Python 3.12+, for loops with no ready queue to stamp: uvloop): a resume of the
    watched coroutine stamps the unit of its context, a yield stamps no unit; once the sampling thread has stopped,
    the next resume removes the thread's timeline, so the next async unit there installs a new one."""
    import sys

    import pytest
    from pystrument.core.continuous import steptimeline
    from pystrument.core.continuous.sampler import SamplerThread, task_unit
    from pystrument.core.unit import Unit

    if not steptimeline.AVAILABLE:
        pytest.skip("sys.monitoring: Python 3.12+")
    sampler = SamplerThread(1000.0)  # a real sampling thread that sleeps through the test
    keeper = type("Collector", (), {"drain": lambda self, charged_until=0.0: None})()
    sampler.collectors.add(keeper)  # (the sampling thread runs while it has a collector)
    sampler.ensure_running()
    unit = Unit("request", "GET /steps", 1.0, None, None, None, True, "", False, False)
    ident = threading.get_ident()
    entries: list = []

    async def request() -> None:
        token = task_unit.set(unit)
        loop = asyncio.get_running_loop()
        timeline = steptimeline.install(loop, sampler, ident, task_unit, sys._getframe())
        assert timeline is not None
        sampler.timelines[ident], sampler.loops[ident] = timeline, loop
        await asyncio.sleep(0)
        await asyncio.sleep(0)
        entries.extend(unit for _, unit in timeline.entries)
        sampler.stop(0.1)  # nothing reads the timeline any more
        await asyncio.sleep(0)  # the resume after it forgets the thread's timeline
        task_unit.reset(token)

    async def other() -> None:  # another task's steps: its code is not watched
        for _ in range(3):
            await asyncio.sleep(0)

    async def main() -> None:
        await asyncio.gather(request(), other())

    asyncio.run(main())
    assert entries == [None, unit, None, unit]  # yield, resume, yield, resume
    assert ident not in sampler.timelines and ident not in sampler.loops
