"""The types ingest decodes into: pystrument.core's Record and CallNode, as structs the cyclic GC does not track,
with every number bounded.

A batch of 100 records of ~10 KB holds some 14,000 call-tree nodes; as plain ``CallNode`` structs (and a
``children`` list each) they are all GC-tracked, and while a few batches are in flight every collection walks
them again: measured, that doubled the CPU per record of decoding. Here the nodes are untracked
(``gc=False``) and their children are tuples (untracked once they hold only untracked nodes). JSON trees
cannot form reference cycles, so nothing is left for the collector to find. Same fields, same error paths,
same JSON values when encoded (the redefined keys come first: stores read their summaries by key); they are
instances of ``Record`` and ``CallNode``.

Every number is checked at decode time (msgspec ``Meta`` bounds): finite (JSON has no NaN or Infinity, and a
literal too large for a float, like ``1e400``, is refused as out of range) and within a sane range for its
field. The bounds also keep every sum the server makes finite: a tree holds at most ``max_body_bytes / 10``
nodes, so summing ``self_ms`` over a tree (roll-ups) or ``duration_ms`` over a project's records (buckets)
stays many orders of magnitude below the float range, and counts below SQLite's 64-bit integers. A record out
of range is refused alone (422, its field named as a path, e.g. ``call_tree.children[3].self_ms``).
"""

from __future__ import annotations

from typing import Annotated

import msgspec
from pystrument.core.histogram_bins import BINS
from pystrument.core.record import AppInfo, CallNode, Record, RequestStats, Span

MAX_MS = 1e10  # any time in ms: about 115 days, far beyond any profiled unit
MAX_INTERVAL_MS = 60_000.0  # a sampling interval of a minute
MAX_COUNT = 2**40  # sample counts and pruned-frame counts (~10^12)
MAX_LINE = 2**31 - 1
MAX_PID = 2**32
MAX_SPANS = 10_000  # spans per record (the SDK's max_spans_per_unit is 500 by default)
MAX_SPAN_TEXT = 10_000  # characters of a span's statement or URL

Ms = Annotated[float, msgspec.Meta(ge=0, le=MAX_MS)]
Count = Annotated[int, msgspec.Meta(ge=0, le=MAX_COUNT)]
Line = Annotated[int, msgspec.Meta(ge=0, le=MAX_LINE)]
StatusCode = Annotated[int, msgspec.Meta(ge=100, le=599)]
SampleRate = Annotated[float, msgspec.Meta(ge=0, le=1)]
IntervalMs = Annotated[float, msgspec.Meta(ge=0, le=MAX_INTERVAL_MS)]
SchemaVersion = Annotated[int, msgspec.Meta(ge=1, le=1000)]
Pid = Annotated[int, msgspec.Meta(ge=0, le=MAX_PID)]
StatusKey = Annotated[str, msgspec.Meta(pattern=r"^[1-5][0-9][0-9]$")]
BinIndex = Annotated[int, msgspec.Meta(ge=0, lt=BINS)]
MAX_STATUSES = 500  # distinct status codes in one aggregate (there are 500 codes from 100 to 599)

# the bounds as the API reference and docs/server.md show them
BOUNDS = (
    ("duration_ms, cpu_ms, call_tree time_ms and self_ms", f"0 to {MAX_MS:.0e} (about 115 days)"),
    ("interval_ms", f"0 to {MAX_INTERVAL_MS:.0f}"),
    ("sample_rate", "0 to 1"),
    ("status_code", "100 to 599 (or null)"),
    ("sample_count, call_tree samples and pruned", "0 to 2^40"),
    ("call_tree line", "0 to 2^31-1"),
    ("schema_version", "1 to 1000"),
    ("app.pid", "0 to 2^32"),
    ("spans", f"at most {MAX_SPANS} per record; start_ms and duration_ms 0 to {MAX_MS:.0e}; statement and url at most {MAX_SPAN_TEXT} characters"),
    ("started_at", "1970-01-01 to 2200-01-01"),
    ("requests.count, errors and each statuses/duration_bins count", "0 to 2^40"),
    ("requests.statuses keys", "3-digit status codes, 100 to 599"),
    ("requests.duration_bins keys", f"bin indexes 0 to {BINS - 1} (pystrument.core.histogram_bins)"),
    ("requests.cpu_ms and max_ms", f"0 to {MAX_MS:.0e}"),
)


class IngestNode(CallNode, gc=False):
    """One frame of a call tree. ``time_ms`` is total (inclusive) time, ``self_ms`` exclusive."""

    line: Line = 0
    time_ms: Ms = 0.0
    self_ms: Ms = 0.0
    children: tuple[IngestNode, ...] = ()  # type: ignore[assignment]  # a tuple, not CallNode's list: untracked by the GC; only read
    pruned: Count = 0
    samples: Count = 0


SpanText = Annotated[str, msgspec.Meta(max_length=MAX_SPAN_TEXT)]
Short = Annotated[str, msgspec.Meta(max_length=1000)]


class IngestSpan(Span, gc=False):
    """One SQL query or HTTP call of the unit (docs/spans.md), with every field bounded."""

    start_ms: Ms
    duration_ms: Ms
    statement: SpanText = ""
    url: SpanText = ""
    db: Short = ""
    host: Short = ""
    method: Short = ""
    error: Short = ""
    file: SpanText = ""
    function: Short = ""
    status: Annotated[int, msgspec.Meta(ge=0, le=999)] = 0
    line: Line = 0


class IngestApp(AppInfo, gc=False):
    pid: Pid = 0


class IngestRequestStats(RequestStats, gc=False):
    """The request counts of a continuous aggregate (kind "aggregate")."""

    count: Count
    errors: Count = 0
    statuses: Annotated[dict[StatusKey, Count], msgspec.Meta(max_length=MAX_STATUSES)] = {}
    duration_bins: Annotated[dict[BinIndex, Count], msgspec.Meta(max_length=BINS)] = {}
    cpu_ms: Ms = 0.0
    max_ms: Ms = 0.0


class IngestRecord(Record, kw_only=True, gc=False):
    call_tree: IngestNode | None = None
    schema_version: SchemaVersion = 1
    status_code: StatusCode | None = None
    duration_ms: Ms
    cpu_ms: Ms = 0.0
    sample_rate: SampleRate = 1.0
    app: IngestApp = msgspec.field(default_factory=IngestApp)
    sample_count: Count = 0
    interval_ms: IntervalMs = 0.0
    requests: IngestRequestStats | None = None
    spans: Annotated[list[IngestSpan], msgspec.Meta(max_length=MAX_SPANS)] = []  # type: ignore[assignment]  # bounded spans; only read
    spans_dropped: Count = 0
