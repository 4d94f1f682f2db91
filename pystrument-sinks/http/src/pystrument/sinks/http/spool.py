"""A bounded on-disk spool of batches waiting for the server, replayed oldest first.

Each spooled batch is one file of frames, one frame per record: a header (payload length, failed flag,
duration in ms) and the record's JSON, zlib-compressed. Inside a file the frames are sorted most
valuable first (failed, then slower), so dropping a file's least valuable record is a ``truncate``.
When the spool is over its size cap, the least valuable record of the whole spool is dropped, one at a
time, until it fits: fast successful records go before slow or failed ones, and every drop is counted.

Each process spools into its own folder ``<root>/<pid>-<token>``, holding an ``fcntl`` lock on
``<folder>/lock`` while it lives. A new spool adopts the files of folders whose lock is free (a process
that exited or crashed with batches pending), so they are replayed by the next process. File names
start with the time they were written, so adopted older batches go first.
"""

from __future__ import annotations

import fcntl
import heapq
import os
import secrets
import struct
import threading
import time
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

FRAME = struct.Struct("<IBd")  # payload length, failed (0/1), duration_ms
SUFFIX = ".spool"


@dataclass
class _Frame:
    offset: int
    failed: int
    duration: float


@dataclass
class _File:
    path: Path
    frames: list[_Frame] = field(default_factory=list)
    size: int = 0


@dataclass
class SpooledBatch:
    """One spooled batch taken for replay: the records' JSON, most valuable first."""

    key: str
    records: list[bytes]


def value(failed: bool, duration_ms: float) -> tuple[int, float]:
    """What a record is worth keeping: failed records first, then slower ones."""
    return (1 if failed else 0, duration_ms)


class Spool:
    def __init__(self, root: Path, max_bytes: int) -> None:
        self.root = root
        self.max_bytes = max_bytes
        self.dir = root / f"{os.getpid()}-{secrets.token_hex(4)}"
        self._lock = threading.Lock()
        self._files: dict[str, _File] = {}  # name -> file, insertion order is replay order
        self._heap: list[tuple[int, float, str, int]] = []  # (failed, duration, name, frame count)
        self._pinned: str | None = None
        self._bytes = 0
        self._records = 0
        self._counter = 0
        self.dropped = 0
        self.corrupt = 0
        self.adopted = 0
        self._lock_fd = -1
        self._open()

    # -- setup ------------------------------------------------------------------------------
    def _open(self) -> None:
        # Made under a hidden name with its lock held, then renamed: another process never sees it unlocked.
        self.root.mkdir(parents=True, exist_ok=True)
        hidden = self.root / f".{self.dir.name}"
        hidden.mkdir()
        self._lock_fd = os.open(hidden / "lock", os.O_RDWR | os.O_CREAT, 0o600)
        fcntl.flock(self._lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        os.rename(hidden, self.dir)
        adopted: list[Path] = []
        for other in self.root.iterdir():
            if other == self.dir or other.name.startswith(".") or not other.is_dir():
                continue
            try:
                adopted += self._adopt(other)
            except OSError:
                continue  # another process adopted it first
        for path in sorted(adopted, key=lambda p: p.name):
            self._index(path)
        self.adopted = self._records
        self._trim()

    def _adopt(self, other: Path) -> list[Path]:
        """Move the spool files of a folder no live process holds into ours."""
        try:
            fd = os.open(other / "lock", os.O_RDWR | os.O_CREAT, 0o600)
        except OSError:
            return []
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return []  # its process is alive and replays them itself
            moved = []
            for path in other.glob(f"*{SUFFIX}"):
                target = self.dir / path.name
                os.replace(path, target)
                moved.append(target)
            for leftover in other.iterdir():
                leftover.unlink(missing_ok=True)
            other.rmdir()
            return moved
        finally:
            os.close(fd)

    def _index(self, path: Path) -> None:
        entry = _File(path)
        with open(path, "rb") as fh:
            data_len = os.fstat(fh.fileno()).st_size
            offset = 0
            while offset + FRAME.size <= data_len:
                fh.seek(offset)
                length, failed, duration = FRAME.unpack(fh.read(FRAME.size))
                if offset + FRAME.size + length > data_len:
                    break  # a torn last frame (crash while writing): ignore it
                entry.frames.append(_Frame(offset, failed, duration))
                offset += FRAME.size + length
        if offset != data_len:
            os.truncate(path, offset)
        entry.size = offset
        if not entry.frames:
            path.unlink(missing_ok=True)
            return
        self._add(entry)

    def _add(self, entry: _File) -> None:
        self._files[entry.path.name] = entry
        self._bytes += entry.size
        self._records += len(entry.frames)
        self._push_last(entry)

    def _push_last(self, entry: _File) -> None:
        last = entry.frames[-1]
        heapq.heappush(self._heap, (last.failed, last.duration, entry.path.name, len(entry.frames)))

    # -- writing ----------------------------------------------------------------------------
    def put(self, records: Sequence[tuple[bytes, bool, float]]) -> int:
        """Spool one batch: ``(record json, failed, duration_ms)`` each. Returns how many records were dropped."""
        ordered = sorted(records, key=lambda r: value(r[1], r[2]), reverse=True)
        chunks = []
        entry_frames = []
        offset = 0
        for payload, failed, duration in ordered:
            packed = zlib.compress(payload, 1)
            chunks.append(FRAME.pack(len(packed), int(failed), duration))
            chunks.append(packed)
            entry_frames.append(_Frame(offset, int(failed), duration))
            offset += FRAME.size + len(packed)
        with self._lock:
            self._counter += 1
            name = f"{time.time_ns():020d}-{self._counter:08d}{SUFFIX}"
            path = self.dir / name
            tmp = path.with_suffix(".tmp")
            with open(tmp, "wb") as fh:
                fh.write(b"".join(chunks))
            os.replace(tmp, path)
            self._add(_File(path, entry_frames, offset))
            before = self.dropped
            self._trim()
            return self.dropped - before

    def _trim(self) -> None:
        """Drop the least valuable records of the whole spool until it fits its cap."""
        held = []
        while self._bytes > self.max_bytes and self._heap:
            item = heapq.heappop(self._heap)
            name, count = item[2], item[3]
            entry = self._files.get(name)
            if entry is None or len(entry.frames) != count:
                continue  # stale heap entry
            if name == self._pinned:
                held.append(item)
                continue
            frame = entry.frames.pop()
            freed = entry.size - frame.offset
            entry.size = frame.offset
            self._bytes -= freed
            self._records -= 1
            self.dropped += 1
            if entry.frames:
                os.truncate(entry.path, entry.size)
                self._push_last(entry)
            else:
                del self._files[name]
                entry.path.unlink(missing_ok=True)
        for item in held:
            heapq.heappush(self._heap, item)

    # -- replay -----------------------------------------------------------------------------
    def oldest(self) -> SpooledBatch | None:
        """The oldest batch, pinned (not trimmed) until ``done`` or ``release``. A file that cannot be
        read back (damaged on disk) is removed and its records counted as ``dropped_corrupt``."""
        while True:
            with self._lock:
                if not self._files:
                    return None
                name = next(iter(self._files))
                entry = self._files[name]
                self._pinned = name
                try:
                    with open(entry.path, "rb") as fh:
                        data = fh.read(entry.size)
                    records = []
                    for frame in entry.frames:
                        length = FRAME.unpack_from(data, frame.offset)[0]
                        start = frame.offset + FRAME.size
                        records.append(zlib.decompress(data[start:start + length]))
                    return SpooledBatch(name, records)
                except (OSError, zlib.error, struct.error):
                    self.corrupt += len(entry.frames)
                    self._pinned = None
                    del self._files[name]
                    self._bytes -= entry.size
                    self._records -= len(entry.frames)
                    entry.path.unlink(missing_ok=True)

    def done(self, batch: SpooledBatch) -> None:
        """The batch was delivered: remove it."""
        with self._lock:
            self._pinned = None
            entry = self._files.pop(batch.key, None)
            if entry is not None:
                self._bytes -= entry.size
                self._records -= len(entry.frames)
                entry.path.unlink(missing_ok=True)

    def release(self, batch: SpooledBatch) -> None:
        """The batch could not be delivered now: keep it for later."""
        with self._lock:
            self._pinned = None
            self._trim()

    # -- state ------------------------------------------------------------------------------
    def __len__(self) -> int:
        return self._records

    @property
    def size(self) -> int:
        return self._bytes

    def stats(self) -> dict[str, int]:
        return {"spool_records": self._records, "spool_bytes": self._bytes, "spool_files": len(self._files),
                "dropped_spool_full": self.dropped, "dropped_corrupt": self.corrupt, "spool_adopted": self.adopted}

    def forget(self) -> None:
        """In a forked child: drop our copy of the parent's lock without touching its files."""
        if self._lock_fd >= 0:
            os.close(self._lock_fd)
            self._lock_fd = -1

    def close(self) -> None:
        """Release the folder's lock; files still pending stay for the next process to adopt."""
        if self._lock_fd >= 0:
            os.close(self._lock_fd)
            self._lock_fd = -1
        if not self._files:
            for leftover in self.dir.glob("*"):
                leftover.unlink(missing_ok=True)
            try:
                self.dir.rmdir()
            except OSError:
                pass
