"""Queries and outbound calls per request of one endpoint, as distributions per version (docs/spans.md).

Read from the records' spans, not from roll-ups: the latest ``sample_limit`` records of each version (at most
``MAX_VERSIONS`` versions, newest first), without call trees. Per version: how many records were read, how many
carried spans, and p50/p95/mean of the SQL query count, the SQL time, the HTTP call count and the HTTP time per
request. A record without spans counts as a request that made none (an SDK with ``capture_spans`` off too).
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
from pystrument.server.stores.base import Filters, Store

MAX_VERSIONS = 20
METRICS = ("queries", "query_ms", "http_calls", "http_ms")


def _summary(values: list[float]) -> dict[str, float]:
    array = np.asarray(values, dtype=float)
    p50, p95 = np.percentile(array, (50, 95)).tolist()
    return {"p50": round(p50, 3), "p95": round(p95, 3), "mean": round(float(array.mean()), 3)}


def endpoint_spans(store: Store, project_id: str, filters: Filters, limit: int) -> list[dict[str, Any]]:
    if filters.version is not None:
        versions = [filters.version]
    else:
        rows = sorted(store.versions(project_id), key=lambda v: v["last_seen"], reverse=True)
        versions = list(dict.fromkeys(v["version"] for v in rows))[:MAX_VERSIONS]
    items = []
    for version in versions:
        per: dict[str, list[float]] = {m: [] for m in METRICS}
        with_spans = 0
        for record in store.sample_records(project_id, dataclasses.replace(filters, version=version), limit, with_tree=False):
            with_spans += bool(record.spans)
            counts = {m: 0.0 for m in METRICS}
            for span in record.spans:
                if span.kind == "sql":
                    counts["queries"] += 1
                    counts["query_ms"] += span.duration_ms
                else:
                    counts["http_calls"] += 1
                    counts["http_ms"] += span.duration_ms
            for m in METRICS:
                per[m].append(counts[m])
        if per["queries"]:
            items.append({"version": version, "records": len(per["queries"]), "records_with_spans": with_spans,
                          **{m: _summary(per[m]) for m in METRICS}})
    return items
