"""pyinstrument's per-thread hook without its async-context ContextVar, where no subscriber uses it.

pyinstrument's ``StackSampler`` installs its C hook (``setstatprofile``) with ``active_profiler_context_var``
whatever its subscribers asked for; the hook then reads that ContextVar at every call and return of the
thread (a HAMT lookup), to notice an asyncio task switch for a profiler bound to an async context. Our
subscribers never are (``use_async_context=False``: the unit is read from our own ``current_unit`` at each
sample). Measured by callgrind on a trivial Flask request profiled in detail: +1,028k -> +859k instructions
over bare (docs/benchmarks.md), the same samples.

``lean(sampler)`` wraps the thread's sampler's ``_update`` (run by every ``subscribe``/``unsubscribe``, ours
and any other profiler's on the thread): after pyinstrument has done its part, the hook is installed again
without the ContextVar while no subscriber is bound to an async context, uses a timing thread or a timer
function of its own; when one is, pyinstrument's own hook (with the ContextVar) is put back. A host's own
pyinstrument ``Profiler(async_mode=...)`` on the thread therefore works as without us.
"""

from __future__ import annotations

from typing import Any

from pyinstrument.low_level.stat_profile import setstatprofile, walltime_coarse_resolution
from pyinstrument.low_level.types import TimerType

_coarse: list[float | None] = []  # walltime_coarse_resolution(), read once


def _timer_type(interval: float) -> TimerType:
    """The timer pyinstrument picks for ``interval`` without a timing thread or timer function."""
    if not _coarse:
        _coarse.append(walltime_coarse_resolution())
    coarse = _coarse[0]
    return "walltime_coarse" if coarse is not None and coarse <= interval else "walltime"


def _apply(sampler: Any, update: Any) -> None:
    interval = sampler.current_sampling_interval
    if interval is None:  # no subscriber: pyinstrument switched the hook off
        return
    if sampler.timer_func is not None or any(s.bound_to_async_context or s.use_timing_thread for s in sampler.subscribers):
        sampler.current_sampling_interval = None  # pyinstrument's own hook, ContextVar included, installed again
        update()
        return
    setstatprofile(target=sampler._sample, interval=interval, timer_type=_timer_type(interval))


def lean(sampler: Any) -> None:
    """Make ``sampler`` (pyinstrument's ``StackSampler`` of this thread) install the lean hook from now on."""
    if getattr(sampler, "_pystrument_lean", False):
        return
    update = sampler._update

    def _update() -> None:
        update()
        _apply(sampler, update)

    sampler._update = _update
    sampler._pystrument_lean = True
