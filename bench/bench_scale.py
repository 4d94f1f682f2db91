"""Scale-out benchmark (``nox -s bench``): records/s one ``pystrument-server worker`` moves from the Redis
sink's stream into the store, beside the raw floor measured in the same run: a plain loop of
``XREADGROUP`` (500 entries), msgspec decode, ``SQLiteStore.insert_records`` and ``XACK`` in this process.

Both read the same entries (records of ~40 call-tree nodes, as the Redis sink writes them) from a private
redis-server on a free port into their own fresh SQLite store. The worker is a real subprocess, timed from
its first stored record to the group's last acknowledgement. Target: worker >= 70% of the floor.
Three rounds, each a floor run then a worker run; the median round's ratio is the result. Exits 1 when missed.
Usage: python bench/bench_scale.py [--quick]
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import random
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import msgspec
import redis
from bench_server import free_port, record  # the same records and helpers as the server bench
from pystrument.core.record import Record
from pystrument.server.api.routes.projects import create_project
from pystrument.server.stores.sqlite import SQLiteStore

BATCH = 500
TARGET = 0.70

def make_records(n: int, key: str) -> list[bytes]:
    """``n`` encoded records of 40-node trees (bench_server's records), for project key ``key``."""
    rng = random.Random(7)
    start = dt.datetime.now(dt.timezone.utc) - dt.timedelta(hours=2)
    out = []
    for i in range(n):
        rec = record(rng, start + dt.timedelta(milliseconds=i), 40)
        rec.project_key = key
        out.append(msgspec.json.encode(rec))
    return out


def fill(client: redis.Redis, stream: str, bodies: list[bytes]) -> None:
    for i in range(0, len(bodies), 1000):
        pipe = client.pipeline(transaction=False)
        for body in bodies[i:i + 1000]:
            pipe.xadd(stream, {"record": body, "record_id": msgspec.json.decode(body)["record_id"]})
        pipe.execute()


def new_store(folder: Path, key: str) -> tuple[SQLiteStore, str, str]:
    path = folder / f"store-{uuid.uuid4().hex[:6]}.db"
    store = SQLiteStore(f"sqlite:///{path}")
    project = create_project(store, "bench")
    store.update_project(project["id"], {"project_key": key})
    return store, project["id"], str(path)


def floor(client: redis.Redis, folder: Path, key: str, bodies: list[bytes]) -> float:
    """The raw floor: XREADGROUP + decode + insert + XACK in a plain loop."""
    store, pid, _path = new_store(folder, key)
    stream, group = f"floor:{uuid.uuid4().hex[:6]}", "g"
    fill(client, stream, bodies)
    client.xgroup_create(stream, group, id="0")
    decoder = msgspec.json.Decoder(Record)
    done = 0
    started = time.perf_counter()
    while True:
        got = client.xreadgroup(group, "floor", {stream: ">"}, count=BATCH)
        if not got or not got[0][1]:
            break
        entries = got[0][1]
        store.insert_records(pid, [decoder.decode(fields[b"record"]) for _id, fields in entries])
        client.xack(stream, group, *[e[0] for e in entries])
        done += len(entries)
    elapsed = time.perf_counter() - started
    store.close()
    client.delete(stream)
    assert done == len(bodies), (done, len(bodies))
    return done / elapsed


def stored(path: str) -> int:
    with sqlite3.connect(path, timeout=30) as conn:
        return conn.execute("SELECT count(*) FROM records").fetchone()[0]


def worker(client: redis.Redis, redis_url: str, folder: Path, key: str, bodies: list[bytes]) -> float:
    """One ``pystrument-server worker`` subprocess draining the same entries into its own store."""
    store, _pid, path = new_store(folder, key)
    store.close()
    prefix = f"b{uuid.uuid4().hex[:6]}:"
    stream = prefix + "records"
    fill(client, stream, bodies)
    env = {**os.environ, "PYSTRUMENT_SERVER_STORE": f"sqlite:///{path}", "PYSTRUMENT_SERVER_REDIS": redis_url,
           "PYSTRUMENT_SERVER_REDIS_PREFIX": prefix, "PYSTRUMENT_SERVER_REDIS_STREAM": stream,
           "PYSTRUMENT_SERVER_STREAM_BATCH": str(BATCH), "PYSTRUMENT_SERVER_LOG_LEVEL": "warning"}
    exe = Path(sys.executable).parent / "pystrument-server"
    proc = subprocess.Popen([str(exe), "worker", "--no-periodic"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 120
        first = 0
        while first == 0:  # the clock starts at the first stored batch: process start-up is not the consumer's speed
            first = stored(path)
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the worker did not start: {proc.stderr.read().decode()[-2000:]}")
            time.sleep(0.005)
        started = time.perf_counter()
        group = prefix + "store"
        while True:
            info = client.xinfo_groups(stream)[0]
            if info["lag"] == 0 and info["pending"] == 0:
                break
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the worker stopped: {proc.stderr.read().decode()[-2000:]}")
            time.sleep(0.02)  # light polling: this machine's CPUs are the worker's too
        elapsed = time.perf_counter() - started
        assert group and stored(path) == len(bodies), (stored(path), len(bodies))
        return (len(bodies) - first) / elapsed
    finally:
        proc.terminate()
        proc.wait(30)
        for k in client.scan_iter(match=prefix + "*"):
            client.delete(k)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    n = 5000 if parser.parse_args().quick else 15000
    binary = shutil.which("redis-server")
    if binary is None:
        print("bench_scale: redis-server is not installed (apt-get install redis-server)", file=sys.stderr)
        return 1
    with tempfile.TemporaryDirectory(prefix="bench-scale-") as tmp:
        folder = Path(tmp)
        port = free_port()
        rs = subprocess.Popen([binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", tmp],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            client = redis.Redis(port=port)
            for _ in range(200):
                try:
                    client.ping()
                    break
                except redis.ConnectionError:
                    time.sleep(0.05)
            key = "bench-" + uuid.uuid4().hex
            bodies = make_records(n, key)
            size = sum(map(len, bodies)) / len(bodies)
            print(f"bench_scale: {n} records of {size / 1024:.1f} KB, batches of {BATCH}, private redis-server, SQLite stores, "
                  f"{os.cpu_count()} CPUs, load {os.getloadavg()[0]:.2f}")
            floors, workers = [], []
            for _ in range(3):
                floors.append(floor(client, folder, key, bodies))
                workers.append(worker(client, f"redis://127.0.0.1:{port}/0", folder, key, bodies))
                print(f"  round: floor {floors[-1]:,.0f} records/s, worker {workers[-1]:,.0f} records/s "
                      f"({workers[-1] / floors[-1]:.0%}), load {os.getloadavg()[0]:.2f}")
        finally:
            rs.terminate()
            rs.wait(10)
    # each round pairs a floor and a worker run side by side; the median round's ratio is the result
    ratio = sorted(w / f for f, w in zip(floors, workers, strict=True))[len(floors) // 2]
    ok = ratio >= TARGET
    print(f"stream -> store: worker {statistics.median(workers):,.0f} records/s, raw floor (XREADGROUP + insert loop) "
          f"{statistics.median(floors):,.0f} records/s (medians); median paired ratio {ratio:.0%} of the floor "
          f"(target >= {TARGET:.0%}) {'OK' if ok else 'MISSED'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
