"""The one sampling thread of a process, and the tables that say which unit runs where.

No profile hook: the thread sleeps a random, exponentially distributed time around the interval
(Poisson sampling, so periodic work is not aliased), then reads every thread's current frame with
``sys._current_frames()`` and files the stack under the unit running there:

- a thread running a sync unit: ``threads[ident]`` (set by ``ContinuousCollector.enter``, two dict
  writes per unit);
- an event loop's thread: the unit whose task step ran at the sample's target, read from the loop's
  timeline (looptimeline.py: stamped before each handle from its context, at the end of each round of
  handles, and at an async unit's start and end); the stack read at the wake-up is filed once, under
  the unit running then (``_charge_timeline``). A loop without a timeline (uvloop): the task the loop
  is running now, read from asyncio's own table of current tasks (``asyncio.tasks._current_tasks``,
  keyed by loop; the C accelerator fills the same dict on 3.10-3.13), then ``tasks[task]`` (set when
  an async unit starts in that task), or on 3.12+ through the task's context (child tasks).

The GIL decides when the sampling thread runs: a thread holding it releases it at its next blocking
call (I/O, ``os.urandom``, a lock) or after ``sys.getswitchinterval()`` (5 ms), so a sample is often read
later than it was meant for, typically where the thread releases the GIL, which is often just after a
unit ends. Reading it there would starve short units. So each sample is charged by its target time:
to the thread's current unit if that started before the target, else to the unit that ran at the target
(the thread's last ended units are kept in a small ring), as ``[stack not seen]``: endpoint shares are
unbiased that way. The stack read at a wake-up stands for the moment it was read, not for the targets
before it: the thread may have run since (giving it to every target of the last few ms weighted the
stacks where threads lose the GIL: a planted function read +0.3% to +8.3% with two busy threads). So each
wake-up files one seen stack per thread running a unit, in place of one ``[stack not seen]`` sample of
the same endpoint on that thread, in that wake-up or a later one (``owed``, as the loop timeline does):
function shares within an endpoint are read from those stacks (docs/continuous.md).

Only threads with a unit running are walked, so idle threads cost only their entry in
``sys._current_frames()``. Samples with no unit running are counted (``idle_samples``), not kept.
Ended units are handed over by ``ContinuousCollector.stop`` through a deque and merged into their
client's window here, between samples. The thread starts with the first continuous unit, ends when
the last continuous client has closed (the next unit starts a new one), and is stopped at exit by
``lifecycle.shutdown``.
"""

from __future__ import annotations

import contextvars
import gc
import math
import random
import sys
import threading
import time
import weakref
from collections import deque
from typing import TYPE_CHECKING, Any

from ..failsafe import report
from .frames import NOT_SEEN, Stack, stack_of
from .looptimeline import Timeline

if TYPE_CHECKING:
    from ..unit import Unit
    from .collector import ContinuousCollector

# the unit an async unit's task (and the tasks it starts) runs: read from other threads on 3.12+
task_unit: contextvars.ContextVar[Unit | None] = contextvars.ContextVar("pystrument_continuous_unit", default=None)

# asyncio's table of the task each loop runs, bound by ``bind_asyncio`` when the first async unit starts
_current_tasks: dict[Any, Any] = {}


def bind_asyncio() -> Any:
    """Bind asyncio's table of current tasks and return the module. Called when the first async unit
    starts (its loop means the host imported asyncio), never at import: a WSGI host never imports asyncio,
    and asyncio's import calls ``logging.getLogger``, which a host may patch and count."""
    global _current_tasks
    import asyncio

    _current_tasks = getattr(asyncio.tasks, "_current_tasks", {})
    return asyncio
_HAS_TASK_CONTEXT = sys.version_info >= (3, 12)


def _current_frames() -> dict[int, Any]:
    """``sys._current_frames()`` with the garbage collector held off. CPython (3.11 at least, gh-106883) holds
    the runtime's thread-list lock while it builds the dict; an allocation there can start a collection whose
    finalizers need that lock or the GIL another thread waits for: the process deadlocks (seen in a CI run:
    this thread in ``gc_collect_main`` under ``_PyThread_CurrentFrames``, every other thread waiting). The
    collection runs on the next allocation after instead."""
    if not gc.isenabled():
        return sys._current_frames()
    gc.disable()
    try:
        return sys._current_frames()
    finally:
        gc.enable()


class SamplerThread:
    def __init__(self, interval: float) -> None:
        self.interval = interval  # mean seconds between samples
        self.threads: dict[int, Unit] = {}  # thread ident -> sync unit running there
        self.tasks: dict[Any, Unit] = {}  # asyncio task -> async unit it runs
        self.loops: dict[int, Any] = {}  # thread ident -> its event loop (threads that ran async units)
        self.timelines: dict[int, Timeline] = {}  # thread ident -> its loop's timeline (looptimeline.py)
        # thread ident -> the last sync units ended there (threads that ran sync units): see ``sample``
        self.recent: dict[int, deque[Unit]] = {}
        self.collectors: weakref.WeakSet[ContinuousCollector] = weakref.WeakSet()
        self.samples = 0  # samples taken (one per thread with a unit, per wake-up)
        self.idle_samples = 0  # thread stacks read with no unit running there
        self.wakeups = 0
        self.own_samples = 0  # targets that fell while this thread itself ran: skipped (``_run``)
        self.frame_reads = 0  # wake-ups that read sys._current_frames() (some unit was running)
        self.cpu_seconds = 0.0  # the sampling thread's own CPU time (time.thread_time), updated at each wake-up
        # thread ident -> endpoint -> [stack not seen] samples a seen stack has taken the place of (``sample``)
        self.owed: dict[int, dict[str, int]] = {}
        self.ident = 0
        # perf_counter of the last wake-up, up to which every target is charged: a unit that ended later may be owed
        # samples still, and is merged into its window after the next one (ContinuousCollector.drain)
        self.charged_until = 0.0
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._lock = threading.Lock()

    def ensure_running(self) -> None:
        if self._thread is None:
            with self._lock:
                if self._thread is None:
                    thread = threading.Thread(target=self._run, name="pystrument-continuous-sampler", daemon=True)
                    thread.start()
                    self._thread = thread

    def stop(self, timeout: float = 1.0) -> None:
        """End the thread (it starts again with the next unit: a test may shut the SDK down and go on)."""
        with self._lock:
            self._stop.set()
            thread, self._thread = self._thread, None
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)
        self._stop = threading.Event()
        self.drain()

    def _run(self) -> None:
        self.ident = threading.get_ident()
        thread_time = time.thread_time
        expovariate = random.Random().expovariate
        sleep = time.sleep
        now = time.perf_counter
        stop = self._stop  # this thread's own: stop() gives the next thread a new one
        # The sample times form a Poisson process on the clock, independent of when this thread gets the
        # GIL: every target passed since the last wake-up is charged at the next one.
        target = now() + expovariate(1.0 / self.interval)
        while not stop.is_set():
            delay = target - now()
            if delay > 0:
                sleep(delay)
            woke = now()
            if woke - target > MAX_BEHIND:  # the process was suspended: skip what it missed
                target = woke
            targets = []
            while target <= woke:
                targets.append(target)
                target += expovariate(1.0 / self.interval)
            try:
                self.sample(targets, woke)
                self.charged_until = woke  # every target up to here is charged
                self.prune(woke)
                if self.wakeups % DRAIN_EVERY == 0:
                    self.drain(woke)
            except Exception as exc:  # our bug: logged in production, re-raised under tests
                report("continuous sampler", exc)
            # The targets that fell while this thread worked are its own time, nobody's: it held the GIL, and the
            # thread it took it from waited, often where that thread had released it (a socket write at the end
            # of a short request), so charging them would give our own cost to the requests that do I/O (seen on
            # a real uvicorn: 0.5 ms requests charged ~2 ms each). Skipping random stretches of the clock biases
            # nothing else.
            done = now()
            while target <= done:
                self.own_samples += 1
                target += expovariate(1.0 / self.interval)
            self.cpu_seconds = thread_time()
            if not self.collectors:  # every continuous client has closed: the next unit starts a new thread
                with self._lock:
                    if not self.collectors and self._thread is threading.current_thread():
                        self._thread = None
                        return

    def sample(self, targets: list[float], woke: float) -> None:
        """One sample of every thread running a unit per time in ``targets`` (perf_counter, all past), charged to
        the unit that ran there at that time; the stacks read now give one seen sample per thread, in place of one
        of those (see the module's docstring)."""
        self.wakeups += 1
        threads = self.threads
        loops = self.loops
        timelines = self.timelines
        # sys._current_frames() costs ~0.5 us per thread of the process: read only when a stack is wanted
        if threads or any(_runs_unit(timelines.get(ident), loop) for ident, loop in list(loops.items())):
            frames = _current_frames()
            read_at = time.perf_counter()
            self.frame_reads += 1
        else:
            frames = None
            read_at = woke
        charged = 0
        owed_by_thread = self.owed
        for ident, ring in list(self.recent.items()):
            unit = threads.get(ident)
            owed = owed_by_thread.get(ident)
            if owed is None:
                owed = owed_by_thread[ident] = {}
            if frames is not None:
                frame = _frame_of(frames, self.recent, ident)
                if frame is None:
                    owed_by_thread.pop(ident, None)
                    continue
                if unit is not None:  # the stack read stands for the moment it was read: one seen sample
                    _file(unit, _stacks(unit, frame))
                    owed[unit.name] = owed.get(unit.name, 0) + 1
            ended_units = None
            for target in targets:
                at: Unit | None = None
                if unit is not None and unit.t0 <= target:
                    at = unit
                else:
                    if ended_units is None:
                        ended_units = list(ring)
                        ended_units.reverse()  # newest first
                    for ended in ended_units:  # the unit that ran at ``target`` has ended since
                        if ended.t0 <= target:
                            if target <= ended.t0 + ended.duration_ms / 1000.0:
                                at = ended
                            break
                    if at is None:
                        continue
                charged += 1
                if not (owed and _repaid(owed, at.name)):
                    _file(at, None)
        if loops:
            tasks = self.tasks
            for ident, loop in list(loops.items()):
                timeline = timelines.get(ident)
                if timeline is not None and timeline.loop is loop:
                    frame = frames.get(ident) if frames is not None else None
                    charged += _charge_timeline(timeline, frame, targets, read_at)
                    continue
                if frames is None:
                    continue
                frame = _frame_of(frames, loops, ident)
                if frame is None:
                    continue
                task = _current_tasks.get(loop)
                if task is None:
                    continue
                unit = tasks.get(task)
                if unit is None and _HAS_TASK_CONTEXT:
                    unit = task.get_context().get(task_unit)
                if unit is not None:  # the task running now stands for every target since the last wake-up
                    stack = _stacks(unit, frame)
                    for _ in targets:
                        _file(unit, stack)
                    charged += len(targets)
        self.samples += charged
        if frames is not None:
            self.idle_samples += (len(frames) - 1) * len(targets) - charged

    def prune(self, woke: float) -> None:
        """Forget the ended units that cannot be charged again (they ended before ``woke``: every later
        target is after it). Kept longer, every unit would outlive the GC's young generations."""
        for ring in list(self.recent.values()):
            while ring:
                unit = ring[0]
                if unit.t0 + unit.duration_ms / 1000.0 > woke:
                    break
                ring.popleft()

    def drain(self, charged_until: float = math.inf) -> None:
        """Merge the units ended since the last call (by ``charged_until``: see ``ContinuousCollector.drain``)
        into their clients' windows."""
        for collector in list(self.collectors):
            collector.drain(charged_until)


def _runs_unit(timeline: Timeline | None, loop: Any) -> bool:
    """Whether the loop's thread runs a unit now (its stack is wanted)."""
    if timeline is not None and timeline.loop is loop:
        return timeline.running() is not None
    return _current_tasks.get(loop) is not None


def _charge_timeline(timeline: Timeline, frame: Any, targets: list[float], read_at: float) -> int:
    """Charge each target to the unit the loop's thread ran at that time (its endpoint share), and file
    the one stack read at ``read_at`` under the unit running then (its function shares). Returns the
    targets charged.

    The stack read stands for the moment it was read, not for the targets: a target's own stack is gone
    when the loop has moved on, and giving the read stack to the targets before it in the same step
    weights it by how far into the step it was read (function shares leant to the end of steps: a
    function at the start of 5 ms steps came out 5-10% under). So each wake-up's read gives one seen
    stack, and takes the place of one ``[stack not seen]`` sample of the same endpoint, in this wake-up or
    the next one that has one (``timeline.owed``): endpoint counts stay the targets'."""
    entries = timeline.entries
    unit = timeline.unit
    popleft = entries.popleft
    charged: list[Unit] = []
    for target in targets:
        while entries and entries[0][0] <= target:
            unit = popleft()[1]
        if unit is not None:
            charged.append(unit)
    while entries and entries[0][0] <= read_at:
        unit = popleft()[1]
    timeline.unit = unit
    owed = timeline.owed
    if frame is not None and unit is not None:
        _file(unit, _stacks(unit, frame))
        owed[unit.name] = owed.get(unit.name, 0) + 1
    for unit in charged:
        if not (owed and _repaid(owed, unit.name)):
            _file(unit, None)
    return len(charged)


def _repaid(owed: dict[str, int], name: str) -> bool:
    """Whether a seen stack of endpoint ``name`` (filed at this wake-up or an earlier one) takes the place of the
    ``[stack not seen]`` sample about to be filed: one of the ``owed`` is used up."""
    n = owed.get(name)
    if not n:
        return False
    if n == 1:
        del owed[name]
    else:
        owed[name] = n - 1
    return True


def _frame_of(frames: dict[int, Any], table: dict[int, Any], ident: int) -> Any:
    """The thread's current frame; a thread that has ended is forgotten in ``table``."""
    frame = frames.get(ident)
    if frame is None:
        table.pop(ident, None)
    return frame


def _stacks(unit: Unit, frame: Any) -> list[Stack]:
    """The stack as seen by the unit and by each unit it runs inside (each cut at its own entry frame)."""
    out = []
    while unit is not None:
        out.append(stack_of(frame, unit.cont_entry) or _NOT_SEEN)
        unit = unit.cont_parent  # type: ignore[assignment]
    return out


def _file(unit: Unit, stacks: list[Stack] | None) -> None:
    """File one sample under the unit and the units it runs inside; without ``stacks`` (the unit ended
    before the sample could be read) as ``[stack not seen]``."""
    i = 0
    while unit is not None:
        samples = unit.cont
        if samples is not None and len(samples) < MAX_SAMPLES:
            samples.append(stacks[i] if stacks is not None and i < len(stacks) else _NOT_SEEN)
        unit = unit.cont_parent  # type: ignore[assignment]
        i += 1


MAX_BEHIND = 1.0  # seconds: targets older than this at a wake-up are skipped, not charged
MAX_SAMPLES = 100_000  # per unit (a unit running for 16 minutes at 100 Hz)
# Ended units are merged into their windows at every DRAIN_EVERY-th wake-up (50 ms at 100 Hz; a window
# is drained again when it ends): a merge costs ~40 us of fixed, cache-cold work, paid once per batch.
DRAIN_EVERY = 5
_NOT_SEEN = (NOT_SEEN,)


_sampler: list[SamplerThread] = []
_sampler_lock = threading.Lock()


def sampler_thread(interval: float) -> SamplerThread:
    """The process's sampling thread (not started yet: it starts with the first unit). With several
    clients it samples at the finest interval any of them asked for."""
    with _sampler_lock:
        if not _sampler:
            _sampler.append(SamplerThread(interval))
        sampler = _sampler[0]
        if interval < sampler.interval:
            sampler.interval = interval
        return sampler


def stop_sampler(timeout: float = 1.0) -> None:
    """At exit (lifecycle.shutdown): the sampling thread ends, and what ended is merged."""
    if _sampler:
        _sampler[0].stop(timeout)


def _after_fork_in_child() -> None:
    _sampler.clear()  # the parent's thread does not run here; the child starts its own with its first unit


if hasattr(__import__("os"), "register_at_fork"):
    __import__("os").register_at_fork(after_in_child=_after_fork_in_child)
