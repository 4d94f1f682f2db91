from __future__ import annotations

import json
import os

import msgspec
from core_helpers import check_sums, count_nodes
from pystrument.core.calltree import OTHER, build_call_tree, is_app_file
from pystrument.core.record import Record, decode_record, encode
from pystrument.core.unit import Unit

THREAD = "MainThread\x00<thread>\x001"
STDLIB = os.path.dirname(json.__file__)


def fi(name: str, file: str = "/app/views.py", line: int = 1) -> str:
    return f"{name}\x00{file}\x00{line}"


def wide_unit(width: int, depth: int) -> Unit:
    """Samples spread over ``width`` branches of ``depth`` frames, with unequal weights."""
    unit = Unit("request", "GET /wide")
    for b in range(width):
        stack = [THREAD, fi("handler")] + [fi(f"f{b}_{d}", line=d) for d in range(depth)]
        unit.samples.append((stack, 0.001 * (b + 1)))
    unit.duration_ms = sum(w for _, w in unit.samples) * 1000
    return unit


def test_tree_times_add_up_and_pruning_keeps_them():
    unit = wide_unit(width=60, depth=10)
    full, truncated, count = build_call_tree(unit, max_nodes=10_000)
    assert not truncated and count == 60
    assert count_nodes(full) == 1 + 60 * 10
    check_sums(full)
    pruned, truncated, _ = build_call_tree(unit, max_nodes=50)
    assert truncated
    assert count_nodes(pruned) <= 50
    check_sums(pruned)
    assert abs(pruned.time_ms - full.time_ms) < 1e-6
    others = [c for c in pruned.children if c.function == OTHER]
    assert others and others[0].pruned > 0
    # the heaviest branch survives pruning
    assert pruned.children[0].function == "f59_0"


def test_entry_cut_and_class_names():
    unit = Unit("request", "GET /x")
    unit.cuts[THREAD] = (3, "middleware\x00/site-packages/pystrument/adapters/wsgi.py\x0010", 2)
    base = [THREAD, fi("server", STDLIB + "/socketserver.py"), "middleware\x00/site-packages/pystrument/adapters/wsgi.py\x0010\x01l42"]
    unit.samples.append((base + [fi("get\x01cUserView", line=5).replace("\x01cUserView", "") + "\x01cUserView"], 0.002))
    unit.samples.append((base + [fi("query", STDLIB + "/sqlite3/x.py")], 0.001))
    tree, _, _ = build_call_tree(unit, 100)
    assert tree.function == "[root]"
    names = {c.function: c for c in tree.children}
    assert set(names) == {"UserView.get", "query"}
    assert names["UserView.get"].is_app and not names["query"].is_app


def test_is_app_file():
    import json

    assert is_app_file("/srv/app/views.py")
    assert not is_app_file(json.__file__)
    assert not is_app_file(msgspec.__file__)
    assert not is_app_file("<frozen importlib._bootstrap>")
    assert not is_app_file("")


def test_record_round_trips_with_schema_version_first():
    unit = wide_unit(3, 3)
    tree, _, _ = build_call_tree(unit, 100)
    import datetime as dt

    record = Record(record_id="r1", name="GET /wide", kind="request", started_at=dt.datetime.now(dt.timezone.utc),
                    duration_ms=6.0, call_tree=tree)
    data = encode(record)
    assert data.startswith(b'{"schema_version":1,')
    assert decode_record(data) == record
