"""Continuous aggregates through the other ingest paths (the importer, the Redis stream consumer: tests/scale) and
the bound on an hour's merged tree."""

from __future__ import annotations

import json
import types

import msgspec
from pystrument.server import ServerSettings
from pystrument.server.api.routes.projects import create_project
from pystrument.server.ingest.importer import import_files
from pystrument.server.ingest.types import IngestRecord
from pystrument.server.stats import continuous
from pystrument.server.stores.base import Filters
from pystrument.server.stores.sqlite import SQLiteStore


def test_importer_absorbs_aggregates_once(aggregate, tmp_path, make_record):
    store = SQLiteStore(f"sqlite:///{tmp_path / 'p.db'}")
    try:
        project = create_project(store, "imp")
        a, b = aggregate(count=10, errors=1), aggregate(count=5, errors=0)
        path = tmp_path / "records.jsonl"
        path.write_text("\n".join(json.dumps(r) for r in (a, b, a, make_record())) + "\n")
        summary = import_files(store, [path], project, settings=ServerSettings(store=f"sqlite:///{tmp_path / 'p.db'}"))
        assert (summary.accepted, summary.duplicates) == (3, 1)
        totals = continuous.endpoint_counts(store, project["id"], Filters())
        assert totals["GET /items/{id}"]["count"] == 15 and totals["GET /items/{id}"]["errors"] == 1
        assert store.get_project(project["id"])["record_count"] == 1
    finally:
        store.close()


def _wide(aggregate, n_functions: int, offset: int) -> IngestRecord:
    rec = aggregate()
    rec["call_tree"]["children"] = [{"function": f"f{offset + i}", "file": "m.py", "line": i, "samples": 1, "time_ms": 1.0, "self_ms": 1.0}
                                    for i in range(n_functions)]
    rec["call_tree"]["samples"] = rec["call_tree"]["time_ms"] = n_functions
    return msgspec.convert(rec, IngestRecord)


def _nodes(tree) -> int:
    return 1 + sum(_nodes(c) for c in tree.children)


def test_an_hours_tree_stays_within_the_record_limits_and_keeps_its_samples(aggregate, ):
    limits = types.SimpleNamespace(max_nodes_per_record=40, max_functions_per_record=30, flame_max_nodes=1000)
    key = ("GET /items/{id}", "1.0", "prod", 0)
    stats, tree = None, None
    for k in range(10):  # 10 windows of 25 distinct functions each: 250 functions in the hour
        stats, tree = continuous.absorb(key, stats, tree, [_wide(aggregate, 25, 25 * k)], limits)
    merged = continuous.decode_tree(tree)
    assert _nodes(merged) <= 40
    assert merged.samples == 250 and sum(c.samples for c in merged.children) == 250  # the folded ones in [other]
    assert stats.aggregates == 10 and stats.sample_count == 10 * 40  # sample_count as the SDK sent it
