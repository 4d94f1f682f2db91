"""Version comparison a user can trust: Mann-Whitney U on per-request distributions.

Per endpoint: the requests' ``duration_ms``. Per (endpoint, function): each request's self time in
that function (0 when the function does not appear). A comparison runs many tests (some 100 functions):
at ``p < 0.01`` each, about one unchanged function would be flagged per comparison. So the p-values are
adjusted with Benjamini-Hochberg (false discovery rate), once across the endpoints and once across all
the functions of the comparison, and a change is flagged when its adjusted ``q < alpha`` (0.01): of the
changes flagged, at most 1% are expected to be false. Flagged changes are regressions (head slower) or
improvements; each delta carries the sample counts, the p-value, the q-value and the effect size
(rank-biserial correlation: +1 when every head request is slower than every base request, 0 for no
shift, -1 for the opposite).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from scipy.stats import mannwhitneyu

from . import rollup
from .stores.base import Filters, Store

ALPHA = 0.01
MIN_SAMPLES = 5
MIN_FUNCTION_MS = 0.05  # functions lighter than this (mean per request, both versions) are not compared


def _summary(values: np.ndarray) -> dict[str, Any]:
    if values.size == 0:
        return {"count": 0, "p50": 0.0, "p95": 0.0, "mean": 0.0}
    return {
        "count": int(values.size),
        "p50": round(float(np.percentile(values, 50)), 3),
        "p95": round(float(np.percentile(values, 95)), 3),
        "mean": round(float(values.mean()), 3),
    }


def _tests(base: np.ndarray, head: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """p-values and rank-biserial effect sizes, column by column (2-D inputs: samples x series)."""
    cols = base.shape[1]
    p = np.ones(cols)
    effect = np.zeros(cols)
    if base.shape[0] < MIN_SAMPLES or head.shape[0] < MIN_SAMPLES or cols == 0:
        return p, effect
    varying = ~(np.all(base == base[0], axis=0) & np.all(head == head[0], axis=0) & (base[0] == head[0]))
    if varying.any():
        res = mannwhitneyu(head[:, varying], base[:, varying], alternative="two-sided", axis=0, method="asymptotic")
        pv = np.asarray(res.pvalue, dtype=float)
        u = np.asarray(res.statistic, dtype=float)
        p[varying] = np.where(np.isfinite(pv), pv, 1.0)
        effect[varying] = 2.0 * u / (head.shape[0] * base.shape[0]) - 1.0
    return p, effect


def benjamini_hochberg(p: np.ndarray) -> np.ndarray:
    """Benjamini-Hochberg adjusted p-values (q-values): flagging ``q < alpha`` keeps the expected share of
    false discoveries among the flagged below ``alpha`` (independent or positively dependent tests)."""
    p = np.asarray(p, dtype=float)
    m = p.size
    if m == 0:
        return p
    order = np.argsort(p)
    scaled = p[order] * m / np.arange(1, m + 1)
    q = np.empty(m)
    q[order] = np.minimum(1.0, np.minimum.accumulate(scaled[::-1])[::-1])  # q_(i) = min over j >= i of p_(j) m / j
    return q


def _delta(name: str, base: np.ndarray, head: np.ndarray, p: float, effect: float, **extra: Any) -> dict[str, Any]:
    """A delta not yet judged: ``_judge`` adds the q-value and the verdict once the whole family is known."""
    b, h = _summary(base), _summary(head)
    delta_ms = h["mean"] - b["mean"]
    change = (delta_ms / b["mean"] * 100.0) if b["mean"] > 0 else (100.0 if delta_ms > 0 else 0.0)
    return {
        "name": name, **extra, "base": b, "head": h, "change_pct": round(change, 3), "delta_ms": round(delta_ms, 3),
        "p_value": float(p) if math.isfinite(p) else 1.0, "effect_size": round(float(effect), 4),
    }


def _judge(family: list[dict[str, Any]], alpha: float) -> None:
    """Adjust the p-values of one family of tests (Benjamini-Hochberg) and flag on ``q < alpha``."""
    q = benjamini_hochberg(np.array([d["p_value"] for d in family]))
    for d, qv in zip(family, q.tolist(), strict=True):
        significant = bool(qv < alpha and d["delta_ms"] != 0)
        d["q_value"] = qv
        d["significant"] = significant
        d["kind"] = "unchanged" if not significant else ("regression" if d["delta_ms"] > 0 else "improvement")


def _order(d: dict[str, Any]) -> tuple:
    rank = {"regression": 0, "improvement": 1, "unchanged": 2}[d["kind"]]
    return (rank, -abs(d["delta_ms"]), d["name"])


def compare(store: Store, project_id: str, base: str, head: str, *, endpoint: str | None = None, environment: str | None = None,
            limit: int = 2000, alpha: float = ALPHA, max_unchanged_functions: int = 100) -> dict[str, Any]:
    fb = Filters(endpoint=endpoint, version=base, environment=environment)
    fh = Filters(endpoint=endpoint, version=head, environment=environment)
    dur_b, dur_h = store.durations(project_id, fb, limit), store.durations(project_id, fh, limit)
    endpoints = []
    for name in sorted(set(dur_b) | set(dur_h)):
        b = np.asarray(dur_b.get(name, []), dtype=float)
        h = np.asarray(dur_h.get(name, []), dtype=float)
        p, e = _tests(b.reshape(-1, 1), h.reshape(-1, 1))
        endpoints.append(_delta(name, b, h, p[0], e[0]))
    _judge(endpoints, alpha)
    endpoints.sort(key=_order)

    functions: list[dict[str, Any]] = []
    for name in sorted(set(dur_b) & set(dur_h)):
        per_version = []
        for version in (base, head):
            rows = [rollup.self_times(r.call_tree) for r in store.sample_records(
                project_id, Filters(endpoint=name, version=version, environment=environment), limit)]
            per_version.append(rows)
        keys: dict[tuple[str, str, int], bool] = {}
        for rows in per_version:
            for row in rows:
                for k, (_v, is_app) in row.items():
                    keys[k] = keys.get(k, False) or is_app
        order = list(keys)
        mats = []
        for rows in per_version:
            m = np.zeros((len(rows), len(order)))
            index = {k: i for i, k in enumerate(order)}
            for r_i, row in enumerate(rows):
                for k, (v, _a) in row.items():
                    m[r_i, index[k]] = v
            mats.append(m)
        mb, mh = mats
        if not order:
            continue
        heavy = (mb.mean(axis=0) if len(mb) else 0) + (mh.mean(axis=0) if len(mh) else 0) >= MIN_FUNCTION_MS
        cols = np.nonzero(heavy)[0]
        p, e = _tests(mb[:, cols], mh[:, cols])
        for j, col in enumerate(cols):
            function, file, line = order[col]
            functions.append(_delta(function, mb[:, col], mh[:, col], p[j], e[j],
                                    endpoint=name, file=file, line=line, is_app=keys[order[col]]))
    _judge(functions, alpha)
    functions.sort(key=_order)
    flagged = [f for f in functions if f["significant"]]
    rest = [f for f in functions if not f["significant"]][:max_unchanged_functions]
    return {
        "base": base, "head": head, "alpha": alpha, "correction": "benjamini-hochberg", "endpoints": endpoints, "functions": flagged + rest,
        "functions_compared": len(functions),
        "regressions": sum(1 for d in endpoints + functions if d["kind"] == "regression"),
        "improvements": sum(1 for d in endpoints + functions if d["kind"] == "improvement"),
    }


