"""The record: what travels from the SDK to sinks and the server (docs/api.md, "Ingest"; docs/architecture.md).

One schema module, shared by every sink and store. Records are msgspec Structs encoded as JSON,
``schema_version`` first. ``record_id`` is made by the client and is the idempotency key.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

import msgspec

SCHEMA_VERSION = 1

Kind = Literal["request", "function", "task", "block", "aggregate"]


class CallNode(msgspec.Struct, omit_defaults=True):
    """One frame of a call tree. ``time_ms`` is total (inclusive) time, ``self_ms`` exclusive."""

    function: str
    file: str = ""
    line: int = 0
    time_ms: float = 0.0
    self_ms: float = 0.0
    is_app: bool = False
    children: list[CallNode] = []
    # Set on the synthetic node that stands for pruned frames, with how many frames it replaced.
    pruned: int = 0
    # Profiler samples that landed in this frame or below it (time_ms is their summed weight).
    samples: int = 0


class Span(msgspec.Struct, omit_defaults=True, gc=False):
    """One SQL query or outbound HTTP call a unit made (docs/spans.md).

    ``start_ms`` is the offset from the unit's start. SQL: ``statement`` normalised (literals ``?``, IN
    lists collapsed, whitespace folded; parameters are never kept), ``db`` the system (sqlite, postgresql,
    mysql). HTTP: ``method``, ``url`` (scheme://host/path, query values ``?``), ``host``, ``status``.
    ``file``/``line``/``function``: the application frame that issued it. Not tracked by the garbage collector
    (``gc=False``: scalar fields only, no cycle possible), so hundreds of spans per record cost it nothing.
    """

    kind: Literal["sql", "http"]
    start_ms: float
    duration_ms: float
    statement: str = ""
    db: str = ""
    host: str = ""
    method: str = ""
    url: str = ""
    status: int = 0
    error: str = ""
    file: str = ""
    line: int = 0
    function: str = ""


class AppInfo(msgspec.Struct, omit_defaults=True):
    name: str = ""
    version: str = ""
    environment: str = ""
    host: str = ""
    pid: int = 0
    python: str = ""
    framework: str = ""
    sdk_version: str = ""


class ErrorInfo(msgspec.Struct):
    type: str
    message: str = ""


class RequestStats(msgspec.Struct, omit_defaults=True):
    """Counts of the requests that ENDED in an aggregate's window (100% of them, sampled or not).

    ``duration_bins`` is a sparse log histogram (bin index -> count) in the scheme of
    ``pystrument.core.histogram_bins``; ``errors`` counts status >= 500 or raised.
    """

    count: int
    errors: int = 0
    statuses: dict[str, int] = {}
    duration_bins: dict[int, int] = {}
    cpu_ms: float = 0.0
    max_ms: float = 0.0


class Record(msgspec.Struct, kw_only=True):
    schema_version: int = SCHEMA_VERSION
    record_id: str
    project_key: str = ""
    kind: Kind = "function"
    name: str
    method: str | None = None
    path: str | None = None
    status_code: int | None = None
    started_at: dt.datetime
    duration_ms: float
    cpu_ms: float = 0.0
    sample_rate: float = 1.0
    app: AppInfo = msgspec.field(default_factory=AppInfo)
    tags: dict[str, str] = {}
    error: ErrorInfo | None = None
    call_tree: CallNode | None = None
    truncated: bool = False
    # The unit ran as a coroutine (its call tree holds [await] time).
    is_async: bool = False
    # Number of profiler samples behind call_tree, and the sampling interval they were taken at.
    sample_count: int = 0
    interval_ms: float = 0.0
    # Source lines of hot application functions, keyed "file:line" (only with capture_source).
    source: dict[str, str] = {}
    # Only on kind="aggregate" (continuous mode): the requests that ended in the window.
    requests: RequestStats | None = None

    # SQL queries and outbound HTTP calls of the unit (capture_spans), at most max_spans_per_unit; the rest counted.
    spans: list[Span] = []
    spans_dropped: int = 0


_encoder = msgspec.json.Encoder()
_record_decoder = msgspec.json.Decoder(Record)
_batch_decoder = msgspec.json.Decoder(list[Record])


def encode(obj: Record | list[Record]) -> bytes:
    """Encode a record or a list of records as JSON bytes."""
    return _encoder.encode(obj)


def decode_record(data: bytes | str) -> Record:
    """Decode and validate one record. Raises ``msgspec.ValidationError`` naming the field path."""
    return _record_decoder.decode(data)


def decode_batch(data: bytes | str) -> list[Record]:
    return _batch_decoder.decode(data)


def to_builtins(record: Record) -> dict[str, Any]:
    """The record as plain JSON-compatible builtins."""
    data: dict[str, Any] = msgspec.to_builtins(record)
    return data
