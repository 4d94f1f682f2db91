"""A timeline for event loops whose queue of ready handles cannot be stamped (uvloop), on Python 3.12+.

looptimeline.py stamps each task step where asyncio's own loop takes it from ``loop._ready``; uvloop's loop is
compiled and has no such queue, so without stamps a sample went to the task running when the sampling thread got
the GIL, and the loop's thread mostly hands it over while it polls between steps (no task runs) or 5 ms into a
long step: requests shorter than that got almost no samples (tests/test_continuous_uvicorn.py).

Every step of a request's task runs through the adapter's own coroutine (the frame an async unit entered at,
``unit.cont_entry``): the step resumes it on the way in and it yields on the way out. ``sys.monitoring`` (3.12+)
reports exactly that for chosen code objects (local events ``PY_RESUME`` and ``PY_YIELD``, nothing for any other
code): at a resume the loop's thread runs the unit of the task's context (``task_unit``), at a yield no unit. The
stamps go to the same ``Timeline`` the sampling thread reads for asyncio's loop (``_charge_timeline``); the
collector stamps an async unit's start and end as there. Per step: two calls of a small Python function.

The tool id is one that no standard tool claims (3 or 4: 0 is the debugger's, 1 coverage's, 2 the profilers',
5 the optimizer's); when both are taken there is no timeline, as before. When the sampling thread has stopped,
the next stamp of a thread removes its timeline, and the next async unit there installs a new one.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from types import CodeType, FrameType
from typing import TYPE_CHECKING, Any

from .looptimeline import Timeline

if TYPE_CHECKING:
    from .sampler import SamplerThread

_monitoring: Any = getattr(sys, "monitoring", None)  # 3.12+
AVAILABLE = _monitoring is not None
FREE_TOOL_IDS = (3, 4)

_tool: list[int] = []  # the tool id, once claimed
_codes: set[CodeType] = set()  # the code objects watched
# thread ident -> (its loop's timeline, the sampling thread that reads it): the threads whose loop this module stamps
_stamped: dict[int, tuple[Timeline, SamplerThread]] = {}
_task_unit: Any = None  # the ContextVar of the unit a context runs (sampler.task_unit), bound at the first install
_now = time.perf_counter
_get_ident = threading.get_ident


# The callbacks run inside the host's coroutines: they only append, and ``_forget`` only removes what is there.
def _resumed(code: CodeType, offset: int) -> None:
    stamped = _stamped.get(_get_ident())
    if stamped is not None:
        stamped[0].entries.append((_now(), _task_unit.get()))
        if stamped[1]._thread is None:
            _forget(_get_ident())


def _yielded(code: CodeType, offset: int, value: object) -> None:
    stamped = _stamped.get(_get_ident())
    if stamped is not None:
        stamped[0].entries.append((_now(), None))


def _forget(ident: int) -> None:
    """The sampling thread has stopped: nothing reads this thread's timeline any more."""
    stamped = _stamped.pop(ident, None)
    if stamped is None:
        return
    timeline, sampler = stamped
    if sampler.timelines.get(ident) is timeline:
        sampler.timelines.pop(ident, None)
    if sampler.loops.get(ident) is timeline.loop:
        sampler.loops.pop(ident, None)


def _claim_tool() -> int | None:
    if _tool:
        return _tool[0]
    monitoring = _monitoring
    for tool in FREE_TOOL_IDS:
        if monitoring.get_tool(tool) is None:
            monitoring.use_tool_id(tool, "pystrument")
            monitoring.register_callback(tool, monitoring.events.PY_RESUME, _resumed)
            monitoring.register_callback(tool, monitoring.events.PY_YIELD, _yielded)
            _tool.append(tool)
            return tool
    return None


def install(loop: Any, sampler: SamplerThread, ident: int, task_unit: Any, entry: FrameType | None) -> Timeline | None:
    """A timeline for ``loop`` (running on this thread) stamped through ``sys.monitoring``, watching the code of
    ``entry`` (the async unit's entry frame); None where this cannot be done."""
    global _task_unit
    if not AVAILABLE or entry is None or _claim_tool() is None:
        return None
    _task_unit = task_unit
    timeline = Timeline(loop, None, None)  # (no ready queue or _run_once of the loop's to give back)
    _stamped[ident] = (timeline, sampler)
    watch(entry)
    return timeline


def watch(entry: FrameType | None) -> None:
    """Report the steps through ``entry``'s code (an async unit's entry frame) from now on."""
    if entry is None or not _tool:
        return
    code = entry.f_code
    if code not in _codes:
        _codes.add(code)
        events = _monitoring.events
        _monitoring.set_local_events(_tool[0], code, events.PY_RESUME | events.PY_YIELD)


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_stamped.clear)  # the parent's loops do not run in the child
