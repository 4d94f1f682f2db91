"""The retry layer (core/retry.py, driven by the dispatcher's thread) with test sinks that fail on cue: the order
of batches, the backoff, no waiting in the background thread, the bounds, the disk spool, a stop, fork, the exit."""

from __future__ import annotations

import datetime as dt
import logging
import os
import time
import uuid

import pytest
from core_helpers import sink_plugin
from pystrument.core import Client
from pystrument.core.record import ErrorInfo, Record
from pystrument.core.retry import Backoff
from pystrument.core.sinks import SinkError
from pystrument_testing.polling import wait_for


class ScriptedSink:
    """Each send does what ``script`` says next (raise that exception, or take the batch: None), then what
    ``then`` says; it notes when each send came and the names of what it took."""

    def __init__(self, url, config):
        self.name = url
        self.script: list[BaseException | None] = []
        self.then: BaseException | None = None
        self.pause = 0.0  # seconds each send takes (a slow target)
        self.calls: list[float] = []
        self.got: list[list[str]] = []

    def send(self, batch):
        self.calls.append(time.monotonic())
        if self.pause:
            time.sleep(self.pause)
        error = self.script.pop(0) if self.script else self.then
        if error is not None:
            raise error
        self.got.append([r.name for r in batch])

    def names(self) -> list[str]:
        return [n for batch in self.got for n in batch]

    def close(self):
        pass


class SpoolingSink(ScriptedSink):
    spool = True  # its retry queue is on disk


@pytest.fixture
def sinks():
    """URL -> the test sink made for it (one per URL: a second client of the same URL gets the same one)."""
    with sink_plugin(scripted=ScriptedSink, spooling=SpoolingSink) as created:
        yield created


def record(name: str, duration_ms: float = 1.0, failed: bool = False) -> Record:
    return Record(record_id=uuid.uuid4().hex, name=name, started_at=dt.datetime.now(dt.timezone.utc), duration_ms=duration_ms,
                  status_code=500 if failed else 200, error=ErrorInfo(type="ValueError") if failed else None)


def client_for(*urls: str, **settings) -> Client:
    settings.setdefault("flush_interval", 0.05)
    return Client(sinks=list(urls), profiling_mode="detailed", **settings)


def send(client: Client, batch: list[Record]) -> None:
    """One batch to the dispatcher; returns once every sink has it or holds it in its retry queue."""
    client.dispatcher.put_records(batch)
    assert client.flush(5)


def slot(client: Client, url: str) -> dict:
    return client.stats()["sinks"][url]


def test_batches_wait_in_order_and_each_arrives_once_when_the_sink_is_back(sinks):
    client = client_for("scripted://order")
    sink = sinks["scripted://order"]
    sink.script = [ConnectionError("down")] * 3
    for k in range(6):  # the first fails; the five after it go behind it, unsent
        send(client, [record(f"b{k}-{j}") for j in range(3)])
    assert wait_for(lambda: len(sink.got) == 6, 15, 0.02), slot(client, "scripted://order")
    assert [batch[0].split("-")[0] for batch in sink.got] == [f"b{k}" for k in range(6)]
    assert sorted(sink.names()) == sorted(f"b{k}-{j}" for k in range(6) for j in range(3))  # each once
    stats = slot(client, "scripted://order")
    assert stats["sent"] == 18 and stats["replayed"] == 18 and stats["failed"] == 0 and stats["queued"] == 0
    assert "next_attempt_s" not in stats  # nothing waits
    client.close()


def test_the_backoff_doubles_with_jitter_up_to_its_cap_and_retry_after_wins():
    low, high = Backoff(cap=30.0, rand=lambda: 0.0), Backoff(cap=30.0, rand=lambda: 0.999)
    assert [low.delay() for _ in range(9)] == [0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 30.0, 30.0]
    assert [round(high.delay(), 2) for _ in range(3)] == [0.5, 1.0, 2.0]  # jitter: up to twice the step
    assert low.delay(retry_after=7.0) == 7.0 and low.delay(retry_after=1e9) == 300.0 and low.delay(retry_after=0) == 0.05
    low.reset()
    assert low.delay() == 0.25
    capped = Backoff(cap=0.4, rand=lambda: 0.5)
    assert [capped.delay() for _ in range(3)] == [0.375, 0.4, 0.4]  # a sink's max_backoff


def test_attempts_are_paced_by_a_growing_backoff(sinks):
    client = client_for("scripted://paced")
    sink = sinks["scripted://paced"]
    sink.script = [ConnectionError("down")] * 3
    send(client, [record("once")])
    assert wait_for(lambda: sink.got, 15, 0.01)
    gaps = [b - a for a, b in zip(sink.calls, sink.calls[1:], strict=False)]
    assert len(gaps) == 3, gaps
    # steps of 0.25, 0.5 and 1 s, each with up to as much jitter again (and a little scheduling)
    assert 0.25 <= gaps[0] < 0.6 and 0.5 <= gaps[1] < 1.1 and 1.0 <= gaps[2] < 2.1, gaps
    stats = slot(client, "scripted://paced")
    assert stats["retries"] == 3 and stats["sent"] == 1 and stats["last_error"] == "ConnectionError: down"
    client.close()


def test_a_sinks_retry_after_is_honoured(sinks):
    client = client_for("scripted://told")
    sink = sinks["scripted://told"]
    sink.script = [SinkError("rate limited", retry_after=1.2)]
    send(client, [record("later")])
    waiting = slot(client, "scripted://told")
    assert waiting["queued"] == 1 and 0.9 < waiting["next_attempt_s"] <= 1.2
    assert wait_for(lambda: sink.got, 10, 0.01)
    assert 1.2 <= sink.calls[1] - sink.calls[0] < 1.6
    client.close()


def test_a_failing_sink_never_holds_up_another(sinks):
    """The old dispatcher slept between a batch's retries (up to 2 s each), in the one thread every sink shares."""
    client = client_for("scripted://down", "scripted://up", sink_retries=20)
    down, up = sinks["scripted://down"], sinks["scripted://up"]
    down.then = SinkError("overloaded", retry_after=0.5)
    lateness = []
    for k in range(8):
        put_at = time.monotonic()
        client.dispatcher.put_records([record(f"r{k}")])
        assert wait_for(lambda k=k: len(up.got) == k + 1, 5, 0.002)
        lateness.append(time.monotonic() - put_at)
        time.sleep(0.2)
    assert len(down.calls) >= 3  # the failing sink was tried again meanwhile, at its pace
    assert max(lateness) < 0.3, lateness  # and the healthy one got each record at once
    assert up.names() == [f"r{k}" for k in range(8)]
    down_stats = slot(client, "scripted://down")
    assert down_stats["sent"] == 0 and down_stats["queued"] == 8 and down_stats["failed"] == 0
    client.close(0)


def test_a_memory_queue_holds_max_queue_size_records_dropping_the_least_valuable_first(sinks, caplog):
    client = client_for("scripted://full", max_queue_size=10, sink_retries=20, batch_size=5)
    sink = sinks["scripted://full"]
    sink.then = ConnectionError("down")
    fast = [record(f"fast{i}", duration_ms=1.0 + i / 100) for i in range(30)]
    with caplog.at_level(logging.WARNING, logger="pystrument"):
        for start in range(0, 30, 5):
            send(client, fast[start:start + 5])
        send(client, [record("slow", duration_ms=900.0), record("failed", duration_ms=0.5, failed=True)])
    stats = slot(client, "scripted://full")
    assert stats["retry_queue"] == "memory" and stats["queued"] == 10 and stats["spooled"] == 32
    assert stats["dropped_queue_full"] == 22 and stats["failed"] == 22  # every drop counted
    assert caplog.text.count("retry queue is full") == 1
    sink.then = None  # the target is back
    assert wait_for(lambda: slot(client, "scripted://full")["queued"] == 0, 15, 0.02)
    assert sorted(sink.names()) == sorted(["slow", "failed"] + [f"fast{i}" for i in range(22, 30)])
    assert slot(client, "scripted://full")["sent"] == 10
    client.close()


def test_a_spooling_sinks_batches_wait_on_disk_and_the_next_dispatcher_replays_them(sinks, tmp_path):
    url = "spooling://disk"
    first = client_for(url, spool_dir=str(tmp_path), shutdown_timeout=0.2)
    sink = sinks[url]
    sink.then = ConnectionError("down")
    batches = [[record(f"b{k}-{j}", duration_ms=float(j)) for j in range(4)] for k in range(5)]
    for batch in batches:
        send(first, batch)
    stats = slot(first, url)
    assert stats["retry_queue"] == "disk" and stats["spool_records"] == 20 and stats["spool_bytes"] > 0
    assert stats["spool_dir"].startswith(str(tmp_path))
    first.close()  # still down: the batches stay on disk, not counted as lost
    assert slot(first, url)["failed"] == 0 and list(tmp_path.rglob("*.spool"))
    sink.then, sink.got = None, []
    second = client_for(url, spool_dir=str(tmp_path))
    second.dispatcher.start()  # no record of its own: the start adopts the spool and replays it
    assert wait_for(lambda: len(sink.got) == 5, 10, 0.02)
    assert [batch[0].split("-")[0] for batch in sink.got] == [f"b{k}" for k in range(5)]
    assert sink.got[0] == ["b0-3", "b0-2", "b0-1", "b0-0"]  # in a batch: most valuable (slowest) first
    stats = slot(second, url)
    assert stats["spool_adopted"] == 20 and stats["replayed"] == 20 and stats["spool_records"] == 0
    second.close()
    assert not list(tmp_path.rglob("*.spool"))


def test_spool_max_bytes_0_means_a_memory_queue_for_a_spooling_sink(sinks, tmp_path):
    client = client_for("spooling://nodisk", spool_dir=str(tmp_path), spool_max_bytes=0)
    sinks["spooling://nodisk"].then = ConnectionError("down")
    send(client, [record("x")])
    stats = slot(client, "spooling://nodisk")
    assert stats["retry_queue"] == "memory" and stats["queued"] == 1 and not list(tmp_path.iterdir())
    client.close(0)
    assert slot(client, "spooling://nodisk")["dropped_shutdown"] == 1


def test_a_sink_that_stops_during_a_replay_drops_its_queue_with_one_error_line(sinks, caplog):
    client = client_for("scripted://stops")
    sink = sinks["scripted://stops"]
    sink.script = [ConnectionError("down"), SinkError("the key was refused", retry=False)]
    with caplog.at_level(logging.WARNING, logger="pystrument"):
        for k in range(3):
            send(client, [record(f"b{k}-{j}") for j in range(3)])
        assert wait_for(lambda: slot(client, "scripted://stops").get("disabled"), 10, 0.02)
        send(client, [record("after")])
    stats = slot(client, "scripted://stops")
    assert stats["dropped_stopped"] == 9 and stats["dropped_disabled"] == 1 and stats["failed"] == 10
    assert stats["queued"] == 0 and len(sink.calls) == 2 and not sink.got
    assert caplog.text.count("stops sending") == 1 and "the key was refused" in caplog.text
    client.close()


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_a_forked_child_forgets_its_parents_retry_queue(sinks):
    client = client_for("scripted://forked")
    sink = sinks["scripted://forked"]
    sink.then = ConnectionError("down")
    send(client, [record("parent")])
    pid = os.fork()
    if pid == 0:  # the child must neither deliver nor count the parent's batch
        code = 1
        try:
            stats = slot(client, "scripted://forked")
            code = 0 if stats["queued"] == 0 and stats["failed"] == 0 else 2
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert slot(client, "scripted://forked")["queued"] == 1  # the parent still holds it
    client.close(0)


def test_close_is_bounded_by_shutdown_timeout_with_a_sink_that_always_fails(sinks):
    client = client_for("scripted://never", shutdown_timeout=1.0, sink_retries=20)
    sink = sinks["scripted://never"]
    sink.then = ConnectionError("timed out")
    sink.pause = 0.3  # and each attempt takes a while, as a connect timeout would
    for k in range(5):
        send(client, [record(f"b{k}-{j}") for j in range(4)])
    started = time.monotonic()
    client.close()
    took = time.monotonic() - started
    assert took <= 1.0 + 0.25, took
    stats = slot(client, "scripted://never")
    assert len(sink.calls) >= 2  # it kept trying while the time allowed
    assert stats["sent"] == 0 and stats["queued"] == 0
    assert stats["failed"] == 20 and stats["dropped_shutdown"] == 20  # memory does not outlive the process: counted
