"""A unit of work being measured: a request, a function call, a task or a block.

The request thread only fills in a ``Unit`` and hands it to the dispatcher; building the call tree,
enrichment and encoding happen in the background thread (``builder.py``).
"""

from __future__ import annotations

import contextvars
import time
import uuid
from itertools import compress, count
from operator import ne
from types import MappingProxyType
from typing import Any

from .record import ErrorInfo, Kind

# A unit profiled by continuous mode only files no detailed samples or cuts: it shares these
# (immutable: a write by mistake raises).
_NO_SAMPLES: tuple[Any, ...] = ()
_NO_CUTS: Any = MappingProxyType({})


class Unit:
    __slots__ = (
        "kind", "name", "method", "path", "status_code", "tags", "error", "_record_id",
        "started_at", "t0", "cpu0", "duration_ms", "cpu_ms", "sample_rate", "samples",
        "cuts", "parent", "is_async", "dropped_samples", "framework", "token", "collector_state",
        "spans",
        "detailed", "cont", "cont_entry", "cont_parent", "cont_key",
    )

    # positional too: the client makes one per request, and calling a class with keywords builds a dict of them
    # and unpacks it again (measured: 10.0k -> 6.1k instructions per unit)
    def __init__(self, kind: Kind, name: str, sample_rate: float = 1.0, method: str | None = None,
                 path: str | None = None, tags: dict[str, str] | None = None, is_async: bool = False,
                 framework: str = "", detailed: bool = True, cpu: bool = True) -> None:
        self.kind: Kind = kind
        self.name = name
        self.method = method
        self.path = path
        self.status_code: int | None = None
        self.tags: dict[str, str] = tags if tags is not None else {}
        self.error: ErrorInfo | None = None
        # made when first read (building the record, in the background thread): uuid4 reads os.urandom,
        # which releases the GIL, and a GIL release at every unit's start would skew continuous samples
        self._record_id = ""
        self.started_at = time.time()
        self.t0 = time.perf_counter()
        # the thread's CPU clock (-1.0: not read for this unit, ``cpu=False``). Reading it is a system call made
        # holding the GIL (no vDSO for thread clocks): on a server of several threads on one core, two per request
        # measured 7-9% of Flask/waitress throughput (docs/continuous.md): continuous mode reads it for a share.
        self.cpu0 = time.thread_time() if cpu else -1.0
        self.duration_ms = 0.0
        self.cpu_ms = 0.0
        self.sample_rate = sample_rate
        # (call_stack, seconds, differs_at) filed by the collector through add_sample(): call stacks root
        # to leaf as pyinstrument frame infos; differs_at as add_sample() says.
        self.samples: list[tuple[list[str], float, int]] = [] if detailed else _NO_SAMPLES  # type: ignore[assignment]
        # thread marker (call_stack[0]) -> (index of the unit's first frame, entry frame identifier,
        # index of the entry frame, whether the thread was followed from the unit's own thread):
        # where the unit's own frames start in that thread's stacks.
        self.cuts: dict[str, tuple[int, str, int, bool]] = {} if detailed else _NO_CUTS
        self.parent: Unit | None = None
        self.is_async = is_async
        self.dropped_samples = 0
        self.framework = framework
        self.token: Any = None
        self.collector_state: Any = None
        # the spans filed on the request thread (spans/capture.py), bounded: a SpanLog (spans/log.py) when the
        # client captures spans and the unit is profiled in detail, else None; made into Span structs by the builder
        self.spans: Any = None
        # continuous mode (core/continuous): whether the detailed collector samples this unit too (if
        # not, it shares the immutable empty samples, cuts and spans above: continuous mode makes a unit
        # per request, and every container it keeps until the sampler merges it feeds the GC); the
        # unit's own continuous samples (stacks, leaf first); where its frames start; the unit it runs
        # inside; where it is registered for attribution (thread ident or asyncio task).
        self.detailed = detailed
        self.cont: list[tuple[Any, ...]] | None = None
        self.cont_entry: Any = None
        self.cont_parent: Unit | None = None
        self.cont_key: Any = None

    @property
    def record_id(self) -> str:
        if not self._record_id:
            self._record_id = uuid.uuid4().hex
        return self._record_id

    @record_id.setter
    def record_id(self, value: str) -> None:
        self._record_id = value

    def add_sample(self, call_stack: list[str], weight: float) -> None:
        """File a sample, with the index of its first frame that differs from the previous sample's.

        ``differs_at`` is -1 for the same stack as the previous sample's, else the first index where the two
        differ (the shorter length when one is the other's prefix). Comparing here, where the frame strings
        were just built and are still in the CPU's cache, costs a fraction of a microsecond per sample;
        the background thread then walks only the frames that changed and never touches the others.
        """
        samples = self.samples
        if samples:
            prev = samples[-1][0]
            differs_at = next(compress(count(), map(ne, call_stack, prev)), -1)
            if differs_at < 0 and len(call_stack) != len(prev):
                differs_at = min(len(call_stack), len(prev))
        else:
            differs_at = 0
        samples.append((call_stack, weight, differs_at))

    def finish(self) -> None:
        self.duration_ms = (time.perf_counter() - self.t0) * 1000.0
        if self.cpu0 >= 0.0:
            self.cpu_ms = (time.thread_time() - self.cpu0) * 1000.0

    def set_error(self, exc: BaseException) -> None:
        self.error = ErrorInfo(type=type(exc).__qualname__, message=str(exc)[:500])


# The unit running in this context (thread or task), for the collectors, the spans and the adapters. Here,
# not beside a collector: an adapter's plugin module reads it without importing a profiler (pyinstrument
# imports subprocess and webbrowser), which ``pystrument-run`` would load into every process it starts.
current_unit: contextvars.ContextVar[Unit | None] = contextvars.ContextVar("pystrument_unit", default=None)
