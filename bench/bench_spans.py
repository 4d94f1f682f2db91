"""Span capture's cost (issue 18): a request (an in-process unit) making 20 queries, spans on against spans off.

Two databases, each measured on its own: SQLite (a local file, ~1.5 µs a query: the worst case for a span's
fixed cost) and PostgreSQL over loopback (psycopg 3 against the machine's server, db ``test``: a query is a
round trip, as in most apps); a database that cannot be reached is reported and skipped.

Side by side in one process, in interleaved rounds: "off" is a client with ``capture_spans=False`` on a plain
sqlite3 connection (opened with the driver's own ``connect``, as if the hooks had never loaded); "on" is a client
with ``capture_spans=True`` on a connection opened through the hooked ``sqlite3.connect``. Each round runs a
batch of requests of each variant and its delivery (the background thread builds the records, spans included),
and measures the process's CPU time (request thread and background thread: what the spans cost in all, and
less disturbed by other processes than wall time) and the request thread's wall time. The ratios on/off per
round, and their medians, are printed. Target: median CPU ratio <= 1.03 (at most 3% more).
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import statistics
import sys
import tempfile
import time

os.environ.setdefault("PYINSTRUMENT_IGNORE_OVERHEAD_WARNING", "1")
os.environ.setdefault("PYSTRUMENT_MAX_OVERHEAD_PCT", "100")  # every request profiled on both sides

from pystrument.core import Client  # noqa: E402
from pystrument.core.memory_sink import clear  # noqa: E402

QUERIES = 20
TARGET = 1.03


def make_db(path: str, connect) -> sqlite3.Connection:  # noqa: ANN001
    conn = connect(path, check_same_thread=False)
    conn.execute("CREATE TABLE IF NOT EXISTS product (id INTEGER PRIMARY KEY, name TEXT, price REAL)")
    if not conn.execute("SELECT COUNT(*) FROM product").fetchone()[0]:
        conn.executemany("INSERT INTO product VALUES (?, ?, ?)", [(i, f"product {i}", i * 1.5) for i in range(1000)])
        conn.commit()
    return conn


def handler(conn: sqlite3.Connection, offset: int) -> float:
    """The request's own code: 20 queries by primary key, a little work on each row."""
    total = 0.0
    cur = conn.cursor()
    for i in range(QUERIES):
        cur.execute("SELECT name, price FROM product WHERE id = ?", ((offset + i * 37) % 1000,))
        name, price = cur.fetchone()
        total += price + len(name)
    return total


PG_URL = os.environ.get("PYSTRUMENT_BENCH_PG", "host=127.0.0.1 port=5432 dbname=test user=postgres")
PG_TABLE = f"bench_spans_product_{os.getpid()}"


def make_pg(connect):  # noqa: ANN001, ANN201
    conn = connect(PG_URL, autocommit=True)
    conn.execute(f"CREATE TABLE IF NOT EXISTS {PG_TABLE} (id INTEGER PRIMARY KEY, name TEXT, price REAL)")
    if not conn.execute(f"SELECT COUNT(*) FROM {PG_TABLE}").fetchone()[0]:
        with conn.cursor() as cur:
            cur.executemany(f"INSERT INTO {PG_TABLE} VALUES (%s, %s, %s)", [(i, f"product {i}", i * 1.5) for i in range(1000)])
    return conn


def pg_handler(conn, offset: int) -> float:  # noqa: ANN001
    total = 0.0
    cur = conn.cursor()
    for i in range(QUERIES):
        cur.execute(f"SELECT name, price FROM {PG_TABLE} WHERE id = %s", ((offset + i * 37) % 1000,))
        name, price = cur.fetchone()
        total += price + len(name)
    return total


def batch(client: Client, conn: sqlite3.Connection, sink: str, requests: int, run=None) -> tuple[float, float]:  # noqa: ANN001
    """(process CPU seconds including delivery, request-thread wall seconds) of ``requests`` requests."""
    cpu0 = time.process_time()
    t0 = time.perf_counter()
    for n in range(requests):
        unit = client.start("request", "GET /products")
        (run or handler)(conn, n)
        client.finish(unit)
    wall = time.perf_counter() - t0
    client.flush(30)
    cpu = time.process_time() - cpu0
    clear(sink)
    return cpu, wall


def compare(label: str, off: tuple[Client, object], on: tuple[Client, object], rounds: int, requests: int, run) -> None:  # noqa: ANN001
    """Interleaved rounds of the two variants; prints each round and the medians."""
    cpu_ratios: list[float] = []
    wall_ratios: list[float] = []
    for rnd in range(rounds + 1):
        pair = [("off", *off), ("on", *on)]
        if rnd % 2:
            pair.reverse()  # neither side always runs first
        got = {name: batch(client, conn, f"bench-spans-{name}", requests, run) for name, client, conn in pair}
        if not rnd:  # the first round warms up
            continue
        cpu_ratios.append(got["on"][0] / got["off"][0])
        wall_ratios.append(got["on"][1] / got["off"][1])
        per = {name: (cpu / requests * 1e6, wall / requests * 1e6) for name, (cpu, wall) in got.items()}
        print(f"{label} round {rnd:2d}: CPU µs/request off {per['off'][0]:7.1f} on {per['on'][0]:7.1f} ratio {cpu_ratios[-1]:.3f}; "
              f"wall off {per['off'][1]:7.1f} on {per['on'][1]:7.1f} ratio {wall_ratios[-1]:.3f}", flush=True)
    cpu_median, wall_median = statistics.median(cpu_ratios), statistics.median(wall_ratios)
    print(f"spans on/off, {QUERIES} {label} queries per request, {len(cpu_ratios)} rounds: median CPU ratio {cpu_median:.3f} "
          f"(min {min(cpu_ratios):.3f}, max {max(cpu_ratios):.3f}), median wall ratio {wall_median:.3f}; "
          f"target CPU <= {TARGET:.2f}: {'OK' if cpu_median <= TARGET else 'ABOVE TARGET'}", flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--rounds", type=int, default=15, help="measured rounds (one more warms up)")
    parser.add_argument("--requests", type=int, default=400, help="requests per variant per round")
    parser.add_argument("--db", choices=["sqlite", "postgresql", "both"], default="both")
    args, _ = parser.parse_known_args(argv)
    off_client = Client(sinks=["memory://bench-spans-off"], capture_spans=False, max_queue_size=100_000, batch_size=200,
                        profiling_mode="detailed")
    on_client = Client(sinks=["memory://bench-spans-on"], capture_spans=True, max_queue_size=100_000, batch_size=200,
                       profiling_mode="detailed")
    if args.db in ("sqlite", "both"):
        with tempfile.TemporaryDirectory() as folder:
            path = os.path.join(folder, "bench.db")
            plain_connect = getattr(sqlite3.connect, "__wrapped__", sqlite3.connect)  # the driver's own, unhooked
            off_conn = make_db(path, plain_connect)
            on_conn = make_db(path, sqlite3.connect)
            assert type(on_conn) is not type(off_conn), "the hooks did not wrap sqlite3.connect"
            compare("sqlite", (off_client, off_conn), (on_client, on_conn), args.rounds, args.requests, handler)
            off_conn.close()
            on_conn.close()
    if args.db in ("postgresql", "both"):
        try:
            import psycopg
        except ImportError:
            print("postgresql: skipped (psycopg is not installed)")
            return 0
        hooked = psycopg.connect
        plain = getattr(hooked, "__wrapped__", hooked)
        try:
            off_conn, on_conn = make_pg(plain), make_pg(hooked)
        except psycopg.OperationalError as exc:
            print(f"postgresql: skipped ({PG_URL} cannot be reached: {exc})")
            return 0
        assert type(on_conn) is not type(off_conn), "the hooks did not wrap psycopg.connect"
        try:
            compare("postgresql", (off_client, off_conn), (on_client, on_conn), args.rounds, args.requests // 4, pg_handler)
        finally:
            off_conn.execute(f"DROP TABLE IF EXISTS {PG_TABLE}")
            off_conn.close()
            on_conn.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
