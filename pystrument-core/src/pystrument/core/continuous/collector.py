"""The continuous collector of one client: marks where each unit runs, and owns the client's window.

On the request path (the unit's own thread) it costs a few dict writes: ``enter`` registers the unit
under its thread (sync units) or its asyncio task (async units), ``leave`` restores what ran there
before, ``ended`` appends the finished unit to a deque. The sampling thread files samples on the units
and merges ended ones into the window (``drain``); the background thread ships the window's aggregates
(``roll``) every ``continuous_flush_interval``, and at flush and exit.
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from types import BuiltinFunctionType, FrameType
from typing import Any

from ..failsafe import report
from ..unit import Unit
from . import steptimeline
from .looptimeline import install
from .sampler import bind_asyncio, sampler_thread, task_unit
from .window import Window

get_ident = threading.get_ident


def _get_running_loop() -> Any:
    """asyncio's ``_get_running_loop``, bound (with ``current_task``) at the first async unit: the module is
    imported by the host that runs async units, not by us (``sampler.bind_asyncio``)."""
    global _get_running_loop, _current_task
    asyncio = bind_asyncio()
    _get_running_loop, _current_task = asyncio._get_running_loop, asyncio.current_task
    if not isinstance(_current_task, BuiltinFunctionType):  # 3.10, 3.11: a Python function over this dict
        table = getattr(asyncio.tasks, "_current_tasks", None)
        if isinstance(table, dict):
            _current_task = table.get
    return _get_running_loop()


RECENT_UNITS = 256  # ended units kept per thread, to charge late samples (up to a few 100 ms late) to the unit that ran at their target
_current_task: Any = None  # asyncio.current_task, bound by _get_running_loop
_now = time.perf_counter


class ContinuousCollector:
    name = "continuous"

    def __init__(self, config: Any) -> None:
        self.config = config
        self.flush_interval: float = config.continuous_flush_interval
        self.sampler = sampler_thread(config.continuous_interval_ms / 1000.0)
        self.sampler.collectors.add(self)
        self.max_samples: int = config.max_samples_per_unit
        self._ended: deque[Unit] = deque()
        self.window = Window(time.time(), time.monotonic())
        self._window_lock = threading.Lock()

    @property
    def interval(self) -> float:
        """The mean sampling interval in effect (seconds): the finest any client of the process asked for."""
        return self.sampler.interval

    # -- the unit's own thread ---------------------------------------------------------------
    def start(self, unit: Unit, entry_frame: FrameType | None, include_entry: bool = False) -> None:
        unit.cont = []
        unit.cont_entry = entry_frame.f_back if (include_entry and entry_frame is not None) else entry_frame
        self.enter(unit)
        sampler = self.sampler
        if sampler._thread is None:
            sampler.ensure_running()

    def enter(self, unit: Unit) -> None:
        """The unit's code runs (again) here until ``leave``."""
        try:
            if unit.cont_key is not None:
                return
            sampler = self.sampler
            if unit.is_async:
                loop = _get_running_loop()
                task = _current_task(loop) if loop is not None else None
                if task is not None:
                    tasks = sampler.tasks
                    unit.cont_parent = tasks.get(task)
                    tasks[task] = unit
                    ident = get_ident()
                    if sampler.loops.get(ident) is not loop:  # a thread runs one loop at a time, maybe a new one
                        sampler.loops[ident] = loop
                        timeline = install(loop, sampler, ident, task_unit)
                        if timeline is None:  # a loop with no ready queue to stamp (uvloop): its steps, on 3.12+
                            timeline = steptimeline.install(loop, sampler, ident, task_unit, unit.cont_entry)
                        if timeline is None:
                            sampler.timelines.pop(ident, None)
                        else:
                            sampler.timelines[ident] = timeline
                    unit.cont_key = (task, task_unit.set(unit))
                    timeline = sampler.timelines.get(ident)
                    if timeline is not None:  # the loop's thread runs this unit from now on (looptimeline.py)
                        timeline.entries.append((_now(), unit))
                        if timeline.run_once is None:  # stamped at its entry code's steps (steptimeline.py)
                            steptimeline.watch(unit.cont_entry)
                    return
            ident = get_ident()
            threads = sampler.threads
            unit.cont_parent = threads.get(ident)
            threads[ident] = unit
            unit.cont_key = ident
            if ident not in sampler.recent:
                sampler.recent[ident] = deque(maxlen=RECENT_UNITS)
        except Exception as exc:  # failsafe: adapters call this directly (Client.resumers)
            report("continuous enter", exc)

    def leave(self, unit: Unit) -> None:
        """The unit's code stops running here: what ran here before it is current again."""
        try:
            key = unit.cont_key
            if key is None:
                return
            unit.cont_key = None
            parent = unit.cont_parent
            if parent is not None and parent.duration_ms:
                parent = None
            if type(key) is int:
                table: dict[Any, Unit] = self.sampler.threads
            else:
                key, token = key
                table = self.sampler.tasks
                try:
                    task_unit.reset(token)
                except ValueError:  # left in another context than it was entered in
                    pass
                timeline = self.sampler.timelines.get(get_ident())
                if timeline is not None:  # what the loop's thread runs from now on
                    running = task_unit.get()
                    timeline.entries.append((_now(), parent if running is unit else running))
            if table.get(key) is unit:
                if parent is None:
                    table.pop(key, None)
                else:
                    table[key] = parent
        except Exception as exc:  # failsafe: adapters call this directly (Client.resumers)
            report("continuous leave", exc)

    stop = leave  # the unit has ended: what ran here before it is current again

    def ended(self, unit: Unit) -> None:
        """The unit has ended (its duration, status and error are set): merged into the window soon."""
        # its entry frame would pin the frames and locals of the whole request (the environ, the server's
        # frames above it) for as long as the unit is kept: every request's objects would reach the GC's
        # oldest generation and make its full collections frequent (measured: tens of us per request)
        unit.cont_entry = None
        self._ended.append(unit)
        if not unit.is_async:
            ring = self.sampler.recent.get(get_ident())
            if ring is not None:
                ring.append(unit)

    # -- the sampling thread and the background thread ---------------------------------------
    def drain(self, charged_until: float = math.inf) -> None:
        """Merge the ended units into the window, those that ended by ``charged_until`` (perf_counter) only:
        the sampling thread charges a sample by its target time, often milliseconds later (when it gets the
        GIL), so a unit that ended after its last wake-up may still be owed samples, and a sample filed on a
        unit already merged is lost (measured: 9-17% of the samples of 0.5-1 ms units, drained by the
        background thread's roll between two wake-ups). The units queue in the order they ended, near enough:
        the first one too recent stops the merge, and it and those behind it wait for the next one."""
        ended = self._ended
        if not ended:
            return
        with self._window_lock:
            add = self.window.add
            while ended:
                try:
                    unit = ended[0]
                except IndexError:
                    return
                if unit.t0 + unit.duration_ms / 1000.0 > charged_until:
                    return
                ended.popleft()  # only this lock's holder takes from the left
                add(unit)

    def roll(self, force: bool = False) -> tuple[Window | None, float]:
        """Ends the window if it is due (or ``force``): returns (the ended window or None, its end time
        (monotonic) or the seconds until it is due)."""
        sampler = self.sampler
        # the units the sampling thread may still charge wait for the window after (all of them when forced,
        # or when the thread does not run: nothing would charge them)
        self.drain(math.inf if force or sampler._thread is None else sampler.charged_until)
        now = time.monotonic()
        with self._window_lock:
            window = self.window
            due = window.t0 + self.flush_interval
            if not force and now < due:
                return None, due - now
            self.window = Window(time.time(), now)
        return window, now

    def close(self) -> None:
        self.sampler.collectors.discard(self)

    def after_fork(self) -> None:
        self.sampler = sampler_thread(self.interval)
        self.sampler.collectors.add(self)
        self._ended = deque()
        self.window = Window(time.time(), time.monotonic())
        self._window_lock = threading.Lock()
