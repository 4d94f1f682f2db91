"""The SQLite store's ingest path: group commit under concurrency, the untracked ingest types, packed histograms."""

from __future__ import annotations

import gc
import random
import threading
import uuid

import msgspec
import numpy as np
import pytest
from pystrument.core.record import CallNode, Record
from pystrument.server.api.routes.projects import create_project
from pystrument.server.ingest.decode import decode_batch, decode_one
from pystrument.server.ingest.types import IngestNode, IngestRecord
from pystrument.server.stats import histogram
from pystrument.server.stores.sqlite import SQLiteStore


def _records(make_record, ids: list[str], rng: random.Random) -> list[Record]:
    body = msgspec.json.encode({"records": [
        make_record(name=f"GET /e{rng.randrange(3)}", duration=rng.uniform(1, 80), version=rng.choice(("1", "2")),
                    record_id=rid, extra_fn=rng.choice((None, "fetch", "parse")), status=rng.choice((200, 200, 500)))
        for rid in ids]})
    records = decode_batch(body, is_list=False)
    assert records is not None
    return records


def _rollups(store: SQLiteStore, project_id: str) -> tuple[list, list, list]:
    buckets = store._read("SELECT endpoint, method, version, environment, hour, count, errors, round(sum_ms, 6), max_ms, hist "
                          "FROM buckets WHERE project_id = ? ORDER BY 1, 2, 3, 4, 5", (project_id,))
    functions = store._read("SELECT endpoint, version, fkey, round(self_ms, 6), requests, is_app, hist FROM functions "
                            "WHERE project_id = ? ORDER BY 1, 2, 3", (project_id,))
    hours = store._read("SELECT version, hour, count, errors, hist FROM buckets_project WHERE project_id = ? ORDER BY 1, 2", (project_id,))
    # histogram blobs compare as {bin: count}: a group may list the bins in another order
    return ([(*r[:-1], histogram.unpack(r[-1])) for r in buckets], [(*r[:-1], histogram.unpack(r[-1])) for r in functions],
            [(*r[:-1], histogram.unpack(r[-1])) for r in hours])


def test_concurrent_batches_are_stored_once_and_rolled_up_as_if_sequential(tmp_path, make_record):
    """Eight threads send batches whose record ids overlap: every id is accepted exactly once, the others are
    reported as duplicates, and the roll-ups equal those of the same records inserted one batch at a time."""
    rng = random.Random(7)
    pool = [uuid.uuid4().hex for _ in range(300)]
    batches = [[rng.choice(pool) for _ in range(rng.randrange(1, 40))] for _ in range(64)]
    made = [_records(make_record, ids, random.Random(i)) for i, ids in enumerate(batches)]
    # one content per record id (the first batch that names it wins, whichever thread that is): same fields
    first: dict[str, Record] = {}
    for recs in made:
        for r in recs:
            first.setdefault(r.record_id, r)
    made = [[first[r.record_id] for r in recs] for recs in made]

    store = SQLiteStore(f"sqlite:///{tmp_path / 'group.db'}")
    project = create_project(store, "group")
    results: list = []
    start = threading.Barrier(8)

    def send(part: list[list[Record]]) -> None:
        start.wait()
        for recs in part:
            results.append((recs, store.insert_records(project["id"], recs)))

    threads = [threading.Thread(target=send, args=(made[i::8],)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    accepted = [rid for _recs, res in results for rid in res.accepted]
    assert sorted(accepted) == sorted(set(accepted)) == sorted(first), "every id accepted exactly once"
    for recs, res in results:
        assert sorted(res.accepted + res.duplicates) == sorted(r.record_id for r in recs)
    assert store.get_project(project["id"])["record_count"] == len(first)

    sequential = SQLiteStore(f"sqlite:///{tmp_path / 'one.db'}")
    other = create_project(sequential, "one")
    sequential.insert_records(other["id"], list(first.values()))
    assert _rollups(store, project["id"]) == _rollups(sequential, other["id"])
    store.close()
    sequential.close()


def test_a_failing_batch_does_not_fail_the_batches_committed_with_it(tmp_path, make_record, monkeypatch):
    store = SQLiteStore(f"sqlite:///{tmp_path / 'fail.db'}")
    good, bad = create_project(store, "good"), create_project(store, "bad")
    original = SQLiteStore._apply_rollups

    def apply(self, c, project_id, increments):  # a fault in the bad project's roll-ups only
        if project_id == bad["id"]:
            raise RuntimeError("injected roll-up fault")
        return original(self, c, project_id, increments)

    monkeypatch.setattr(SQLiteStore, "_apply_rollups", apply)
    # hold the write lock so that all four batches queue up and are written as one group
    outcomes: dict[str, object] = {}
    store._write_lock.acquire()

    def send(name: str, project_id: str) -> None:
        try:
            outcomes[name] = store.insert_records(project_id, _records(make_record, [uuid.uuid4().hex for _ in range(5)], random.Random(1)))
        except RuntimeError as exc:
            outcomes[name] = exc

    threads = [threading.Thread(target=send, args=(f"{kind}{i}", p["id"])) for i in range(2) for kind, p in (("good", good), ("bad", bad))]
    for t in threads:
        t.start()
    while len(store._pending) < 4:
        threading.Event().wait(0.01)
    store._write_lock.release()
    for t in threads:
        t.join()
    assert all(len(outcomes[f"good{i}"].accepted) == 5 for i in range(2))  # type: ignore[union-attr]
    assert all(isinstance(outcomes[f"bad{i}"], RuntimeError) for i in range(2))
    assert store.get_project(good["id"])["record_count"] == 10
    assert store.get_project(bad["id"])["record_count"] == 0
    assert store._read("SELECT COUNT(*) FROM records WHERE project_id = ?", (bad["id"],))[0][0] == 0
    store.close()


def test_ingest_types_decode_like_the_record_untracked_by_the_gc(make_record):
    rec = make_record(extra_fn="fetch")
    body = msgspec.json.encode(rec)
    mine, problem = decode_one(body, "")
    assert problem is None and isinstance(mine, IngestRecord) and isinstance(mine, Record)
    assert isinstance(mine.call_tree, IngestNode) and isinstance(mine.call_tree, CallNode)
    assert not gc.is_tracked(mine.call_tree) and not gc.is_tracked(mine.call_tree.children[0])
    # the same fields and values (the redefined call_tree comes first in the encoding: no reader depends on order)
    core = msgspec.json.decode(body, type=Record)
    assert msgspec.json.decode(msgspec.json.encode(mine)) == msgspec.json.decode(msgspec.json.encode(core))
    assert msgspec.json.encode(mine.call_tree) == msgspec.json.encode(core.call_tree)
    bad = dict(rec, call_tree={**rec["call_tree"], "children": [{"function": "f", "self_ms": "slow"}]})
    record, problem = decode_one(msgspec.json.encode(bad), "records[3]")
    assert record is None and problem is not None and problem.startswith("records[3].call_tree.children[0].self_ms:")


@pytest.mark.parametrize("bins", [{}, {0: 1}, {3: 5, 100: 2, 256: 70000}])
def test_packed_histograms_keep_their_format(bins):
    """The struct-based pack/unpack write and read the same bytes as the numpy (uint16 bin, int32 count) form."""
    data = histogram.pack(bins)
    arr = np.frombuffer(data, dtype=histogram.ENTRY)
    assert dict(zip(arr["bin"].tolist(), arr["n"].tolist(), strict=True)) == bins == histogram.unpack(data)
    assert histogram.unpack(histogram.merge_packed(data, {3: 1, 7: 2})) == {i: bins.get(i, 0) + {3: 1, 7: 2}.get(i, 0) for i in {*bins, 3, 7}}
