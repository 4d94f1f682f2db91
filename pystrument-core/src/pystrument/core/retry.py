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

import itertools
import logging
import os
import random
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import msgspec

from .record import Record, decode_record
from .shelf import Held, Shelf, most_valuable_first, value

if TYPE_CHECKING:  # imported when a sink spools (a host without one never loads it)
    from .spool import Spool

logger = logging.getLogger("pystrument")

Drop = Callable[[int, str], None]  # (records given up, reason): the owner counts them
FIRST_DELAY = 0.25
MAX_DELAY = 30.0
MAX_RETRY_AFTER = 300.0  # a sink's retry_after is honoured up to 5 minutes
MIN_RETRY_AFTER = 0.05  # "retry after 0 s" does not become a busy loop

_encoder = msgspec.json.Encoder()


def record_value(record: Record) -> tuple[int, float]:
    try:
        duration = float(record.duration_ms)
    except (TypeError, ValueError):  # a record a plugin's enricher broke: still queued, as the least valuable
        duration = 0.0
    return value(record.error is not None or (record.status_code or 0) >= 500, duration)


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


@dataclass
class Taken:
    """A batch taken from the queue for an attempt (it stays queued until ``delivered``)."""

    key: str
    records: list[Record]


class Store(Protocol):
    kind: str

    def put(self, batch: list[Record], failures: int) -> None: ...
    def oldest(self) -> Taken | None: ...
    def remove(self, key: str) -> None: ...
    def release(self) -> None: ...
    def exhausted(self, failures: int) -> None: ...
    def clear(self) -> int: ...
    def __len__(self) -> int: ...
    def stats(self) -> dict[str, Any]: ...
    def close(self) -> None: ...
    def forget(self) -> None: ...


class MemoryStore:
    """Batches in memory, at most ``max_records`` records; a batch is given up after ``max_attempts`` failed
    attempts of its sink while it waited."""

    kind = "memory"

    def __init__(self, max_records: int, max_attempts: int, drop: Drop) -> None:
        self.max_records = max_records
        self.max_attempts = max_attempts
        self._drop = drop
        self._shelf: Shelf[Record] = Shelf()
        self._marks: dict[str, int] = {}  # batch -> its sink's failed attempts when it joined
        self._keys = itertools.count()

    def put(self, batch: list[Record], failures: int) -> None:
        key = str(next(self._keys))
        self._shelf.add(key, most_valuable_first(Held(*record_value(r), 1, r) for r in batch))
        self._marks[key] = failures
        self._give_up(self._shelf.trim(self.max_records, self._cut), "dropped_queue_full")
        self.exhausted(failures)

    def _cut(self, key: str, held: Held[Record], emptied: bool) -> None:
        if emptied:
            del self._marks[key]

    def oldest(self) -> Taken | None:
        found = self._shelf.oldest()
        return None if found is None else Taken(found[0], [h.item for h in found[1]])

    def remove(self, key: str) -> None:
        self._shelf.remove(key)
        self._marks.pop(key, None)

    def release(self) -> None:
        self._shelf.unpin()

    def exhausted(self, failures: int) -> None:
        """Give up the batches that have waited through ``max_attempts`` failed attempts (the oldest first:
        a batch behind joined later, so it has seen no more attempts than the one before it)."""
        dropped = 0
        for key, mark in list(self._marks.items()):
            if failures - mark < self.max_attempts or key == self._shelf.pinned:
                break
            dropped += len(self._shelf.remove(key))
            del self._marks[key]
        self._give_up(dropped, "dropped_retries")

    def clear(self) -> int:
        count = self._shelf.count
        self._shelf.clear()
        self._marks.clear()
        return count

    def _give_up(self, count: int, reason: str) -> None:
        if count:
            self._drop(count, reason)

    def __len__(self) -> int:
        return self._shelf.count

    def stats(self) -> dict[str, Any]:
        return {"queue_max_records": self.max_records}

    def close(self) -> None:
        pass

    def forget(self) -> None:
        self._shelf.clear()
        self._marks.clear()


class DiskStore:
    """Batches in a spool (spool.py) as msgspec JSON of ``Record``, decoded back to ``Record`` for replay."""

    kind = "disk"

    def __init__(self, spool: Spool, drop: Drop) -> None:
        self.spool = spool
        self._drop = drop
        self._write_failed = False

    def put(self, batch: list[Record], failures: int) -> None:
        items = [(_encoder.encode(r), *_failed_and_duration(r)) for r in batch]
        try:
            dropped = self.spool.put(items)
        except OSError as exc:  # the disk is full or the folder went away: these records are lost, and counted
            if not self._write_failed:
                logger.error("pystrument: cannot write to the spool %s (%s); records that cannot be written are "
                             "dropped (counted as dropped_spool_error)", self.spool.dir, exc)
            self._write_failed = True
            self._give_up(len(items), "dropped_spool_error")
            return
        self._write_failed = False
        self._give_up(dropped, "dropped_spool_full")

    def oldest(self) -> Taken | None:
        while True:
            corrupt = self.spool.corrupt
            spooled = self.spool.oldest()
            self._give_up(self.spool.corrupt - corrupt, "dropped_corrupt")
            if spooled is None:
                return None
            records = []
            for data in spooled.records:
                try:
                    records.append(decode_record(data))
                except msgspec.DecodeError:  # written by a SDK whose Record differed, or a record a plugin broke
                    self._give_up(1, "dropped_corrupt")
            if records:
                return Taken(spooled.key, records)
            self.remove(spooled.key)

    def remove(self, key: str) -> None:
        self.spool.done(key)

    def release(self) -> None:
        dropped = self.spool.dropped
        self.spool.release()
        self._give_up(self.spool.dropped - dropped, "dropped_spool_full")

    def exhausted(self, failures: int) -> None:
        pass  # on disk a batch waits until its sink takes it or room is needed

    def clear(self) -> int:
        return self.spool.clear()

    def _give_up(self, count: int, reason: str) -> None:
        if count:
            self._drop(count, reason)

    def __len__(self) -> int:
        return len(self.spool)

    def stats(self) -> dict[str, Any]:
        return {**self.spool.stats(), "spool_dir": str(self.spool.dir), "spool_max_bytes": self.spool.max_bytes}

    def close(self) -> None:
        self.spool.close()

    def forget(self) -> None:
        self.spool.forget()


def _failed_and_duration(record: Record) -> tuple[bool, float]:
    failed, duration = record_value(record)
    return bool(failed), duration


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
