"""Helpers of the span tests: one unit run through a real client into a memory sink."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from core_helpers import memory_client
from pystrument.core.memory_sink import records
from pystrument.core.record import Record


def record_of(work: Callable[[], Any], **settings: Any) -> Record:
    """Run ``work`` as one sampled unit of a fresh client; the record it delivered."""
    client, sink = memory_client(**settings)
    unit = client.start("function", "spans-test")
    assert unit is not None
    try:
        work()
    finally:
        client.finish(unit)
    assert client.flush(10)
    (record,) = records(sink)
    return record
