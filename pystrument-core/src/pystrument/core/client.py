"""The client: one configuration, its collector, sampler, sinks and dispatcher.

``configure()`` sets the process-wide client; ``get_client()`` returns it, creating it from the
environment and config files on first use. Adapters call ``client.start(...)``/``client.finish(...)``
around each unit of work; both are failsafe and cheap on the unsampled path.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections import deque
from collections.abc import Callable
from threading import get_ident
from types import FrameType
from typing import Any

from . import lifecycle, plugins
from .builder import RecordBuilder
from .config import Config, load_config
from .dispatcher import Dispatcher
from .failsafe import report
from .record import Kind
from .sampling import Sampler
from .sinks import Sink, create_sink, sink_factories, url_scheme
from .unit import Unit

logger = logging.getLogger("pystrument")

# The share of units not profiled in detail whose CPU time is measured (unit.py says why not all): the window
# scales their sum to every request of the endpoint.
CONTINUOUS_CPU_SHARE = 1 / 16

# Open units remembered for the exit; beyond this many the oldest is forgotten (it is never ended then).
MAX_OPEN_UNITS = 10_000

_collectors: dict[str, Any] = {}
_collectors_lock = threading.Lock()


def _collector_factory(name: str) -> Any:
    factories = plugins.provided("register_collectors", [name])
    factory = factories.get(name)
    if factory is None:
        raise ValueError(f"collector {name!r} is not installed; installed: {', '.join(sorted(factories))}")
    return factory


def get_collector(config: Config) -> Any:
    """One collector per name per process (two subscribers per thread would sample every unit twice)."""
    with _collectors_lock:
        collector = _collectors.get(config.collector)
        if collector is None:
            collector = _collectors[config.collector] = _collector_factory(config.collector)(config)
        elif hasattr(collector, "request_interval"):
            # one sampler per thread serves every client: it samples at the finest interval any of them asked for
            collector.request_interval(config.profiler_interval)
        return collector


class Client:
    def __init__(self, config: Config | dict[str, Any] | None = None, **overrides: Any) -> None:
        self.config = config = load_config(config, **overrides)
        self.enabled = False
        self.sampler = Sampler(config.sampling_rate if config.enabled else 0.0, config.max_overhead_pct)
        self.exclude_paths = tuple(config.exclude_paths)
        self.dispatcher: Dispatcher | None = None
        self.min_duration_ms = config.min_duration_ms
        self.max_spans = config.max_spans_per_unit if config.capture_spans else 0
        self._span_log: Any = None  # spans.log.SpanLog, imported when spans are captured
        self.skipped_fast = 0
        self._random = random.random
        self._hooks_on: Any = lambda: False
        self._hook_share: float | None = None
        # units started and not yet ended -> the thread they started in (ended at exit if still open)
        self._open: dict[Unit, int] = {}
        # units ended by a finalizer (``finish_later``): (unit, exception), ended at the next safe point
        self._ended_later: deque[tuple[Unit, BaseException | None]] = deque()
        # called with each ended unit of detailed profiling before it is queued, on the thread that ends it (the CI
        # gate's calibration: pystrument-pytest's gate/calibration.py); an error in it is reported, the unit kept
        self.unit_ending: Callable[[Unit], None] | None = None
        # continuous mode (core/continuous): a collector of this client's own, on every unit
        self.continuous: Any = None
        self.detailed_on = config.profiling_mode != "continuous"
        self.tail_keep_ms = config.tail_keep_ms
        if not config.enabled:
            return
        try:
            self.collector = get_collector(config)
            self._hooks_on = getattr(self.collector, "hooks_on", lambda: True)
            if config.profiling_mode != "detailed":
                self.continuous = _collector_factory("continuous")(config)
            sinks = self._create_sinks(config)
            enrichers = [(item.plugin, item.value) for item in plugins.registered("register_enrichers").values()]
            self.dispatcher = Dispatcher(config, sinks, RecordBuilder(config, enrichers, self.collector, self.continuous))
            self.dispatcher.on_tick = self._tick
        except Exception as exc:
            if config.strict:
                raise
            logger.error("pystrument: monitoring is switched off: %s: %s", type(exc).__name__, exc)
            return
        self.enabled = True
        if self.max_spans:
            from . import spans
            from .spans.log import SpanLog

            self._span_log = SpanLog
            spans.install()
        lifecycle.register(self)
        if self.continuous is not None and config.async_send and self.dispatcher is not None:
            self.dispatcher.start()  # its tick ships the continuous window every continuous_flush_interval

    @staticmethod
    def _create_sinks(config: Config) -> list[Sink]:
        urls = config.sink_urls()
        factories = sink_factories({url_scheme(url) for url in urls})
        sinks: list[Sink] = []
        if not urls:
            logger.warning("pystrument: no sink configured (set api_endpoint or sinks); records are counted and dropped")
        for url in urls:
            try:
                sinks.append(create_sink(url, config, factories))
            except Exception as exc:
                if config.strict:
                    raise
                logger.error("pystrument: sink %s is skipped: %s", url, exc)
        return sinks

    # -- the request path -------------------------------------------------------------------
    def sample(self) -> bool:
        """The sampling decision: one random number. When not sampled, a profiler hook still on in this
        thread from an earlier unit (kept on so the sampling clock runs across units) is switched off."""
        if self._ended_later:
            self.end_pending()
        if self.continuous is not None:  # every unit starts; start_sampled decides on detailed profiling
            return self.enabled
        rate = self.sampler.rate
        if self.enabled and (rate >= 1.0 or (rate > 0.0 and self._random() < rate)):
            return True
        if self._hooks_on():
            self.collector.release_thread()
        return False

    def start(self, kind: Kind, name: str, *, entry_frame: FrameType | None = None, include_entry: bool = False,
              method: str | None = None, path: str | None = None, is_async: bool = False,
              framework: str = "", tags: dict[str, str] | None = None) -> Unit | None:
        """Begin a unit of work if it is sampled; returns None (and costs almost nothing) otherwise."""
        if self.continuous is None or self._ended_later or not self.enabled:  # else sample() would say True
            if not self.sample():
                return None
        # positional: every request of continuous mode comes here, and passing nine keywords again costs
        return self._begin(kind, name, entry_frame, include_entry, method, path, is_async, framework, tags)

    def start_sampled(self, kind: Kind, name: str, *, entry_frame: FrameType | None = None, include_entry: bool = False,
                      method: str | None = None, path: str | None = None, is_async: bool = False,
                      framework: str = "", tags: dict[str, str] | None = None) -> Unit | None:
        """Begin a unit the caller has already decided to sample (``sample()`` returned True)."""
        return self._begin(kind, name, entry_frame, include_entry, method, path, is_async, framework, tags)

    def _begin(self, kind: Kind, name: str, entry_frame: FrameType | None, include_entry: bool, method: str | None,
               path: str | None, is_async: bool, framework: str, tags: dict[str, str] | None) -> Unit | None:
        try:
            t = time.perf_counter()
            rate = self.sampler.rate
            continuous = self.continuous
            # the detailed decision, taken here in continuous mode (sample() let every unit start)
            detailed = continuous is None or (self.detailed_on and (rate >= 1.0 or (rate > 0.0 and self._random() < rate)))
            unit = Unit(kind, name, rate, method, path, tags, is_async, framework, detailed,
                        detailed or self._random() < CONTINUOUS_CPU_SHARE)  # positional: see Unit.__init__
            if continuous is not None:
                continuous.start(unit, entry_frame, include_entry)
                if not detailed and self.detailed_on and self._hooks_on():
                    self.collector.release_thread()
            if detailed:  # spans are captured on units profiled in detail
                if self.max_spans:
                    unit.spans = self._span_log(self.max_spans)
                self.collector.start(unit, entry_frame, include_entry)
            opened = self._open
            if len(opened) >= MAX_OPEN_UNITS:  # units nobody ends (a bug elsewhere) must not pile up
                opened.pop(next(iter(opened)), None)
            opened[unit] = get_ident()
            if unit.detailed:
                self.sampler.add_cost(time.perf_counter() - t)
            else:  # continuous mode's own cost: counted, priced by _unit_cost (sampling.py says why)
                self.sampler.fixed_units += 1
            return unit
        except Exception as exc:
            report("client.start", exc)
            return None

    def enter(self, unit: Unit) -> None:
        """The unit's code runs again here (e.g. the next chunk of a response body) until ``leave``."""
        try:
            if self.continuous is not None:
                self.continuous.enter(unit)
                if not unit.detailed:
                    return
            enter = getattr(self.collector, "enter", None)
            if enter is not None:
                enter(unit)
        except Exception as exc:
            report("client.enter", exc)

    def resumers(self, unit: Unit) -> tuple[Callable[[Unit], None], Callable[[Unit], None]]:
        """``(enter, leave)`` for ``unit``, for an adapter that resumes it often (each chunk of a body): the
        continuous collector's own pair for a unit not profiled in detail (one call less each time), else
        ``self.enter``/``self.leave``. Both are failsafe."""
        continuous = self.continuous
        if continuous is not None and not unit.detailed:
            return continuous.enter, continuous.leave
        return self.enter, self.leave

    def leave(self, unit: Unit) -> None:
        """The unit's code stops running here; the unit has not ended (``finish`` ends it): nothing the
        caller runs afterwards is sampled into it, and units started afterwards do not nest under it."""
        try:
            if self.continuous is not None:
                self.continuous.leave(unit)
                if not unit.detailed:
                    return
            leave = getattr(self.collector, "leave", None)
            if leave is not None:
                leave(unit)
        except Exception as exc:
            report("client.leave", exc)

    def finish(self, unit: Unit | None, exc: BaseException | None = None) -> None:
        """End a unit: stop sampling it and hand it to the background thread (or drop it if too fast). None (what
        ``start`` returns for a unit not sampled, or with monitoring off) is nothing to end."""
        if unit is None:
            return
        if self._ended_later:
            self.end_pending()
        self._finish(unit, exc, False)

    def finish_later(self, unit: Unit | None, exc: BaseException | None = None) -> None:
        """End a unit from a finalizer (``__del__``, a weakref callback), which may run anywhere: inside
        the profiler's hook, inside our own code holding a lock, in another thread. Touches no profiler,
        ContextVar or lock: the unit is timed and queued (``deque.append`` is atomic), and ended for real
        at the next safe point: ``start``/``sample``/``finish``/``flush`` on any thread, the dispatcher's
        tick, the exit. The unit must have been left already (its code no longer runs)."""
        if unit is None or unit.duration_ms or unit not in self._open:  # not sampled, or ended already
            return
        if self._open.get(unit) == get_ident():
            unit.finish()
        else:  # the unit's thread CPU clock cannot be read from here
            unit.duration_ms = (time.perf_counter() - unit.t0) * 1000.0
        self._ended_later.append((unit, exc))

    def end_pending(self) -> None:
        """End the units queued by ``finish_later`` (called at safe points only)."""
        pending = self._ended_later
        while pending:
            try:
                unit, exc = pending.popleft()
            except IndexError:  # another thread took the last one
                return
            self._finish(unit, exc, True)

    def _finish(self, unit: Unit, exc: BaseException | None, timed: bool) -> None:
        try:
            t = time.perf_counter() if unit.detailed else 0.0  # the detailed path's own cost (add_cost below)
            continuous = self.continuous
            if continuous is not None:
                continuous.stop(unit)
            if unit.detailed:
                self.collector.stop(unit)
            if self._open.pop(unit, None) is None:  # already ended at shutdown (or never started here)
                return
            if not timed:
                unit.finish()
            if exc is not None and unit.error is None:
                unit.set_error(exc)
            failed = unit.error is not None or (unit.status_code or 0) >= 500
            if continuous is not None:
                continuous.ended(unit)
                if not unit.detailed:  # tail keep: slow or failed units are kept from their own samples
                    if (failed or unit.duration_ms >= self.tail_keep_ms) and self.dispatcher is not None:
                        unit.tags = {**unit.tags, "profiler": "continuous"}
                        self.dispatcher.put(unit)
                    return
            if self.unit_ending is not None:
                self._unit_ending(unit)
            keep = unit.duration_ms >= self.min_duration_ms or failed
            if keep and self.dispatcher is not None:
                self.dispatcher.put(unit)
            else:
                self.skipped_fast += 1
            # the profiler's share of the unit's CPU time (calibrated once; until then assumed to be half)
            share = self._hook_share if self._hook_share is not None else 0.5
            sampler = self.sampler
            sampler.add_cost(time.perf_counter() - t + unit.cpu_ms * share / 1000.0)
            sampler.detailed_units += 1
        except Exception as err:
            report("client.finish", err)

    def _unit_ending(self, unit: Unit) -> None:
        try:
            self.unit_ending(unit)  # type: ignore[misc]
        except Exception as err:
            report("client.unit_ending", err)

    def open_units(self) -> list[Unit]:
        """The units started on the calling thread and not ended yet, outermost first."""
        here = get_ident()
        return [unit for unit, ident in list(self._open.items()) if ident == here]

    def is_excluded(self, path: str) -> bool:
        return path.startswith(self.exclude_paths) if self.exclude_paths else False

    def end_open_units(self, wait_until: float) -> None:
        """At shutdown: wait until ``wait_until`` (monotonic) for units open in other threads to end,
        then end those still open (tagged ``pystrument.ended=shutdown``) and queue them."""
        self.end_pending()
        here = get_ident()
        while any(ident != here for ident in list(self._open.values())) and time.monotonic() < wait_until:
            time.sleep(0.005)
        for unit in list(self._open):
            if self._open.pop(unit, None) is None:  # its own thread ended it meanwhile
                continue
            try:
                unit.finish()
                if not unit.detailed:  # continuous only: counted in the window, no record of its own
                    self.continuous.ended(unit)
                    continue
                unit.tags = {**unit.tags, lifecycle.ENDED_TAG: "shutdown"}
                if self.dispatcher is not None:
                    self.dispatcher.put(unit)
            except Exception as exc:
                report("ending an open unit", exc)

    def after_fork(self) -> None:
        """In a forked child: the parent's open units do not run here."""
        self._open = {}
        self._ended_later = deque()
        if self.continuous is not None:
            self.continuous.after_fork()

    # -- the background thread ----------------------------------------------------------------
    def _tick(self) -> float | None:
        """Units ended by finalizers are ended for real; then the overhead governor's step. Returns the
        seconds until it wants the next one."""
        if self._ended_later:
            self.end_pending()
        sampler = self.sampler
        next_roll = None
        if self.continuous is not None:
            window, cpu = self.continuous.window, time.thread_time()
            next_roll = self._roll_window()
            if self.continuous.window is not window:  # rolled: the continuous mode's cost (fixed), spread over its window
                sampler.add_roll_cost(time.thread_time() - cpu, time.monotonic() - window.t0)
        if not sampler.governed:
            return next_roll
        if self._hook_share is None:
            calibrate = getattr(self.collector, "calibrate", None)
            self._hook_share = calibrate() if calibrate is not None else 0.0
            if self.continuous is not None:
                sampler.unit_cost = self._unit_cost()
        # the continuous sampling thread's CPU is the SDK's cost too: fixed, whatever the detailed rate
        fixed = self.continuous.sampler.cpu_seconds if self.continuous is not None else 0.0
        sampler.adjust(time.thread_time(), fixed)
        wait = sampler.seconds_until_next()
        return wait if next_roll is None else min(wait, next_roll)

    def _unit_cost(self, units: int = 500) -> float:
        """CPU seconds one unit not profiled in detail costs on its thread (Unit, the continuous collector's
        start/stop/ended, the clocks read at its end), measured once per process on the background thread
        with a collector of its own (its units reach no window)."""
        probe = type(self.continuous)(self.config)
        try:
            start = time.thread_time()
            for _ in range(units):
                unit = Unit("function", "pystrument.calibration", sample_rate=1.0)
                probe.start(unit, None)
                unit.detailed = False
                probe.stop(unit)
                unit.finish()
                probe.ended(unit)
            return (time.thread_time() - start) / units
        finally:
            probe.close()
            probe.sampler.recent.pop(get_ident(), None)  # the probe's units are no unit that ran here

    def _roll_window(self, force: bool = False) -> float | None:
        """Ship the continuous window's aggregates when it is due (or ``force``); returns the seconds until
        the next window is due."""
        continuous = self.continuous
        window, at = continuous.roll(force)
        if window is None:
            return float(at)
        if self.dispatcher is not None and window.endpoints:
            builder = self.dispatcher.builder
            self.dispatcher.put_records(window.records(self.config, builder.app_of, continuous.interval * 1000.0, at))
        return float(continuous.flush_interval)

    # -- control ------------------------------------------------------------------------------
    def flush(self, timeout: float | None = None) -> bool:
        """Deliver what is queued, the continuous window so far included (a new window starts)."""
        if self._ended_later:
            self.end_pending()
        if self.continuous is not None:
            self._roll_window(force=True)
        return True if self.dispatcher is None else self.dispatcher.flush(timeout)

    def close(self, timeout: float | None = None) -> None:
        if self.continuous is not None:
            self._roll_window(force=True)
            self.continuous.close()
        if self.dispatcher is not None:
            self.dispatcher.close(timeout)
        self.enabled = False

    def stats(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "enabled": self.enabled,
            "sampling_rate": self.config.sampling_rate,
            "effective_sampling_rate": self.sampler.rate,
            "max_overhead_pct": self.config.max_overhead_pct,
            "measured_overhead": self.sampler.last_overhead,
            "measured_fixed_overhead": self.sampler.last_fixed_overhead,
            "skipped_min_duration": self.skipped_fast,
            "profiling_mode": self.config.profiling_mode,
        }
        if self.continuous is not None:
            sampler = self.continuous.sampler
            out["continuous"] = {"interval_ms": sampler.interval * 1000.0, "samples": sampler.samples,
                                 "idle_samples": sampler.idle_samples, "sampler_cpu_s": sampler.cpu_seconds}
        if self.dispatcher is not None:
            out.update(self.dispatcher.stats())
        return out


_client: Client | None = None
_client_lock = threading.Lock()


def configure(config: Config | dict[str, Any] | None = None, **settings: Any) -> Client:
    """Set up the process-wide client. Takes a ``Config``, a dict, keyword settings, or nothing."""
    global _client
    new = Client(config, **settings)
    with _client_lock:
        old, _client = _client, new
    if old is not None:
        old.close(timeout=1.0)
    return new


def get_client() -> Client:
    """The process-wide client, created from the environment and config files on first use."""
    client = _client
    if client is None:
        with _client_lock:
            if _client is None:
                globals()["_client"] = Client()
            client = _client
    return client  # type: ignore[return-value]


def stats() -> dict[str, Any]:
    return get_client().stats()


def flush(timeout: float | None = None) -> bool:
    return get_client().flush(timeout)
