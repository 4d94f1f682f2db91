"""Where a retry queue (retry.py) keeps its batches: in memory, or on disk in a spool (spool.py).

Both keep each batch's records most valuable first and drop the least valuable record of all of them when
full (shelf.py), and tell their owner of every record they give up (``drop(count, reason)``). The memory
store also gives a batch up once its sink has failed ``max_attempts`` attempts while the batch waited; the
disk store keeps a batch until its sink takes it or room is needed, and it outlives the process.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

import msgspec

from .record import Record, decode_record
from .shelf import Held, Shelf, most_valuable_first, value

if TYPE_CHECKING:  # imported when a sink spools (a host without one never loads it)
    from .spool import Spool

logger = logging.getLogger("pystrument")

Drop = Callable[[int, str], None]  # (records given up, reason): the owner counts them

_encoder = msgspec.json.Encoder()


def record_value(record: Record) -> tuple[int, float]:
    try:
        duration = float(record.duration_ms)
    except (TypeError, ValueError):  # a record a plugin's enricher broke: still queued, as the least valuable
        duration = 0.0
    return value(record.error is not None or (record.status_code or 0) >= 500, duration)


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
