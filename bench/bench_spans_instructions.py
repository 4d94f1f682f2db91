"""Span capture's cost counted in instructions (issue 18): the figure of bench_spans.py that a loaded machine does not move.

The request is bench_spans.py's (``--request flask``: a Flask view making 20 primary-key queries on SQLite and
rendering JSON; ``bare``: the query loop alone), every request profiled in detail, spans off (the driver's own
connection, ``capture_spans=False``) and on (the hooked connection, ``capture_spans=True``). Each side runs under
``valgrind --tool=callgrind`` with 50 and with 50 + ``--requests`` requests; the difference per request is counted
over the whole process (the request thread and the background thread that builds the records and their spans),
with ``PYTHONHASHSEED=0`` (the same dict layouts in every run). pyinstrument's interval is 1 s so that valgrind's
slowdown does not multiply the samples (the profiler's hook on every call is counted, as in a real run). Prints
instructions per request off and on, their ratio and the cost per span, OK or MISS against the target (at most 3%
more). bench_spans.py measures CPU time side by side, which this machine's neighbours move by several percent.

    python bench/bench_spans_instructions.py [--request flask|bare] [--requests 400]

Needs valgrind (``apt-get install valgrind``; ``nox -s bench`` installs it).
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from bench_spans import QUERIES, TARGET  # noqa: E402
from callgrind_request import valgrind_script  # noqa: E402

WARM = 50
APP = r'''
import os, sqlite3, sys, tempfile
sys.path.insert(0, sys.argv[4])
os.environ["PYINSTRUMENT_IGNORE_OVERHEAD_WARNING"] = "1"
import bench_spans
from pystrument.core import Client

variant, n, request = sys.argv[1], int(sys.argv[2]), sys.argv[3]
on = variant == "on"
client = Client(sinks=["memory://instructions"], capture_spans=on, max_queue_size=100_000, batch_size=200,
                profiling_mode="detailed", max_overhead_pct=100, profiler_interval=1.0)
with tempfile.TemporaryDirectory() as folder:
    plain = getattr(sqlite3.connect, "__wrapped__", sqlite3.connect)
    conn = bench_spans.make_db(os.path.join(folder, "bench.db"), sqlite3.connect if on else plain)
    run = (bench_spans.flask_app if request == "flask" else bench_spans.bare)("SELECT name, price FROM product WHERE id = ?")
    for i in range(n):
        unit = client.start("request", "GET /products")
        run(conn, i)
        client.finish(unit)
    client.flush(600)
    client.close()
    conn.close()
'''


def instructions(script: str, variant: str, n: int, request: str) -> int:
    """The whole process's instructions with ``n`` requests."""
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "callgrind.out")
        done = subprocess.run(["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}", sys.executable, script,
                               variant, str(n), request, str(Path(__file__).parent)],
                              capture_output=True, text=True, env={**os.environ, "PYTHONHASHSEED": "0"})
        if re.search(r"switched off|invalid setting|internal error", done.stderr):
            sys.exit(f"pystrument complained with spans {variant}:\n{done.stderr[-2000:]}")
        with open(out) as f:
            found = re.search(r"^(?:totals|summary): (\d+)", f.read(), re.M)
    if found is None:
        sys.exit(f"callgrind gave no count with spans {variant}:\n{done.stderr[-2000:]}")
    return int(found.group(1))


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--request", choices=["flask", "bare"], default="flask")
    parser.add_argument("--requests", type=int, default=400, help="measured requests (after 50 counted apart)")
    args, _ = parser.parse_known_args()  # nox -s bench passes its own arguments to every script
    runs = [(variant, n) for variant in ("off", "on") for n in (WARM, WARM + args.requests)]
    print(f"spans instructions: {args.request} request, {QUERIES} queries, 4 callgrind runs (two at a time)...", flush=True)
    with valgrind_script("bench_spans_instructions", APP) as script, ThreadPoolExecutor(2) as pool:
        counts = dict(zip(runs, pool.map(lambda run: instructions(script, run[0], run[1], args.request), runs), strict=False))
    per = {variant: (counts[variant, WARM + args.requests] - counts[variant, WARM]) / args.requests for variant in ("off", "on")}
    ratio = per["on"] / per["off"]
    print(f"spans instructions ({args.request}, SQLite, every request in detail): off {per['off']:,.0f} on {per['on']:,.0f} "
          f"instructions per request, ratio {ratio:.4f} ({(per['on'] - per['off']) / QUERIES:,.0f} per span); "
          f"target <= {TARGET:.2f}: {'OK' if ratio <= TARGET else 'MISS'}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
