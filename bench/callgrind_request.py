"""Instructions per request on the request path, counted by callgrind: a figure a loaded machine does not move.

A Flask app (through its WSGI callable) or a Starlette app (through its ASGI callable) with a trivial handler,
bare or wrapped in pystrument's middleware in a profiling mode, is asked ``--requests`` times after 200 warm-up
requests; the script runs under ``valgrind --tool=callgrind`` twice, with and without the measured requests, and
prints the difference per request, counted on the main thread (where the requests run); the other threads' difference
(the continuous sampler merging ended units into its window, and its timed wake-ups, which grow with valgrind's wall
time) is shown beside it. The continuous sampler's interval is set to 1 s (the longest allowed), so that
its wake-ups (which valgrind's slowdown would multiply) stay out of the figure, and pyinstrument's interval to 1 s for
the same reason (detailed mode: the profiler's hook on every call is counted, its samples hardly): this is the
request path only (``Client.start`` and
``finish``, the adapter); the sampling thread's own CPU is bench_continuous.py's.

    python bench/callgrind_request.py [--framework flask|starlette|both] [--modes bare,continuous,detailed]
                                      [--requests 1000] [--work N]

``--work N``: the handler makes N small Python calls; the detailed profiler's hook pays per call, continuous
mode does not.

Needs valgrind (``apt-get install valgrind``); not run by ``nox -s bench`` (its name does not start with bench_).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator

APP = r'''
import asyncio, io, os, sys
framework, mode, n, work = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])


def small(i):
    return i * 2


def handler_work():
    total = 0
    for i in range(work):  # ``work`` small Python calls: what the detailed profiler's hook pays for, the sampler not
        total += small(i)
    return total
cfg = {"project_key": "k", "sinks": ["memory://callgrind"], "profiling_mode": mode, "continuous_interval_ms": 1000,
       "sampling_rate": 1.0, "max_overhead_pct": 100, "flush_interval": 3600,
       "profiler_interval": 1.0}  # pyinstrument's timer: a 1 ms one would take valgrind's slowdown-times more samples
if framework == "flask":
    from flask import Flask
    app = Flask("callgrind")

    @app.route("/items/<int:item_id>")
    def item(item_id):
        return {"id": item_id, "work": handler_work()}

    if mode != "bare":
        from pystrument.adapters.flask import PerformanceMiddleware
        app.wsgi_app = PerformanceMiddleware(app.wsgi_app, cfg)

    def run(count):
        for i in range(count):
            environ = {"REQUEST_METHOD": "GET", "PATH_INFO": f"/items/{i % 50}", "SERVER_NAME": "x", "SERVER_PORT": "80",
                       "wsgi.url_scheme": "http", "wsgi.input": io.BytesIO(b""), "wsgi.errors": sys.stderr, "QUERY_STRING": "",
                       "SERVER_PROTOCOL": "HTTP/1.1", "wsgi.version": (1, 0), "wsgi.multithread": False,
                       "wsgi.multiprocess": False, "wsgi.run_once": False}
            out = app(environ, lambda status, headers, exc_info=None: None)
            b"".join(out)
            out.close()
else:
    from starlette.applications import Starlette
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    async def item(request):
        return JSONResponse({"id": request.path_params["item_id"], "work": handler_work()})

    app = Starlette(routes=[Route("/items/{item_id:int}", item)])
    if mode != "bare":
        from pystrument.adapters.asgi import PerformanceMiddleware
        app = PerformanceMiddleware(app, config=cfg)

    async def one(i):
        path = f"/items/{i % 50}"
        scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET", "scheme": "http",
                 "path": path, "raw_path": path.encode(), "query_string": b"", "headers": [(b"host", b"x")],
                 "server": ("x", 80), "client": ("127.0.0.1", 1), "root_path": ""}

        async def receive():
            return {"type": "http.request", "body": b"", "more_body": False}

        async def send(message):
            pass

        await app(scope, receive, send)

    def run(count):
        async def many():
            for i in range(count):
                await one(i)
        asyncio.run(many())
run(200)  # warm-up: imports, caches, the first unit's one-off costs
run(n)
os._exit(0)  # no exit handlers: their flush is not the request path
'''


def instructions(script: str, framework: str, mode: str, n: int, work: int) -> tuple[int, int]:
    """(the main thread's instructions, every other thread's): the request path runs on the main thread; the others
    (the continuous sampler, the dispatcher) wake on timers, so their count grows with valgrind's wall time."""
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "callgrind.out")
        done = subprocess.run(["valgrind", "--tool=callgrind", "--separate-threads=yes", f"--callgrind-out-file={out}",
                               sys.executable, script, framework, mode, str(n), str(work)],
                              capture_output=True, text=True, env={**os.environ, "PYTHONHASHSEED": "0"})  # the same dict layouts in every run
        if re.search(r"switched off|invalid setting|internal error", done.stderr):  # monitoring off: the figure would be bare's
            sys.exit(f"pystrument complained in {framework} {mode}:\n{done.stderr[-2000:]}")
        totals = {}
        for name in os.listdir(tmp):
            with open(os.path.join(tmp, name)) as f:
                found = re.search(r"^totals: (\d+)", f.read(), re.M)
            if found is not None:
                totals[name] = int(found.group(1))
    if "callgrind.out-01" not in totals:
        sys.exit(f"callgrind gave no count for {framework} {mode}:\n{done.stderr[-2000:]}")
    main_thread = totals.pop("callgrind.out-01")
    return main_thread, sum(totals.values())


@contextlib.contextmanager
def valgrind_script(tool: str, text: str) -> Iterator[str]:
    """``text`` written to a temporary script for valgrind to run (removed after); stops when valgrind is missing."""
    if shutil.which("valgrind") is None:
        sys.exit(f"{tool} needs valgrind: apt-get install valgrind")
    with tempfile.NamedTemporaryFile("w", suffix=".py", delete=False) as f:
        f.write(text)
    try:
        yield f.name
    finally:
        os.unlink(f.name)


def print_modes(label: str, modes: list[str], requests: int, other: str, measure: Callable[[str, int], tuple[int, int]]) -> None:
    """For each mode, ``measure(mode, n)`` -> (the counted instructions, the others') with ``requests`` and with 0
    measured requests; prints the difference per request, and against bare when bare is among the modes."""
    bare = None
    for mode in modes:
        (counted1, other1), (counted0, other0) = (measure(mode, n) for n in (requests, 0))
        per = (counted1 - counted0) / requests
        if mode == "bare":
            bare = per
        extra = f"  +{per - bare:,.0f} (+{(per - bare) / bare:.1%}) over bare" if bare and mode != "bare" else ""
        print(f"{label} {mode:10} {per:12,.0f} instructions per request{extra}  ({other} {(other1 - other0) / requests:+,.0f})",
              flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--framework", default="both", choices=["flask", "starlette", "both"])
    parser.add_argument("--modes", default="bare,continuous,detailed")
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--work", type=int, default=0, help="small Python calls the handler makes (default 0: a trivial handler)")
    args = parser.parse_args()
    frameworks = ["flask", "starlette"] if args.framework == "both" else [args.framework]
    with valgrind_script("callgrind_request", APP) as script:
        for framework in frameworks:
            print_modes(f"{framework:9} work={args.work:<5}", args.modes.split(","), args.requests, "other threads",
                        lambda mode, n, framework=framework: instructions(script, framework, mode, n, args.work))


if __name__ == "__main__":
    main()
