"""Bounded hand-off from the request thread to one background thread that builds and delivers records.

The request thread only calls ``put(unit)``: a lock, a list append, and, rarely, a wakeup. When the
buffer is full the least valuable unit is dropped and counted: fast successful units go before slow or
failed ones. The background thread swaps the whole buffer out, builds records, and hands each batch to
every sink, each in its own failsafe. A batch a sink refuses goes to that sink's retry queue (retry.py,
the SDK's one retry layer), which the same thread replays when its backoff ends; nothing here sleeps, and
one sink failing never holds up the others.
"""

from __future__ import annotations

import heapq
import logging
import os
import threading
import time
import weakref
from collections import Counter
from typing import Any

from .builder import RecordBuilder
from .failsafe import report
from .record import Record
from .retry import RetryQueue, retry_queue
from .retry_stores import Taken
from .sinks import Sink, SinkError, SinkStats
from .unit import Unit

logger = logging.getLogger("pystrument")

_dispatchers: weakref.WeakSet[Dispatcher] = weakref.WeakSet()
REPLAY_ROUND = 0.5  # seconds of replaying one sink's queue before the thread looks at new units again


def _priority(unit: Unit) -> tuple[int, float]:
    failed = unit.error is not None or (unit.status_code or 0) >= 500
    return (1 if failed else 0, unit.duration_ms)


class _SinkSlot:
    def __init__(self, sink: Sink, config: Any) -> None:
        self.sink = sink
        self.name = getattr(sink, "name", type(sink).__name__)
        self.stats = SinkStats()
        self.disabled = ""
        self.queue: RetryQueue = retry_queue(sink, self.name, config, self.drop)
        self._warned: set[str] = set()

    def drop(self, count: int, reason: str) -> None:
        """Records this sink will never get: counted as failed, and by reason."""
        if not count:
            return
        self.stats.failed += count
        self.stats.extra[reason] += count
        if reason in ("dropped_queue_full", "dropped_spool_full") and reason not in self._warned:
            self._warned.add(reason)
            logger.warning("pystrument: sink %s: its retry queue is full; dropping the fastest successful records "
                           "first (counted as %s)", self.name, reason)


class Dispatcher:
    def __init__(self, config: Any, sinks: list[Sink], builder: RecordBuilder) -> None:
        self.config = config
        self.builder = builder
        self.slots = [_SinkSlot(s, config) for s in sinks]
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
        self._close_deadline = 0.0
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
        """Deliver on ``batch_size`` (woken by ``put``), on ``flush()`` and every ``flush_interval``; replay
        each sink's retry queue when its backoff ends; between these, ``on_tick`` (the overhead governor, with
        ``async_send``) runs as often as it asks (its return: seconds to its next tick, or None)."""
        for slot in self.slots:
            try:
                slot.queue.open()  # a spool adopts what exited processes left: replayed from the first round
            except Exception as exc:  # our bug: the first send tries again
                report(f"retry queue of {slot.name}", exc)
        interval = self.config.flush_interval
        next_flush = time.monotonic() + interval
        wait = 0.0  # the first tick at once: the governor's first window starts with the first record
        while True:
            woken = self._wake.wait(wait)
            self._wake.clear()
            next_tick = None
            if self.on_tick is not None and self.config.async_send:
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
            next_retry = self._replay()
            now = time.monotonic()
            if self._closing and self._closed(now, next_retry):
                return
            wait = max(0.0, next_flush - now)
            if next_tick is not None:
                wait = min(wait, max(0.01, next_tick))
            if next_retry is not None:
                wait = min(wait, max(0.0, next_retry - now))
            if self._closing:
                wait = min(wait, max(0.0, self._close_deadline - now))

    def _closed(self, now: float, next_retry: float | None) -> bool:
        """At close: done once the buffer is delivered and no retry is due before the deadline."""
        if now >= self._close_deadline:
            return True
        with self._lock:
            if self._heap or self._records:
                return False
        return next_retry is None or next_retry > self._close_deadline

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
                try:
                    self._send(slot, batch)
                except Exception as exc:  # our bug (the sink's own errors are caught in _attempt): the others still get it
                    report(f"dispatcher send to {slot.name}", exc)
            self.counts["built"] += len(batch)

    def _send(self, slot: _SinkSlot, batch: list[Record]) -> None:
        if slot.disabled:
            slot.drop(len(batch), "dropped_disabled")
            return
        queue = slot.queue
        queue.open()  # the first send in a process: a spool adopts what exited processes left
        if queue.holding(time.monotonic()):
            queue.put(batch)  # behind what waits, to keep the order
            self._retry_soon()
            return
        self._attempt(slot, batch)

    def _attempt(self, slot: _SinkSlot, batch: list[Record], taken: Taken | None = None) -> bool:
        """One attempt of ``batch`` (a new one, or ``taken`` from the retry queue). True if the sink took it."""
        try:
            slot.sink.send(batch)
        except SinkError as exc:
            if not exc.retry:
                self._stop(slot, str(exc), batch if taken is None else [])
            else:
                self._refused(slot, str(exc), exc.retry_after, batch if taken is None else None)
            return False
        except Exception as exc:
            self._refused(slot, f"{type(exc).__name__}: {exc}", None, batch if taken is None else None)
            return False
        slot.stats.sent += len(batch)
        slot.stats.batches += 1
        if slot.queue.delivered(taken):
            logger.warning("pystrument: sink %s delivers again (%d records wait in its retry queue, replayed oldest "
                           "first)", slot.name, len(slot.queue))
        return True

    def _refused(self, slot: _SinkSlot, error: str, retry_after: float | None, batch: list[Record] | None) -> None:
        """The sink cannot take it now: the batch waits in its retry queue (a taken one stays first)."""
        slot.stats.last_error = error
        queue = slot.queue
        delay = queue.failed(retry_after, batch)
        if queue.backoff.failures == 1:
            logger.warning("pystrument: sink %s failed (%s); its batches wait in its retry queue (%s), next attempt "
                           "in %.1fs", slot.name, error, queue.kind, delay)
        self._retry_soon()

    def _stop(self, slot: _SinkSlot, error: str, batch: list[Record]) -> None:
        """Retrying cannot help (e.g. a bad key): the sink gets nothing more, what waits for it is dropped."""
        slot.disabled = slot.stats.last_error = error
        logger.error("pystrument: sink %s stops sending: %s", slot.name, error)
        slot.drop(len(batch) + slot.queue.clear(), "dropped_stopped")

    def _replay(self) -> float | None:
        """Attempt what is due in each sink's retry queue, oldest first, until an attempt fails, the queue is
        empty or the round's time is up. Returns the earliest time a queue still waiting is due (or None)."""
        earliest = None
        for slot in self.slots:
            queue = slot.queue
            if slot.disabled or not len(queue):
                continue
            try:
                self._replay_one(slot)
            except Exception as exc:  # our bug: the other sinks' queues are still replayed
                report(f"dispatcher replay to {slot.name}", exc)
                queue.pause(queue.backoff.cap)  # not a busy loop on it
            if len(queue):
                earliest = queue.next_at if earliest is None else min(earliest, queue.next_at)
        return earliest

    def _replay_one(self, slot: _SinkSlot) -> None:
        queue = slot.queue
        round_end = time.monotonic() + REPLAY_ROUND
        while queue.due(time.monotonic()) and time.monotonic() < round_end:
            taken = queue.take()
            if taken is None:
                return
            slot.stats.retries += 1
            if not self._attempt(slot, taken.records, taken):
                return

    def _retry_soon(self) -> None:
        """A retry queue has batches: make sure the background thread will replay them (with
        ``async_send=False`` it starts now), and, from another thread, that it sees them."""
        if self._thread is None:
            self._start()
        elif threading.current_thread() is not self._thread:
            self._wake.set()

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
        """Deliver what is queued and give the retry queues what is left of ``timeout`` (``shutdown_timeout``)
        to drain, never waiting past it; then what waits on disk stays for the next process, what waits in
        memory is dropped and counted (``dropped_shutdown``)."""
        timeout = self.config.shutdown_timeout if timeout is None else timeout
        deadline = time.monotonic() + timeout
        done = self.flush(timeout)
        if not done:
            with self._lock:
                left = len(self._heap) + len(self._records)
            self.dropped["shutdown_timeout"] += left
            logger.warning("pystrument: %d records not delivered within %.1fs at exit", left, timeout)
        self._close_deadline = deadline
        self._closing = True
        self._wake.set()
        thread = self._thread
        if isinstance(thread, threading.Thread) and thread is not threading.current_thread():
            thread.join(max(0.0, deadline - time.monotonic()))
        for slot in self.slots:
            self._leave(slot)
            try:
                slot.sink.close()
            except Exception as exc:
                report(f"sink {slot.name} close", exc)
            slot.queue.close()

    @staticmethod
    def _leave(slot: _SinkSlot) -> None:
        left = len(slot.queue)
        if not left:
            return
        if slot.queue.kind == "disk":
            logger.warning("pystrument: sink %s: %d records stay spooled for the next process", slot.name, left)
            return
        slot.drop(slot.queue.clear(), "dropped_shutdown")
        logger.warning("pystrument: sink %s: %d records not delivered at exit (its retry queue was in memory)", slot.name, left)

    def _after_fork(self) -> None:
        self._lock = threading.RLock()  # re-entrant: our exit path may run in a signal handler interrupting put()
        self._wake = threading.Event()
        self._idle = threading.Event()
        self._idle.set()
        self._heap = []
        self._records = []
        self._queued_samples = 0
        self._thread = None
        for slot in self.slots:
            slot.queue.forget()  # the parent delivers its own batches

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
        """The dispatcher's counters for a sink and its retry queue's, plus the sink's own ``stats()`` (if it has
        one) under "sink"."""
        out = slot.stats.as_dict()
        out.update(slot.queue.stats())
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
