"""One aggregation window of a client: per endpoint, merged stack counts and the stats of every request.

Filled by the sampling thread (``add``: the units that ended since its last wake-up) and turned into one
``kind="aggregate"`` record per endpoint by the background thread at the window's end. Memory is bounded:
at most ``MAX_ENDPOINTS`` endpoints per window and ``MAX_STACKS`` distinct stacks per endpoint; what is
beyond is counted (``dropped_units``, and the ``[other]`` stack).
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from ..histogram_bins import bin_of
from ..record import Record, RequestStats
from ..unit import Unit
from .frames import OTHER, Stack
from .tree import tree_of

MAX_ENDPOINTS = 1000
MAX_STACKS = 5000
_OTHER_STACK: Stack = (OTHER,)


class EndpointWindow:
    __slots__ = ("stacks", "samples", "count", "errors", "statuses", "bins", "cpu_ms", "cpu_units", "max_ms", "method",
                 "framework", "dropped_stacks")

    def __init__(self, method: str | None, framework: str) -> None:
        self.stacks: dict[Stack, int] = {}
        self.samples = 0
        self.count = 0
        self.errors = 0
        self.statuses: dict[str, int] = {}
        self.bins: dict[int, int] = {}
        self.cpu_ms = 0.0  # of the units whose CPU was measured (cpu_units of count: Client's CONTINUOUS_CPU_SHARE)
        self.cpu_units = 0
        self.max_ms = 0.0
        self.method = method
        self.framework = framework
        self.dropped_stacks = 0


class Window:
    def __init__(self, started_at: float, t0: float) -> None:
        self.started_at = started_at  # epoch seconds
        self.t0 = t0  # monotonic seconds
        self.endpoints: dict[str, EndpointWindow] = {}
        self.dropped_units = 0

    def add(self, unit: Unit) -> None:
        endpoints = self.endpoints
        ep = endpoints.get(unit.name)
        if ep is None:
            if len(endpoints) >= MAX_ENDPOINTS:
                self.dropped_units += 1
                return
            ep = endpoints[unit.name] = EndpointWindow(unit.method, unit.framework)
        ep.count += 1
        status = unit.status_code
        if unit.error is not None or (status or 0) >= 500:
            ep.errors += 1
        if status is not None:
            key = str(status)
            ep.statuses[key] = ep.statuses.get(key, 0) + 1
        duration = unit.duration_ms
        b = bin_of(duration)
        ep.bins[b] = ep.bins.get(b, 0) + 1
        if unit.cpu0 >= 0.0:
            ep.cpu_units += 1
            ep.cpu_ms += unit.cpu_ms
        if duration > ep.max_ms:
            ep.max_ms = duration
        samples = unit.cont
        if samples:
            stacks = ep.stacks
            ep.samples += len(samples)
            for stack in samples:
                n = stacks.get(stack)
                if n is not None:
                    stacks[stack] = n + 1
                elif len(stacks) < MAX_STACKS:
                    stacks[stack] = 1
                else:
                    ep.dropped_stacks += 1
                    stacks[_OTHER_STACK] = stacks.get(_OTHER_STACK, 0) + 1

    def records(self, config: Any, app_of: Any, interval_ms: float, ended_at: float) -> list[Record]:
        """One aggregate record per endpoint (``app_of(framework)`` -> AppInfo)."""
        started = dt.datetime.fromtimestamp(self.started_at, dt.timezone.utc)
        duration_ms = round(max(0.0, ended_at - self.t0) * 1000.0, 3)
        out = []
        for name, ep in self.endpoints.items():
            cpu_ms = round(ep.cpu_ms * ep.count / ep.cpu_units, 3) if ep.cpu_units else 0.0  # estimated for all requests
            tree, pruned = tree_of(ep.stacks, interval_ms, config.max_tree_nodes) if ep.stacks else (None, False)
            tags = dict(config.tags)
            tags["profiler"] = "continuous"
            if ep.dropped_stacks:
                tags["pystrument.dropped_stacks"] = str(ep.dropped_stacks)
            if self.dropped_units:
                tags["pystrument.dropped_units"] = str(self.dropped_units)
            out.append(Record(
                record_id=uuid.uuid4().hex, project_key=config.project_key, kind="aggregate", name=name,
                method=ep.method, started_at=started, duration_ms=duration_ms, cpu_ms=cpu_ms,
                sample_rate=1.0, app=app_of(ep.framework), tags=tags, call_tree=tree,
                truncated=pruned or ep.dropped_stacks > 0, sample_count=ep.samples, interval_ms=interval_ms,
                requests=RequestStats(count=ep.count, errors=ep.errors, statuses=ep.statuses, duration_bins=ep.bins,
                                      cpu_ms=cpu_ms, max_ms=round(ep.max_ms, 3)),
            ))
        return out
