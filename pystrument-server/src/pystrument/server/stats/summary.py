"""Statistics computed from the roll-ups (the same for every store): endpoint summaries, trends, functions."""

from __future__ import annotations

import datetime as dt
import math
from collections import defaultdict
from typing import Any

import numpy as np
from pystrument.server.stats import histogram, rollup
from pystrument.server.stores.base import BucketTable, Filters, Store


def _iso(ts: float) -> str:
    return dt.datetime.fromtimestamp(ts, dt.timezone.utc).isoformat().replace("+00:00", "Z")


def _grouped(table: BucketTable, keys: np.ndarray) -> tuple[np.ndarray, np.ndarray, int]:
    uniq, inverse = np.unique(keys, return_inverse=True)
    return uniq, inverse.reshape(-1), len(uniq)


def _group_stats(table: BucketTable, inverse: np.ndarray, n: int) -> dict[str, Any]:
    count = np.bincount(inverse, weights=table.count, minlength=n)
    errors = np.bincount(inverse, weights=table.errors, minlength=n)
    total = np.bincount(inverse, weights=table.sum_ms, minlength=n)
    max_ms = np.zeros(n)
    np.maximum.at(max_ms, inverse, table.max_ms)
    hists = table.histograms(inverse, n, histogram.BINS)
    return {"count": count, "errors": errors, "total": total, "max": max_ms, "hists": hists}


def endpoints(store: Store, project_id: str, filters: Filters) -> list[dict[str, Any]]:
    """Per-endpoint statistics. The roll-up rows stream from the store ordered by endpoint, a table of some
    thousands of rows at a time (``Store.endpoint_tables``): memory is one table plus one item per endpoint
    (at most ``max_endpoints_per_project``), not the project's rows."""
    items: list[dict[str, Any]] = []
    for table in store.endpoint_tables(project_id, filters):
        items += _endpoint_items(table)
    items.sort(key=lambda i: (-i["p95"], i["endpoint"]))
    return items


def _endpoint_items(table: BucketTable) -> list[dict[str, Any]]:
    if not len(table):
        return []
    names, inverse, n = _grouped(table, table.endpoint.astype(str))
    g = _group_stats(table, inverse, n)
    methods: dict[int, set[str]] = defaultdict(set)
    versions: dict[int, set[str]] = defaultdict(set)
    for gi, m, v in set(zip(inverse.tolist(), table.method.tolist(), table.version.tolist(), strict=True)):
        if m:
            methods[gi].add(m)
        versions[gi].add(v)
    items = []
    pcts = histogram.percentiles_matrix(g["hists"], (50, 95, 99), g["max"]).tolist()
    for i, endpoint in enumerate(names.tolist()):
        count, errors = int(g["count"][i]), int(g["errors"][i])
        p50, p95, p99 = pcts[i]
        ms = methods.get(i, set())
        items.append({
            "endpoint": endpoint,
            "method": next(iter(ms)) if len(ms) == 1 else None,
            "count": count,
            "error_count": errors,
            "error_rate": round(errors / count, 6) if count else 0.0,
            "p50": p50, "p95": p95, "p99": p99,
            "max": round(float(g["max"][i]), 3),
            "mean": round(float(g["total"][i]) / count, 3) if count else 0.0,
            "versions": sorted(versions.get(i, set())),
        })
    return items


BUCKETS = {"1h": 3600, "3h": 3 * 3600, "6h": 6 * 3600, "12h": 12 * 3600, "1d": 86400, "7d": 7 * 86400}


def trends(store: Store, project_id: str, filters: Filters, bucket: str) -> dict[str, Any]:
    size = BUCKETS[bucket]
    table = store.bucket_table(project_id, filters, 86400 if size % 86400 == 0 else 3600, keys=False)
    if not len(table):
        return {"bucket": bucket, "points": []}
    starts, inverse, n = _grouped(table, (table.hour // size) * size)
    g = _group_stats(table, inverse, n)
    points = []
    pcts = histogram.percentiles_matrix(g["hists"], (50, 95, 99), g["max"]).tolist()
    for i, t in enumerate(starts.tolist()):
        p50, p95, p99 = pcts[i]
        points.append({"t": _iso(t), "count": int(g["count"][i]), "error_count": int(g["errors"][i]), "p50": p50, "p95": p95, "p99": p99})
    return {"bucket": bucket, "points": points}


def functions(store: Store, project_id: str, endpoint: str | None, version: str | None, limit: int, offset: int = 0) -> tuple[list[dict[str, Any]], int]:
    """One page of the functions (heaviest total self time first) and how many there are. The store groups and
    orders in the database: memory is bounded by the page, not by the number of functions."""
    page = store.function_page(project_id, endpoint, version, offset, limit)
    requests = int(store.bucket_table(project_id, Filters(endpoint=endpoint, version=version), 86400, keys=False).count.sum())
    total_self = page.total_self_ms or 1.0
    items = []
    for r in page.rows:
        function, file, line = rollup.split_function_key(r.fkey)
        p50, p95 = histogram.percentiles(r.hist, (50, 95))
        items.append({
            "function": function, "file": file, "line": line, "is_app": bool(r.is_app),
            "self_ms_total": round(r.self_ms, 3),
            "self_share": round(r.self_ms / total_self, 6),
            "request_share": round(min(1.0, r.requests / requests), 6) if requests else 0.0,
            "p50_self_ms": p50, "p95_self_ms": p95,
            "calls_in": int(r.requests),
        })
    return items, page.total


def finite(x: float) -> float:
    return x if math.isfinite(x) else 0.0
