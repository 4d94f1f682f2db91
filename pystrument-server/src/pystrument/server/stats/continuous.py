"""Continuous-mode aggregates (issue #16): records of kind ``aggregate`` kept apart from the records.

An aggregate is one SDK window (default 10 s) of one endpoint: the merged stack tree of every sample charged to the
endpoint (``samples`` per node) and ``requests``, the counts of 100% of its requests (histogram, statuses, errors).
Stores keep one row per (project, endpoint, version, environment, hour): ``HourStats`` (the summed counters and
histogram) and the hour's merged tree, folded to the per-record limits (``max_nodes_per_record``,
``max_functions_per_record``) so a row stays bounded however many windows it absorbs. A ``record_id`` is absorbed
once per project (stores keep the ids seen): a duplicate aggregate is counted once.

Reading merges the rows of the filters' hours (``flamegraph``'s merging, bounded by ``flame_max_nodes``): the flame
tree, the function shares (self samples / all samples) and the request figures (percentiles from the histogram).
Aggregates never appear among records: not in record lists, record counts, roll-ups, statistics of records.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any, Protocol

import msgspec
from pystrument.core.continuous.frames import NOT_SEEN
from pystrument.core.record import Record
from pystrument.server.ingest import fold
from pystrument.server.ingest.types import IngestNode
from pystrument.server.stats import flamegraph, histogram
from pystrument.server.stores.base import Filters, InsertResult, Store

if TYPE_CHECKING:
    from pystrument.server.settings import ServerSettings

KIND = "aggregate"
DEFAULT_MAX_NODES, DEFAULT_MAX_FUNCTIONS, MERGE_MAX_NODES = 20_000, 5_000, 200_000


class HourStats(msgspec.Struct, kw_only=True):
    """The counters of one (endpoint, version, environment, hour): sums over the aggregates absorbed."""

    endpoint: str
    version: str
    environment: str
    hour: int  # epoch seconds, start of the UTC hour
    aggregates: int = 0  # aggregate records absorbed
    sample_count: int = 0
    window_ms: float = 0.0
    count: int = 0  # requests (100% of them)
    errors: int = 0
    statuses: dict[str, int] = {}
    bins: dict[int, int] = {}  # sparse duration histogram (pystrument.core.histogram_bins)
    cpu_ms: float = 0.0
    max_ms: float = 0.0


class AggregateStore(Protocol):
    def aggregate_rows(self, project_id: str, filters: Filters, with_tree: bool) -> Iterator[tuple[HourStats, bytes | None]]: ...


_stats_enc = msgspec.json.Encoder()
_stats_dec = msgspec.json.Decoder(HourStats)
_tree_dec = msgspec.json.Decoder(IngestNode)


def split(records: list[Record]) -> tuple[list[Record], list[Record]]:
    """(the records, the continuous aggregates) of a batch."""
    if not any(r.kind == KIND for r in records):
        return records, []
    return [r for r in records if r.kind != KIND], [r for r in records if r.kind == KIND]


def hour_of(record: Record) -> int:
    return int(record.started_at.timestamp()) // 3600 * 3600


def key_of(record: Record) -> tuple[str, str, str, int]:
    return record.name, record.app.version, record.app.environment, hour_of(record)


def group(records: Iterable[Record]) -> dict[tuple[str, str, str, int], list[Record]]:
    out: dict[tuple[str, str, str, int], list[Record]] = {}
    for r in records:
        out.setdefault(key_of(r), []).append(r)
    return out


def encode_stats(stats: HourStats) -> bytes:
    return _stats_enc.encode(stats)


def decode_stats(data: bytes) -> HourStats:
    return _stats_dec.decode(data)


def encode_tree(tree: IngestNode | None) -> bytes | None:
    return None if tree is None else zlib.compress(_stats_enc.encode(tree), 1)


def decode_tree(data: bytes | None) -> IngestNode | None:
    return None if not data else _tree_dec.decode(zlib.decompress(data))


def _add_counts(stats: HourStats, r: Record) -> None:
    q = r.requests
    counts: dict[str, Any] = {} if q is None else {"count": q.count, "errors": q.errors, "statuses": q.statuses,
                                                   "bins": q.duration_bins, "cpu_ms": q.cpu_ms, "max_ms": q.max_ms}
    _sum_into(stats, HourStats(
        endpoint="", version="", environment="", hour=0, aggregates=1, sample_count=r.sample_count, window_ms=r.duration_ms,
        **counts))


def _to_node(m: Any) -> IngestNode:
    """A merged tree (flamegraph's nodes) as an ``IngestNode`` tree (post-order, without recursion)."""
    done: dict[int, IngestNode] = {}
    stack: list[tuple[Any, bool]] = [(m, False)]
    while stack:
        node, expanded = stack.pop()
        if not expanded:
            stack.append((node, True))
            stack.extend((c, False) for c in node.children.values())
            continue
        children = tuple(done.pop(id(c)) for c in node.children.values())
        done[id(node)] = IngestNode(node.function, node.file, node.line, node.time, node.self, node.is_app, children, 0, node.samples)
    return done[id(m)]


def merge_trees(trees: Iterable[IngestNode | None], settings: Any = None) -> IngestNode | None:
    """The trees (each rooted at ``[root]``) merged under one ``[root]``, folded to the per-record limits."""
    max_nodes = getattr(settings, "max_nodes_per_record", DEFAULT_MAX_NODES)
    max_functions = getattr(settings, "max_functions_per_record", DEFAULT_MAX_FUNCTIONS)
    root, size, any_tree = flamegraph.new_root("[root]"), [1], False
    for tree in trees:
        if tree is not None:
            flamegraph.add_tree(root, tree, size, getattr(settings, "flame_max_nodes", MERGE_MAX_NODES), unwrap=True)
            any_tree = True
    if not any_tree:
        return None
    merged = _to_node(root)
    return fold.fold_tree(merged, max_nodes, max_functions) if fold.needs_folding(merged, max_nodes, max_functions) else merged


def absorb(key: tuple[str, str, str, int], stats: HourStats | None, tree: bytes | None, records: list[Record],
           settings: Any = None) -> tuple[HourStats, bytes | None]:
    """An hour's row (None: new) with ``records`` added: its counters summed, its tree merged."""
    endpoint, version, environment, hour = key
    stats = stats or HourStats(endpoint=endpoint, version=version, environment=environment, hour=hour)
    for r in records:
        _add_counts(stats, r)
    if not any(r.call_tree is not None for r in records):
        return stats, tree
    merged = merge_trees([decode_tree(tree), *(r.call_tree for r in records)], settings)  # type: ignore[list-item]
    return stats, encode_tree(merged)


# -- reading -------------------------------------------------------------------------------------


def _requests(stats: HourStats) -> dict[str, Any]:
    dense = histogram.from_sparse({str(k): v for k, v in stats.bins.items()})
    p50, p95, p99 = histogram.percentiles(dense, (50, 95, 99), stats.max_ms or None)
    return {
        "count": stats.count, "errors": stats.errors, "error_rate": round(stats.errors / stats.count, 6) if stats.count else 0.0,
        "statuses": dict(sorted(stats.statuses.items())), "p50": p50, "p95": p95, "p99": p99, "max": round(stats.max_ms, 3),
        "cpu_ms": round(stats.cpu_ms, 3),
    }


def _sum_into(total: HourStats, stats: HourStats) -> None:
    total.aggregates += stats.aggregates
    total.sample_count += stats.sample_count
    total.window_ms += stats.window_ms
    total.count += stats.count
    total.errors += stats.errors
    for code, n in stats.statuses.items():
        total.statuses[code] = total.statuses.get(code, 0) + n
    for b, n in stats.bins.items():
        total.bins[b] = total.bins.get(b, 0) + n
    total.cpu_ms += stats.cpu_ms
    total.max_ms = max(total.max_ms, stats.max_ms)


def _merged(store: AggregateStore, project_id: str, filters: Filters, settings: ServerSettings) -> tuple[Any, HourStats]:
    root_name = filters.endpoint or "[all endpoints]"
    root, size = flamegraph.new_root(root_name), [1]
    total = HourStats(endpoint=root_name, version=filters.version or "", environment=filters.environment or "", hour=0)
    max_nodes = settings.flame_max_nodes
    for stats, tree_z in store.aggregate_rows(project_id, filters, True):
        _sum_into(total, stats)
        tree = decode_tree(tree_z)
        if tree is not None:
            flamegraph.add_tree(root, tree, size, max_nodes, unwrap=True)
    return root, total


def _totals(total: HourStats) -> dict[str, Any]:
    return {"sample_count": total.sample_count, "aggregates": total.aggregates, "window_ms": round(total.window_ms, 3),
            "requests": _requests(total)}


def flame(store: AggregateStore, project_id: str, filters: Filters, settings: ServerSettings, limit_nodes: int, expand: str | None
          ) -> dict[str, Any] | None:
    """The continuous flame tree (the /flamegraph shape, ``samples`` per node) and the totals; None: no node ``expand``."""
    root, total = _merged(store, project_id, filters, settings)
    tree = flamegraph.render(root, limit_nodes, expand)
    if tree is None:
        return None
    return {**_totals(total), "root": tree}


def functions(store: AggregateStore, project_id: str, filters: Filters, settings: ServerSettings, limit: int, offset: int
              ) -> dict[str, Any]:
    """Function shares: each function's self samples over the samples whose stack was seen, heaviest first, one
    page. Samples the SDK charged to a request without its stack (``[stack not seen]``: the GIL held the sampler
    past the request's end) count for the endpoint's time but say nothing of its functions: they are left out of
    the denominator and reported as ``unseen_samples``."""
    root, total = _merged(store, project_id, filters, settings)
    by_fn: dict[tuple[str, str, int], list[Any]] = {}
    unseen = 0
    stack = list(root.children.values())
    while stack:
        node = stack.pop()
        stack.extend(node.children.values())
        if node.function == NOT_SEEN:
            unseen += node.samples
            continue
        if node.function.startswith("[") and node.function.endswith("]"):  # [root], [other], [await]...: not functions
            continue
        entry = by_fn.setdefault((node.function, node.file, node.line), [0, 0.0, False])
        own = node.samples - sum(c.samples for c in node.children.values())
        entry[0] += max(0, own)
        entry[1] += node.self
        entry[2] = entry[2] or node.is_app
    ranked = sorted(by_fn.items(), key=lambda kv: (-kv[1][0], -kv[1][1], kv[0]))
    denominator = max(1, (total.sample_count or root.samples) - unseen)
    items = [{
        "function": fn, "file": file, "line": line, "is_app": bool(is_app), "self_samples": int(samples),
        "self_share": round(samples / denominator, 6), "self_ms": round(self_ms, 3),
    } for (fn, file, line), (samples, self_ms, is_app) in ranked[offset:offset + limit]]
    return {**_totals(total), "unseen_samples": unseen, "items": items, "total": len(ranked), "offset": offset, "limit": limit}


def endpoint_counts(store: Store, project_id: str, filters: Filters) -> dict[str, dict[str, Any]]:
    """Per endpoint: the continuous request figures (100% of requests) and the samples behind them."""
    totals: dict[str, HourStats] = {}
    if not hasattr(store, "aggregate_rows"):  # a store plugin without continuous aggregates
        return {}
    for stats, _tree in store.aggregate_rows(project_id, filters, False):
        total = totals.setdefault(stats.endpoint, HourStats(endpoint=stats.endpoint, version="", environment="", hour=0))
        _sum_into(total, stats)
    return {name: {"sample_count": t.sample_count, **_requests(t)} for name, t in totals.items()}


def insert(records: list[Record], insert_records: Any, insert_aggregates: Any) -> InsertResult:
    """A store's ``insert_records``: the records to ``insert_records``, the aggregates to ``insert_aggregates``
    (both take the list and answer an ``InsertResult``), one result for the batch."""
    plain, aggregates = split(records)
    if not aggregates:
        return insert_records(plain)  # type: ignore[no-any-return]
    done: InsertResult = insert_aggregates(aggregates)
    if plain:
        more: InsertResult = insert_records(plain)
        done = InsertResult(more.accepted + done.accepted, more.duplicates + done.duplicates)
    return done


def with_endpoint_counts(items: list[dict[str, Any]], counts: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """The endpoint table's items with ``continuous`` (the figures of 100% of requests) where the endpoint has some;
    an endpoint seen only by continuous mode gets an item of its own (its record figures 0)."""
    for item in items:
        if item["endpoint"] in counts:
            item["continuous"] = counts.pop(item["endpoint"])
    for name, figures in sorted(counts.items()):
        items.append({"endpoint": name, "method": name.split(" ", 1)[0] if " " in name else None, "count": 0, "error_count": 0,
                      "error_rate": 0.0, "p50": 0.0, "p95": 0.0, "p99": 0.0, "max": 0.0, "mean": 0.0, "versions": [],
                      "continuous": figures})
    return items
