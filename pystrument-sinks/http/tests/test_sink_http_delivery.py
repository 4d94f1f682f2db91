"""The HTTP sink against a real HTTP server on loopback (the ingest stand-in, in its own process)."""

from __future__ import annotations

import logging
import time

import pytest
from pystrument.core import Client, PerformanceCollector
from pystrument.core.sinks import SinkError, create_sink
from pystrument.sinks.http import HttpSink
from pystrument.sinks.http.endpoint import api_base
from pystrument_testing import polling


def wait_for(predicate, timeout=20.0):
    return polling.wait_for(predicate, timeout, 0.05)


@pytest.mark.parametrize("given", [
    "http://h:8000", "http://h:8000/", "http://h:8000/api/v1", "http://h:8000/api/v1/performance/collect",
    "http://h:8000/api/v1/performance/batch", "http://h:8000/api/v1/performance",
])
def test_every_form_of_the_endpoint_gives_the_api_base(given):
    assert api_base(given) == "http://h:8000/api/v1"


def test_a_prefix_is_kept_and_a_bad_url_is_explained():
    assert api_base("https://x.example/pystrument") == "https://x.example/pystrument/api/v1"
    with pytest.raises(ValueError, match="http://host:port"):
        api_base("http:///nohost")


def test_an_unknown_option_names_the_known_ones(tmp_path):
    with pytest.raises(ValueError, match=r"unknown option 'tiemout' \(options: .*timeout"):
        create_sink("http://127.0.0.1:1?tiemout=3", Client(enabled=False).config)
    with pytest.raises(ValueError, match="option timeout='soon' is invalid"):
        create_sink("http://127.0.0.1:1?timeout=soon", Client(enabled=False).config)


def sink_for(stub, tmp_path, **settings) -> tuple[Client, HttpSink]:
    settings.setdefault("project_key", "test-key")
    settings.setdefault("flush_interval", 0.05)
    settings.setdefault("profiling_mode", "detailed")  # the tests count request records
    client = Client(sinks=[f"{stub.url}/api/v1/performance/collect?spool_dir={tmp_path / 'spool'}"], **settings)
    sink = client.dispatcher.slots[0].sink
    assert isinstance(sink, HttpSink)
    return client, sink


def test_batches_arrive_gzipped_with_the_key_and_one_record_goes_to_collect(ingest_stub_server, tmp_path, make_record):
    stub = ingest_stub_server()
    client, sink = sink_for(stub, tmp_path, batch_size=50)
    records = [make_record(name=f"r{i}") for i in range(120)]
    sink.send(records[:50])
    sink.send(records[50:119])
    sink.send(records[119:])
    state = stub.state()
    assert set(state["ids"]) == {r.record_id for r in records}
    assert state["counts"]["gzip_requests"] == 3
    assert state["counts"]["path_batch"] == 2 and state["counts"]["path_collect"] == 1
    assert sink.stats()["delivered"] == 120
    sink.send(records[:3])  # again: duplicates are a success
    assert sink.stats()["duplicates"] == 3
    client.close()


def test_records_from_the_host_arrive_through_the_dispatcher(ingest_stub_server, tmp_path):
    stub = ingest_stub_server()
    client, sink = sink_for(stub, tmp_path)
    collector = PerformanceCollector(client.config)
    for i in range(30):
        with collector.collect(f"job-{i}"):
            pass
    assert collector.flush(10)
    assert wait_for(lambda: len(stub.state()["ids"]) == 30)
    stats = collector.stats()["sinks"][sink.name]
    assert stats["sent"] == 30 and stats["sink"]["delivered"] == 30
    collector.close()
    client.close()


def test_a_bad_key_stops_the_sink_with_one_error_line(ingest_stub_server, tmp_path, make_record, caplog):
    stub = ingest_stub_server(key="the-right-key")
    client, sink = sink_for(stub, tmp_path, project_key="a-wrong-key", async_send=False)
    collector = PerformanceCollector(client.config)
    collector.client = client
    with caplog.at_level(logging.WARNING, logger="pystrument"):
        for i in range(5):
            with collector.collect(f"job-{i}"):
                pass  # the host is never disturbed
    lines = [r for r in caplog.records if "project key" in r.getMessage()]
    assert len(lines) == 1 and "set project_key" in lines[0].getMessage()
    stats = client.stats()["sinks"][sink.name]
    assert stats["disabled"] and stats["failed"] == 5 and stats["dropped_disabled"] == 4
    assert stub.state()["counts"]["bad_key"] == 1  # it stopped asking
    client.close()


def sent_through(client: Client, batch) -> None:
    """Hand ``batch`` to the client's dispatcher as one batch (delivered by its background thread)."""
    client.dispatcher.put_records(batch)
    assert client.flush(10)


def slot_stats(client: Client, sink: HttpSink) -> dict:
    """The dispatcher's figures for the sink (its retry queue's included); the sink's own under "sink"."""
    return client.stats()["sinks"][sink.name]


def test_retry_after_is_honoured_and_the_batch_arrives_later(ingest_stub_server, tmp_path, make_record):
    stub = ingest_stub_server()
    client, sink = sink_for(stub, tmp_path)
    stub.script([{"status": 429, "code": 10004, "retry_after": 1}])
    batch = [make_record() for _ in range(3)]
    started = time.monotonic()
    sent_through(client, batch)  # answered 429: the batch waits in the retry queue, nothing is raised
    assert wait_for(lambda: len(stub.state()["ids"]) == 3)
    assert time.monotonic() - started >= 1.0
    stats = slot_stats(client, sink)
    assert stats["spooled"] == 3 and stats["replayed"] == 3 and stats["sink"]["retry_after_honoured"] == 1
    client.close()


def test_a_refused_batch_is_a_retryable_sink_error_carrying_retry_after(ingest_stub_server, tmp_path, make_record):
    stub = ingest_stub_server()
    client, sink = sink_for(stub, tmp_path)
    stub.script([{"status": 429, "code": 10004, "retry_after": 7}])
    with pytest.raises(SinkError) as info:
        sink.send([make_record()])  # one attempt: the retrying is the dispatcher's
    assert info.value.retry and info.value.retry_after == 7 and "rate limited" in str(info.value)
    client.close()


def test_server_errors_are_retried_with_backoff(ingest_stub_server, tmp_path, make_record):
    stub = ingest_stub_server()
    client, sink = sink_for(stub, tmp_path)
    stub.script([{"status": 503}, {"status": 500}, {"status": 502}])
    batch = [make_record() for _ in range(4)]
    sent_through(client, batch)
    assert wait_for(lambda: len(stub.state()["ids"]) == 4)
    stats = slot_stats(client, sink)
    assert stats["sink"]["errors_5xx"] == 3 and stats["retries"] == 3 and stats["replayed"] == 4
    assert stats["spool_records"] == 0 and stats["failed"] == 0
    client.close()


def test_a_server_slower_than_the_timeout_gets_the_batch_later(ingest_stub_server, tmp_path, make_record):
    stub = ingest_stub_server()
    client = Client(project_key="test-key", profiling_mode="detailed", flush_interval=0.05,
                    sinks=[f"{stub.url}?spool_dir={tmp_path}&timeout=0.5&max_backoff=0.5"])
    sink = client.dispatcher.slots[0].sink
    stub.script([{"delay": 1.5}, {"delay": 1.5}])  # the request and its one retry both time out
    batch = [make_record() for _ in range(3)]
    sent_through(client, batch)
    assert wait_for(lambda: slot_stats(client, sink)["replayed"] == 3)
    stats = slot_stats(client, sink)
    assert stats["sink"]["errors_connection"] == 1 and stats["spooled"] == 3
    # the slow server did store the late sendings too: three sendings, each record stored once
    assert wait_for(lambda: stub.state()["counts"].get("duplicates", 0) == 6)
    assert sorted(stub.state()["ids"]) == sorted(r.record_id for r in batch)
    client.close()


def test_a_body_too_large_is_split_and_a_record_too_large_is_dropped_and_counted(ingest_stub_server, tmp_path, make_record):
    stub = ingest_stub_server(max_body=20_000)  # gzip bodies: about 30 records of 10 KB fit
    client, sink = sink_for(stub, tmp_path)
    batch = [make_record(name=f"r{i}", size=10_000) for i in range(200)]
    sink.send(batch)
    assert set(stub.state()["ids"]) == {r.record_id for r in batch}
    assert stub.state()["counts"]["too_large"] >= 1
    huge = make_record(size=3_000_000)
    sink.send([huge])
    assert sink.stats()["dropped_too_large"] == 1
    client.close()


def test_invalid_records_are_counted_as_rejected_not_retried(ingest_stub_server, tmp_path, make_record):
    stub = ingest_stub_server()
    client, sink = sink_for(stub, tmp_path)
    good, bad = make_record(), make_record()
    bad.duration_ms = "slow"  # a plugin's enricher broke it
    sink.send([good, bad])  # returns: nothing to retry
    assert stub.state()["ids"] == [good.record_id]
    assert sink.stats()["rejected"] == 1 and stub.state()["counts"]["requests"] == 1
    client.close()


def test_an_unreachable_server_is_a_retryable_sink_error(tmp_path, make_record):
    client = Client(enabled=False)
    sink = HttpSink("http://127.0.0.1:9?timeout=0.5", client.config)
    with pytest.raises(SinkError) as info:
        sink.send([make_record()])
    assert info.value.retry and info.value.retry_after is None and "cannot reach" in str(info.value)
    assert sink.stats()["errors_connection"] == 1
    sink.close()


def test_without_a_spool_the_retry_queue_is_in_memory(tmp_path, make_record):
    client = Client(sinks=[f"http://127.0.0.1:9?spool_max_bytes=0&spool_dir={tmp_path}&timeout=0.5"], profiling_mode="detailed",
                    flush_interval=0.05)
    sink = client.dispatcher.slots[0].sink
    sent_through(client, [make_record()])
    stats = slot_stats(client, sink)
    assert stats["retry_queue"] == "memory" and stats["queued"] == 1 and "spool_records" not in stats
    assert not list(tmp_path.iterdir())  # no spool was made
    client.close(0.1)
    assert slot_stats(client, sink)["dropped_shutdown"] == 1  # memory does not outlive the process: counted


def test_the_seeds_api_endpoint_setting_means_this_sink(ingest_stub_server, tmp_path):
    stub = ingest_stub_server()
    collector = PerformanceCollector({"profiling_mode": "detailed", "project_key": "test-key", "api_endpoint": f"{stub.url}/api/v1/performance/collect",
                                      "spool_dir": str(tmp_path), "spool_max_bytes": 1_000_000, "flush_interval": 0.05})
    sink = collector.client.dispatcher.slots[0].sink
    assert isinstance(sink, HttpSink)
    for i in range(4):
        with collector.collect(f"job-{i}"):
            pass
    assert collector.flush(10)
    assert len(stub.state()["ids"]) == 4
    stats = collector.stats()["sinks"][sink.name]
    assert stats["retry_queue"] == "disk" and stats["spool_max_bytes"] == 1_000_000
    assert stats["spool_dir"].startswith(str(tmp_path))
    collector.close()
