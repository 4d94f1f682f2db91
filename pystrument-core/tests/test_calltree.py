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
        unit.add_sample(stack, 0.001 * (b + 1))
    unit.duration_ms = sum(w for _, w, _ in unit.samples) * 1000
    return unit


def test_tree_times_add_up_and_pruning_keeps_them():
    unit = wide_unit(width=60, depth=10)
    full, truncated, count = build_call_tree(unit, max_nodes=10_000)
    assert not truncated and count == 60
    assert count_nodes(full) == 1 + 60 * 10
    check_sums(full)
    assert full.samples == 60 and all(c.samples == 1 for c in full.children)
    pruned, truncated, _ = build_call_tree(unit, max_nodes=50)
    assert truncated
    assert count_nodes(pruned) <= 50
    check_sums(pruned)
    assert abs(pruned.time_ms - full.time_ms) < 1e-6
    others = [c for c in pruned.children if c.function == OTHER]
    assert others and others[0].pruned > 0
    assert pruned.samples == 60 and sum(c.samples for c in pruned.children) == 60
    # the heaviest branch survives pruning
    assert pruned.children[0].function == "f59_0"


def test_entry_cut_and_class_names():
    unit = Unit("request", "GET /x")
    unit.cuts[THREAD] = (3, "middleware\x00/site-packages/pystrument/adapters/wsgi.py\x0010", 2, False)
    base = [THREAD, fi("server", STDLIB + "/socketserver.py"), "middleware\x00/site-packages/pystrument/adapters/wsgi.py\x0010\x01l42"]
    unit.add_sample(base + [fi("get\x01cUserView", line=5).replace("\x01cUserView", "") + "\x01cUserView"], 0.002)
    unit.add_sample(base + [fi("query", STDLIB + "/sqlite3/x.py")], 0.001)
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


def _reference_shape(unit: Unit) -> dict:
    """The tree built the slow, obvious way: every sample walked from the root (no incremental walk)."""
    from pystrument.core.calltree import _own_frames, _parse

    root: dict = {"kids": {}, "self": 0.0, "n": 0}
    for stack, weight, _ in unit.samples:
        frames, _, _ = _own_frames(stack, unit.cuts.get(stack[0]) if stack else None)
        node = root
        for info in frames:
            _, function, file, line, _ = _parse(info)
            node = node["kids"].setdefault(f"{function}\x00{file}\x00{line}", {"kids": {}, "self": 0.0, "n": 0})
        node["self"] += weight
        node["n"] += 1

    def ms(node: dict) -> dict:
        return {"kids": {k: ms(c) for k, c in node["kids"].items()}, "self": round(node["self"] * 1000, 9), "n": node["n"]}

    return ms(root)


def _shape(tree) -> dict:
    return {"kids": {f"{c.function}\x00{c.file}\x00{c.line}": _shape(c) for c in tree.children},
            "self": round(tree.self_ms, 9), "n": tree.samples - sum(c.samples for c in tree.children)}


def test_incremental_walk_matches_walking_every_sample_from_the_root():
    """Random stacks over two threads (one followed), runs of equal stacks, prefixes, stacks caught in the
    SDK at the unit's edges, and an entry frame that moved: the tree is the one the naive walk gives."""
    import random

    from pystrument.core.calltree import THREAD as THREAD_NODE
    from pystrument.core.calltree import _convert_all, aggregate

    rng = random.Random(11)
    sdk = "start\x00" + os.path.join(__import__("pystrument").__path__[0], "core", "client.py") + "\x0050"
    pool = "Worker-1\x00<thread>\x002"
    entry = "middleware\x00/site-packages/pystrument/adapters/wsgi.py\x0010"
    for trial in range(30):
        unit = Unit("request", "GET /r")
        unit.cuts[THREAD] = (3, entry, 2, False)
        unit.cuts[pool] = (2, "followed\x00/site-packages/pystrument/core/x.py\x001", 1, True)
        names = [fi(f"f{i}", line=i) + f"\x01l{rng.randrange(3)}" for i in range(12)]
        stack: list[str] = []
        for _ in range(300):
            move = rng.random()
            if move < 0.3 and stack:
                stack = stack[:-1]
            elif move < 0.7:
                stack = stack + [rng.choice(names)]
            elif move < 0.8:
                stack = stack[: rng.randrange(len(stack) + 1)]
            home = rng.random() < 0.8
            if home:
                top = [THREAD, fi("server", STDLIB + "/socketserver.py"), entry + "\x01l42"]
                if rng.random() < 0.05:
                    top = [THREAD, fi("server", STDLIB + "/socketserver.py"), fi("extra"), entry]  # entry moved
                if rng.random() < 0.05:
                    stack_now = top + [sdk]
                else:
                    stack_now = top + stack
            else:
                stack_now = [pool, "followed\x00/site-packages/pystrument/core/x.py\x001"] + stack
            for _ in range(1 + (rng.random() < 0.3) * rng.randrange(4)):  # runs of the same stack
                unit.add_sample([(s + ".")[:-1] for s in stack_now], rng.choice((0.001, 0.002)))
        root, samples, _ = aggregate(unit)
        assert samples == len(unit.samples)
        assert _shape(_convert_all(root, 1000.0)) == _reference_shape(unit), f"trial {trial}"
    tree, _, _ = build_call_tree(unit, 10_000)
    assert THREAD_NODE in {c.function for c in tree.children}


def test_a_blocks_exit_under_its_entry_frame_is_one_sdk_frame():
    """A block (include_entry) sampled in our __exit__ right below its entry frame: the entry, then one
    [pystrument] frame, whether the sample is placed from the root or after a sample of the user's code."""
    ours = os.path.join(__import__("pystrument").__path__[0], "core", "api.py")
    entry = fi("job", "/app/jobs.py", 10)
    unit = Unit("block", "job")
    unit.cuts[THREAD] = (1, entry, 1, False)
    unit.add_sample([THREAD, entry + "\x01l12", fi("spin", "/app/jobs.py", 3)], 0.001)
    unit.add_sample([THREAD, entry + "\x01l13", fi("_Block.__exit__", ours, 135), fi("Client.finish", ours, 163),
                     fi("perf_counter", "<built-in>", 0)], 0.001)
    unit.add_sample([THREAD, entry + "\x01l12", fi("spin", "/app/jobs.py", 3)], 0.001)
    tree, _, _ = build_call_tree(unit, 100)
    job = tree  # the unit's one top frame is the tree's root
    assert job.function == "job" and {c.function for c in job.children} == {"spin", "[pystrument]"}
    assert job.samples == 3 and next(c for c in job.children if c.function == "spin").samples == 2
