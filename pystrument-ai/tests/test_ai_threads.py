"""The analysers on real ASGI apps under the real SDK: work in a worker thread is not on the event loop,
and the demo shop's N+1 (a ``def`` route in the thread pool) is found.

A Starlette app wrapped in the ASGI adapter (``PerformanceMiddleware``) with a ``memory://`` sink, driven
by Starlette's TestClient: the route runs as it would under uvicorn (``def`` routes in anyio's thread pool,
followed there by the SDK, whose samples come under a ``[thread]`` node).
"""

from __future__ import annotations

import importlib
import shutil
import sqlite3
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from pystrument.ai import default_analysers
from pystrument.ai.rules.repeated import RepeatedCallAnalyser, _groups
from pystrument.ai.tree import TreeView
from pystrument.core.analysis import AnalysisContext
from pystrument.core.calltree import THREAD

ANALYSERS = {a.name: a for a in default_analysers()}


def make_db() -> sqlite3.Connection:
    conn = sqlite3.connect(":memory:", check_same_thread=False)
    conn.execute("create table customers (id integer primary key, name text, tier text)")
    conn.executemany("insert into customers values (?, ?, ?)", [(i, f"c{i}", "gold" if i % 7 else "std") for i in range(2000)])
    return conn


def similar_customers(conn):
    """A blocking SQLite scan (a self-join, tens of ms)."""
    return conn.execute(
        "select a.id from customers a, customers b where a.tier = b.tier and a.id < 400 and b.id < 400 and a.name < b.name"
    ).fetchall()


def histogram(n):
    """CPU-bound work (tens of ms)."""
    buckets = {}
    for v in range(n):
        key = (v * 2654435761) % 97
        buckets[key] = buckets.get(key, 0) + 1
    return buckets


def blocking_work(conn):
    return len(similar_customers(conn)), len(histogram(300_000))


@pytest.fixture
def asgi_records():
    """``run(app, path, n=1, **config) -> list[Record]``: requests through the ASGI adapter and TestClient."""
    from pystrument.adapters.asgi import PerformanceMiddleware
    from pystrument.core.memory_sink import clear, records
    from starlette.testclient import TestClient

    names: list[str] = []

    def run(app, path: str, n: int = 1, **config):
        name = f"ai-asgi-{uuid.uuid4().hex[:8]}"
        names.append(name)
        wrapped = PerformanceMiddleware(app, config={"profiling_mode": "detailed", "sinks": [f"memory://{name}"], "async_send": False,
                                                     "sampling_rate": 1.0, "project_key": "test", **config})
        with TestClient(wrapped) as client:
            for _ in range(n):
                assert client.get(path).status_code == 200
        got = list(records(name))
        assert len(got) == n, f"expected {n} records, got {len(got)}"
        return got

    yield run
    for name in names:
        clear(name)


def _thread_ms(record) -> float:
    """Time under the SDK's ``[thread]`` nodes (-1 without one)."""
    found, ms = False, 0.0
    stack = [record.call_tree] if record.call_tree is not None else []
    while stack:
        node = stack.pop()
        if node.function == THREAD:
            found, ms = True, ms + node.time_ms
        else:
            stack.extend(node.children)
    return ms if found else -1.0


def _has_thread_node(record) -> bool:
    return _thread_ms(record) >= 0


def _show(findings) -> str:
    return "\n".join(f"  [{f.severity}] {f.analyser}: {f.title} ({f.function})" for f in findings)


def test_blocking_work_in_a_def_route_is_not_on_the_event_loop(asgi_records):
    from starlette.applications import Starlette
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    conn = make_db()

    def sync_route(request):  # Starlette runs it in anyio's thread pool
        return JSONResponse(blocking_work(conn))

    async def async_route(request):  # runs on the event loop: the same work blocks it
        return JSONResponse(blocking_work(conn))

    app = Starlette(routes=[Route("/sync", sync_route), Route("/async", async_route)])
    (sync_record,) = asgi_records(app, "/sync")
    (async_record,) = asgi_records(app, "/async")

    # the work is in the record, under [thread] (so the analyser had blocking work to judge)
    assert _thread_ms(sync_record) >= 20, "the SDK did not put the worker thread's samples under [thread]"
    sync_findings = ANALYSERS["async_blocking"].analyse(AnalysisContext(record=sync_record))
    assert sync_findings == [], _show(sync_findings)

    assert not _has_thread_node(async_record)
    async_findings = ANALYSERS["async_blocking"].analyse(AnalysisContext(record=async_record))
    named = {f.function for f in async_findings if f.severity in ("medium", "high")}
    # the blocking query (when a sample caught the C call) or the CPU stretch around it, and the CPU loop
    assert named & {"similar_customers", "blocking_work"}, _show(async_findings)
    assert named & {"histogram", "blocking_work"}, _show(async_findings)


# The demo shop profiled in a fresh interpreter: the SDK's sampler takes the interval of the first client
# of the process (a later client's ``profiler_interval`` is not applied), and this test needs 10 us.
DEMO_RUN = """
import importlib, sys, msgspec
sys.path.insert(0, sys.argv[1])
shop = importlib.import_module("shop")
from pystrument.adapters.asgi import PerformanceMiddleware
from pystrument.core.memory_sink import records
from starlette.testclient import TestClient
app = PerformanceMiddleware(shop.create_shop("1.0"), config={"profiling_mode": "detailed",
    "sinks": ["memory://demo"], "async_send": False, "sampling_rate": 1.0, "project_key": "test",
    "profiler_interval": 0.00001, "capture_source": sys.argv[2] == "1"})
with TestClient(app) as client:
    for _ in range(10):
        assert client.get("/products/7").status_code == 200
sys.stdout.buffer.write(msgspec.json.encode(list(records("demo"))))
"""


@pytest.fixture
def demo_records(tmp_path):
    """``run(capture_source) -> (records, shop module)``: GET /products/7 of the demo shop, 10 times, copied
    into an application folder as the demo does (so its frames are application code)."""
    import msgspec
    from pystrument import demo
    from pystrument.core.record import Record

    shutil.copy(Path(demo.__file__).parent / "shop.py", tmp_path / "shop.py")

    def run(capture_source: bool):
        out = subprocess.run([sys.executable, "-c", DEMO_RUN, str(tmp_path), "1" if capture_source else "0"],
                             capture_output=True, timeout=120, check=True).stdout
        return msgspec.json.decode(out, type=list[Record])

    sys.path.insert(0, str(tmp_path))
    sys.modules.pop("shop", None)
    yield run, importlib.import_module("shop")
    sys.path.remove(str(tmp_path))
    sys.modules.pop("shop", None)


@pytest.mark.parametrize("capture_source", [False, True], ids=["no-source", "source"])
def test_demo_product_detail_n_plus_one_is_found(demo_records, capture_source):
    """GET /products/{id} of the demo runs one query per review (12 primary-key lookups, ~0.1 ms in all on
    an idle machine; the request's time is in ``review_ids``, a scan): far fewer samples than queries, so
    no count can be proven; the loop around ``load_review`` (a comprehension frame, or the captured line)
    is the evidence. Sampled every 10 us so that the loop gets samples, with the time thresholds off
    (whether it matters is the thresholds' business: under the demo's load it takes 10+ ms)."""
    run, shop = demo_records
    records = run(capture_source)
    assert len(records) == 10
    assert all(_has_thread_node(r) for r in records), "the SDK did not follow the def route into the thread pool"
    analyser = RepeatedCallAnalyser(min_ms=0.0, min_share=0.0)
    found = []
    for record in records:
        peers = [p for p in records if p is not record]
        found += analyser.analyse(AnalysisContext(record=record, peers=peers))
    assert found, ("no record of the demo's product page got an n_plus_one finding; the groups of database calls:\n"
                   + "\n".join(f"  {r.sample_count} samples: {[(k[0], g.loop, round(g.ms, 3)) for k, g in _groups(TreeView(r)).items()]}"
                                for r in records))
    assert {f.function for f in found} == {"load_review"}, _show(found)
    for f in found:
        assert f.evidence["parent"] == "product_detail"
        assert "product_detail" in f.evidence["loop"]
        assert f.line == shop.load_review.__code__.co_firstlineno
        assert "IN (" in f.suggestion
    # and no async_blocking finding: the route ran in the thread pool
    for record in records:
        assert ANALYSERS["async_blocking"].analyse(AnalysisContext(record=record)) == []


def test_call_in_loop_reads_for_bodies_and_comprehensions():
    from pystrument.ai.rules.source_hints import call_in_loop

    source = (
        "def page(db, ids):\n"
        "    head = load(db, 0)\n"
        "    rows = [load(db, i) for i in ids]\n"
        "    for i in ids:\n"
        "        db.fetch(i)  # one per item\n"
        "    return rows\n"
    )
    assert call_in_loop(source, "load") == "rows = [load(db, i) for i in ids]"
    assert call_in_loop(source, "fetch") == "db.fetch(i)  # one per item"
    assert call_in_loop("def f(db):\n    return load(db, 1)\n", "load") == ""
    assert call_in_loop("def f(db):\n    return reload(db)  # for x in y\n", "load") == ""
