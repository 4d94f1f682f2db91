"""The SDK's one retry layer: per sink, the batches it could not take yet, waiting in order for another attempt.

The rules (docs/sinks.md, "Retries"):

- A batch its sink refused for now (``SinkError(retry=True)``, or any other exception) waits here. While
  anything waits, or the sink's backoff runs, new batches go behind, so a sink receives batches in the
  order they were made.
- Attempts are paced by exponential backoff with jitter (the first after 0.25-0.5 s, doubling up to the
  sink's ``max_backoff``, 30 s by default); a ``retry_after`` from the sink wins. A success resets the pace.
- Bounded: a sink that declares ``spool = True`` keeps its batches on disk (spool.py), at most
  ``spool_max_bytes``; any other sink (or ``spool_max_bytes=0``) keeps them in memory, at most
  ``max_queue_size`` records. When full, the least valuable records go first (shelf.py). In memory a batch
  is also given up once its sink has failed ``sink_retries`` attempts while the batch waited; on disk it
  waits until the sink takes it or room is needed (and survives the process: the next one replays it).
- Every record given up is reported to the owner with its reason (``drop(count, reason)``), and counted there.

The dispatcher owns one queue per sink and drives it from its background thread; nothing here sleeps.
"""

from __future__ import annotations

import logging
import os
import random
import threading
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .record import Record
from .retry_stores import DiskStore, Drop, MemoryStore, Store, Taken

logger = logging.getLogger("pystrument")

FIRST_DELAY = 0.25
MAX_DELAY = 30.0
MAX_RETRY_AFTER = 300.0  # a sink's retry_after is honoured up to 5 minutes
MIN_RETRY_AFTER = 0.05  # "retry after 0 s" does not become a busy loop


class Backoff:
    """When to try a failing sink again: exponential with jitter, or what the sink asked for."""

    def __init__(self, cap: float = MAX_DELAY, first: float = FIRST_DELAY, rand: Callable[[], float] = random.random) -> None:
        self.cap = cap
        self.first = first
        self.rand = rand
        self.failures = 0  # consecutive failed attempts

    def delay(self, retry_after: float | None = None) -> float:
        """Count one more failed attempt; the seconds to wait before the next one."""
        self.failures += 1
        if retry_after is not None:
            return min(max(retry_after, MIN_RETRY_AFTER), MAX_RETRY_AFTER)
        base = self.first * 2.0 ** min(self.failures - 1, 30)
        return min(self.cap, base * (1.0 + self.rand()))

    def reset(self) -> None:
        self.failures = 0


class RetryQueue:
    """One sink's retry queue: its store (made in each process on first use), its backoff and its counters.

    Thread-safe: with ``async_send=False`` the host's threads put batches while the dispatcher's thread replays."""

    def __init__(self, make_store: Callable[[], Store], backoff: Backoff) -> None:
        self._make_store = make_store
        self.backoff = backoff
        self.next_at = 0.0  # monotonic time before which the sink is not tried again
        self.counts: Counter[str] = Counter()
        self._lock = threading.Lock()
        self._store: Store | None = None
        self._pid = 0
        self._failures = 0  # failed attempts of the sink in this process (never reset: the memory store's clock)

    # -- per process ------------------------------------------------------------------------
    def open(self) -> None:
        """Make this process's store, if not yet made (a disk store adopts what exited processes left)."""
        with self._lock:
            self._ensure()

    def _ensure(self) -> Store:
        if self._store is None or self._pid != os.getpid():
            if self._store is not None:
                self._store.forget()  # a forked child: the parent keeps its batches (and its spool's lock)
            self._store = self._make_store()
            self._pid = os.getpid()
            self.next_at = 0.0
            self.backoff.reset()
        return self._store

    def forget(self) -> None:
        """In a forked child: let go of the parent's batches without delivering or counting them. (A new lock:
        the parent's thread may have held the old one when the process forked.)"""
        self._lock = threading.Lock()
        if self._store is not None:
            self._store.forget()
        self._store = None
        self.next_at = 0.0
        self.backoff.reset()

    # -- the dispatcher's calls -------------------------------------------------------------
    def holding(self, now: float) -> bool:
        """True while batches wait or the backoff runs: a new batch must go behind, not to the sink."""
        return now < self.next_at or (self._store is not None and len(self._store) > 0)

    def due(self, now: float) -> bool:
        return self._store is not None and len(self._store) > 0 and now >= self.next_at

    def put(self, batch: list[Record]) -> None:
        """Queue a batch behind the others, unattempted."""
        with self._lock:
            self._ensure().put(batch, self._failures)
            self.counts["spooled"] += len(batch)

    def failed(self, retry_after: float | None, batch: list[Record] | None = None) -> float:
        """An attempt failed: count it, set the next attempt's time, and queue ``batch`` (a first attempt's)
        or keep the taken one. Returns the seconds until the next attempt."""
        with self._lock:
            store = self._ensure()
            self._failures += 1
            delay = self.backoff.delay(retry_after)
            self.next_at = time.monotonic() + delay
            if batch is None:
                store.release()  # the taken batch stays first
            store.exhausted(self._failures)
            if batch is not None:
                store.put(batch, self._failures)
                self.counts["spooled"] += len(batch)
            return delay

    def pause(self, seconds: float) -> None:
        """No attempt before ``seconds`` from now."""
        self.next_at = time.monotonic() + seconds

    def take(self) -> Taken | None:
        """The oldest batch, for an attempt."""
        with self._lock:
            return self._ensure().oldest()

    def delivered(self, taken: Taken | None = None) -> bool:
        """An attempt succeeded (of ``taken``, or of a batch sent directly). Returns True if the sink was failing."""
        with self._lock:
            if taken is not None and self._store is not None:
                self._store.remove(taken.key)
                self.counts["replayed"] += len(taken.records)
            recovered = self.backoff.failures > 0
            self.backoff.reset()
            self.next_at = 0.0
            return recovered

    def clear(self) -> int:
        """Give up every batch (the sink stopped for good, or memory at exit); returns how many records."""
        with self._lock:
            return 0 if self._store is None else self._store.clear()

    def close(self) -> None:
        with self._lock:
            if self._store is not None and self._pid == os.getpid():
                self._store.close()

    # -- state ------------------------------------------------------------------------------
    @property
    def kind(self) -> str:
        store = self._store
        return "unopened" if store is None else store.kind

    def __len__(self) -> int:
        store = self._store
        return 0 if store is None else len(store)

    def stats(self) -> dict[str, Any]:
        with self._lock:
            out: dict[str, Any] = {"retry_queue": self.kind, "queued": len(self), "spooled": self.counts["spooled"],
                                   "replayed": self.counts["replayed"]}
            if self._store is not None:
                out.update(self._store.stats())
            if self.next_at:
                out["next_attempt_s"] = round(max(0.0, self.next_at - time.monotonic()), 3)
            return out


def retry_queue(sink: Any, name: str, config: Any, drop: Drop) -> RetryQueue:
    """The queue for ``sink``: on disk if it declares ``spool = True`` and ``spool_max_bytes`` (the sink's
    own, else the config's) is not 0, else in memory. A spool folder that cannot be used means memory, with
    one error line."""
    max_bytes = _setting(sink, config, "spool_max_bytes", 64 * 1024 * 1024)
    max_records, attempts = config.max_queue_size, config.sink_retries

    def memory() -> Store:
        return MemoryStore(max_records, attempts, drop)

    def disk() -> Store:
        import hashlib

        from .spool import Spool, default_root

        root = Path(_setting(sink, config, "spool_dir", "") or default_root())
        key = getattr(sink, "spool_key", "") or name
        folder = root / hashlib.sha1(key.encode()).hexdigest()[:12]  # one per target (and key)
        try:
            spool = Spool(folder, max_bytes)
        except OSError as exc:
            logger.error("pystrument: sink %s cannot spool to %s (%s); its retry queue stays in memory: set "
                         "spool_dir to a writable folder", name, folder, exc)
            return memory()
        if len(spool):
            logger.info("pystrument: sink %s replays %d records left by an earlier process", name, len(spool))
        return DiskStore(spool, drop)

    use_disk = bool(getattr(sink, "spool", False)) and max_bytes > 0
    return RetryQueue(disk if use_disk else memory, Backoff(cap=float(getattr(sink, "max_backoff", None) or MAX_DELAY)))


def _setting(sink: Any, config: Any, name: str, default: Any) -> Any:
    """A sink's own value of a setting (e.g. from its URL's options), else the config's."""
    own = getattr(sink, name, None)
    if own is not None and own != "":
        return own
    return getattr(config, name, default)
