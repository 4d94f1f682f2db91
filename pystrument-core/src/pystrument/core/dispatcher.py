"""Bounded hand-off from the request thread to one background thread that builds and delivers records.

The request thread only calls ``put(unit)``: a lock, a list append, and, rarely, a wakeup. When the
buffer is full the least valuable unit is dropped and counted: fast successful units go before slow or
failed ones. The background thread swaps the whole buffer out, builds records, and hands each batch to
every sink, each in its own failsafe with retry and exponential backoff with jitter; a sink that keeps
failing is skipped until its backoff ends and its batches are counted as failed.
"""

from __future__ import annotations

import heapq
import logging
import os
import random
import threading
import time
import weakref
from collections import Counter
from typing import Any

from .builder import RecordBuilder
from .failsafe import report
from .record import Record
from .sinks import Sink, SinkError, SinkStats
from .unit import Unit

logger = logging.getLogger("pystrument")

_dispatchers: weakref.WeakSet[Dispatcher] = weakref.WeakSet()


def _priority(unit: Unit) -> tuple[int, float]:
    failed = unit.error is not None or (unit.status_code or 0) >= 500
    return (1 if failed else 0, unit.duration_ms)


class _SinkSlot:
    def __init__(self, sink: Sink) -> None:
        self.sink = sink
        self.name = getattr(sink, "name", type(sink).__name__)
        self.stats = SinkStats()
        self.failures = 0
        self.blocked_until = 0.0
        self.disabled = ""


class Dispatcher:
    def __init__(self, config: Any, sinks: list[Sink], builder: RecordBuilder) -> None:
        self.config = config
        self.builder = builder
        self.slots = [_SinkSlot(s) for s in sinks]
        self.max_queue = config.max_queue_size
        self.max_queued_samples = config.max_queue_size * 200
        self._lock = threading.RLock()  # re-entrant: our exit path may run in a signal handler interrupting put()
        self._wake = threading.Event()
        self._idle = threading.Event()
        self._idle.set()
        self._heap: list[tuple[tuple[int, float], int, Unit]] = []
        self._records: list[Record] = []  # records built elsewhere (continuous aggregates), delivered as they are
        self._queued_samples = 0
        self._seq = 0
        self._thread: threading.Thread | None = None
        self._closing = False
        self.counts: Counter[str] = Counter()
        self.dropped: Counter[str] = Counter()
        self.on_tick: Any = None
        _dispatchers.add(self)

    # -- request thread ---------------------------------------------------------------------
    def put(self, unit: Unit) -> None:
        if not self.config.async_send:
            self._deliver([unit])
            return
        entry = (_priority(unit), self._seq, unit)
        with self._lock:
            self._seq += 1
            self.counts["queued"] += 1
            heap = self._heap
            if len(heap) >= self.max_queue or self._queued_samples >= self.max_queued_samples:
                if heap and heap[0][0] < entry[0]:
                    dropped = heapq.heapreplace(heap, entry)[2]
                    self._queued_samples += len(unit.samples) - len(dropped.samples)
                else:
                    dropped = unit
                self.dropped["queue_full"] += 1
                return
            heapq.heappush(heap, entry)
            self._queued_samples += len(unit.samples)
            self._idle.clear()
        if self._thread is None:
            self._start()
        if len(heap) >= self.config.batch_size:
            self._wake.set()

    def put_records(self, records: list[Record]) -> None:
        """Queue records already built (continuous aggregates); beyond ``max_queue_size`` they are dropped
        and counted (``dropped["queue_full"]``)."""
        if not self.config.async_send:
            self._deliver([], records)
            return
        with self._lock:
            room = max(0, self.max_queue - len(self._records))
            self.counts["queued"] += len(records)
            if len(records) > room:
                self.dropped["queue_full"] += len(records) - room
            self._records.extend(records[:room])
            self._idle.clear()
        if self._thread is None:
            self._start()
        self._wake.set()

    # -- background thread ------------------------------------------------------------------
    def start(self) -> None:
        """Start the background thread now (it otherwise starts with the first record)."""
        self._start()

    def _start(self) -> None:
        with self._lock:
            if self._thread is not None:
                return
            self._thread = threading.Thread(target=self._run, name="pystrument-dispatcher", daemon=True)
            self._thread.start()

    def _take(self) -> tuple[list[Unit], list[Record]]:
        with self._lock:
            heap, self._heap = self._heap, []
            records, self._records = self._records, []
            self._queued_samples = 0
        heap.sort(reverse=True)  # most valuable first
        return [entry[2] for entry in heap], records

    def _run(self) -> None:
        """Deliver on ``batch_size`` (woken by ``put``), on ``flush()`` and every ``flush_interval``; between
        deliveries ``on_tick`` (the overhead governor) runs as often as it asks (its return: seconds to
        its next tick, or None)."""
        interval = self.config.flush_interval
        next_flush = time.monotonic() + interval
        wait = 0.0  # the first tick at once: the governor's first window starts with the first record
        while True:
            woken = self._wake.wait(wait)
            self._wake.clear()
            next_tick = None
            if self.on_tick is not None:
                try:
                    next_tick = self.on_tick()
                except Exception as exc:
                    report("dispatcher tick", exc)
            now = time.monotonic()
            if woken or now >= next_flush or self._closing:
                next_flush = now + interval
                units, built = self._take()
                if units or built:
                    self._deliver(units, built)
                with self._lock:
                    if not self._heap and not self._records:
                        self._idle.set()
                if self._closing and not self._heap and not self._records:
                    return
            wait = max(0.0, next_flush - time.monotonic())
            if next_tick is not None:
                wait = min(wait, max(0.01, next_tick))

    def _deliver(self, units: list[Unit], built: list[Record] | None = None) -> None:
        records: list[Record] = list(built) if built else []
        for unit in units:
            try:
                records.append(self.builder.build(unit))
            except Exception as exc:
                self.dropped["build_error"] += 1
                report("record builder", exc)
        size = self.config.batch_size
        for start in range(0, len(records), size):
            batch = records[start:start + size]
            for slot in self.slots:
                self._send(slot, batch)
            self.counts["built"] += len(batch)

    def _send(self, slot: _SinkSlot, batch: list[Record]) -> None:
        stats = slot.stats
        if slot.disabled:
            stats.failed += len(batch)
            stats.extra["dropped_disabled"] += len(batch)
            return
        if time.monotonic() < slot.blocked_until:
            stats.failed += len(batch)
            stats.extra["dropped_backoff"] += len(batch)
            return
        attempts = self.config.sink_retries + 1
        for attempt in range(attempts):
            try:
                slot.sink.send(batch)
            except SinkError as exc:
                stats.last_error = str(exc)
                if not exc.retry:
                    slot.disabled = str(exc)
                    logger.error("pystrument: sink %s stops sending: %s", slot.name, exc)
                    stats.failed += len(batch)
                    return
                delay = exc.retry_after
            except Exception as exc:
                stats.last_error = f"{type(exc).__name__}: {exc}"
                delay = None
            else:
                stats.sent += len(batch)
                stats.batches += 1
                slot.failures = 0
                return
            if attempt + 1 < attempts:
                stats.retries += 1
                time.sleep(min(delay if delay is not None else 0.05 * (2 ** attempt) * (0.5 + random.random()), 2.0))
        slot.failures += 1
        backoff = min(0.5 * (2 ** min(slot.failures, 6)), 30.0) * (0.5 + random.random())
        slot.blocked_until = time.monotonic() + backoff
        stats.failed += len(batch)
        if slot.failures == 1:
            logger.warning("pystrument: sink %s failed after %d attempts (%s); %d records dropped, retrying in %.1fs",
                           slot.name, attempts, stats.last_error, len(batch), backoff)

    # -- control ----------------------------------------------------------------------------
    def flush(self, timeout: float | None = None) -> bool:
        """Deliver everything queued now. Returns False if it did not finish within ``timeout``."""
        if self._thread is None:
            units, built = self._take()
            if units or built:
                self._deliver(units, built)
            return True
        self._wake.set()
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            remaining = None if deadline is None else deadline - time.monotonic()
            if remaining is not None and remaining <= 0:
                return False
            if self._idle.wait(remaining if remaining is None else min(remaining, 0.05)):
                with self._lock:
                    if not self._heap and not self._records:
                        return True
                self._wake.set()

    def close(self, timeout: float | None = None) -> None:
        timeout = self.config.shutdown_timeout if timeout is None else timeout
        done = self.flush(timeout)
        if not done:
            with self._lock:
                left = len(self._heap) + len(self._records)
            self.dropped["shutdown_timeout"] += left
            logger.warning("pystrument: %d records not delivered within %.1fs at exit", left, timeout)
        self._closing = True
        self._wake.set()
        for slot in self.slots:
            try:
                slot.sink.close()
            except Exception as exc:
                report(f"sink {slot.name} close", exc)

    def _after_fork(self) -> None:
        self._lock = threading.RLock()  # re-entrant: our exit path may run in a signal handler interrupting put()
        self._wake = threading.Event()
        self._idle = threading.Event()
        self._idle.set()
        self._heap = []
        self._records = []
        self._queued_samples = 0
        self._thread = None

    def stats(self) -> dict[str, Any]:
        with self._lock:
            queued_now = len(self._heap) + len(self._records)
        return {
            "queued": queued_now,
            "enqueued_total": self.counts["queued"],
            "built": self.counts["built"],
            "dropped": dict(self.dropped),
            "sinks": {slot.name: self._sink_stats(slot) for slot in self.slots},
        }

    @staticmethod
    def _sink_stats(slot: _SinkSlot) -> dict[str, Any]:
        """The dispatcher's counters for a sink, plus the sink's own ``stats()`` (if it has one) under "sink"."""
        out = slot.stats.as_dict()
        if slot.disabled:
            out["disabled"] = slot.disabled
        own = getattr(slot.sink, "stats", None)
        if callable(own):
            try:
                out["sink"] = dict(own())
            except Exception as exc:
                report(f"sink {slot.name} stats", exc)
        return out


def _after_fork_in_child() -> None:
    for dispatcher in list(_dispatchers):
        dispatcher._after_fork()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)
