"""``memory://NAME``: keeps records in a list, for your own tests.

    from pystrument.core import configure
    from pystrument.core.memory_sink import records
    configure(sinks=["memory://mine"], async_send=False)
    ...  # run the code under test
    assert records("mine")[0].name == "GET /users/{user_id}"
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from .plugins import hookimpl
from .record import Record

_stores: dict[str, list[Record]] = {}
_lock = threading.Lock()


def records(name: str = "default") -> list[Record]:
    """The records the memory sink ``memory://name`` has received so far."""
    with _lock:
        return _stores.setdefault(name, [])


def clear(name: str | None = None) -> None:
    with _lock:
        if name is None:
            _stores.clear()
        else:
            _stores.pop(name, None)


class MemorySink:
    def __init__(self, url: str, config: Any = None) -> None:
        self.name = url
        self.key = url.split("://", 1)[1].strip("/") or "default"

    def send(self, batch: list[Record]) -> None:
        with _lock:
            _stores.setdefault(self.key, []).extend(batch)

    def close(self) -> None:
        pass


@hookimpl
def register_sinks(register: Callable[..., None]) -> None:
    register("memory", MemorySink)
