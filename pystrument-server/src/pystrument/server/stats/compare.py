"""Version comparison a user can trust: Mann-Whitney U on per-request distributions, in bounded memory.

Per endpoint: the requests' ``duration_ms``. Per (endpoint, function): each request's self time in
that function (0 when the function does not appear). A comparison runs many tests (some 100 functions):
at ``p < 0.01`` each, about one unchanged function would be flagged per comparison. So the p-values are
adjusted with Benjamini-Hochberg (false discovery rate), once across the endpoints and once across all
the functions of the comparison, and a change is flagged when its adjusted ``q < alpha`` (0.01): of the
changes flagged, at most 1% are expected to be false. Flagged changes are regressions (head slower) or
improvements; each delta carries the sample counts, the p-value, the q-value and the effect size
(rank-biserial correlation: +1 when every head request is slower than every base request, 0 for no
shift, -1 for the opposite).

Memory. A function is absent from most requests, so per (endpoint, function) only the requests where it
has a non-zero self time are kept (an ``array('d')``), with the number of requests read: the zeros are
counted, never stored, and the test ranks them as one tied block (``sparse_mann_whitney``). Endpoints are
compared one after the other, each version's records read in one streaming pass and dropped once its
deltas are computed. Per endpoint at most ``max_functions`` functions are kept, the heaviest by total self
time in the records compared (a first pass keeps one float per distinct function, keyed by the hash of its
key); the self time of the others is summed per request into one ``[other]`` function. So the working
set is at most ``records x (max_functions + 1)`` values per version, plus the first pass's one float per
distinct function, and ``memory_mb`` lowers ``max_functions`` when that product would not fit. ``time_budget_s`` stops the
reading: endpoints not reached are listed in ``skipped_endpoints`` and the answer says ``complete: false``.

A side with no records at all (a version nobody uploaded, an endpoint absent from a version) raises ``NoData``
with the versions (and endpoints) that exist: the API answers 404, the CLI exits 2, never "no change".
"""

from __future__ import annotations

import math
import time
from array import array
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
from pystrument.core.comparison import MACHINE_TAG
from pystrument.core.record import Record
from pystrument.server.stats import rollup
from pystrument.server.stores.base import Filters, Store

if TYPE_CHECKING:
    from pystrument.server.settings import ServerSettings

ALPHA = 0.01
# what is compared per endpoint: wall-clock duration_ms, the unit's thread CPU time cpu_ms, or cpu_ms divided by the
# machine's speed beside it (the CI gate's MACHINE_TAG, pystrument-pytest's gate/calibration.py)
METRICS = ("duration", "cpu", "cpu_calibrated")
MIN_CALIBRATED = 5  # records with a machine tag per version, for a calibrated comparison
MIN_SAMPLES = 5
MIN_FUNCTION_MS = 0.05  # functions lighter than this (mean per request, both versions) are not compared
OTHER = "[other]"
VALUE_BYTES = 8  # one kept self time (array('d'))

FKey = tuple[str, str, int]


@dataclass(frozen=True)
class Budget:
    """How much one comparison may keep and take (settings ``compare_*``, docs/server.md)."""

    max_functions: int = 200  # functions kept per endpoint, the rest summed into [other]
    memory_mb: float = 256.0  # values kept per endpoint (both versions) at most this many MB
    time_budget_s: float = 120.0  # reading stops after this long; the answer says complete: false

    @classmethod
    def from_settings(cls, settings: ServerSettings) -> Budget:
        return cls(max_functions=settings.compare_max_functions, memory_mb=settings.compare_memory_mb,
                   time_budget_s=settings.compare_time_budget_s)

    def functions_for(self, records: int) -> int:
        """Functions kept per endpoint when ``records`` requests (both versions) are read: the dense worst
        case, ``records x (kept + [other])`` values, fits ``memory_mb``."""
        fit = int(self.memory_mb * 1024 * 1024 // (VALUE_BYTES * max(records, 1))) - 1
        return max(1, min(self.max_functions, fit))


class OutOfTime(Exception):
    """The comparison's time budget ran out while reading records."""


class NoData(ValueError):
    """A side of the comparison has no records: a version that does not exist (a typo, an upload that never
    arrived), or an endpoint absent from both versions. Comparing nothing must never read as "no change"."""

    def __init__(self, message: str, missing: list[str], versions: list[str], endpoints: list[str] | None = None) -> None:
        super().__init__(message)
        self.missing = missing
        self.versions = versions
        self.endpoints = endpoints

    def data(self) -> dict[str, Any]:
        out: dict[str, Any] = {"missing": self.missing, "versions": self.versions}
        if self.endpoints is not None:
            out["endpoints"] = self.endpoints
        return out


def _where(environment: str | None) -> str:
    return f" in environment {environment!r}" if environment else ""


def check_data(store: Store, project_id: str, base: str, head: str, dur_b: dict[str, list[float]], dur_h: dict[str, list[float]],
               endpoint: str | None, environment: str | None) -> None:
    """Raise ``NoData`` naming what is missing and what exists when either side read no records."""
    if dur_b and dur_h:
        return
    rows = [v for v in store.versions(project_id) if environment is None or v["environment"] == environment]
    counts: dict[str, int] = {}
    for row in rows:
        counts[row["version"]] = counts.get(row["version"], 0) + row["count"]
    listed = sorted(counts, key=lambda v: (-counts[v], v))
    shown = ", ".join(f"{v} ({counts[v]} records)" for v in listed[:20]) or "none"
    absent = [v for v, dur in ((base, dur_b), (head, dur_h)) if not dur and (endpoint is None or v not in counts)]
    if absent:
        unique = list(dict.fromkeys(absent))
        missing = " and ".join(repr(v) for v in unique)
        raise NoData(f"{'version' if len(unique) == 1 else 'versions'} {missing} {'has' if len(unique) == 1 else 'have'} no records{_where(environment)}: check the version (e.g. the commit id the app "
                     f"reports as app_version) and that its records were uploaded; versions with records: {shown}", absent, listed)
    names = sorted(set(store.distinct_names(project_id, "endpoint")))
    empty = [v for v, dur in ((base, dur_b), (head, dur_h)) if not dur]
    raise NoData(f"endpoint {endpoint!r} has no records in version {' and '.join(repr(v) for v in dict.fromkeys(empty))}"
                 f"{_where(environment)}: check its name (METHOD /route/template); endpoints: {', '.join(names[:30]) or 'none'}",
                 empty, listed, names)


# -- statistics on sparse samples: non-zero values plus a count of zeros ---------------------------------
def average_ranks(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """1-based ranks with ties given their average rank (``scipy.stats.rankdata``), and the size of each tie group."""
    order = np.argsort(values, kind="mergesort")
    ordered = values[order]
    starts = np.flatnonzero(np.r_[True, ordered[1:] != ordered[:-1]]) if ordered.size else np.zeros(0, dtype=np.int64)
    sizes = np.diff(np.r_[starts, ordered.size])
    ranks = np.empty(values.size)
    ranks[order] = np.repeat(starts + (sizes + 1) / 2.0, sizes)
    return ranks, sizes


def sparse_mann_whitney(base: np.ndarray, base_n: int, head: np.ndarray, head_n: int) -> tuple[float, float]:
    """Two-sided Mann-Whitney U (normal approximation with tie and continuity correction, as
    ``scipy.stats.mannwhitneyu(head, base, method="asymptotic")``) of two samples given as their non-zero
    values and their sizes: ``n - len(values)`` zeros are implied and ranked as one tied block, never stored.
    Returns (p-value, rank-biserial effect). Plain numpy: no scipy import on the server's path."""
    if base_n < MIN_SAMPLES or head_n < MIN_SAMPLES:
        return 1.0, 0.0
    values = np.concatenate([head, base]).astype(float, copy=False)
    zeros = (head_n - head.size) + (base_n - base.size)
    ranks, ties = average_ranks(values)  # among the non-zero values
    below = int(np.count_nonzero(values < 0))  # values ranked below the zeros (self times are never negative, but be exact)
    ranks[values > 0] += zeros
    zero_rank = below + (zeros + 1) / 2.0
    rank_head = float(ranks[: head.size].sum()) + (head_n - head.size) * zero_rank
    u = rank_head - head_n * (head_n + 1) / 2.0
    n = head_n + base_n
    tie_term = float((ties.astype(float) ** 3 - ties).sum()) + float(zeros) ** 3 - zeros
    var = head_n * base_n / 12.0 * ((n + 1) - tie_term / (n * (n - 1)))
    effect = 2.0 * u / (head_n * base_n) - 1.0
    if var <= 1e-12 * head_n * base_n:  # every value tied: nothing to test
        return 1.0, 0.0
    z = (max(u, head_n * base_n - u) - head_n * base_n / 2.0 - 0.5) / math.sqrt(var)
    return float(min(1.0, max(0.0, math.erfc(z / math.sqrt(2.0))))), effect  # 2 x the normal upper tail at z


def sparse_percentile(values: np.ndarray, n: int, q: float) -> float:
    """``np.percentile`` (linear) of ``values`` (sorted) plus ``n - len(values)`` zeros."""
    zeros = n - values.size
    if n == 0:
        return 0.0
    at = int(np.searchsorted(values, 0.0, side="left"))  # where the zeros go in sorted order

    def nth(k: int) -> float:
        if k < at:
            return float(values[k])
        if k < at + zeros:
            return 0.0
        return float(values[k - zeros])

    pos = q / 100.0 * (n - 1)
    lo = math.floor(pos)
    hi = min(lo + 1, n - 1)
    return nth(lo) + (nth(hi) - nth(lo)) * (pos - lo)


def _summary(values: np.ndarray, n: int) -> dict[str, Any]:
    if n == 0:
        return {"count": 0, "p50": 0.0, "p95": 0.0, "mean": 0.0}
    ordered = np.sort(values)
    return {"count": n, "p50": round(sparse_percentile(ordered, n, 50), 3), "p95": round(sparse_percentile(ordered, n, 95), 3),
            "mean": round(float(values.sum()) / n, 3)}


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


def _delta(name: str, base: np.ndarray, base_n: int, head: np.ndarray, head_n: int, **extra: Any) -> dict[str, Any]:
    """A delta not yet judged: ``_judge`` adds the q-value and the verdict once the whole family is known."""
    p, effect = sparse_mann_whitney(base, base_n, head, head_n)
    b, h = _summary(base, base_n), _summary(head, head_n)
    delta_ms = h["mean"] - b["mean"]
    change = (delta_ms / b["mean"] * 100.0) if b["mean"] > 0 else (100.0 if delta_ms > 0 else 0.0)
    return {
        "name": name, **extra, "base": b, "head": h, "change_pct": round(change, 3), "delta_ms": round(delta_ms, 3),
        "p_value": p if math.isfinite(p) else 1.0, "effect_size": round(float(effect), 4),
    }


def _judge(family: list[dict[str, Any]], alpha: float) -> None:
    """Adjust the p-values of one family of tests (Benjamini-Hochberg) and flag on ``q < alpha``."""
    q = benjamini_hochberg(np.array([d["p_value"] for d in family]))
    for d, qv in zip(family, q.tolist(), strict=True):
        significant = bool(qv < alpha and d["delta_ms"] != 0)
        d["q_value"] = qv
        d["significant"] = significant
        d["kind"] = "unchanged" if not significant else ("regression" if d["delta_ms"] > 0 else "improvement")


def _order(d: dict[str, Any]) -> tuple[int, float, str]:
    rank = {"regression": 0, "improvement": 1, "unchanged": 2}[d["kind"]]
    return (rank, -abs(d["delta_ms"]), d["name"])


# -- one endpoint's functions, streamed -----------------------------------------------------------------
@dataclass
class _Side:
    """One version's kept samples of one endpoint: non-zero self times per kept function, and of [other]."""

    n: int = 0
    values: dict[int, array[float]] = field(default_factory=dict)  # by hash of the function key
    other: array[float] = field(default_factory=lambda: array("d"))


def _records(store: Store, project_id: str, filters: Filters, limit: int) -> Iterator[Record]:
    stream = getattr(store, "stream_records", None)  # a store plugin without the streaming read still works
    return stream(project_id, filters, limit) if stream is not None else store.sample_records(project_id, filters, limit)


def _each_tree(store: Store, project_id: str, filters: Filters, limit: int, deadline: float,
               reference: float | None = None) -> Iterator[dict[FKey, list[Any]]]:
    """Per record read (newest ``limit``): its self time per function; raises OutOfTime past the deadline.
    ``reference`` (a calibrated comparison): each record's self times divided by its machine tag times
    ``reference``, as its CPU time is; records without a tag are left out, as they are from the endpoints."""
    for i, record in enumerate(_records(store, project_id, filters, limit)):
        if i % 32 == 0 and time.monotonic() > deadline:
            raise OutOfTime
        times = rollup.self_times(record.call_tree)
        if reference is not None:
            tag = _machine_ms(record.tags)
            if not tag:
                continue
            factor = reference / tag
            times = {key: [ms * factor, app] for key, (ms, app) in times.items()}
        yield times


def _heaviest(trees: Iterable[dict[FKey, list[Any]]], keep: int) -> tuple[set[int], int]:
    """First pass: total self time per function (by the hash of its key: 8 bytes of key, however long the names),
    the ``keep`` heaviest, and how many more there are."""
    totals: dict[int, float] = {}
    get = totals.get
    for tree in trees:
        for key, (ms, _app) in tree.items():
            h = hash(key)
            totals[h] = get(h, 0.0) + ms
    if len(totals) <= keep:
        return set(totals), 0
    return set(sorted(totals, key=totals.__getitem__, reverse=True)[:keep]), len(totals) - keep


def _read_side(trees: Iterable[dict[FKey, list[Any]]], kept: set[int], names: dict[int, FKey], is_app: dict[int, bool]) -> _Side:
    """Second pass: the non-zero self times of the kept functions, the rest summed per record into [other]."""
    side = _Side(values={h: array("d") for h in kept})
    values, other = side.values, side.other
    for tree in trees:
        side.n += 1
        rest = 0.0
        for key, (ms, app) in tree.items():
            h = hash(key)
            kept_values = values.get(h)
            if kept_values is None:
                rest += ms
                continue
            if h not in names:
                names[h] = key
            if ms != 0.0:
                kept_values.append(ms)
            if app:
                is_app[h] = True
        if rest != 0.0:
            other.append(rest)
    return side


def _endpoint_functions(store: Store, project_id: str, name: str, versions: tuple[str, str], environment: str | None, limit: int,
                        keep: int, deadline: float, reference: float | None = None) -> tuple[list[dict[str, Any]], int]:
    filters = [Filters(endpoint=name, version=v, environment=environment) for v in versions]

    def trees() -> Iterator[dict[FKey, list[Any]]]:
        for f in filters:
            yield from _each_tree(store, project_id, f, limit, deadline, reference)

    kept, folded = _heaviest(trees(), keep)
    names: dict[int, FKey] = {}
    is_app: dict[int, bool] = {}
    base, head = (_read_side(_each_tree(store, project_id, f, limit, deadline, reference), kept, names, is_app) for f in filters)
    out = []
    for h_key in sorted(kept, key=lambda k: names.get(k, ("", "", 0))):
        if h_key not in names:
            continue  # not in the records of this pass (deleted meanwhile)
        b, h = np.frombuffer(base.values[h_key], dtype=float), np.frombuffer(head.values[h_key], dtype=float)
        if _mean(b, base.n) + _mean(h, head.n) < MIN_FUNCTION_MS:
            continue
        function, file, line = names[h_key]
        out.append(_delta(function, b, base.n, h, head.n, endpoint=name, file=file, line=line, is_app=is_app.get(h_key, False)))
    b, h = np.frombuffer(base.other, dtype=float), np.frombuffer(head.other, dtype=float)
    if (b.size or h.size) and _mean(b, base.n) + _mean(h, head.n) >= MIN_FUNCTION_MS:
        out.append(_delta(OTHER, b, base.n, h, head.n, endpoint=name, file="", line=0, is_app=False))
    return out, folded


def _mean(values: np.ndarray, n: int) -> float:
    return float(values.sum()) / n if n else 0.0



def verdict_counts(deltas: list[dict[str, Any]]) -> dict[str, int]:
    """How many deltas of one table are regressions, improvements, unchanged: what a summary line may say."""
    kinds = [d["kind"] for d in deltas]
    return {"regressions": kinds.count("regression"), "improvements": kinds.count("improvement"), "unchanged": kinds.count("unchanged")}


def cpu_times(store: Store, project_id: str, filters: Filters, names: Iterable[str], limit: int) -> dict[str, list[tuple[float, float]]]:
    """Per endpoint, the newest ``limit`` records' ``cpu_ms`` and their machine tag (``MACHINE_TAG``: the CPU time of
    the gate's calibration workload timed beside the record; 0.0 when absent or not a positive number), read from the
    records' summaries, without trees."""
    out: dict[str, list[tuple[float, float]]] = {}
    for name in names:
        f = Filters(endpoint=name, version=filters.version, environment=filters.environment)
        out[name] = [(r.cpu_ms, _machine_ms(r.tags)) for r in store.sample_records(project_id, f, limit, with_tree=False)]
    return out


def _machine_ms(tags: dict[str, str] | None) -> float:
    try:
        value = float((tags or {}).get(MACHINE_TAG, 0.0))
    except ValueError:
        return 0.0
    return value if math.isfinite(value) and value > 0 else 0.0


def calibrate(base: dict[str, list[tuple[float, float]]], head: dict[str, list[tuple[float, float]]]
              ) -> tuple[dict[str, list[float]], dict[str, list[float]], dict[str, Any] | None]:
    """Each record's CPU time divided by its machine tag, in ms of the base's machine (times the base's median tag):
    the head as if it had run on the base's machine at the base's usual speed. Records without a tag are left out.
    When either version has fewer than ``MIN_CALIBRATED`` tagged records: the raw CPU times and no machine summary.

    In proportion, because that is what the runs here showed: a covariate adjustment by each endpoint's own slope
    within a run (CUPED) under-corrected (the tag is a noisy reading of the machine, which flattens the slope:
    GET /search +62% raw, still +39% adjusted, on identical code), division left 0.84-1.15 on 27 endpoint pairs."""
    tags_b, tags_h = _tags(base), _tags(head)
    if min(tags_b.size, tags_h.size) < MIN_CALIBRATED:
        return _raw(base), _raw(head), None
    ref = float(np.median(tags_b))

    def scaled(side: dict[str, list[tuple[float, float]]]) -> dict[str, list[float]]:
        return {n: [c / m * ref for c, m in rows if m > 0] for n, rows in side.items()}

    return scaled(base), scaled(head), {"base": _summary(tags_b, tags_b.size), "head": _summary(tags_h, tags_h.size)}


def _tags(side: dict[str, list[tuple[float, float]]]) -> np.ndarray:
    return np.array([m for rows in side.values() for _, m in rows if m > 0])


def _raw(side: dict[str, list[tuple[float, float]]]) -> dict[str, list[float]]:
    """The CPU times of ``cpu_times`` without their machine tags."""
    return {n: [c for c, _ in rows] for n, rows in side.items()}


def compare(store: Store, project_id: str, base: str, head: str, *, endpoint: str | None = None, environment: str | None = None,
            limit: int = 2000, alpha: float = ALPHA, max_unchanged_functions: int = 100, budget: Budget | None = None,
            metric: str = "duration") -> dict[str, Any]:
    """``metric`` "cpu" compares the endpoints' thread CPU time instead of their duration: on a shared machine (CI) the
    time a request waits for a core is noise to it; a regression that waits (sleep, I/O, locks) shows in "duration" only.
    Functions are compared on their sampled self time either way; "cpu_calibrated" scales it by each record's machine
    tag as it does the CPU time (a head run on a machine 40% faster otherwise hides a function that grew 40%)."""
    if metric not in METRICS:
        raise ValueError(f"metric must be one of {', '.join(METRICS)}, got {metric!r}")
    calibrated = metric == "cpu_calibrated"
    budget = budget or Budget()
    deadline = time.monotonic() + budget.time_budget_s
    fb = Filters(endpoint=endpoint, version=base, environment=environment)
    fh = Filters(endpoint=endpoint, version=head, environment=environment)
    dur_b, dur_h = store.durations(project_id, fb, limit), store.durations(project_id, fh, limit)
    check_data(store, project_id, base, head, dur_b, dur_h, endpoint, environment)
    machine: dict[str, Any] | None = None
    reference: float | None = None  # the base's median machine tag, when the comparison is calibrated
    if metric != "duration":
        cpu_b, cpu_h = cpu_times(store, project_id, fb, dur_b, limit), cpu_times(store, project_id, fh, dur_h, limit)
        dur_b, dur_h, machine = calibrate(cpu_b, cpu_h) if calibrated else (_raw(cpu_b), _raw(cpu_h), None)
        if calibrated and machine is None:  # a version without tags: its raw CPU times, and the answer says so
            metric = "cpu"
        elif machine is not None:
            reference = float(np.median(_tags(cpu_b)))
    endpoints = []
    for name in sorted(set(dur_b) | set(dur_h)):
        b = np.asarray(dur_b.get(name, []), dtype=float)
        h = np.asarray(dur_h.get(name, []), dtype=float)
        endpoints.append(_delta(name, b, b.size, h, h.size))
    _judge(endpoints, alpha)
    endpoints.sort(key=_order)

    functions: list[dict[str, Any]] = []
    skipped: list[str] = []
    folded = 0
    for name in sorted(set(dur_b) & set(dur_h)):
        if skipped:
            skipped.append(name)
            continue
        keep = budget.functions_for(len(dur_b[name]) + len(dur_h[name]))
        try:
            deltas, more = _endpoint_functions(store, project_id, name, (base, head), environment, limit, keep, deadline, reference)
        except OutOfTime:
            skipped.append(name)
            continue
        functions += deltas
        folded += more
    _judge(functions, alpha)
    functions.sort(key=_order)
    flagged = [f for f in functions if f["significant"]]
    rest = [f for f in functions if not f["significant"]][:max_unchanged_functions]
    return {
        "base": base, "head": head, "metric": metric, "alpha": alpha, "correction": "benjamini-hochberg", "endpoints": endpoints, "functions": flagged + rest,
        "functions_compared": len(functions),
        "regressions": sum(1 for d in endpoints + functions if d["kind"] == "regression"),
        "improvements": sum(1 for d in endpoints + functions if d["kind"] == "improvement"),
        "counts": {"endpoints": verdict_counts(endpoints), "functions": verdict_counts(functions)},
        "complete": not skipped, "skipped_endpoints": skipped, "functions_folded": folded,
        **({"machine": machine} if calibrated else {}),
    }
