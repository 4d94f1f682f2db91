"""MongoDB sink: records written as the server's stored documents (``pystrument.core.documents``).

    configure(sinks=["mongodb://127.0.0.1:27017/pystrument?collection=records"])

``insert_many(ordered=False)``; ``_id`` is the record_id, so a record sent twice is stored once (the
duplicate-key error counts as success). The indexes of ``documents.INDEXES`` are created once. Options:
docs/sinks.md.
"""

from __future__ import annotations

from collections.abc import Callable

from pystrument.core import hookimpl

from .sink import MongoSink

__all__ = ["MongoSink"]


@hookimpl
def register_sinks(register: Callable[..., None]) -> None:
    register("mongodb", MongoSink)
    register("mongodb+srv", MongoSink)
