"""The default collector: one subscriber per thread on pyinstrument's own stack sampler.

Why not one ``pyinstrument.Profiler`` per unit: with concurrent asyncio tasks in one thread a
per-unit profiler files samples taken while its task is switched out as its own (docs/architecture.md, "Profiling").
Here each thread has a single subscriber; at every sample it reads a ``ContextVar`` naming the unit
whose code is running and files the stack under that unit (and the units enclosing it). Samples
taken while no unit runs are discarded.

The sampling clock keeps running across consecutive fast units of a thread: after a unit that got no
sample of its own the subscription stays on, and is released by the thread's next unsampled unit, by
the next unit that does get a sample, or by the sampler itself after a few samples with no unit running. A unit shorter than the interval is then sampled with a probability
in proportion to its duration instead of never (each sample weighs at most ``max(interval, elapsed)``),
so fast endpoints do not vanish from merged flame graphs.
"""

from __future__ import annotations

import functools
import sys
import threading
import time
from collections.abc import Callable
from types import FrameType
from typing import Any, TypeVar

from pyinstrument.low_level.stat_profile import get_frame_info
from pyinstrument.stack_sampler import get_stack_sampler

from ..unit import Unit, current_unit
from .lean_hook import lean

T = TypeVar("T")

__all__ = ["StackSamplerCollector", "current_unit"]

# Samples in a row with no unit running after which a thread's subscription is released.
IDLE_SAMPLES = 3


def _thread_marker() -> str:
    thread = threading.current_thread()
    # the same marker pyinstrument's build_call_stack puts at the root of every stack
    return f"{thread.name}\x00<thread>\x00{thread.ident or 0}"


def _identifier(frame_info: str) -> str:
    return frame_info.partition("\x01")[0]


class _ThreadState:
    __slots__ = ("subscribed", "active", "idle", "target", "keepalive")

    def __init__(self) -> None:
        self.subscribed = False
        self.active = 0
        self.idle = 0
        self.target: Callable[..., None] | None = None
        # pyinstrument's C hook object, kept alive after the hook was switched off from inside itself
        self.keepalive: object = None


class StackSamplerCollector:
    name = "pyinstrument"

    def __init__(self, config: Any) -> None:
        self.interval: float = config.profiler_interval
        self.max_samples: int = config.max_samples_per_unit
        self._local = threading.local()
        self._subscribed_threads = 0
        # re-entrant: the hook can fire while this thread holds it, and the hook may switch itself off
        self._count_lock = threading.RLock()
        self._closed = False  # at shutdown: no thread subscribes again, each drops its hook at its next sample

    # -- per thread subscription -------------------------------------------------------------
    def _state(self) -> _ThreadState:
        try:
            return self._local.state  # type: ignore[no-any-return]
        except AttributeError:
            state = _ThreadState()
            state.target = self._make_target(state)
            self._local.state = state
            return state

    def _subscribe(self, state: _ThreadState) -> None:
        if not state.subscribed and not self._closed:
            state.keepalive = sys.getprofile()  # subscribing replaces the hook object: see _unsubscribe
            sampler = get_stack_sampler()
            lean(sampler)  # the hook without pyinstrument's async-context ContextVar (lean_hook.py)
            sampler.subscribe(state.target, desired_interval=self.interval, use_async_context=False)  # type: ignore[arg-type]
            state.subscribed = True
            with self._count_lock:
                self._subscribed_threads += 1
        state.idle = 0

    def _unsubscribe(self, state: _ThreadState) -> None:
        """Switch this thread's hook off; safe from inside the hook itself (the idle and shutdown paths of
        ``target``, a signal handler run between its bytecodes). pyinstrument's C hook holds no reference
        to its state object while it calls us and may use it after we return (its context-change path
        does); switching the hook off or replacing it frees that object under the running hook. So a
        strong reference to it (``sys.getprofile()`` returns it) is kept until this thread's next switch.
        ``subscribed`` is cleared first, before any call: a call fires the hook, whose idle path may come back
        here (a test saw ``SubscriberNotFound`` from the second unsubscribe, 1 run in 8)."""
        if state.subscribed:
            state.subscribed = False
            state.keepalive = sys.getprofile()
            get_stack_sampler().unsubscribe(state.target)  # type: ignore[arg-type]
            with self._count_lock:
                self._subscribed_threads -= 1

    def request_interval(self, interval: float) -> None:
        """Another client of this process asks for ``interval``: sample at the finest interval asked for
        (a thread takes it up when it next subscribes: at its next sampled unit once its hook was released)."""
        if interval < self.interval:
            self.interval = interval

    def hooks_on(self) -> bool:
        """Whether any thread still has this collector's hook on (a cheap check for the unsampled path)."""
        return self._subscribed_threads > 0

    def release_thread(self) -> None:
        """Switch the profiler hook off in this thread if no unit runs here (the unsampled path)."""
        state = getattr(self._local, "state", None)
        if state is not None and state.subscribed and state.active == 0:
            self._unsubscribe(state)

    def _make_target(self, state: _ThreadState) -> Callable[[list[str], float, Any], None]:
        get_current = current_unit.get
        perf_counter = time.perf_counter
        max_samples = self.max_samples
        collector = self

        def target(call_stack: list[str], time_since_last_sample: float, async_state: Any) -> None:
            if collector._closed:
                self._unsubscribe(state)
                return
            unit = get_current()
            if unit is None:
                if state.active == 0:
                    state.idle += 1
                    if state.idle >= IDLE_SAMPLES:
                        self._unsubscribe(state)
                return
            now = perf_counter()
            interval = collector.interval
            while unit is not None:
                if unit.duration_ms:  # finished in another context (e.g. a child task sent the last chunk)
                    unit = unit.parent
                    continue
                elapsed = now - unit.t0
                cap = elapsed if elapsed > interval else interval
                weight = time_since_last_sample if time_since_last_sample < cap else cap
                if len(unit.samples) < max_samples:
                    unit.add_sample(call_stack, weight)
                else:
                    unit.dropped_samples += 1
                unit = unit.parent

        return target

    # -- units ------------------------------------------------------------------------------
    # A unit's code runs here between ``start``/``enter`` and ``leave``/``stop``: only then is it the
    # context's ``current_unit`` and counted in its thread's ``active``. A unit can be left while it has
    # not ended (a WSGI body not yet iterated) and entered again around each piece of its code.
    def start(self, unit: Unit, entry_frame: FrameType | None, include_entry: bool = False) -> None:
        if entry_frame is not None:
            self._mark_entry(unit, entry_frame, include_entry)
        unit.parent = current_unit.get()
        self.enter(unit)

    def enter(self, unit: Unit) -> None:
        """The unit's code runs (again) here, in this thread and context, until ``leave(unit)``."""
        if unit.collector_state is not None:  # already running here
            return
        state = self._state()
        state.active += 1
        unit.collector_state = state
        self._subscribe(state)
        unit.token = current_unit.set(unit)  # last: samples taken before this are not the unit's

    def leave(self, unit: Unit) -> None:
        """The unit's code stops running here (the unit has not necessarily ended): the context's
        current unit goes back to what it was, and nothing run here afterwards is filed under the unit."""
        state: _ThreadState | None = unit.collector_state
        if state is None:  # not running: never entered, or left already
            return
        unit.collector_state = None
        try:
            current_unit.reset(unit.token)
        except ValueError:  # left in another context than it was entered in: leave other units alone
            if current_unit.get() is unit:
                current_unit.set(unit.parent)
        unit.token = None
        if state.active > 0:
            state.active -= 1
        here: _ThreadState | None = getattr(self._local, "state", None)
        if state.active == 0 and unit.samples and state is here:
            # The unit was long enough to be sampled on its own: where the clock stands no longer matters,
            # and the hook must not slow the thread's code between units (a server's own loop). Units
            # shorter than the clock's remainder keep it running, so fast units are sampled in proportion.
            # Only the thread's own hook is switched off: a unit left from another thread leaves that
            # thread's hook to its idle count.
            self._unsubscribe(state)

    def stop(self, unit: Unit) -> None:
        """The unit has ended: left if its code was still running here."""
        self.leave(unit)

    def close(self) -> None:
        self.release_thread()

    def calibrate(self, rounds: int = 3, calls: int = 5_000) -> float:
        """The share of a call-heavy thread's CPU time that the hook and its samples take: the same
        workload (small Python calls, as web frameworks make) timed with and without a subscription filing
        samples under a throwaway unit, here, in the calling thread; the median of ``rounds``."""
        def leaf(i: int) -> int:
            return i + 1

        def work() -> float:
            t = time.thread_time()
            total = 0
            for i in range(calls):
                total += leaf(i)
            return time.thread_time() - t

        shares = []
        for _ in range(rounds):
            bare = work()
            unit = Unit("function", "[calibration]")
            self.start(unit, None)
            try:
                hooked = work()
            finally:
                self.stop(unit)
                self.release_thread()
            shares.append(max(0.0, (hooked - bare) / hooked) if hooked > 0 else 0.0)
        return sorted(shares)[len(shares) // 2]

    def shutdown(self) -> None:
        """At interpreter exit: the hook goes off in this thread now (even with a unit still running) and
        in every other thread at its next sample; no thread subscribes again."""
        self._closed = True
        state = getattr(self._local, "state", None)
        if state is not None:
            self._unsubscribe(state)

    @staticmethod
    def _mark_entry(unit: Unit, entry_frame: FrameType, include_entry: bool = False, followed: bool = False) -> None:
        depth = 0
        frame: FrameType | None = entry_frame
        while frame is not None:
            depth += 1
            frame = frame.f_back
        # call_stack[0] is the thread marker, call_stack[depth] the entry frame itself: the unit's
        # frames start below it, or at it for a block that runs inside the entry frame.
        first = depth if include_entry else depth + 1
        # a followed thread's frames go under a [thread] node: they ran beside the unit's own thread
        # (an analyser must not read a worker thread's blocking call as blocking the event loop)
        unit.cuts.setdefault(_thread_marker(), (first, _identifier(get_frame_info(entry_frame)), depth, followed))

    # -- following a unit into another thread ----------------------------------------------
    def follow(self, func: Callable[..., T]) -> Callable[..., T]:
        """Wrap ``func`` so that, run in another thread, its samples go to the unit current here."""
        unit = current_unit.get()
        if unit is None:
            return func

        @functools.wraps(func)
        def followed(*args: Any, **kwargs: Any) -> T:
            import sys

            token = current_unit.set(unit)
            state = self._state()
            self._mark_entry(unit, sys._getframe(), followed=True)
            state.active += 1
            self._subscribe(state)
            try:
                return func(*args, **kwargs)
            finally:
                state.active -= 1
                current_unit.reset(token)

        return followed
