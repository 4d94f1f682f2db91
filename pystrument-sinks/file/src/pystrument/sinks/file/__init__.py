"""File sink: records as JSON Lines, one record a line (``pystrument-server import`` reads these files).

    configure(sinks=["file:///var/log/pystrument/records.jsonl?max_bytes=10485760&keep=5&compress=gzip"])

Several processes may append to the same file: each batch is one ``O_APPEND`` write, and rotation
happens under an exclusive ``fcntl`` lock on ``<file>.lock``. Options: docs/sinks.md.
"""

from __future__ import annotations

from collections.abc import Callable

from pystrument.core import hookimpl

from .sink import FileSink

__all__ = ["FileSink"]


@hookimpl
def register_sinks(register: Callable[..., None]) -> None:
    register("file", FileSink)
