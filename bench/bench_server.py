"""Server benchmark (``nox -s bench``), measured side by side in one run:

1. Ingest through ``POST /api/v1/performance/batch`` on a real uvicorn process (100 records of ~10 KB per
   request, 4 concurrent clients) against the in-process floor (the route's decode + SQLite store insert, no
   HTTP) on the same bodies. Targets: HTTP >= 50% of the floor and >= 2,000 records/s. Also printed: CPU per
   record of the server process, of the floor and of the clients (they share the cores), and the load average.
2. With 1,000,000 stored records (written straight through the store's bulk path), the endpoints summary
   and a 7-day trend through HTTP: p95 <= 200 ms.

Prints the figures and exits non-zero when a target is missed. Usage: python bench/bench_server.py [--quick]
"""

from __future__ import annotations

import argparse
import datetime as dt
import gc
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import httpx
import msgspec
import psutil
from pystrument.core.record import AppInfo, CallNode, Record
from pystrument.server.api.routes.projects import create_project
from pystrument.server.ingest.decode import decode_batch
from pystrument.server.stores.sqlite import SQLiteStore

ENDPOINTS = [f"GET /api/items/{{id}}/part{i}" for i in range(20)]
FUNCS = [(f"handler_{i}", f"/srv/app/module_{i % 7}.py", 10 + i) for i in range(40)]


def tree(rng: random.Random, size: int) -> CallNode:
    """A call tree of ``size`` nodes whose times add up (about 150 bytes of JSON per node)."""
    nodes = [CallNode(function="view", file="/srv/app/views.py", line=1, is_app=True)]
    for _ in range(size - 1):
        f, file, line = rng.choice(FUNCS)
        child = CallNode(function=f, file=file, line=line, is_app=rng.random() < 0.6, self_ms=rng.uniform(0.05, 3.0))
        rng.choice(nodes).children.append(child)
        nodes.append(child)

    def total(n: CallNode) -> float:
        n.time_ms = n.self_ms + sum(total(c) for c in n.children)
        return n.time_ms

    total(nodes[0])
    return nodes[0]


def record(rng: random.Random, started: dt.datetime, size: int, version: str = "1.0") -> Record:
    t = tree(rng, size) if size else None
    return Record(record_id=uuid.uuid4().hex, kind="request", name=rng.choice(ENDPOINTS), method="GET", path="/api/items/1",
                  status_code=500 if rng.random() < 0.02 else 200, started_at=started,
                  duration_ms=t.time_ms if t else rng.lognormvariate(3, 0.6), app=AppInfo(name="bench", version=version, environment="prod"),
                  call_tree=t)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    def __init__(self, folder: Path, store: str, preexec_fn: Callable[[], None] | None = None) -> None:
        self.port = free_port()
        env = {**os.environ, "PYSTRUMENT_SERVER_RATE_LIMIT_RPS": "0", "PYSTRUMENT_SERVER_LOG_LEVEL": "warning"}
        exe = Path(sys.executable).parent / "pystrument-server"
        self.proc = subprocess.Popen([str(exe), "--store", store, "serve", "--port", str(self.port)], env=env,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, preexec_fn=preexec_fn)
        self.url = f"http://127.0.0.1:{self.port}"
        deadline = time.monotonic() + 60
        while True:
            try:
                httpx.get(self.url + "/health", timeout=2)
                return
            except httpx.TransportError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("server did not start: " + (self.proc.stderr.read().decode() if self.proc.stderr else "")) from None
                time.sleep(0.1)

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(20)


class IngestFigures(msgspec.Struct):
    http: float  # records/s through uvicorn (wall clock)
    floor: float  # records/s in process: the route's own decode + the store's insert (wall clock)
    server_cpu_us: float  # CPU of the server process per record
    floor_cpu_us: float
    clients_cpu_us: float  # CPU of this process's 4 client threads per record (they share the cores)
    load: tuple[float, float]  # 1-minute load average before and after


def bench_ingest(folder: Path, requests_per_client: int, clients: int = 4) -> IngestFigures:
    rng = random.Random(1)
    now = dt.datetime.now(dt.timezone.utc)
    n_bodies = requests_per_client * clients
    n = n_bodies * 100
    bodies = [msgspec.json.encode({"records": [record(rng, now - dt.timedelta(seconds=rng.uniform(0, 600)), 70) for _ in range(100)]})
              for _ in range(n_bodies)]
    size = statistics.mean(len(b) for b in bodies) / 100
    print(f"ingest: {n_bodies} bodies of 100 records, {size / 1024:.1f} KB per record")
    load0 = os.getloadavg()[0]

    # the floor: what the route does for a valid batch, without HTTP (decode_batch, then the store's insert),
    # with the heap frozen as `pystrument-server serve` freezes it
    gc.freeze()
    floor_store = SQLiteStore(f"sqlite:///{folder / 'floor.db'}")
    project = create_project(floor_store, "floor")
    t0, c0 = time.perf_counter(), time.process_time()
    for body in bodies:
        records = decode_batch(body, is_list=False)
        assert records is not None and floor_store.insert_records(project["id"], records).accepted
    floor = n / (time.perf_counter() - t0)
    floor_cpu = (time.process_time() - c0) / n * 1e6
    floor_store.close()
    gc.unfreeze()

    # through HTTP: a real uvicorn process started by `pystrument-server serve`, 4 client threads
    server = Server(folder, f"sqlite:///{folder / 'http.db'}")
    try:
        with httpx.Client(base_url=server.url) as c:
            key = c.post("/api/v1/projects", json={"name": "bench"}).json()["data"]["project_key"]
        errors: list[str] = []

        def client(chunk: list[bytes]) -> None:
            with httpx.Client(base_url=server.url, timeout=60, headers={"X-Project-Key": key, "Content-Type": "application/json"}) as c:
                for body in chunk:
                    r = c.post("/api/v1/performance/batch", content=body)
                    if r.status_code != 200 or r.json()["data"]["accepted"] != 100:
                        errors.append(r.text[:200])

        threads = [threading.Thread(target=client, args=(bodies[i::clients],)) for i in range(clients)]
        proc = psutil.Process(server.proc.pid)
        cpu0 = sum(proc.cpu_times()[:2])
        me0 = time.process_time()
        t0 = time.perf_counter()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        http = n / (time.perf_counter() - t0)
        clients_cpu = (time.process_time() - me0) / n * 1e6
        server_cpu = (sum(proc.cpu_times()[:2]) - cpu0) / n * 1e6
        if errors:
            raise RuntimeError(f"{len(errors)} batches failed; first: {errors[0]}")
        with httpx.Client(base_url=server.url) as c:
            stored = c.get("/api/v1/projects").json()["data"]
        count = sum(p["record_count"] for p in stored["items"])
        assert count == n, f"{count} records stored, {n} sent"
    finally:
        server.stop()
    return IngestFigures(http, floor, server_cpu, floor_cpu, clients_cpu, (load0, os.getloadavg()[0]))


def bench_queries(folder: Path, total: int, samples: int) -> dict[str, list[float]]:
    path = folder / "big.db"
    store = SQLiteStore(f"sqlite:///{path}")
    project = create_project(store, "big")
    rng = random.Random(2)
    now = dt.datetime.now(dt.timezone.utc)
    t0 = time.perf_counter()
    chunk = 50_000
    span = 30 * 86400
    for start in range(0, total, chunk):
        n = min(chunk, total - start)
        # in time order, as traffic arrives: each chunk covers its own slice of the 30 days
        lo = span * (1 - (start + n) / total)
        recs = [record(rng, now - dt.timedelta(seconds=lo + rng.uniform(0, span * n / total)), 0, version=rng.choice(("1.0", "1.1")))
                for _ in range(n)]
        store.insert_records(project["id"], recs)
    elapsed = time.perf_counter() - t0
    print(f"stored {total:,} records in {elapsed:.1f} s ({total / elapsed:,.0f} records/s through the store's bulk path)")
    store.close()

    server = Server(folder, f"sqlite:///{path}")
    timings: dict[str, list[float]] = {}
    queries = {
        "endpoints (all time)": ("endpoints", {}),
        "endpoints (since=7d)": ("endpoints", {"since": "7d"}),
        "trend 7 days, 1h buckets": ("trends", {"since": "7d", "bucket": "1h"}),
        "trend 7 days, one endpoint": ("trends", {"since": "7d", "bucket": "1h", "endpoint": ENDPOINTS[3]}),
    }
    try:
        with httpx.Client(base_url=server.url, timeout=60) as c:
            count = c.get(f"/api/v1/projects/{project['id']}").json()["data"]["record_count"]
            assert count == total, count
            for label, (what, params) in queries.items():
                url = f"/api/v1/projects/{project['id']}/{what}"
                c.get(url, params=params)  # warm
                times = []
                for _ in range(samples):
                    t = time.perf_counter()
                    r = c.get(url, params=params)
                    times.append((time.perf_counter() - t) * 1000)
                    assert r.status_code == 200 and r.json()["code"] == 0
                timings[label] = times
            items = c.get(f"/api/v1/projects/{project['id']}/endpoints").json()["data"]["items"]
            assert sum(i["count"] for i in items) == total
    finally:
        server.stop()
    return timings


def p95(values: list[float]) -> float:
    return sorted(values)[max(0, int(len(values) * 0.95 + 0.5) - 1)]


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="smaller sizes (a smoke run; targets are not judged)")
    args, _ = parser.parse_known_args()
    ok = True
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        f = bench_ingest(folder, 5 if args.quick else 25)
        ratio = f.http / f.floor
        rate_ok, ratio_ok = f.http >= 2000, ratio >= 0.5
        print(f"ingest /batch via uvicorn (4 clients): {f.http:,.0f} records/s [{'OK' if rate_ok else 'MISS'}: target >= 2,000]; "
              f"in-process floor (decode + insert): {f.floor:,.0f} records/s; ratio {ratio:.2f} [{'OK' if ratio_ok else 'MISS'}: target >= 0.50]")
        print(f"  CPU per record: server process {f.server_cpu_us:.0f} us, in-process floor {f.floor_cpu_us:.0f} us, "
              f"the 4 clients {f.clients_cpu_us:.0f} us; load average {f.load[0]:.1f} before, {f.load[1]:.1f} after, on {os.cpu_count()} cores")
        ok &= rate_ok and ratio_ok
        total = 50_000 if args.quick else 1_000_000
        timings = bench_queries(folder, total, 10 if args.quick else 40)
        for label, times in timings.items():
            met = p95(times) <= 200
            print(f"{label} over {total:,} records: p50 {statistics.median(times):.1f} ms, p95 {p95(times):.1f} ms "
                  f"[{'OK' if met else 'MISS'}: target p95 <= 200 ms]")
            ok &= met
    if args.quick:
        print("quick run: targets not judged")
        return 0
    print("all targets met" if ok else "TARGET MISSED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
