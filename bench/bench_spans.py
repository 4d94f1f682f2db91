"""Span capture's cost (issue 18): a request making 20 queries, spans on against spans off, side by side in one run.

The request (``--request flask``, the default) is a real Flask app's view run through Flask's WSGI app in process
(routing, request context, the view, JSON response; no HTTP server): ``GET /products?offset=N`` makes 20 primary-key
queries (one row each), builds a list of dicts and returns it with ``jsonify``. ``--request bare`` runs only the
20-query loop (no framework, no response): the worst case for a span's fixed cost, shown for reference.

Two databases, each measured on its own: SQLite (a local file) and PostgreSQL over loopback (psycopg 3 against
the machine's server, db ``test``: a query is a round trip, as in most apps); a database that cannot be reached
is reported and skipped.

Side by side in one process, in interleaved rounds: "off" is a client with ``capture_spans=False`` on a plain
connection (opened with the driver's own ``connect``, as if the hooks had never loaded); "on" is a client with
``capture_spans=True`` on a connection opened through the hooked ``connect``. Each round runs a batch of requests
of each variant and its delivery (the background thread builds the records, spans included), and measures the
process's CPU time (request thread and background thread: what the spans cost in all, and less disturbed by
other processes than wall time) and the request thread's wall time. Every request is profiled in detail on both
sides (the profiler's hook is on: the spans' worst case). The ratios on/off per round, and their medians, are
printed. Target: median CPU ratio <= 1.03 (at most 3% more): OK or MISS.

``--profiling default`` measures the same with the SDK's default configuration instead (continuous on every request,
detailed records of a sample at the rate the 3% overhead governor sets): spans are captured on the units profiled in
detail only, so this is what a request costs an app that turned spans on and left the rest as it is. ``both`` (the
default) runs the two, detailed first. Why the detailed case costs what it does: docs/spans.md ("Overhead").
"""

from __future__ import annotations

import argparse
import gc
import os
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from typing import Any

os.environ.setdefault("PYINSTRUMENT_IGNORE_OVERHEAD_WARNING", "1")

from pystrument.core import Client  # noqa: E402
from pystrument.core.memory_sink import clear  # noqa: E402

QUERIES = 20
TARGET = 1.03
ROWS = 1000
Run = Callable[[Any, int], Any]


def make_db(path: str, connect) -> sqlite3.Connection:  # noqa: ANN001
    conn = connect(path, check_same_thread=False)
    conn.execute("CREATE TABLE IF NOT EXISTS product (id INTEGER PRIMARY KEY, name TEXT, price REAL)")
    if not conn.execute("SELECT COUNT(*) FROM product").fetchone()[0]:
        conn.executemany("INSERT INTO product VALUES (?, ?, ?)", [(i, f"product {i}", i * 1.5) for i in range(ROWS)])
        conn.commit()
    return conn


PG_URL = os.environ.get("PYSTRUMENT_BENCH_PG", "host=127.0.0.1 port=5432 dbname=test user=postgres")
PG_TABLE = f"bench_spans_product_{os.getpid()}"


def make_pg(connect):  # noqa: ANN001, ANN201
    conn = connect(PG_URL, autocommit=True)
    conn.execute(f"CREATE TABLE IF NOT EXISTS {PG_TABLE} (id INTEGER PRIMARY KEY, name TEXT, price REAL)")
    if not conn.execute(f"SELECT COUNT(*) FROM {PG_TABLE}").fetchone()[0]:
        with conn.cursor() as cur:
            cur.executemany(f"INSERT INTO {PG_TABLE} VALUES (%s, %s, %s)",
                            [(i, f"product {i}", i * 1.5) for i in range(ROWS)])
    return conn


def bare(statement: str) -> Run:
    """The 20-query loop alone: the request's own code with no framework around it."""

    def handler(conn: Any, offset: int) -> float:
        total = 0.0
        cur = conn.cursor()
        for i in range(QUERIES):
            cur.execute(statement, ((offset + i * 37) % ROWS,))
            name, price = cur.fetchone()
            total += price + len(name)
        return total

    return handler


def flask_app(statement: str) -> Run:
    """A Flask app whose view makes the 20 queries and renders JSON; run(conn, n) serves ``GET /products?offset=n``."""
    from flask import Flask, g, jsonify, request

    app = Flask("bench_spans")

    @app.get("/products")
    def products() -> Any:
        offset = request.args.get("offset", 0, type=int)
        cur = g.conn.cursor()
        items = []
        for i in range(QUERIES):
            product_id = (offset + i * 37) % ROWS
            cur.execute(statement, (product_id,))
            name, price = cur.fetchone()
            items.append({"id": product_id, "name": name, "price": price})
        return jsonify(products=items, total=round(sum(item["price"] for item in items), 2))

    @app.before_request
    def connection() -> None:
        g.conn = app.config["CONN"]

    environ = {"REQUEST_METHOD": "GET", "SCRIPT_NAME": "", "PATH_INFO": "/products", "SERVER_NAME": "bench",
               "SERVER_PORT": "80", "SERVER_PROTOCOL": "HTTP/1.1", "wsgi.url_scheme": "http", "wsgi.input": None,
               "wsgi.errors": sys.stderr, "wsgi.multithread": False, "wsgi.multiprocess": False, "wsgi.run_once": False,
               "HTTP_HOST": "bench", "HTTP_ACCEPT": "application/json"}

    def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> None:
        if not status.startswith("200"):
            raise RuntimeError(f"GET /products answered {status}")

    def run(conn: Any, offset: int) -> bytes:
        app.config["CONN"] = conn
        body = b"".join(app.wsgi_app({**environ, "QUERY_STRING": f"offset={offset}"}, start_response))
        if not body.startswith(b"{"):
            raise RuntimeError(f"GET /products answered {body[:200]!r}")
        return body

    return run


def batch(client: Client, conn: Any, sink: str, requests: int, run: Run) -> tuple[float, float]:
    """(process CPU seconds including delivery, request-thread wall seconds) of ``requests`` requests.

    A full collection first (not timed): a collection of the older generations, which the batches before left
    for whichever batch comes next, would land in one side's timing by chance."""
    gc.collect()
    cpu0 = time.process_time()
    t0 = time.perf_counter()
    for n in range(requests):
        unit = client.start("request", "GET /products")
        run(conn, n)
        client.finish(unit)
    wall = time.perf_counter() - t0
    client.flush(30)
    cpu = time.process_time() - cpu0
    clear(sink)
    return cpu, wall


def compare(label: str, off: tuple[Client, Any], on: tuple[Client, Any], rounds: int, requests: int, run: Run) -> float:
    """Interleaved rounds of the two variants; prints each round and the medians; returns the median CPU ratio."""
    cpu_ratios: list[float] = []
    wall_ratios: list[float] = []
    cpu_us: dict[str, list[float]] = {"off": [], "on": []}
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
        for name in cpu_us:
            cpu_us[name].append(per[name][0])
        print(f"{label} round {rnd:2d}: CPU µs/request off {per['off'][0]:7.1f} on {per['on'][0]:7.1f} ratio "
              f"{cpu_ratios[-1]:.3f}; wall off {per['off'][1]:7.1f} on {per['on'][1]:7.1f} ratio {wall_ratios[-1]:.3f}",
              flush=True)
    cpu_median, wall_median = statistics.median(cpu_ratios), statistics.median(wall_ratios)
    off_us, on_us = statistics.median(cpu_us["off"]), statistics.median(cpu_us["on"])
    print(f"{label}: spans on/off, {QUERIES} queries per request, {len(cpu_ratios)} rounds: median CPU µs/request "
          f"off {off_us:.1f} on {on_us:.1f} ({(on_us - off_us) / QUERIES:.2f} µs per span); median CPU ratio "
          f"{cpu_median:.3f} (min {min(cpu_ratios):.3f}, max {max(cpu_ratios):.3f}), median wall ratio {wall_median:.3f}; "
          f"target CPU <= {TARGET:.2f}: {'OK' if cpu_median <= TARGET else 'MISS'}", flush=True)
    return cpu_median


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--rounds", type=int, default=15, help="measured rounds (one more warms up)")
    parser.add_argument("--requests", type=int, default=2000, help="requests per variant per round (PostgreSQL: a quarter)")
    parser.add_argument("--db", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--profiling", choices=["detailed", "default", "both"], default="both",
                        help="detailed: every request profiled in detail (the worst case); default: the SDK's defaults")
    parser.add_argument("--request", choices=["flask", "bare"], default="flask",
                        help="flask: a Flask view making the queries and rendering JSON; bare: the query loop alone")
    args, _ = parser.parse_known_args(argv)
    make = flask_app if args.request == "flask" else bare
    print(f"request: {'a Flask view (WSGI, in process): 20 primary-key queries, JSON response' if args.request == 'flask' else 'the 20-query loop alone'}; "
          "spans off and on side by side", flush=True)
    modes = ["detailed", "default"] if args.profiling == "both" else [args.profiling]
    for mode in modes:
        settings: dict[str, Any] = {"profiling_mode": "detailed", "max_overhead_pct": 100} if mode == "detailed" else {}
        print(f"profiling: {'every request in detail' if mode == 'detailed' else 'the default (continuous + governed detailed sample)'}",
              flush=True)
        off_client = Client(sinks=["memory://bench-spans-off"], capture_spans=False, max_queue_size=100_000, batch_size=200, **settings)
        on_client = Client(sinks=["memory://bench-spans-on"], capture_spans=True, max_queue_size=100_000, batch_size=200, **settings)
        try:
            run_databases(args, make, off_client, on_client, mode)
        finally:
            off_client.close()
            on_client.close()
    return 0


def run_databases(args: argparse.Namespace, make: Callable[[str], Run], off_client: Client, on_client: Client, mode: str) -> None:
    if args.db in ("sqlite", "both"):
        with tempfile.TemporaryDirectory() as folder:
            path = os.path.join(folder, "bench.db")
            plain_connect = getattr(sqlite3.connect, "__wrapped__", sqlite3.connect)  # the driver's own, unhooked
            off_conn = make_db(path, plain_connect)
            on_conn = make_db(path, sqlite3.connect)
            assert type(on_conn) is not type(off_conn), "the hooks did not wrap sqlite3.connect"
            run = make("SELECT name, price FROM product WHERE id = ?")
            compare(f"sqlite/{mode}", (off_client, off_conn), (on_client, on_conn), args.rounds, args.requests, run)
            off_conn.close()
            on_conn.close()
    if args.db in ("postgresql", "both"):
        try:
            import psycopg
        except ImportError:
            print("postgresql: skipped (psycopg is not installed)")
            return
        hooked = psycopg.connect
        plain = getattr(hooked, "__wrapped__", hooked)
        try:
            off_conn, on_conn = make_pg(plain), make_pg(hooked)
        except psycopg.OperationalError as exc:
            print(f"postgresql: skipped ({PG_URL} cannot be reached: {exc})")
            return
        assert type(on_conn.cursor()) is not type(off_conn.cursor()), "the hooks did not wrap psycopg.connect"
        try:
            run = make(f"SELECT name, price FROM {PG_TABLE} WHERE id = %s")
            compare(f"postgresql/{mode}", (off_client, off_conn), (on_client, on_conn), args.rounds, max(args.requests // 4, 1), run)
        finally:
            off_conn.execute(f"DROP TABLE IF EXISTS {PG_TABLE}")
            off_conn.close()
            on_conn.close()


if __name__ == "__main__":
    sys.exit(main())
