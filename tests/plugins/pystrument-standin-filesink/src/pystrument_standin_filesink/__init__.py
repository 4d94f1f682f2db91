"""A stand-in file sink for tests of subprocess servers (``pystrument-run``), until the real
``pystrument-sink-file`` exists: ``standin-file:///abs/path.jsonl`` appends one JSON record a line."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from typing import Any

from pystrument.core import hookimpl
from pystrument.core.record import encode

_lock = threading.Lock()


class StandinFileSink:
    def __init__(self, url: str, config: Any = None) -> None:
        self.name = url
        self.path = url.split("://", 1)[1]
        if not os.path.isabs(self.path):
            raise ValueError(f"standin-file sink needs an absolute path (standin-file:///abs/file.jsonl), got {url!r}")

    def send(self, batch: list[Any]) -> None:
        lines = b"".join(encode(record) + b"\n" for record in batch)
        with _lock, open(self.path, "ab") as f:
            f.write(lines)

    def close(self) -> None:
        pass


@hookimpl
def register_sinks(register: Callable[..., None]) -> None:
    register("standin-file", StandinFileSink)
