"""The SDK (pystrument.core with its HTTP sink) through a server outage within the spool's cap: the server
is up, goes down (SIGKILL) while the host keeps working, and comes back on the same port and data;
every record the host produced is stored, none twice."""

from __future__ import annotations

import time

from pystrument.core import PerformanceCollector
from pystrument_testing import polling


def wait_for(predicate, timeout: float = 60.0) -> bool:
    return polling.wait_for(predicate, timeout, 0.2)


def names_stored(server, project_id: str) -> list[str]:
    names: list[str] = []
    with server.client() as c:
        page = 1
        while True:
            data = c.get(f"/api/v1/projects/{project_id}/records", params={"page": page, "page_size": 500, "since": "1d"}).json()["data"]
            names += [i["name"] for i in data["items"]]
            if page * 500 >= data["total"]:
                return names
            page += 1


def test_sdk_outage_within_spool_cap_loses_nothing(server_process, project_in, tmp_path, figures):
    server = server_process()
    with server.client() as c:
        project = project_in(c)
    cap = 8 * 1024 * 1024
    collector = PerformanceCollector(
        sinks=[f"{server.url}?spool_dir={tmp_path / 'spool'}&spool_max_bytes={cap}&max_backoff=1&timeout=2"],
        project_key=project["project_key"], flush_interval=0.05, batch_size=20, max_queue_size=5000,
        app_name="outage", app_version="1.0", profiler_interval=0.001, profiling_mode="detailed",
    )
    sink = collector.client.dispatcher.slots[0].sink
    produced: list[str] = []

    def queue() -> dict:
        """The dispatcher's figures for the sink, its retry queue's (the spool) included; the sink's own under "sink"."""
        return collector.client.stats()["sinks"][sink.name]

    def work(phase: str, n: int) -> None:
        for i in range(n):
            name = f"{phase}-{i}"
            with collector.collect(name):
                end = time.perf_counter() + 0.001
                while time.perf_counter() < end:
                    pass
            produced.append(name)

    work("before", 100)
    assert collector.flush(20)
    server.kill()  # the outage: no answer at all, connections refused
    outage_started = time.monotonic()
    work("during", 400)
    time.sleep(max(0.0, 3.0 - (time.monotonic() - outage_started)))
    spooled = queue()["spooled"]
    peak = queue().get("spool_bytes", 0)
    assert spooled > 0, f"nothing was spooled: the outage was not exercised; {queue()}"
    server.start()  # back on the same port with the same data
    outage = time.monotonic() - outage_started
    work("after", 100)
    assert collector.flush(30)
    assert wait_for(lambda: queue().get("spool_records", 1) == 0), queue()
    assert wait_for(lambda: len(names_stored(server, project["id"])) >= len(produced))
    stored = names_stored(server, project["id"])
    stats = collector.client.stats()
    slot = stats["sinks"][sink.name]
    collector.close()
    figures(produced=len(produced), stored=len(stored), lost=len(set(produced) - set(stored)), outage_s=round(outage, 1),
            spooled=spooled, replayed=slot.get("replayed"), spool_peak_bytes=peak, spool_cap_bytes=cap,
            dropped_spool_full=slot.get("dropped_spool_full", 0), errors_connection=slot["sink"].get("errors_connection"))
    assert sorted(stored) == sorted(produced), f"lost: {sorted(set(produced) - set(stored))[:5]}"
    assert slot.get("dropped_spool_full", 0) == 0 and slot["failed"] == 0 and stats["dropped"].get("queue_full", 0) == 0
