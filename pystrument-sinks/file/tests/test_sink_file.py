"""The file sink on real files, with several real processes appending to one file."""

from __future__ import annotations

import gzip
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import msgspec
import pytest
from pystrument.core import PerformanceCollector
from pystrument.core.record import Record, decode_record
from pystrument.core.sinks import create_sink
from pystrument.sinks.file import FileSink
from pystrument_testing.polling import wait_for
from pystrument_testing.units import collect_units


def read_all(path: Path) -> list[bytes]:
    """Every line of the file and of its rotated (and gzipped) siblings."""
    lines: list[bytes] = []
    for candidate in sorted(path.parent.glob(path.name + "*")):
        if candidate.name.endswith(".lock"):
            continue
        data = gzip.decompress(candidate.read_bytes()) if candidate.suffix == ".gz" else candidate.read_bytes()
        assert not data or data.endswith(b"\n"), f"{candidate} ends inside a line"
        lines += data.splitlines()
    return lines


def test_records_are_one_json_line_each_and_read_back_equal(tmp_path, make_record):
    path = tmp_path / "out" / "records.jsonl"
    sink = FileSink(f"file://{path}")
    batch = [make_record(name=f"r{i}", failed=i % 3 == 0) for i in range(25)]
    sink.send(batch[:10])
    sink.send(batch[10:])
    sink.close()
    lines = path.read_bytes().splitlines()
    assert [decode_record(line) for line in lines] == batch
    assert sink.stats() == {"written": 25, "bytes": path.stat().st_size}


def test_size_rotation_keeps_n_gzipped_files(tmp_path, make_record):
    path = tmp_path / "r.jsonl"
    sink = FileSink(f"file://{path}?max_bytes=20000&keep=3&compress=gzip")
    sent = []
    for i in range(40):
        batch = [make_record(name=f"b{i}", size=2000)]
        sent += batch
        sink.send(batch)
    sink.close()
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == ["r.jsonl", "r.jsonl.1.gz", "r.jsonl.2.gz", "r.jsonl.3.gz", "r.jsonl.lock"]
    assert sink.stats()["rotations"] >= 4
    assert path.stat().st_size <= 20000
    newest_first = [decode_record(line).name for line in path.read_bytes().splitlines()]
    assert newest_first[-1] == "b39"
    oldest_first = [tmp_path / f"r.jsonl.{i}.gz" for i in (3, 2, 1)]
    kept = [decode_record(line).record_id for f in oldest_first for line in gzip.decompress(f.read_bytes()).splitlines()]
    kept += [decode_record(line).record_id for line in path.read_bytes().splitlines()]
    assert kept == [r.record_id for r in sent[-len(kept):]]  # the newest records, in order, none lost between files
    assert len(gzip.decompress((tmp_path / "r.jsonl.1.gz").read_bytes())) <= 20000


WRITER = textwrap.dedent('''
    import sys, uuid, datetime as dt, random
    from pystrument.core.record import Record, CallNode
    from pystrument.sinks.file import FileSink
    proc, batches, url = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
    sink = FileSink(url)
    rng = random.Random(proc)
    for i in range(batches):
        batch = []
        for j in range(rng.randint(1, 12)):
            pad = "x" * rng.randint(10, 9000)   # lines from tens of bytes to ~9 KB: larger than a pipe buffer
            batch.append(Record(record_id=f"p{proc}-{i}-{j}", name=pad, started_at=dt.datetime.now(dt.timezone.utc),
                                duration_ms=1.0))
        sink.send(batch)
    sink.close()
    print(sink.stats()["written"])
''')


def test_several_processes_append_without_interleaving_or_loss(tmp_path):
    path = tmp_path / "shared.jsonl"
    url = f"file://{path}?max_bytes=300000&keep=10000&compress=gzip"
    procs = [subprocess.Popen([sys.executable, "-c", WRITER, str(p), "150", url], stdout=subprocess.PIPE, text=True)
             for p in range(4)]
    written = sum(int(p.communicate(timeout=120)[0]) for p in procs)
    assert all(p.returncode == 0 for p in procs)
    ids = []
    for line in read_all(path):
        record = msgspec.json.decode(line, type=Record)  # a torn or interleaved line fails here
        assert set(record.name) == {"x"}
        ids.append(record.record_id)
    assert len(ids) == written == len(set(ids))
    assert len(list(tmp_path.glob("shared.jsonl.*.gz"))) > 3  # it did rotate, concurrently


def test_through_the_client_as_a_plugin(tmp_path):
    path = tmp_path / "client.jsonl"
    collector = PerformanceCollector(sinks=[f"file:{path}"], flush_interval=0.05, profiling_mode="detailed")
    collect_units(collector, "job", 7)
    assert collector.flush(5)
    names = sorted(decode_record(line).name for line in path.read_bytes().splitlines())
    assert names == [f"job-{i}" for i in range(7)]
    collector.close()


@pytest.mark.parametrize("url, message", [
    ("file://otherhost/x.jsonl", "three slashes"),
    ("file:///tmp/?keep=2", "names no file"),
    ("file:///tmp/x.jsonl?compress=zip", "compress='zip' is not supported"),
    ("file:///tmp/x.jsonl?max_bytes=ten", "option max_bytes='ten' is invalid"),
    ("file:///tmp/x.jsonl?rotate=1", "unknown option 'rotate'"),
])
def test_bad_urls_are_explained(url, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace("?", r"\?")):
        create_sink(url, None)


def test_a_write_failure_never_reaches_the_host_and_is_counted(tmp_path, caplog):
    path = tmp_path / "gone.jsonl"
    collector = PerformanceCollector(profiling_mode="detailed", sinks=[f"file://{path}"], flush_interval=0.05, sink_retries=1)
    with collector.collect("before"):
        pass
    assert collector.flush(5)
    path.unlink()
    os.mkdir(path)  # the file is now a folder: every write fails
    for i in range(3):
        with collector.collect(f"after-{i}"):
            pass
    assert collector.flush(10)
    # the batch waits in the retry queue (memory) through sink_retries more failed attempts, then is given up
    assert wait_for(lambda: collector.stats()["sinks"][f"file://{path}"]["failed"] == 3, 10, 0.05)
    stats = collector.stats()["sinks"][f"file://{path}"]
    assert stats["sent"] == 1 and stats["failed"] == 3 and "IsADirectoryError" in stats["last_error"]
    collector.close()
