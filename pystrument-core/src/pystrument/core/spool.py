"""A bounded on-disk spool of batches waiting for their sink, replayed oldest first (the retry queue's disk store).

Each spooled batch is one file of frames, one frame per record: a header (payload length, failed flag,
duration in ms) and the record's bytes, zlib-compressed. Inside a file the frames are sorted most
valuable first (failed, then slower), so dropping a file's least valuable record is a ``truncate``.
When the spool is over its size cap, the least valuable record of the whole spool is dropped, one at a
time, until it fits (shelf.py): fast successful records go before slow or failed ones, and every drop is
counted.

Each process spools into its own folder ``<root>/<pid>-<token>``, holding an ``fcntl`` lock on
``<folder>/lock`` while it lives. A new spool adopts the files of folders whose lock is free (a process
that exited or crashed with batches pending), so they are replayed by the next process. File names
start with the time they were written, so adopted older batches go first.
"""

from __future__ import annotations

import os
import secrets
import struct
import tempfile
import threading
import time
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from .shelf import Held, Shelf

try:
    import fcntl
except ImportError:  # Windows: each process keeps its own spool; no adoption of others' folders
    fcntl = None  # type: ignore[assignment]

FRAME = struct.Struct("<IBd")  # payload length, failed (0/1), duration_ms
SUFFIX = ".spool"


def default_root() -> Path:
    uid = os.getuid() if hasattr(os, "getuid") else 0
    return Path(tempfile.gettempdir()) / f"pystrument-spool-{uid}"


@dataclass
class SpooledBatch:
    """One spooled batch taken for replay: the records' bytes, most valuable first."""

    key: str
    records: list[bytes]


class Spool:
    def __init__(self, root: Path, max_bytes: int) -> None:
        self.root = root
        self.max_bytes = max_bytes
        self.dir = root / f"{os.getpid()}-{secrets.token_hex(4)}"
        self._lock = threading.Lock()
        self._shelf: Shelf[int] = Shelf()  # file name -> frames (each held item: the frame's offset in its file)
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
        if fcntl is not None:
            fcntl.flock(self._lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        os.rename(hidden, self.dir)
        for other in self.root.iterdir() if fcntl is not None else ():
            if other == self.dir or other.name.startswith(".") or not other.is_dir():
                continue
            try:
                self._adopt(other)
            except OSError:
                continue  # another process adopted it first
        for path in sorted(self.dir.glob(f"*{SUFFIX}"), key=lambda p: p.name):  # oldest first
            self._index(path)
        self.adopted = self._shelf.count
        self._trim()

    def _adopt(self, other: Path) -> None:
        """Move the spool files of a folder no live process holds into ours."""
        try:
            fd = os.open(other / "lock", os.O_RDWR | os.O_CREAT, 0o600)
        except OSError:
            return
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return  # its process is alive and replays them itself
            for path in other.glob(f"*{SUFFIX}"):
                os.replace(path, self.dir / path.name)
            for leftover in other.iterdir():
                leftover.unlink(missing_ok=True)
            other.rmdir()
        finally:
            os.close(fd)

    def _index(self, path: Path) -> None:
        frames: list[Held[int]] = []
        with open(path, "rb") as fh:
            data_len = os.fstat(fh.fileno()).st_size
            offset = 0
            while offset + FRAME.size <= data_len:
                fh.seek(offset)
                length, failed, duration = FRAME.unpack(fh.read(FRAME.size))
                if offset + FRAME.size + length > data_len:
                    break  # a torn last frame (crash while writing): ignore it
                frames.append(Held(failed, duration, FRAME.size + length, offset))
                offset += FRAME.size + length
        if offset != data_len:
            os.truncate(path, offset)
        if not frames:
            path.unlink(missing_ok=True)
            return
        self._shelf.add(path.name, frames)

    # -- writing ----------------------------------------------------------------------------
    def put(self, records: Sequence[tuple[bytes, bool, float]]) -> int:
        """Spool one batch: ``(record bytes, failed, duration_ms)`` each. Returns how many records were dropped."""
        chunks = []
        frames: list[Held[int]] = []
        offset = 0
        for payload, failed, duration in sorted(records, key=lambda r: (r[1], r[2]), reverse=True):
            packed = zlib.compress(payload, 1)
            chunks.append(FRAME.pack(len(packed), int(failed), duration))
            chunks.append(packed)
            frames.append(Held(int(failed), duration, FRAME.size + len(packed), offset))
            offset += FRAME.size + len(packed)
        with self._lock:
            self._counter += 1
            name = f"{time.time_ns():020d}-{self._counter:08d}{SUFFIX}"
            path = self.dir / name
            tmp = path.with_suffix(".tmp")
            with open(tmp, "wb") as fh:
                fh.write(b"".join(chunks))
            os.replace(tmp, path)
            self._shelf.add(name, frames)  # already most valuable first
            return self._trim()

    def _trim(self) -> int:
        dropped = self._shelf.trim(self.max_bytes, self._cut)
        self.dropped += dropped
        return dropped

    def _cut(self, name: str, frame: Held[int], emptied: bool) -> None:
        """The shelf dropped a file's last frame: cut it off the file (or remove the file)."""
        if emptied:
            (self.dir / name).unlink(missing_ok=True)
        else:
            os.truncate(self.dir / name, frame.item)

    # -- replay -----------------------------------------------------------------------------
    def oldest(self) -> SpooledBatch | None:
        """The oldest batch, pinned (not trimmed) until ``done`` or ``release``. A file that cannot be
        read back (damaged on disk) is removed and its records counted as ``corrupt``."""
        while True:
            with self._lock:
                found = self._shelf.oldest()
                if found is None:
                    return None
                name, frames = found
                try:
                    with open(self.dir / name, "rb") as fh:
                        data = fh.read(sum(f.size for f in frames))
                    records = []
                    for frame in frames:
                        length = FRAME.unpack_from(data, frame.item)[0]
                        start = frame.item + FRAME.size
                        records.append(zlib.decompress(data[start:start + length]))
                    return SpooledBatch(name, records)
                except (OSError, zlib.error, struct.error):
                    self.corrupt += len(self._shelf.remove(name))
                    (self.dir / name).unlink(missing_ok=True)

    def done(self, key: str) -> None:
        """The batch ``key`` was delivered (or given up): remove it."""
        with self._lock:
            self._shelf.remove(key)
            (self.dir / key).unlink(missing_ok=True)

    def release(self) -> None:
        """The batch taken by ``oldest`` could not be delivered now: keep it for later."""
        with self._lock:
            self._shelf.unpin()
            self._trim()

    def clear(self) -> int:
        """Remove every spooled batch (its sink stopped for good); returns how many records went."""
        with self._lock:
            count = self._shelf.count
            for name in self._shelf.clear():
                (self.dir / name).unlink(missing_ok=True)
            return count

    # -- state ------------------------------------------------------------------------------
    def __len__(self) -> int:
        return self._shelf.count

    @property
    def size(self) -> int:
        return self._shelf.size

    def stats(self) -> dict[str, int]:
        return {"spool_records": self._shelf.count, "spool_bytes": self._shelf.size, "spool_files": len(self._shelf.batches),
                "spool_adopted": self.adopted}

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
        if not self._shelf.batches:
            for leftover in self.dir.glob("*"):
                leftover.unlink(missing_ok=True)
            try:
                self.dir.rmdir()
            except OSError:
                pass
