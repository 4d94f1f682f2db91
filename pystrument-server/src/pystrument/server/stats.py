"""Statistics computed from the roll-ups (the same for every store): endpoint summaries, trends, functions."""

from __future__ import annotations

import datetime as dt
import math
from collections import defaultdict
from typing import Any

import numpy as np

from . import histogram, rollup
from .stores.base import BucketRow, Filters, Store


def _iso(ts: float) -> str:
    return dt.datetime.fromtimestamp(ts, dt.timezone.utc).isoformat().replace("+00:00", "Z")


def _sum(rows: list[BucketRow]) -> tuple[int, int, float, float, np.ndarray]:
    hist = np.sum([r.hist for r in rows], axis=0) if rows else histogram.empty()
    return sum(r.count for r in rows), sum(r.errors for r in rows), sum(r.sum_ms for r in rows), max((r.max_ms for r in rows), default=0.0), hist


def endpoints(store: Store, project_id: str, filters: Filters) -> list[dict[str, Any]]:
    rows = store.bucket_rows(project_id, filters, True)
    groups: dict[str, list[BucketRow]] = defaultdict(list)
    for r in rows:
        groups[r.endpoint].append(r)
    items = []
    for endpoint, group in groups.items():
        count, errors, total, max_ms, hist = _sum(group)
        p50, p95, p99 = histogram.percentiles(hist, (50, 95, 99), max_ms)
        methods = {r.method for r in group if r.method}
        items.append({
            "endpoint": endpoint,
            "method": methods.pop() if len(methods) == 1 else None,
            "count": count,
            "error_count": errors,
            "error_rate": round(errors / count, 6) if count else 0.0,
            "p50": p50, "p95": p95, "p99": p99,
            "max": round(max_ms, 3),
            "mean": round(total / count, 3) if count else 0.0,
            "versions": sorted({r.version for r in group}),
        })
    items.sort(key=lambda i: (-i["p95"], i["endpoint"]))
    return items


BUCKETS = {"1h": 3600, "3h": 3 * 3600, "6h": 6 * 3600, "12h": 12 * 3600, "1d": 86400, "7d": 7 * 86400}


def trends(store: Store, project_id: str, filters: Filters, bucket: str) -> dict[str, Any]:
    size = BUCKETS[bucket]
    rows = store.bucket_rows(project_id, filters, True)
    groups: dict[int, list[BucketRow]] = defaultdict(list)
    for r in rows:
        groups[(r.hour // size) * size].append(r)
    points = []
    for t in sorted(groups):
        count, errors, _total, max_ms, hist = _sum(groups[t])
        p50, p95, p99 = histogram.percentiles(hist, (50, 95, 99), max_ms)
        points.append({"t": _iso(t), "count": count, "error_count": errors, "p50": p50, "p95": p95, "p99": p99})
    return {"bucket": bucket, "points": points}


def functions(store: Store, project_id: str, endpoint: str | None, version: str | None, limit: int) -> list[dict[str, Any]]:
    rows = store.function_rows(project_id, endpoint, version)
    requests = sum(r.count for r in store.bucket_rows(project_id, Filters(endpoint=endpoint, version=version), True))
    merged: dict[str, list] = {}
    for r in rows:
        m = merged.get(r.fkey)
        if m is None:
            merged[r.fkey] = [r.self_ms, r.requests, r.is_app, r.hist.copy()]
        else:
            m[0] += r.self_ms
            m[1] += r.requests
            m[2] = m[2] or r.is_app
            m[3] += r.hist
    total_self = sum(m[0] for m in merged.values()) or 1.0
    items = []
    for fkey, (self_ms, reqs, is_app, hist) in merged.items():
        function, file, line = rollup.split_function_key(fkey)
        p50, p95 = histogram.percentiles(hist, (50, 95))
        items.append({
            "function": function, "file": file, "line": line, "is_app": bool(is_app),
            "self_ms_total": round(self_ms, 3),
            "self_share": round(self_ms / total_self, 6),
            "request_share": round(min(1.0, reqs / requests), 6) if requests else 0.0,
            "p50_self_ms": p50, "p95_self_ms": p95,
            "calls_in": int(reqs),
        })
    items.sort(key=lambda i: (-i["self_ms_total"], i["function"]))
    return items[:limit]


def finite(x: float) -> float:
    return x if math.isfinite(x) else 0.0
