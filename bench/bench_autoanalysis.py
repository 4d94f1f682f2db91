"""Automatic analysis benchmark (``nox -s bench``): ingest latency with automatic analysis off and on,
measured side by side in one run.

Two real uvicorn ``serve`` processes on SQLite, one project each; on the second, automatic analysis is on
with every record counted as slow (``slow_ms`` 1 ms, 10,000 analyses an hour): every batch is filtered and
handed off, and the first batch of each endpoint queues an analysis that runs in that process. The same
batches (100 records of ~10 KB, 20 endpoints) go to both servers in alternation, one client. Target: the
median ingest request with automatic analysis is at most 15% slower than without.

Usage: python bench/bench_autoanalysis.py [--quick]
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx
import msgspec
from bench_server import Server, record

TARGET = 1.15


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="fewer batches (a smoke run; the target is not judged)")
    args, _ = parser.parse_known_args()
    rounds = 10 if args.quick else 60
    rng = random.Random(3)
    now = dt.datetime.now(dt.timezone.utc)
    bodies = [msgspec.json.encode({"records": [record(rng, now - dt.timedelta(seconds=rng.uniform(0, 600)), 70) for _ in range(100)]})
              for _ in range(rounds)]
    times: dict[str, list[float]] = {"off": [], "on": []}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        servers = {name: Server(folder, f"sqlite:///{folder / name}.db") for name in times}
        try:
            keys = {}
            for name, server in servers.items():
                settings = {"auto_analysis": {"enabled": name == "on", "slow_ms": 1, "per_hour": 10_000}}
                with httpx.Client(base_url=server.url, timeout=60) as c:
                    keys[name] = c.post("/api/v1/projects", json={"name": "bench", "settings": settings}).json()["data"]["project_key"]
            clients = {name: httpx.Client(base_url=s.url, timeout=60, headers={"X-Project-Key": keys[name], "Content-Type": "application/json"})
                       for name, s in servers.items()}
            for i, body in enumerate(bodies):
                order = ("off", "on") if i % 2 == 0 else ("on", "off")
                for name in order:
                    t0 = time.perf_counter()
                    r = clients[name].post("/api/v1/performance/batch", content=body)
                    times[name].append((time.perf_counter() - t0) * 1000)
                    if r.status_code != 200 or r.json()["data"]["accepted"] != 100:
                        raise RuntimeError(f"batch to the {name} server failed: {r.text[:300]}")
            with httpx.Client(base_url=servers["on"].url, timeout=60) as c:
                pid = c.get("/api/v1/projects").json()["data"]["items"][0]["id"]
                queued = c.get(f"/api/v1/projects/{pid}/analyses", params={"trigger": "slow_record"}).json()["data"]["total"]
            for c in clients.values():
                c.close()
        finally:
            for s in servers.values():
                s.stop()
    off, on = statistics.median(times["off"]), statistics.median(times["on"])
    p95 = {k: sorted(v)[int(0.95 * (len(v) - 1))] for k, v in times.items()}
    ratio = on / off
    print(f"ingest /batch (100 records of ~10 KB), {rounds} batches per server, alternating: "
          f"auto analysis off p50 {off:.1f} ms p95 {p95['off']:.1f} ms; on p50 {on:.1f} ms p95 {p95['on']:.1f} ms; "
          f"ratio on/off p50 {ratio:.2f} (target <= {TARGET}); {queued} analyses queued (one per endpoint); "
          f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    if queued != 20:
        print(f"expected one analysis per endpoint (20), got {queued}")
        return 1
    if args.quick:
        print("quick run: target not judged")
        return 0
    print("target met" if ratio <= TARGET else "TARGET MISSED")
    return 0 if ratio <= TARGET else 1


if __name__ == "__main__":
    sys.exit(main())
