"""The HTTP sink through outages: the server down for the first seconds, spool caps, a process restart."""

from __future__ import annotations

import time

from pystrument.core import Client, PerformanceCollector
from pystrument.sinks.http import HttpSink
from pystrument_testing.polling import wait_for


def spin(seconds):
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        pass


def test_server_down_first_seconds_every_slow_or_failed_record_arrives(ingest_stub_server, tmp_path):
    stub = ingest_stub_server(started=False)  # its port is chosen; nothing listens yet
    cap = 40_000  # about what the 40 slow or failed records need; the fast ones overflow it
    collector = PerformanceCollector(
        profiling_mode="detailed",
        sinks=[f"{stub.url}?spool_dir={tmp_path / 'spool'}&spool_max_bytes={cap}&max_backoff=1&timeout=2"],
        project_key="test-key", flush_interval=0.05, batch_size=50, max_queue_size=2000,
    )
    client = collector.client
    sink = client.dispatcher.slots[0].sink
    assert isinstance(sink, HttpSink)
    produced = {"fast": [], "slow": [], "failed": []}
    host_errors = []
    peak_spool = 0
    outage_end = time.monotonic() + 3.0
    for i in range(400):  # the host works through the outage: 360 fast, 20 slow, 20 failed units
        kind = "slow" if i % 20 == 0 else "failed" if i % 20 == 10 else "fast"
        name = f"{kind}-{i}"
        try:
            with collector.collect(name):
                if kind == "slow":
                    spin(0.02)
                elif kind == "failed":
                    raise ValueError(name)
                result = i * 2
            assert result == i * 2
        except ValueError as exc:  # the host's own exception, unchanged
            if str(exc) != name:
                host_errors.append(exc)
        produced[kind].append(name)
        peak_spool = max(peak_spool, sink.stats().get("spool_bytes", 0))
        time.sleep(0.004)
    time.sleep(max(0.0, outage_end - time.monotonic()))  # down for at least 3 s, and while every unit ran
    assert not host_errors
    assert sink.stats()["spooled"] > 0
    stub.start()  # the server is back
    assert collector.flush(10)
    assert wait_for(lambda: sink.stats().get("spool_records", 1) == 0), sink.stats()
    state = stub.state(records=True)
    arrived = {rec[0] for rec in state["records"].values()}
    missing = [n for n in produced["slow"] + produced["failed"] if n not in arrived]
    assert not missing, f"slow or failed records lost: {missing[:5]} ({len(missing)}); {sink.stats()}"
    stats = client.stats()
    own = stats["sinks"][sink.name]["sink"]
    assert own["dropped_spool_full"] > 0, "the spool cap was never reached: the test did not test dropping"
    total = sum(len(v) for v in produced.values())
    dropped = own["dropped_spool_full"] + stats["dropped"].get("queue_full", 0) + stats["sinks"][sink.name]["failed"]
    assert len(arrived) + dropped == total  # every record arrived or was counted as dropped
    assert peak_spool <= cap + 50 * 2_000  # bounded: the cap plus at most one batch
    collector.close()


def test_replay_keeps_the_order_of_batches(ingest_stub_server, tmp_path, make_record):
    stub = ingest_stub_server(started=False)
    client = Client(enabled=False, project_key="test-key")
    sink = HttpSink(f"{stub.url}?spool_dir={tmp_path}&max_backoff=0.5&timeout=1", client.config)
    batches = [[make_record(name=f"b{k:02d}-{j}", duration_ms=float(j)) for j in range(5)] for k in range(12)]
    for batch in batches:
        sink.send(batch)
    assert sink.stats()["spooled"] == 60
    stub.start()
    assert wait_for(lambda: len(stub.state()["ids"]) == 60)
    names = [rec[0] for rec in stub.state(records=True)["records"].values()]
    order = [int(n[1:3]) for n in names]
    assert order == sorted(order)
    sink.close()


def test_a_spool_left_by_an_exited_process_is_replayed_by_the_next(ingest_stub_server, tmp_path, make_record):
    stub = ingest_stub_server(started=False)
    config = Client(enabled=False, shutdown_timeout=0.2, project_key="test-key").config
    url = f"{stub.url}?spool_dir={tmp_path}&timeout=0.5"
    first = HttpSink(url, config)
    batch = [make_record() for _ in range(7)]
    first.send(batch)
    first.close()  # the server is still down: the batch stays on disk
    stub.start()
    second = HttpSink(url, config)
    second.send([make_record()])  # any first use sets it up, adopts and replays
    assert wait_for(lambda: {r.record_id for r in batch} <= set(stub.state()["ids"]))
    assert second.stats()["spool_adopted"] == 7
    second.close()


def test_a_live_process_keeps_its_own_spool(tmp_path, make_record):
    config = Client(enabled=False, shutdown_timeout=0.1).config
    url = f"http://127.0.0.1:9?spool_dir={tmp_path}&timeout=0.5"
    first, second = HttpSink(url, config), HttpSink(url, config)
    first.send([make_record()])
    second.send([make_record()])
    assert first.stats()["spool_records"] == 1 and second.stats()["spool_records"] == 1
    assert second.stats()["spool_adopted"] == 0
    first.close()
    second.close()


def test_the_spool_drops_the_least_valuable_records_first(tmp_path):
    import os
    import zlib

    from pystrument.sinks.http.spool import FRAME, Spool

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
        spool.done(batch)
    assert kept == ["s10", "s9", "s8", "s7", "s6", "s5", "failed"]  # oldest batch first, most valuable first in it
    assert spool.dropped == 21 - 7 and spool.size == 0


def test_a_forked_child_uses_its_own_connections_and_spool(ingest_stub_server, tmp_path, make_record):
    import os

    stub = ingest_stub_server()
    config = Client(enabled=False, project_key="test-key").config
    sink = HttpSink(f"{stub.url}?spool_dir={tmp_path}", config)
    sink.send([make_record()])
    parent_transport, parent_spool = sink._transport, sink._spool.dir
    child_record = make_record()
    pid = os.fork()
    if pid == 0:  # the child: a pre-fork server's worker
        code = 1
        try:
            sink.send([child_record])
            code = 0 if (sink._transport is not parent_transport and sink._spool.dir != parent_spool) else 2
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert child_record.record_id in stub.state()["ids"]
    sink.send([make_record()])  # the parent's own connections still work
    assert len(stub.state()["ids"]) == 3
    sink.close()


def test_a_damaged_spool_file_is_dropped_and_counted_not_fatal(tmp_path):
    from pystrument.sinks.http.spool import Spool

    spool = Spool(tmp_path, max_bytes=1 << 20)
    spool.put([(b'{"a":1}', False, 1.0), (b'{"b":2}', False, 2.0)])
    spool.put([(b'{"c":3}', True, 3.0)])
    damaged = sorted(spool.dir.glob("*.spool"))[0]
    data = bytearray(damaged.read_bytes())
    data[-3:] = b"\xff\xff\xff"  # the disk flipped bytes inside a compressed frame
    damaged.write_bytes(bytes(data))
    batch = spool.oldest()
    assert batch is not None and batch.records == [b'{"c":3}']
    assert spool.stats()["dropped_corrupt"] == 2


def test_an_unusable_spool_folder_means_no_spool_not_a_broken_sink(tmp_path, make_record, caplog):
    import logging

    import pytest
    from pystrument.core.sinks import SinkError

    blocker = tmp_path / "file-not-folder"
    blocker.write_text("")
    config = Client(enabled=False, project_key="k").config
    sink = HttpSink(f"http://127.0.0.1:9?spool_dir={blocker}&timeout=0.5", config)
    with caplog.at_level(logging.ERROR, logger="pystrument"), pytest.raises(SinkError) as info:
        sink.send([make_record()])
    assert info.value.retry  # without a spool, the dispatcher's retries take over
    assert any("runs without a spool" in r.getMessage() for r in caplog.records)
    assert "spool_records" not in sink.stats()
    sink.close()


CRASHING_HOST = """
import sys, time, uuid, datetime as dt
from pystrument.core import Client
from pystrument.core.record import Record
from pystrument.sinks.http import HttpSink
sink = HttpSink(sys.argv[1], Client(enabled=False, project_key="test-key").config)
batch = [Record(record_id=f"crash-{i}", name="crash", started_at=dt.datetime.now(dt.timezone.utc), duration_ms=1.0)
         for i in range(20)]
sink.send(batch)
print(sink.stats()["spool_records"], flush=True)
time.sleep(60)
"""


def test_records_spooled_by_a_process_that_crashed_are_replayed_by_the_next(ingest_stub_server, tmp_path, make_record):
    import signal
    import subprocess
    import sys

    stub = ingest_stub_server(started=False)
    url = f"{stub.url}?spool_dir={tmp_path}&timeout=0.5"
    host = subprocess.Popen([sys.executable, "-c", CRASHING_HOST, url], stdout=subprocess.PIPE, text=True)
    assert host.stdout.readline().strip() == "20"  # spooled while the server was down
    host.send_signal(signal.SIGKILL)  # no close, no atexit
    host.wait(10)
    stub.start()
    config = Client(enabled=False, project_key="test-key").config
    sink = HttpSink(url, config)
    sink.send([make_record()])
    assert wait_for(lambda: {f"crash-{i}" for i in range(20)} <= set(stub.state()["ids"]))
    assert sink.stats()["spool_adopted"] == 20
    sink.close()
