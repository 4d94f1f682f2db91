"""The HTTP sink through outages: the server down for the first seconds, spool caps, a process restart.

What the server cannot take waits in the dispatcher's retry queue, on disk (the sink declares ``spool = True``):
these tests go through a ``Client`` and read the queue's figures in ``stats()["sinks"][name]``."""

from __future__ import annotations

import time

from pystrument.core import Client, PerformanceCollector
from pystrument.sinks.http import HttpSink
from pystrument_testing.polling import wait_for


def http_client(url: str, **settings) -> tuple[Client, HttpSink]:
    settings.setdefault("project_key", "test-key")
    client = Client(sinks=[url], profiling_mode="detailed", flush_interval=0.05, **settings)
    sink = client.dispatcher.slots[0].sink
    assert isinstance(sink, HttpSink)
    return client, sink


def slot_stats(client: Client, sink: HttpSink) -> dict:
    return client.stats()["sinks"][sink.name]


def send(client: Client, batch) -> None:
    """``batch`` to the dispatcher as one batch; returns once it was sent or put in the retry queue."""
    client.dispatcher.put_records(batch)
    assert client.flush(10)


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
        peak_spool = max(peak_spool, slot_stats(client, sink).get("spool_bytes", 0))
        time.sleep(0.004)
    time.sleep(max(0.0, outage_end - time.monotonic()))  # down for at least 3 s, and while every unit ran
    assert not host_errors
    assert slot_stats(client, sink)["spooled"] > 0
    stub.start()  # the server is back
    assert collector.flush(10)
    assert wait_for(lambda: slot_stats(client, sink).get("spool_records", 1) == 0), slot_stats(client, sink)
    state = stub.state(records=True)
    arrived = {rec[0] for rec in state["records"].values()}
    missing = [n for n in produced["slow"] + produced["failed"] if n not in arrived]
    assert not missing, f"slow or failed records lost: {missing[:5]} ({len(missing)}); {slot_stats(client, sink)}"
    stats = client.stats()
    slot = stats["sinks"][sink.name]
    assert slot["dropped_spool_full"] > 0, "the spool cap was never reached: the test did not test dropping"
    total = sum(len(v) for v in produced.values())
    dropped = stats["dropped"].get("queue_full", 0) + slot["failed"]  # failed: the spool's drops included
    assert slot["failed"] == slot["dropped_spool_full"]
    assert len(arrived) + dropped == total  # every record arrived or was counted as dropped
    assert peak_spool <= cap + 50 * 2_000  # bounded: the cap plus at most one batch
    collector.close()


def test_replay_keeps_the_order_of_batches(ingest_stub_server, tmp_path, make_record):
    stub = ingest_stub_server(started=False)
    client, sink = http_client(f"{stub.url}?spool_dir={tmp_path}&max_backoff=0.5&timeout=1", batch_size=5)
    batches = [[make_record(name=f"b{k:02d}-{j}", duration_ms=float(j)) for j in range(5)] for k in range(12)]
    for batch in batches:
        send(client, batch)
    assert slot_stats(client, sink)["spooled"] == 60
    stub.start()
    assert wait_for(lambda: len(stub.state()["ids"]) == 60)
    names = [rec[0] for rec in stub.state(records=True)["records"].values()]
    order = [int(n[1:3]) for n in names]
    assert order == sorted(order)
    client.close()


def test_a_spool_left_by_an_exited_process_is_replayed_by_the_next(ingest_stub_server, tmp_path, make_record):
    stub = ingest_stub_server(started=False)
    url = f"{stub.url}?spool_dir={tmp_path}&timeout=0.5"
    first, sink = http_client(url, shutdown_timeout=0.2)
    batch = [make_record() for _ in range(7)]
    send(first, batch)
    first.close()  # the server is still down: the batch stays on disk
    assert slot_stats(first, sink)["failed"] == 0
    stub.start()
    second, sink = http_client(url)
    second.dispatcher.start()  # its start adopts the spool and replays it, before any record of its own
    assert wait_for(lambda: {r.record_id for r in batch} <= set(stub.state()["ids"]))
    assert slot_stats(second, sink)["spool_adopted"] == 7 and slot_stats(second, sink)["replayed"] == 7
    second.close()


def test_a_live_process_keeps_its_own_spool(tmp_path, make_record):
    url = f"http://127.0.0.1:9?spool_dir={tmp_path}&timeout=0.5"
    (first, first_sink), (second, second_sink) = http_client(url, shutdown_timeout=0.1), http_client(url, shutdown_timeout=0.1)
    send(first, [make_record()])
    send(second, [make_record()])
    first_stats, second_stats = slot_stats(first, first_sink), slot_stats(second, second_sink)
    assert first_stats["spool_records"] == 1 and second_stats["spool_records"] == 1
    assert second_stats["spool_adopted"] == 0 and first_stats["spool_dir"] != second_stats["spool_dir"]
    first.close()
    second.close()


def test_a_forked_child_uses_its_own_connections_and_spool(ingest_stub_server, tmp_path, make_record):
    import os

    stub = ingest_stub_server()
    client, sink = http_client(f"{stub.url}?spool_dir={tmp_path}", async_send=False)
    send(client, [make_record()])
    parent_transport, parent_spool = sink._transport, slot_stats(client, sink)["spool_dir"]
    child_record = make_record()
    pid = os.fork()
    if pid == 0:  # the child: a pre-fork server's worker
        code = 1
        try:
            send(client, [child_record])
            child_spool = slot_stats(client, sink)["spool_dir"]
            code = 0 if (sink._transport is not parent_transport and child_spool != parent_spool) else 2
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert child_record.record_id in stub.state()["ids"]
    send(client, [make_record()])  # the parent's own connections and spool still work
    assert len(stub.state()["ids"]) == 3 and slot_stats(client, sink)["spool_dir"] == parent_spool
    client.close()


def test_an_unusable_spool_folder_means_a_memory_queue_not_a_broken_sink(tmp_path, make_record, caplog):
    import logging

    blocker = tmp_path / "file-not-folder"
    blocker.write_text("")
    with caplog.at_level(logging.ERROR, logger="pystrument"):
        client, sink = http_client(f"http://127.0.0.1:9?spool_dir={blocker}&timeout=0.5", project_key="k")
        send(client, [make_record()])
    assert any("its retry queue stays in memory" in r.getMessage() for r in caplog.records)
    stats = slot_stats(client, sink)
    assert stats["retry_queue"] == "memory" and stats["queued"] == 1 and "spool_records" not in stats
    client.close(0.1)


CRASHING_HOST = """
import sys, time, uuid, datetime as dt
from pystrument.core import Client
from pystrument.core.record import Record
client = Client(sinks=[sys.argv[1]], project_key="test-key", profiling_mode="detailed", flush_interval=0.05)
batch = [Record(record_id=f"crash-{i}", name="crash", started_at=dt.datetime.now(dt.timezone.utc), duration_ms=1.0)
         for i in range(20)]
client.dispatcher.put_records(batch)
client.flush(10)
print(next(iter(client.stats()["sinks"].values()))["spool_records"], flush=True)
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
    client, sink = http_client(url)
    send(client, [make_record()])  # the first send sets the spool up: it adopts and replays
    assert wait_for(lambda: {f"crash-{i}" for i in range(20)} <= set(stub.state()["ids"]))
    assert slot_stats(client, sink)["spool_adopted"] == 20
    client.close()
