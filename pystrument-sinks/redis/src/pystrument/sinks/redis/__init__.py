"""Redis sink: each record is one entry of a Redis stream, for the server's workers to consume.

    configure(sinks=["redis://127.0.0.1:6379/0?stream=pystrument:records&maxlen=100000"])

One pipelined ``XADD`` per record per batch, with an approximate ``MAXLEN`` cap. Entry fields:
``record`` (the record's JSON, ``schema_version`` first) and ``record_id`` (to deduplicate
without parsing). Options: docs/sinks.md.
"""

from __future__ import annotations

from collections.abc import Callable

from pystrument.core import hookimpl

from .sink import FIELDS, RedisSink

__all__ = ["FIELDS", "RedisSink"]


@hookimpl
def register_sinks(register: Callable[..., None]) -> None:
    register("redis", RedisSink)
    register("rediss", RedisSink)
