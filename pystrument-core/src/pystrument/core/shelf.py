"""Batches waiting in arrival order, kept within a bound by dropping the least valuable record of them all.

A record's value: failed (an error, or a 5xx status) above successful, then slower above faster. Each batch's
records are kept most valuable first, so a batch's least valuable record is its last one, and a heap over the
batches' last records finds the least valuable record of the whole shelf without scanning it. The retry
queue's memory store and the disk spool (retry.py, spool.py) both keep their batches on a shelf: the shelf
knows values, sizes and order; its owner knows where the records themselves are.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Iterable
from typing import Generic, TypeVar

T = TypeVar("T")


def value(failed: bool, duration_ms: float) -> tuple[int, float]:
    """What a record is worth keeping: failed records first, then slower ones."""
    return (1 if failed else 0, duration_ms)


class Held(Generic[T]):
    """One record on the shelf: its value, its size (in whatever unit the shelf is bounded by) and the
    owner's handle on it (the record itself, or where it is in a file)."""

    __slots__ = ("duration", "failed", "item", "size")

    def __init__(self, failed: int, duration: float, size: int, item: T) -> None:
        self.failed = failed
        self.duration = duration
        self.size = size
        self.item = item


def most_valuable_first(held: Iterable[Held[T]]) -> list[Held[T]]:
    return sorted(held, key=lambda h: (h.failed, h.duration), reverse=True)


class Shelf(Generic[T]):
    """Not thread-safe: its owner holds a lock around it."""

    def __init__(self) -> None:
        self.batches: dict[str, list[Held[T]]] = {}  # key -> records most valuable first; insertion order is age
        self._heap: list[tuple[int, float, str, int]] = []  # (failed, duration, key, records in the batch then)
        self.pinned: str | None = None  # the batch being sent: never cut
        self.size = 0
        self.count = 0

    def add(self, key: str, held: list[Held[T]]) -> None:
        """Put a batch behind the others; ``held`` must be most valuable first (``most_valuable_first``)."""
        if not held:
            return
        self.batches[key] = held
        self.size += sum(h.size for h in held)
        self.count += len(held)
        self._push_last(key, held)

    def oldest(self) -> tuple[str, list[Held[T]]] | None:
        """The oldest batch, pinned until ``remove`` or ``unpin``."""
        if not self.batches:
            return None
        key = next(iter(self.batches))
        self.pinned = key
        return key, self.batches[key]

    def unpin(self) -> None:
        self.pinned = None

    def remove(self, key: str) -> list[Held[T]]:
        """Take a whole batch off the shelf (delivered, or unreadable)."""
        if self.pinned == key:
            self.pinned = None
        held = self.batches.pop(key, [])
        self.size -= sum(h.size for h in held)
        self.count -= len(held)
        if len(self._heap) > 2 * len(self.batches) + 64:  # stale entries of removed batches: rebuild
            self._heap = [(b[-1].failed, b[-1].duration, k, len(b)) for k, b in self.batches.items()]
            heapq.heapify(self._heap)
        return held

    def trim(self, limit: int, dropped: Callable[[str, Held[T], bool], None]) -> int:
        """Drop the least valuable records until the shelf's size is at most ``limit``; ``dropped(key, held,
        batch_now_empty)`` is told of each. Returns how many were dropped."""
        count = 0
        held_back = []
        while self.size > limit and self._heap:
            item = heapq.heappop(self._heap)
            key, length = item[2], item[3]
            batch = self.batches.get(key)
            if batch is None or len(batch) != length:
                continue  # stale: the batch was removed or cut since
            if key == self.pinned:
                held_back.append(item)
                continue
            last = batch.pop()
            self.size -= last.size
            self.count -= 1
            count += 1
            if batch:
                self._push_last(key, batch)
            else:
                del self.batches[key]
            dropped(key, last, not batch)
        for item in held_back:
            heapq.heappush(self._heap, item)
        return count

    def clear(self) -> list[str]:
        """Empty the shelf; returns the keys of the batches it held."""
        keys = list(self.batches)
        self.batches.clear()
        self._heap.clear()
        self.pinned = None
        self.size = self.count = 0
        return keys

    def _push_last(self, key: str, batch: list[Held[T]]) -> None:
        last = batch[-1]
        heapq.heappush(self._heap, (last.failed, last.duration, key, len(batch)))
