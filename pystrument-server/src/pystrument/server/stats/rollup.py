"""Roll-ups maintained at ingest, computed here once for every store.

- Endpoint buckets: per (endpoint, method, version, environment, hour): count, errors, sum, max and
  a log-scale histogram of ``duration_ms`` (see histogram.py). Summaries and trends read these.
- Function aggregates: per (endpoint, version, function key): total self time, the number of records it
  appears in, and a histogram of its per-request self time. ``/functions`` reads these.
"""

from __future__ import annotations

import datetime as dt
import math
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from pystrument.core.histogram_bins import LOG_R
from pystrument.core.record import CallNode, Record
from pystrument.server.stats import histogram

HOUR = 3600


def is_error(record: Record) -> bool:
    return record.error is not None or (record.status_code is not None and record.status_code >= 500)


def hour_of(started: dt.datetime) -> int:
    ts = started.timestamp() if started.tzinfo else started.replace(tzinfo=dt.timezone.utc).timestamp()
    return int(ts // HOUR) * HOUR


def split_function_key(key: str) -> tuple[str, str, int]:
    function, file, line = key.split("\x00")
    return function, file, int(line or 0)


@dataclass
class Bucket:
    count: int = 0
    errors: int = 0
    sum_ms: float = 0.0
    max_ms: float = 0.0
    bins: dict[int, int] = field(default_factory=dict)  # sparse histogram (histogram.py bins)

    def hist(self) -> np.ndarray:
        return _dense(self.bins)


@dataclass
class FunctionAgg:
    self_ms: float = 0.0
    requests: int = 0
    is_app: bool = False
    bins: dict[int, int] = field(default_factory=dict)

    def hist(self) -> np.ndarray:
        return _dense(self.bins)


def _dense(bins: dict[int, int]) -> np.ndarray:
    hist = histogram.empty()
    for i, n in bins.items():
        hist[i] += n
    return hist


def add_bucket(into: Bucket, b: Bucket) -> None:
    into.count += b.count
    into.errors += b.errors
    into.sum_ms += b.sum_ms
    into.max_ms = max(into.max_ms, b.max_ms)
    _add_bins(into.bins, b.bins)


def _add_bins(into: dict[int, int], bins: dict[int, int]) -> None:
    for i, n in bins.items():
        into[i] = into.get(i, 0) + n


BucketKey = tuple[str, str, str, str, int]  # endpoint, method, version, environment, hour
FunctionKeyT = tuple[str, str, str]  # endpoint, version, function key


def self_times(tree: CallNode | None) -> dict[tuple[str, str, int], list[Any]]:
    """Per (function, file, line): ``[self time summed over the tree, is_app]`` (pruned ``[other]`` nodes left out).
    Hot: runs for every record at ingest (``compute``), so written as one tight loop."""
    out: dict[tuple[str, str, int], list[Any]] = {}
    if tree is None:
        return out
    stack = [tree]
    pop, extend = stack.pop, stack.extend
    while stack:
        node = pop()
        if not node.pruned:
            key = (node.function, node.file, node.line)
            entry = out.get(key)
            if entry is None:
                out[key] = [node.self_ms, node.is_app]
            else:
                entry[0] += node.self_ms
        if node.children:
            extend(node.children)
    return out


def compute(records: list[Record]) -> tuple[dict[BucketKey, Bucket], dict[FunctionKeyT, FunctionAgg]]:
    """The roll-up increments of a batch (hot: runs on every ingest, so written as one tight loop)."""
    buckets: dict[BucketKey, Bucket] = defaultdict(Bucket)
    acc: dict[tuple[str, str, tuple[str, str, int]], list[Any]] = {}  # (endpoint, version, (function, file, line)) -> [self_ms, requests, is_app, bins]
    bin_of = histogram.bin_of
    log, low, inv_r, top = math.log, histogram.LOW, 1.0 / LOG_R, histogram.BINS - 1
    for r in records:
        key = (r.name, r.method or "", r.app.version, r.app.environment, hour_of(r.started_at))
        b = buckets[key]
        b.count += 1
        b.errors += is_error(r)
        b.sum_ms += r.duration_ms
        if r.duration_ms > b.max_ms:
            b.max_ms = r.duration_ms
        i = bin_of(r.duration_ms)
        b.bins[i] = b.bins.get(i, 0) + 1
        if r.call_tree is None:
            continue
        seen = self_times(r.call_tree)
        name, version = r.name, r.app.version
        for k, (v, is_app) in seen.items():
            fk = (name, version, k)
            f = acc.get(fk)
            if f is None:
                f = acc[fk] = [0.0, 0, False, {}]
            f[0] += v
            f[1] += 1
            if is_app:
                f[2] = True
            if v > low:
                i = int(log(v / low) * inv_r) + 1
                if i > top:
                    i = top
            else:
                i = 0
            bins = f[3]
            bins[i] = bins.get(i, 0) + 1
    functions = {(ep, ver, f"{k[0]}\x00{k[1]}\x00{k[2]}"): FunctionAgg(v[0], v[1], v[2], v[3]) for (ep, ver, k), v in acc.items()}
    return buckets, functions


Increments = tuple[dict[BucketKey, Bucket], dict[FunctionKeyT, FunctionAgg]]


def merged(increments: list[Increments]) -> Increments:
    """The sum of several batches' increments (new objects: the inputs are left as they were)."""
    if len(increments) == 1:
        return increments[0]
    buckets: dict[BucketKey, Bucket] = {}
    functions: dict[FunctionKeyT, FunctionAgg] = {}
    for bs, fs in increments:
        for bkey, b in bs.items():
            add_bucket(buckets.setdefault(bkey, Bucket()), b)
        for fkey, f in fs.items():
            into = functions.setdefault(fkey, FunctionAgg())
            into.self_ms += f.self_ms
            into.requests += f.requests
            into.is_app = into.is_app or f.is_app
            _add_bins(into.bins, f.bins)
    return buckets, functions
