"""JSON Lines with size-based rotation, shared safely by several processes.

Writing: every batch is encoded as lines and written with one ``write()`` on a descriptor opened with
``O_APPEND``, while holding a *shared* ``flock`` on ``<file>.lock``: appends of whole batches never
interleave, and several writers proceed together. Before writing, a writer checks that its descriptor
still refers to the file at the path (another process may have rotated it) and reopens it if not.

Rotation (when the file would grow past ``max_bytes``): under an *exclusive* lock, so no writer holds
the old file; ``<file>.N`` is removed, ``<file>.i`` becomes ``<file>.i+1``, ``<file>`` becomes
``<file>.1`` (gzip-compressed to ``<file>.1.gz`` with ``compress=gzip``), and writers reopen ``<file>``.
"""

from __future__ import annotations

import gzip
import os
import shutil
import threading
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import msgspec
from pystrument.core.record import Record

try:
    import fcntl
except ImportError:  # Windows: no flock; one writing process per file there
    fcntl = None  # type: ignore[assignment]
from pystrument.core.sinks import parse_bool, url_options

OPTIONS: dict[str, Callable[[str], Any]] = {"max_bytes": int, "keep": int, "compress": str, "fsync": parse_bool}
_encoder = msgspec.json.Encoder()


def _flock(fd: int, op: str) -> None:
    if fcntl is not None:
        fcntl.flock(fd, {"sh": fcntl.LOCK_SH, "ex": fcntl.LOCK_EX, "un": fcntl.LOCK_UN}[op])


def path_of(url: str) -> Path:
    """``file:///abs/path.jsonl``, ``file:relative.jsonl`` or ``file://localhost/abs`` -> a path."""
    parts = urlsplit(url)
    if parts.netloc not in ("", "localhost", "."):
        raise ValueError(f"file sink URL {url!r}: use file:///absolute/path.jsonl (three slashes) or file:relative/path.jsonl")
    raw = unquote(parts.path)
    if parts.netloc == ".":
        raw = "." + raw
    if not raw or raw.endswith("/"):
        raise ValueError(f"file sink URL {url!r} names no file: use e.g. file:///var/log/pystrument/records.jsonl")
    return Path(raw).expanduser()


class FileSink:
    """``file:///path/records.jsonl?max_bytes=...&keep=...&compress=gzip``."""

    def __init__(self, url: str, config: Any = None) -> None:
        stripped, opts = url_options(url, OPTIONS)
        self.path = path_of(stripped).absolute()
        self.name = f"file://{self.path}"
        self.max_bytes = opts.get("max_bytes", 0)
        self.keep = opts.get("keep", 5)
        self.compress = opts.get("compress", "none").lower()
        self.fsync = opts.get("fsync", False)
        if self.max_bytes < 0 or self.keep < 0:
            raise ValueError(f"file sink {url!r}: max_bytes and keep must be 0 or more")
        if self.compress not in ("none", "gzip"):
            raise ValueError(f"file sink {url!r}: compress={self.compress!r} is not supported (use compress=gzip or leave it out)")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ValueError(f"file sink {url!r}: cannot create the folder {self.path.parent}: {exc}") from None
        if not os.access(self.path.parent, os.W_OK):
            raise ValueError(f"file sink {url!r}: the folder {self.path.parent} is not writable by this process")
        self.lock_path = self.path.with_name(self.path.name + ".lock")
        self.counts: Counter[str] = Counter()
        self._lock = threading.Lock()
        self._pid = 0
        self._fd = -1
        self._lock_fd = -1

    # -- descriptors --------------------------------------------------------------------------
    def _open(self) -> None:
        if self._pid != os.getpid():  # first use, or a forked child: descriptors of our own
            self._fd = self._lock_fd = -1
            self._pid = os.getpid()
        if self._lock_fd < 0:
            self._lock_fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT, 0o644)
        if self._fd >= 0:
            try:
                same = os.fstat(self._fd).st_ino == os.stat(self.path).st_ino
            except FileNotFoundError:
                same = False
            if same:
                return
            os.close(self._fd)
            self._fd = -1
        self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)

    # -- the sink interface -------------------------------------------------------------------
    def send(self, batch: list[Record]) -> None:
        data = _encoder.encode_lines(batch)
        with self._lock:
            self._open()
            _flock(self._lock_fd, "sh")
            try:
                self._open()  # the path may have been rotated while we waited for the lock
                if self.max_bytes and 0 < os.fstat(self._fd).st_size and os.fstat(self._fd).st_size + len(data) > self.max_bytes:
                    _flock(self._lock_fd, "un")
                    self._rotate(len(data))
                    _flock(self._lock_fd, "sh")
                    self._open()
                written = os.write(self._fd, data)
                if self.fsync:
                    os.fsync(self._fd)
            finally:
                _flock(self._lock_fd, "un")
        if written != len(data):  # a regular file writes all or fails, unless the disk is full
            raise OSError(f"short write to {self.path}: {written} of {len(data)} bytes (disk full?)")
        self.counts["written"] += len(batch)
        self.counts["bytes"] += written

    def _rotated(self, index: int) -> Path:
        return self.path.with_name(f"{self.path.name}.{index}")

    def _existing_rotated(self) -> list[tuple[int, str]]:
        """(index, "" or ".gz") of the rotated files present, highest index first."""
        found = []
        prefix = self.path.name + "."
        for entry in os.scandir(self.path.parent):
            if not entry.name.startswith(prefix):
                continue
            rest = entry.name[len(prefix):]
            number, _, suffix = rest.partition(".")
            if number.isdigit() and suffix in ("", "gz"):
                found.append((int(number), "." + suffix if suffix else ""))
        return sorted(found, reverse=True)

    def _rotate(self, incoming: int) -> None:
        _flock(self._lock_fd, "ex")
        try:
            try:
                size = os.stat(self.path).st_size
            except FileNotFoundError:
                return
            if size == 0 or size + incoming <= self.max_bytes:
                return  # another process rotated it while we waited
            for index, suffix in self._existing_rotated():  # highest first
                src = Path(f"{self._rotated(index)}{suffix}")
                if index >= self.keep:
                    src.unlink(missing_ok=True)
                else:
                    os.replace(src, f"{self._rotated(index + 1)}{suffix}")
            if self.keep == 0:
                self.path.unlink()
            else:
                first = self._rotated(1)
                os.replace(self.path, first)
                if self.compress == "gzip":
                    tmp = Path(f"{first}.gz.tmp")
                    with open(first, "rb") as src_fh, gzip.open(tmp, "wb", compresslevel=6) as dst:
                        shutil.copyfileobj(src_fh, dst, 1 << 20)
                    os.replace(tmp, f"{first}.gz")
                    first.unlink()
            self.counts["rotations"] += 1
        finally:
            _flock(self._lock_fd, "un")

    def close(self) -> None:
        with self._lock:
            if self._pid == os.getpid():
                for fd in (self._fd, self._lock_fd):
                    if fd >= 0:
                        os.close(fd)
            self._fd = self._lock_fd = -1

    def stats(self) -> dict[str, Any]:
        return dict(self.counts)
