"""Sink throughput: records/s delivered through the core dispatcher vs. the raw floor, same target, same run.

For each sink, ~10 KB records (a call tree of ~90 frames) are delivered two ways, alternately, twice:

- floor: the least a program must do to put the same records there, in batches of the same size:
  one ``O_APPEND`` write of the JSON lines per batch (file), a pipelined ``XADD`` of the JSON per batch
  (redis), ``insert_many`` of the records as stored documents (``to_document``, the shape the server
  reads; mongodb), a keep-alive ``POST`` of the uncompressed JSON batch (http);
- dispatcher: units handed to the core ``Dispatcher`` (``put``), which batches them and calls the sink.
  Records are built beforehand (a builder that returns them), so both sides deliver identical records
  and the call-tree building, the same for every sink, is left out.

The best of five alternating rounds of each is reported (ten for the file sink, whose short runs are the
most sensitive to a shared machine), with the ratio (target: at least 0.70), and the client's CPU time
per record (process CPU time, all threads) of each way, which other processes' load does not change.
Targets: a temporary file; the Redis on 127.0.0.1:6379 (a stream of our own, deleted after; a private
redis-server when none answers); nx-27017 started here in memory; tests/fixtures/ingest_stub_server.py
(a stand-in for the pystrument server's ingestion API) started here.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import msgspec
from pystrument.core import Config
from pystrument.core.dispatcher import Dispatcher
from pystrument.core.documents import to_document
from pystrument.core.record import AppInfo, CallNode, Record
from pystrument.core.sinks import create_sink
from pystrument.core.unit import Unit

ROOT = Path(__file__).resolve().parents[1]
BATCH = 50
ROUNDS = 5  # floor and dispatcher alternate; the best of each is kept (a shared machine only slows runs down)
TARGET = 0.70
encoder = msgspec.json.Encoder()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_port(port: int, proc: subprocess.Popen, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{proc.args!r} exited with {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on {port}")


def _trees(k: int = 32) -> list[CallNode]:
    trees = []
    for i in range(k):
        leaves = [CallNode(function=f"step_{j}_{i}", file=f"/app/service/module_{j % 13}.py", line=10 + j,
                           time_ms=0.25 * j, self_ms=0.25, is_app=j % 3 == 0) for j in range(88)]
        trees.append(CallNode(function="view", file="/app/views.py", line=1, time_ms=30.0, self_ms=1.0, is_app=True,
                              children=leaves))
    return trees


TREES = _trees()


def make_records(n: int) -> list[Record]:
    """n records of ~10 KB; they share 32 call trees (encoded in full each time), so that tens of thousands
    of records in flight do not measure the machine's memory instead of the sinks."""
    now = dt.datetime.now(dt.timezone.utc)
    app = AppInfo(name="bench", version="1.0", environment="bench", host="h", pid=1)
    return [Record(record_id=uuid.uuid4().hex, project_key="bench", kind="request", name=f"GET /items/{{id}}/{i % 20}",
                   method="GET", path="/items/1", status_code=200, started_at=now, duration_ms=5.0 + i % 50,
                   app=app, call_tree=TREES[i % len(TREES)], sample_count=30, interval_ms=1.0) for i in range(n)]


class Prebuilt:
    """A record builder that returns the records made beforehand (the dispatcher's only other job)."""

    def __init__(self, records: list[Record]) -> None:
        self.by_id = {r.record_id: r for r in records}

    def build(self, unit: Unit) -> Record:
        return self.by_id[unit.record_id]


def through_dispatcher(url: str, records: list[Record], config: Config) -> float:
    sink = create_sink(url, config)
    sink.send(records[:1])  # connect, create indexes: not part of the rate
    dispatcher = Dispatcher(config, [sink], Prebuilt(records))
    units = []
    for record in records[1:]:
        unit = Unit("request", record.name)
        unit.record_id = record.record_id
        unit.duration_ms = record.duration_ms
        units.append(unit)
    start, cpu = time.perf_counter(), time.process_time()
    for unit in units:
        dispatcher.put(unit)
    assert dispatcher.flush(300), "dispatcher did not finish"
    elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
    stats = dispatcher.stats()
    dispatcher.close(5)
    sink_stats = stats["sinks"][sink.name]
    assert sink_stats["sent"] == len(units) and not stats["dropped"], stats
    return len(units) / elapsed, cpu / len(units) * 1e6


def batches(items: list, size: int = BATCH):
    for i in range(0, len(items), size):
        yield items[i:i + size]


# -- floors ------------------------------------------------------------------------------------
def floor_file(path: Path, records: list[Record]) -> float:
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    start, cpu = time.perf_counter(), time.process_time()
    for batch in batches(records):
        os.write(fd, encoder.encode_lines(batch))
    elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
    os.close(fd)
    return len(records) / elapsed, cpu / len(records) * 1e6


def floor_redis(url: str, stream: str, records: list[Record]) -> float:
    import redis

    client = redis.Redis.from_url(url)
    client.ping()
    start, cpu = time.perf_counter(), time.process_time()
    for batch in batches(records):
        pipe = client.pipeline(transaction=False)
        for record in batch:
            pipe.xadd(stream, {"record": encoder.encode(record), "record_id": record.record_id},
                      maxlen=100_000, approximate=True)
        pipe.execute()
    elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
    client.close()
    return len(records) / elapsed, cpu / len(records) * 1e6


def floor_mongo(uri: str, records: list[Record]) -> float:
    import pymongo

    client = pymongo.MongoClient(uri)
    coll = client.get_default_database()["floor"]
    coll.insert_one({"warm": True})
    start, cpu = time.perf_counter(), time.process_time()
    for batch in batches(records):
        coll.insert_many([to_document(r) for r in batch], ordered=False)
    elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
    client.close()
    return len(records) / elapsed, cpu / len(records) * 1e6


def floor_http(base: str, records: list[Record]) -> float:
    import urllib3

    pool = urllib3.PoolManager()
    headers = {"Content-Type": "application/json", "X-Project-Key": "bench"}
    url = base + "/api/v1/performance/batch"
    pool.request("POST", url, body=b'{"records":[]}', headers=headers)
    start, cpu = time.perf_counter(), time.process_time()
    for batch in batches(records):
        resp = pool.request("POST", url, body=b'{"records":' + encoder.encode(batch) + b"}", headers=headers)
        assert resp.status == 200, resp.data[:200]
    elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
    pool.clear()
    return len(records) / elapsed, cpu / len(records) * 1e6


# -- services ----------------------------------------------------------------------------------
def start(cmd: list[str], port: int, workdir: Path) -> subprocess.Popen:
    log = open(workdir / f"{Path(cmd[0]).name}-{port}.log", "ab")
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, cwd=workdir, start_new_session=True)
    wait_port(port, proc)
    return proc


def redis_url(workdir: Path, procs: list[subprocess.Popen]) -> str:
    import redis

    url = "redis://127.0.0.1:6379/0"
    try:
        redis.Redis.from_url(url, socket_timeout=1).ping()
        return url
    except redis.RedisError:
        port = free_port()
        procs.append(start(["redis-server", "--port", str(port), "--save", "", "--appendonly", "no"], port, workdir))
        return f"redis://127.0.0.1:{port}/0"


def best_of(rounds: int, floor, dispatched) -> tuple[float, float, float, float]:
    """(floor/s, dispatcher/s, floor CPU µs/record, dispatcher CPU µs/record): the best round of each."""
    floors, ours = [], []
    for _ in range(rounds):
        floors.append(floor())
        ours.append(dispatched())
    return max(f[0] for f in floors), max(o[0] for o in ours), min(f[1] for f in floors), min(o[1] for o in ours)


def main() -> int:
    workdir = Path(tempfile.mkdtemp(prefix="pystrument-bench-sinks-"))
    procs: list[subprocess.Popen] = []
    results = []
    counts = {"file": 5_000, "redis": 4_000, "http": 1_000, "mongodb": 600}
    config = Config(batch_size=BATCH, max_queue_size=50_000, flush_interval=0.05, project_key="bench",
                    spool_dir=str(workdir / "spool"), sink_timeout=30)
    size = len(encoder.encode(make_records(1)[0]))
    print(f"sink records/s: floor vs. through the dispatcher; records of {size} bytes, batches of {BATCH}")
    try:
        n = counts["file"]
        results.append(("file", n, *best_of(2 * ROUNDS, lambda: floor_file(workdir / "floor.jsonl", make_records(n)),
                                              lambda: through_dispatcher(f"file://{workdir}/sink-{uuid.uuid4().hex}.jsonl",
                                                                         make_records(n + 1), config))))
        url = redis_url(workdir, procs)
        stream = f"pystrument:bench:{uuid.uuid4().hex[:8]}"
        n = counts["redis"]
        try:
            results.append(("redis", n, *best_of(ROUNDS, lambda: floor_redis(url, stream + ":floor", make_records(n)),
                                                   lambda: through_dispatcher(f"{url}?stream={stream}&maxlen=100000",
                                                                              make_records(n + 1), config))))
        finally:
            import redis

            redis.Redis.from_url(url).delete(stream, stream + ":floor")
        port = free_port()
        stub = [sys.executable, str(ROOT / "tests" / "fixtures" / "ingest_stub_server.py"), "--port", str(port), "--key", "bench"]
        procs.append(start(stub, port, workdir))
        n = counts["http"]
        results.append(("http", n, *best_of(ROUNDS, lambda: floor_http(f"http://127.0.0.1:{port}", make_records(n)),
                                              lambda: through_dispatcher(f"http://127.0.0.1:{port}", make_records(n + 1), config))))
        port = free_port()
        nx = shutil.which("nx-27017") or str(Path(sys.executable).with_name("nx-27017"))
        procs.append(start([nx, "--data-dir", "memory", "-p", str(port), "--pid-file", str(workdir / "nx.pid"),
                            "--log-file", str(workdir / "nx.log")], port, workdir))
        n = counts["mongodb"]
        results.append(("mongodb", n, *best_of(ROUNDS, lambda: floor_mongo(f"mongodb://127.0.0.1:{port}/bench", make_records(n)),
                                                 lambda: through_dispatcher(f"mongodb://127.0.0.1:{port}/bench?collection=sink",
                                                                            make_records(n + 1), config))))
    finally:
        for proc in procs:
            proc.kill()
            proc.wait()
        shutil.rmtree(workdir, ignore_errors=True)
    print(f"{'sink':<8} {'records':>8} {'floor/s':>10} {'dispatcher/s':>13} {'ratio':>6}   client CPU µs/record: floor, dispatcher")
    ok = True
    for name, n, floor, ours, floor_cpu, our_cpu in results:
        ratio = ours / floor
        ok &= ratio >= TARGET
        flag = "" if ratio >= TARGET else "  below target " + str(TARGET)
        print(f"{name:<8} {n:>8} {floor:>10.0f} {ours:>13.0f} {ratio:>6.2f}   {floor_cpu:>8.1f} {our_cpu:>8.1f}{flag}")
    if not ok:
        print("some sinks are below the target (see the ratios above)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
