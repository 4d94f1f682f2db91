"""Continuous mode's CPU per request (issue 16), in process: no sockets, no server, no load generator.

The real apps of bench_adapters.py (Flask through its WSGI callable, Starlette through its ASGI callable,
the same ~1 ms handler, the pystrument middleware around them) driven request after request in one
worker process per variant, all pinned to one CPU:

  bare                 the app alone
  continuous           profiling_mode continuous on 100% of requests (governor off)
  continuous_detailed  continuous plus detailed records at sampling_rate 0.01

Each round asks every worker, in a new random order, for one batch of ``--requests`` requests and reads the
worker's process CPU time over the batch (``time.process_time``: every thread of the worker, the sampling
thread and the dispatcher's included). Figures: per variant the median CPU us/request over the rounds, and
the median of the paired differences to bare of the same round, with a distribution-free 95% confidence
interval of that median. Noise moves all variants of a round alike, so the paired difference is what
holds still on a shared machine. ``--trivial`` swaps the handler for one that does no work: then the
difference is the adapter's own cost, with nothing to scale with.

    python bench/bench_continuous_cost.py [--rounds 21] [--requests 500] [--frameworks flask,starlette] [--trivial]
    python bench/bench_continuous_cost.py --profile flask   (cProfile of the continuous path, top functions)
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import subprocess
import sys
import time
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench_adapters as ba  # noqa: E402

VARIANTS = ["bare", "continuous", "continuous_detailed"]


def _app(framework: str, variant: str, trivial: bool) -> Any:
    if trivial:
        ba.work = lambda calls=0: 0  # type: ignore[assignment]  # the handler does nothing: the adapter's own cost shows
    return (ba.flask_app if framework == "flask" else ba.starlette_app)(variant)


def _caller(framework: str, app: Any) -> Any:
    return (ba._flask_caller if framework == "flask" else ba._starlette_caller)(app)


def worker(framework: str, variant: str, trivial: bool) -> None:
    """Reads a batch size per line on stdin, answers the batch's process CPU seconds."""
    os.environ["PYINSTRUMENT_IGNORE_OVERHEAD_WARNING"] = "1"
    call = _caller(framework, _app(framework, variant, trivial))
    call(200)  # warm up: clients, threads, caches
    print("ready", flush=True)
    for line in sys.stdin:
        n = int(line)
        t = time.process_time()
        call(n)
        print(repr(time.process_time() - t), flush=True)


def median_ci(xs: list[float]) -> tuple[float, float]:
    return ba.median_ci(xs)


def run(framework: str, rounds: int, requests: int, trivial: bool, cpu: int | None) -> dict[str, list[float]]:
    procs: dict[str, subprocess.Popen[str]] = {}
    env = {**os.environ, "PYTHONHASHSEED": "0"}
    try:
        for v in VARIANTS:
            command = [sys.executable, __file__, "--worker", framework, v] + (["--trivial"] if trivial else [])
            proc = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env,
                                    preexec_fn=(lambda: ba.pin(cpu)) if cpu is not None else None)
            procs[v] = proc
        for v, proc in procs.items():
            assert proc.stdout is not None
            if proc.stdout.readline().strip() != "ready":
                raise RuntimeError(f"worker {framework} {v} did not start")
        per: dict[str, list[float]] = {v: [] for v in VARIANTS}
        for r in range(rounds + 1):
            for v in random.sample(VARIANTS, len(VARIANTS)):
                proc = procs[v]
                assert proc.stdin is not None and proc.stdout is not None
                proc.stdin.write(f"{requests}\n")
                proc.stdin.flush()
                seconds = float(proc.stdout.readline())
                if r:  # the first round warms up
                    per[v].append(seconds / requests * 1e6)
        return per
    finally:
        for proc in procs.values():
            if proc.stdin is not None:
                proc.stdin.close()
        for proc in procs.values():
            proc.wait(10)


def report(framework: str, per: dict[str, list[float]], trivial: bool) -> None:
    bare = per["bare"]
    what = "trivial handler" if trivial else "~1 ms handler"
    print(f"\n{framework} ({what}): CPU us/request, medians of {len(bare)} interleaved rounds")
    for v in VARIANTS:
        xs = per[v]
        line = f"  {v:<20} {statistics.median(xs):8.1f} us"
        if v != "bare":
            diffs = [x - b for x, b in zip(xs, bare, strict=True)]
            lo, hi = median_ci(diffs)
            line += f"   over bare: {statistics.median(diffs):+7.1f} us (95% CI {lo:+.1f} .. {hi:+.1f})"
        print(line)


def profile(framework: str, requests: int, trivial: bool) -> None:
    import cProfile
    import pstats

    call = _caller(framework, _app(framework, "continuous", trivial))
    call(200)
    profiler = cProfile.Profile()
    profiler.enable()
    call(requests)
    profiler.disable()
    pstats.Stats(profiler).sort_stats("tottime").print_stats(30)


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--rounds", type=int, default=21)
    parser.add_argument("--requests", type=int, default=500, help="per batch")
    parser.add_argument("--frameworks", default="flask,starlette")
    parser.add_argument("--trivial", action="store_true", help="a handler that does no work")
    parser.add_argument("--worker", nargs=2, metavar=("FRAMEWORK", "VARIANT"), help=argparse.SUPPRESS)
    parser.add_argument("--profile", metavar="FRAMEWORK", help="cProfile the continuous variant's requests")
    args = parser.parse_args()
    if args.worker:
        worker(args.worker[0], args.worker[1], args.trivial)
        return 0
    if args.profile:
        profile(args.profile, args.requests, args.trivial)
        return 0
    cpu, _ = ba.cpus()
    print(f"continuous cost in process: {args.rounds} rounds x {args.requests} requests per variant; workers pinned to "
          f"CPU {cpu}; load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    for framework in args.frameworks.split(","):
        report(framework, run(framework, args.rounds, args.requests, args.trivial, cpu), args.trivial)
    return 0


if __name__ == "__main__":
    sys.exit(main())
