"""What an event loop's thread ran when: a timeline per loop, so that a sample is charged to the task
step that ran at the sample's target time, not to the one running when the sampling thread got the GIL.

A task step carries no timestamp of its own, and the C accelerator's Task cannot be hooked. The loop's
queue of ready handles can: every task step (and every other callback) is a handle that
``BaseEventLoop._run_once`` takes from ``loop._ready`` with ``popleft()`` just before running it. The
timeline replaces that deque by a subclass whose ``popleft`` appends ``(perf_counter(), unit)`` to the
loop's timeline, the unit being the one the handle's context runs (``task_unit``, set by the collector
when an async unit starts in a task: child tasks and callbacks scheduled by the request inherit it; a
handle run after its unit has ended is stamped as no unit), and
wraps the loop's ``_run_once`` to append ``(perf_counter(), None)`` when the round of handles ends (the
loop then polls for I/O: no unit runs). The collector appends a stamp when an async unit starts or ends
within a step. Per task step: one perf_counter, one context lookup and one deque append, between the
handles (no frame of ours runs during a step, no profile hook, the host's task factory is untouched).

The sampling thread consumes the timeline at each wake-up (``SamplerThread.sample``). Loops that are
not a ``BaseEventLoop`` with a plain ``_ready`` deque (uvloop) get no timeline: their samples are charged
to the task running at the wake-up, as before. The timeline is removed from the loop at the end of the
first round after the sampling thread has stopped (every continuous client closed, or the SDK shut down).

Swapping ``loop._ready`` is safe on the loop's own thread between handles; a thread calling
``call_soon_threadsafe`` reads ``loop._ready`` and appends to it with no eval-breaker check in between
(so no GIL switch), and whatever an old deque would still hold is moved over at the end of the round.
"""

from __future__ import annotations

import time
from collections import deque
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..unit import Unit
    from .sampler import SamplerThread

MAX_ENTRIES = 65_536  # per loop: ~0.5 s of 0.01 ms steps between two wake-ups; older entries drop
_now = time.perf_counter
_popleft = deque.popleft


class Timeline:
    """``entries``: (perf_counter, unit or None) — from that time on, the loop's thread runs that unit
    (None: no unit). Appended by the loop's thread, consumed from the left by the sampling thread, which
    keeps in ``unit`` what ran before the oldest entry left."""

    __slots__ = ("entries", "unit", "loop", "old_ready", "run_once", "owed")

    def __init__(self, loop: Any, old_ready: deque[Any] | None, run_once: Any) -> None:
        self.entries: deque[tuple[float, Unit | None]] = deque(maxlen=MAX_ENTRIES)
        self.unit: Unit | None = None
        self.loop = loop
        self.old_ready = old_ready
        self.run_once = run_once  # the loop's own _run_once (None: stamped at its steps, steptimeline.py)
        self.owed: dict[str, int] = {}  # endpoint -> [stack not seen] samples a seen stack took the place of

    def running(self) -> Unit | None:
        """The unit the loop's thread runs now (as far as stamped)."""
        entries = self.entries
        try:
            return entries[-1][1]
        except IndexError:
            return self.unit


class _ReadyQueue(deque):  # type: ignore[type-arg]
    """``loop._ready``: stamps the unit of each handle taken to run."""

    __slots__ = ("append_entry", "task_unit")
    append_entry: Any  # the loop's Timeline.entries.append
    task_unit: Any  # the ContextVar of the unit a context runs (sampler.task_unit)

    def popleft(self) -> Any:
        handle = _popleft(self)
        unit = handle._context.get(self.task_unit)
        if unit is not None and unit.duration_ms:  # a callback scheduled while a unit ran, run after it ended
            unit = None
        self.append_entry((_now(), unit))
        return handle


def install(loop: Any, sampler: SamplerThread, ident: int, task_unit: Any) -> Timeline | None:
    """Give ``loop`` (running on this thread, between or inside a handle) a timeline; None for a loop
    this does not know how to stamp."""
    ready = getattr(loop, "_ready", None)
    run_once: Any = getattr(loop, "_run_once", None)
    # the loop's own method, not one set on the instance by someone else; asked without reading
    # ``loop.__dict__``: that would make the instance's attributes a real dict, and every ``self.`` of the
    # loop's code a generic look-up from then on (measured: +4k instructions per round of the loop)
    own = getattr(run_once, "__self__", None) is loop and getattr(run_once, "__func__", None) is getattr(type(loop), "_run_once", None)
    if type(ready) is not deque or not own:  # (not own when there is no _run_once)
        return None
    timeline = Timeline(loop, ready, run_once)
    queue = _ReadyQueue(ready)
    ready.clear()  # from now on only a thread that read ``loop._ready`` before the swap appends to it
    queue.append_entry = timeline.entries.append
    queue.task_unit = task_unit
    append_entry = timeline.entries.append

    def _run_once() -> None:
        run_once()
        append_entry((_now(), None))
        old = timeline.old_ready
        if old:  # appended to by another thread while the deque was swapped
            ready_now = loop._ready
            while old:
                ready_now.append(old.popleft())
        if sampler._thread is None:  # the sampling thread has stopped: nothing reads the timeline
            uninstall(timeline, sampler, ident)

    loop._ready = queue
    loop._run_once = _run_once
    return timeline


def uninstall(timeline: Timeline, sampler: SamplerThread, ident: int) -> None:
    """Give the loop its plain deque and its own ``_run_once`` back (on the loop's thread)."""
    loop = timeline.loop
    queue = loop._ready
    plain: deque[Any] = deque()
    loop._ready = plain
    plain.extend(queue)
    queue.clear()
    try:
        del loop._run_once  # the class's own again (not through loop.__dict__: see install)
    except AttributeError:
        pass
    timeline.entries.clear()
    if sampler.timelines.get(ident) is timeline:
        del sampler.timelines[ident]
    if sampler.loops.get(ident) is loop:
        del sampler.loops[ident]
