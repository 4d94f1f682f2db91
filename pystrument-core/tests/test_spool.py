"""The disk spool of the retry queue (core/spool.py), on its own: the cap, damaged files, the Record round trip."""

from __future__ import annotations

import datetime as dt
import os
import zlib

import msgspec
from pystrument.core.record import AppInfo, CallNode, ErrorInfo, Record, RequestStats, Span
from pystrument.core.retry_stores import DiskStore
from pystrument.core.spool import FRAME, Spool


def test_the_spool_drops_the_least_valuable_records_first(tmp_path):
    def payload(tag):  # incompressible, so every frame has about the same size
        return tag.encode().ljust(8) + b"|" + os.urandom(500)

    frame = FRAME.size + len(zlib.compress(payload("s10"), 1))
    spool = Spool(tmp_path, max_bytes=7 * frame)
    spool.put([(payload(f"s{d}"), False, float(d)) for d in range(1, 11)])  # successful, 1 to 10 ms
    spool.put([(payload("failed"), True, 0.5)])
    for i in range(10):
        spool.put([(payload(f"fast{i}"), False, 0.2)])
    assert spool.size <= 7 * frame
    kept = []
    while (batch := spool.oldest()) is not None:
        kept += [r.split(b"|", 1)[0].strip().decode() for r in batch.records]
        spool.done(batch.key)
    assert kept == ["s10", "s9", "s8", "s7", "s6", "s5", "failed"]  # oldest batch first, most valuable first in it
    assert spool.dropped == 21 - 7 and spool.size == 0


def test_a_damaged_spool_file_is_dropped_and_counted_not_fatal(tmp_path):
    spool = Spool(tmp_path, max_bytes=1 << 20)
    spool.put([(b'{"a":1}', False, 1.0), (b'{"b":2}', False, 2.0)])
    spool.put([(b'{"c":3}', True, 3.0)])
    damaged = sorted(spool.dir.glob("*.spool"))[0]
    data = bytearray(damaged.read_bytes())
    data[-3:] = b"\xff\xff\xff"  # the disk flipped bytes inside a compressed frame
    damaged.write_bytes(bytes(data))
    batch = spool.oldest()
    assert batch is not None and batch.records == [b'{"c":3}']
    assert spool.corrupt == 2 and len(spool) == 1


def every_field_record() -> Record:
    """A Record with every field (and every field of its parts) away from its default."""
    leaf = CallNode(function="leaf", file="/app/b.py", line=7, time_ms=1.5, self_ms=1.5, is_app=True, samples=3)
    other = CallNode(function="[other]", time_ms=0.25, self_ms=0.25, pruned=12, samples=1)
    tree = CallNode(function="view", file="/app/a.py", line=3, time_ms=2.0, self_ms=0.25, is_app=True,
                    children=[leaf, other], pruned=1, samples=8)
    span = Span(kind="sql", start_ms=0.5, duration_ms=0.75, statement="SELECT ? FROM t", db="sqlite", host="db",
                method="GET", url="http://h/p?q=?", status=200, error="timeout", file="/app/a.py", line=9, function="view")
    return Record(
        schema_version=1, record_id="r-1", project_key="key", kind="aggregate", name="GET /x/{id}", method="GET",
        path="/x/1", status_code=503, started_at=dt.datetime(2025, 1, 2, 3, 4, 5, 678901, tzinfo=dt.timezone.utc),
        duration_ms=12.5, cpu_ms=3.25, sample_rate=0.5,
        app=AppInfo(name="shop", version="1.2", environment="test", host="h1", pid=42, python="3.11", framework="flask",
                    sdk_version="0.1"),
        tags={"region": "eu"}, error=ErrorInfo(type="ValueError", message="boom"), call_tree=tree, truncated=True,
        is_async=True, sample_count=8, interval_ms=1.0, source={"/app/a.py:3": "def view():"},
        requests=RequestStats(count=9, errors=2, statuses={"200": 7, "503": 2}, duration_bins={4: 5, 17: 4}, cpu_ms=8.5,
                              max_ms=40.25),
        spans=[span], spans_dropped=3,
    )


def test_a_record_with_every_field_set_comes_back_from_the_spool_equal(tmp_path):
    record = every_field_record()
    defaults = Record(record_id="", name="", started_at=record.started_at, duration_ms=0.0)
    unset = [f for f in Record.__struct_fields__ if f != "started_at" and getattr(record, f) == getattr(defaults, f)]
    assert unset == ["schema_version"]  # (there is one schema version); every other field is set
    dropped: list[tuple[int, str]] = []
    store = DiskStore(Spool(tmp_path, 1 << 20), lambda n, reason: dropped.append((n, reason)))
    store.put([record], failures=0)
    taken = store.oldest()
    assert taken is not None and taken.records == [record] and not dropped
    assert msgspec.structs.asdict(taken.records[0]) == msgspec.structs.asdict(record)
    assert taken.records[0].started_at.tzinfo is not None and taken.records[0].requests.duration_bins == {4: 5, 17: 4}
    store.remove(taken.key)
    assert len(store) == 0 and store.oldest() is None


def test_a_spooled_record_that_no_longer_decodes_is_dropped_and_counted(tmp_path):
    good, bad = every_field_record(), every_field_record()
    bad.duration_ms = "slow"  # a plugin's enricher broke it: encodes, but is no Record when read back
    dropped: list[tuple[int, str]] = []
    store = DiskStore(Spool(tmp_path, 1 << 20), lambda n, reason: dropped.append((n, reason)))
    store.put([good, bad], failures=0)
    taken = store.oldest()
    assert taken is not None and taken.records == [good]
    assert dropped == [(1, "dropped_corrupt")]
