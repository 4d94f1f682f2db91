"""Adapter overhead, side by side in one run: Flask on waitress and Starlette on uvicorn, under wrk.

For each framework, one server process per variant (the same ~1 ms pure-Python handler):
  bare          the app alone
  bare2         a second, identical bare server: the calibration (how far apart two identical servers measure)
  rate=0        the pystrument adapter at sampling_rate 0
  rate=0.1      ... at 0.1
  rate=1.0      ... at 1.0 (every request profiled, records built in the background thread)
  default       the adapter configured with only a project key and a sink: the production default
                (issue 16: profiling_mode both, continuous on every request plus detailed records at the
                rate the overhead governor sets, max_overhead_pct 3); the rate= variants are detailed mode
                with the governor off (max_overhead_pct None) to measure a fixed rate
  anchor        a hand-written minimal pyinstrument middleware: Profiler start/stop per request and
                the profile rendered as JSON on the request thread
  floor         the same app with only Profiler().start()/stop() per request, the result unused
  continuous    the adapter in continuous mode on 100% of requests (issue 16; governor off)
  continuous_detailed  continuous plus detailed pyinstrument records at sampling_rate 0.01
  pyroscope     anchor: the bare app with pyroscope-io's in-process agent, pointed at a closed local port
  ddtrace       anchor: the bare app with ddtrace's profiler on (its agent URL a closed local port)
  sentry        anchor: the bare app with sentry-sdk, traces and profiles_sample_rate 1.0, DSN a closed local port
Targets (issue 3): rate=0 loses <= 3% of bare's requests/s; rate=1.0 >= 90% of floor's and more than anchor's;
(issue 14) default >= 95% of bare's; (issue 16) continuous >= 95% of bare's, continuous_detailed >= 93%.

Made trustworthy on a shared 2-core machine by: every server pinned to one CPU and wrk (one thread,
keep-alive connections) to the other; many short rounds, each measuring every variant once, the variants
a target compares next to each other, in a new random order, each run starting once the servers have
gone quiet (so one variant's background work never lands in another's run); and figures that are
medians of *paired* ratios (variant / bare of the same round), with
their interquartile range and a distribution-free 95% confidence interval of the median. A target is
OK when that whole interval meets it, MISS when the whole interval misses it, and "within noise" when
the run cannot tell. The calibration line (bare2 / bare) shows the noise floor; its interval should hold 100%.

The run ends with an in-process section that needs no sockets: CPU per request for each variant
(fastest of interleaved batches, the SDK's background thread included) and the time the adapter adds
to an unsampled request around a trivial app (fastest of 7 batches of 5,000), which resolves microseconds.

    python bench/bench_adapters.py [--rounds 15] [--seconds 1] [--concurrency 4]   (needs wrk: apt-get install wrk)
    python bench/bench_adapters.py --rounds 5 --variants bare,bare2,default --no-inprocess   (the default alone, short)
    BENCH_VERBOSE=1 prints every round's requests/s.
"""

from __future__ import annotations

import argparse
import http.client
import json
import math
import os
import random
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from typing import Any

VARIANTS = ["bare", "rate=0", "rate=0.1", "rate=1.0", "anchor", "floor"]
# bare2: a second bare server (how far apart two identical servers measure); default: the production
# default, server level only (in one process the governors of every variant would share one CPU budget)
EXTRA_VARIANTS = ["bare2", "default", "continuous", "continuous_detailed"]
# other profilers as anchors (issue 16), each in its own server process
ANCHORS = ["pyroscope", "ddtrace", "sentry"]
HANDLER_MS = 1.0  # what work() takes unprofiled on the reference machine


def work(calls: int = 2000) -> int:
    """A fixed amount of work, ~1 ms unprofiled here: 2,000 small Python calls each summing a range.
    Fixed work, not a busy-wait on the clock, so the profiler's per-call cost shows in full."""
    n = 0
    for i in range(calls):
        n += _leaf(i)
    return n


def _leaf(n: int) -> int:
    return sum(range(n % 7 + 40))


# -- servers ------------------------------------------------------------------------------------
def _sdk_config(variant: str) -> dict:
    if variant == "default":  # what an app configured with only its project key and a sink runs with
        return {"project_key": "bench", "sinks": ["memory://bench"]}
    if variant == "continuous":
        return {"profiling_mode": "continuous", "max_overhead_pct": None, "sinks": ["memory://bench"], "app_name": "bench"}
    if variant == "continuous_detailed":
        return {"profiling_mode": "both", "sampling_rate": 0.01, "max_overhead_pct": None, "sinks": ["memory://bench"],
                "app_name": "bench"}
    rate = float(variant.split("=")[1])
    return {"sampling_rate": rate, "max_overhead_pct": None, "profiling_mode": "detailed", "sinks": ["memory://bench"],
            "app_name": "bench",
            "max_queue_size": 1000}


def _instrumented(variant: str) -> bool:
    return variant.startswith("rate=") or variant in ("default", "continuous", "continuous_detailed")


def _closed_port() -> int:
    """A local port where nothing listens (bound, then closed): the anchors' agents send there and fail."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_anchor(variant: str) -> None:
    """Start another vendor's profiler in this server process (before the app is built)."""
    url = f"http://127.0.0.1:{_closed_port()}"
    if variant == "pyroscope":
        import pyroscope

        pyroscope.configure(application_name="bench", server_address=url, sample_rate=100)
    elif variant == "ddtrace":
        os.environ["DD_TRACE_AGENT_URL"] = url
        os.environ.setdefault("DD_INSTRUMENTATION_TELEMETRY_ENABLED", "false")
        from ddtrace.profiling import Profiler

        Profiler().start()
    elif variant == "sentry":
        import sentry_sdk

        sentry_sdk.init(dsn=f"http://public@127.0.0.1:{_closed_port()}/1", traces_sample_rate=1.0,
                        profiles_sample_rate=1.0)


def flask_app(variant: str):
    import flask

    app = flask.Flask("bench")

    @app.get("/work/<int:n>")
    def handler(n: int):
        return {"n": work(), "id": n}

    if _instrumented(variant):
        from pystrument.adapters.flask import PerformanceMiddleware

        app.wsgi_app = PerformanceMiddleware(app.wsgi_app, _sdk_config(variant))  # type: ignore[method-assign]
    elif variant in ("anchor", "floor"):
        inner = app.wsgi_app
        render = variant == "anchor"

        def profiled(environ, start_response):
            from pyinstrument import Profiler
            from pyinstrument.renderers import JSONRenderer

            profiler = Profiler(interval=0.001, async_mode="disabled")
            profiler.start()
            try:
                body = list(inner(environ, start_response))
            finally:
                profiler.stop()
            if render:
                profiler.output(JSONRenderer())
            return body

        app.wsgi_app = profiled  # type: ignore[method-assign]
    return app


def starlette_app(variant: str):
    from starlette.applications import Starlette
    from starlette.middleware import Middleware
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    async def handler(request):
        return JSONResponse({"n": work(), "id": request.path_params["n"]})

    middleware = []
    if _instrumented(variant):
        from pystrument.adapters.asgi import PerformanceMiddleware

        middleware.append(Middleware(PerformanceMiddleware, config=_sdk_config(variant)))
    elif variant in ("anchor", "floor"):
        render = variant == "anchor"

        class Profiled:
            def __init__(self, app):
                self.app = app

            async def __call__(self, scope, receive, send):
                if scope["type"] != "http":
                    return await self.app(scope, receive, send)
                from pyinstrument import Profiler
                from pyinstrument.renderers import JSONRenderer

                profiler = Profiler(interval=0.001, async_mode="enabled")
                profiler.start()
                try:
                    await self.app(scope, receive, send)
                finally:
                    profiler.stop()
                if render:
                    profiler.output(JSONRenderer())

        middleware.append(Middleware(Profiled))
    return Starlette(routes=[Route("/work/{n:int}", handler)], middleware=middleware)


def serve(framework: str, variant: str, port: int) -> None:
    os.environ["PYINSTRUMENT_IGNORE_OVERHEAD_WARNING"] = "1"
    if variant in ANCHORS:
        start_anchor(variant)
    if framework == "flask":
        from waitress import serve as waitress_serve

        waitress_serve(flask_app(variant), host="127.0.0.1", port=port, threads=4)
    else:
        import uvicorn

        uvicorn.run(starlette_app(variant), host="127.0.0.1", port=port, log_level="error", access_log=False)


# -- in-process: the request path's own cost, without servers or sockets --------------------------------
def _flask_caller(app):
    import io

    environ = {"REQUEST_METHOD": "GET", "PATH_INFO": "/work/1", "SCRIPT_NAME": "", "QUERY_STRING": "", "SERVER_NAME": "x",
               "SERVER_PORT": "80", "SERVER_PROTOCOL": "HTTP/1.1", "wsgi.url_scheme": "http", "wsgi.input": io.BytesIO(),
               "wsgi.errors": sys.stderr, "wsgi.multithread": True, "wsgi.multiprocess": False, "wsgi.run_once": False}

    def start_response(status, headers, exc_info=None):
        return None

    def call(n: int) -> None:
        for _ in range(n):
            result = app(dict(environ), start_response)
            for _chunk in result:
                pass
            close = getattr(result, "close", None)
            if close is not None:
                close()

    return call


def _starlette_caller(app):
    import asyncio

    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET", "scheme": "http",
             "path": "/work/1", "raw_path": b"/work/1", "query_string": b"", "root_path": "", "headers": [(b"host", b"x")],
             "server": ("127.0.0.1", 80), "client": ("127.0.0.1", 1)}

    async def receive():
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message):
        return None

    async def many(n: int) -> None:
        for _ in range(n):
            await app(dict(scope), receive, send)

    loop = asyncio.new_event_loop()
    return lambda n: loop.run_until_complete(many(n))


def unsampled_cost(framework: str, batches: int = 7, per_batch: int = 5000) -> float:
    """Seconds the adapter adds to a request it does not sample (rate 0), around a trivial app: the
    fastest of interleaved batches, so the difference is the middleware's own code."""
    if framework == "flask":
        from pystrument.adapters.flask import PerformanceMiddleware as WSGIMiddleware

        def trivial(environ, start_response):
            start_response("200 OK", [])
            return [b"x"]

        plain, wrapped = _flask_caller(trivial), _flask_caller(WSGIMiddleware(trivial, _sdk_config("rate=0")))
    else:
        from pystrument.adapters.asgi import PerformanceMiddleware as ASGIMiddleware

        async def trivial(scope, receive, send):
            await send({"type": "http.response.start", "status": 200, "headers": []})
            await send({"type": "http.response.body", "body": b"x"})

        plain, wrapped = _starlette_caller(trivial), _starlette_caller(ASGIMiddleware(trivial, _sdk_config("rate=0")))
    wrapped(100)
    best = {"plain": float("inf"), "wrapped": float("inf")}
    for _ in range(batches):
        for name, call in (("plain", plain), ("wrapped", wrapped)):
            t = time.perf_counter()
            call(per_batch)
            best[name] = min(best[name], (time.perf_counter() - t) / per_batch)
    return best["wrapped"] - best["plain"]


def inprocess(framework: str, batches: int = 5, per_batch: int = 100) -> dict[str, float]:
    """Process CPU seconds per request (all threads, the SDK's background thread included), the
    fastest of ``batches`` interleaved batches: the minimum filters out the shared machine's noise."""
    from pystrument.adapters.base import _clients

    make = flask_app if framework == "flask" else starlette_app
    wrap = _flask_caller if framework == "flask" else _starlette_caller
    callers = {v: wrap(make(v)) for v in VARIANTS}
    best = {v: float("inf") for v in VARIANTS}
    for v in VARIANTS:
        callers[v](20)  # warm up, create clients
    for _ in range(batches):
        for v in random.sample(VARIANTS, len(VARIANTS)):
            for client in _clients.values():
                client.flush(10)
            t = time.process_time()
            callers[v](per_batch)
            if v.startswith("rate="):
                for client in _clients.values():
                    client.flush(10)  # the background thread's building and delivery count too
            best[v] = min(best[v], (time.process_time() - t) / per_batch)
    return best


# -- load generator: wrk, pinned to its own CPU ----------------------------------------------------
# wrk's done() hook prints one JSON line per run (wrk counts latencies in microseconds).
WRK_REPORT = """
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format('{"requests": %d, "duration_us": %d, "errors": %d, "p50_us": %d, "p99_us": %d}\\n',
    summary.requests, summary.duration, e.connect + e.read + e.write + e.status + e.timeout,
    latency:percentile(50), latency:percentile(99)))
end
"""


def find_wrk() -> str:
    wrk = shutil.which("wrk")
    if wrk is None:
        sys.exit("bench_adapters: the load generator wrk is not installed: `apt-get install wrk` (Debian/Ubuntu) "
                 "or `brew install wrk`; `nox -s bench` installs it with apt-get when run as root")
    return wrk


def cpus() -> tuple[int | None, int | None]:
    """(server CPU, load-generator CPU): the last two CPUs this process may run on, or (None, None)
    on a one-CPU machine or where affinity is not supported (then nothing is pinned)."""
    try:
        allowed = sorted(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return None, None
    return (allowed[-1], allowed[-2]) if len(allowed) >= 2 else (None, None)


def pin(cpu: int | None) -> None:
    if cpu is not None:
        os.sched_setaffinity(0, {cpu})


# -- orchestration ---------------------------------------------------------------------------------
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # type: ignore[no-any-return]


def _wait_ready(port: int, proc: subprocess.Popen) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", "/work/0")
            conn.getresponse().read()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("server did not start")


def start_server(framework: str, variant: str, cpu: int | None) -> tuple[subprocess.Popen, int]:
    port = _free_port()
    # One hash seed for every server: with per-process random seeds, dict and set layouts differ and two
    # identical servers measured a steady 1.5-2% apart (the calibration line showed it).
    server = subprocess.Popen([sys.executable, __file__, "--serve", framework, variant, str(port), str(cpu)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env={**os.environ, "PYTHONHASHSEED": "0"})
    _wait_ready(port, server)
    return server, port


def _cpu(proc: Any) -> float:
    times = proc.cpu_times()
    return times.user + times.system  # type: ignore[no-any-return]


def wait_quiet(procs: list[Any], limit: float = 3.0) -> None:
    """Wait until no server uses CPU (below 5% over 100 ms): the SDK's background thread of the
    previous variant must not run into the next variant's measurement on the same CPU."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        before = sum(_cpu(p) for p in procs)
        time.sleep(0.1)
        if sum(_cpu(p) for p in procs) - before < 0.005:
            return


def measure(wrk: str, script: str, server: Any, port: int, seconds: int, concurrency: int, load_cpu: int | None,
            others: list[Any]) -> dict[str, float]:
    """One wrk run (one thread, ``concurrency`` keep-alive connections): requests/s, p50/p99, and the
    server process's CPU per request, its background work after the run included."""
    wait_quiet(others)
    cpu0 = _cpu(server)
    command = [wrk, "-t1", f"-c{concurrency}", f"-d{seconds}s", "-s", script, f"http://127.0.0.1:{port}/work/1"]
    out = subprocess.run(command, capture_output=True, text=True, timeout=seconds + 30,
                         preexec_fn=(lambda: pin(load_cpu)) if load_cpu is not None else None)
    report = json.loads(out.stdout.strip().splitlines()[-1])
    wait_quiet([server])
    count = max(1, report["requests"])
    return {"rps": report["requests"] / (report["duration_us"] / 1e6), "p50_ms": report["p50_us"] / 1000,
            "p99_ms": report["p99_us"] / 1000, "errors": report["errors"], "cpu_us": (_cpu(server) - cpu0) / count * 1e6}


BLOCKS = [("bare", "bare2", "rate=0", "default", "continuous", "continuous_detailed"),
          ("floor", "rate=1.0", "anchor")]  # the pairs the targets compare


def round_order(variants: list[str]) -> list[str]:
    """One round's order: the variants each target compares measured next to each other (a block, in
    random order), the blocks and the other variants in random order: a paired ratio then spans
    seconds, not the whole round."""
    groups = [[v for v in block if v in variants] for block in BLOCKS]
    groups += [[v] for v in variants if not any(v in block for block in BLOCKS)]
    random.shuffle(groups)
    order: list[str] = []
    for group in groups:
        random.shuffle(group)
        order += group
    return order


def run_framework(framework: str, variants: list[str], rounds: int, seconds: int, concurrency: int) -> dict[str, list[dict]]:
    """Every variant's server runs at once, pinned to one CPU, wrk to another. Each round measures every
    variant once (``round_order``); the first round warms up and is dropped."""
    import psutil

    server_cpu, load_cpu = cpus()
    wrk = find_wrk()
    servers: dict[str, tuple[subprocess.Popen, int]] = {}
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as f:
        f.write(WRK_REPORT)
    try:
        for v in variants:
            servers[v] = start_server(framework, v, server_cpu)
        procs = {v: psutil.Process(proc.pid) for v, (proc, _port) in servers.items()}
        runs: dict[str, list[dict]] = {v: [] for v in variants}
        for r in range(rounds + 1):
            for v in round_order(variants):
                result = measure(wrk, f.name, procs[v], servers[v][1], seconds, concurrency, load_cpu, list(procs.values()))
                if r:
                    runs[v].append(result)
        if os.environ.get("BENCH_VERBOSE"):
            for v, rs in runs.items():
                print(f"  {framework} {v:<19} req/s by round:", " ".join(f"{x['rps']:.0f}" for x in rs))
        return runs
    finally:
        os.unlink(f.name)
        for proc, _port in servers.values():
            proc.terminate()
        for proc, _port in servers.values():
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()


# -- statistics: paired ratios within a round, their median and its confidence interval --------------
def median(xs: list[float]) -> float:
    return statistics.median(xs)


def median_ci(xs: list[float], level: float = 0.95) -> tuple[float, float]:
    """A distribution-free confidence interval of the median (order statistics of the binomial):
    the k-th smallest and k-th largest value, for the largest k covering at least ``level``."""
    xs = sorted(xs)
    n = len(xs)
    k = 0
    for j in range(1, n // 2 + 1):  # coverage of [x_(j), x_(n-j+1)] is 1 - 2 P(Binomial(n, 1/2) < j)
        tail = sum(math.comb(n, i) for i in range(j)) / 2**n
        if 1 - 2 * tail >= level:
            k = j
    if k == 0:
        return xs[0], xs[-1]
    return xs[k - 1], xs[n - k]


def iqr(xs: list[float]) -> tuple[float, float]:
    q = statistics.quantiles(xs, n=4, method="inclusive")
    return q[0], q[2]


def paired(runs: dict[str, list[dict]], a: str, b: str, key: str = "rps") -> list[float]:
    """``a`` / ``b`` for each round (for cpu_us, the inverse: requests per CPU-second)."""
    if key == "cpu_us":
        return [y[key] / x[key] for x, y in zip(runs[a], runs[b], strict=True)]
    return [x[key] / y[key] for x, y in zip(runs[a], runs[b], strict=True)]


def verdict(ratios: list[float], threshold: float, strict: bool = False) -> str:
    """OK when the whole confidence interval of the median ratio meets the threshold, MISS when the
    whole interval misses it, otherwise "within noise" (the run cannot tell)."""
    low, high = median_ci(ratios)
    meets = (lambda x: x > threshold) if strict else (lambda x: x >= threshold)
    if meets(low):
        return "OK"
    if not meets(high):
        return "MISS"
    return "within noise"


TARGETS = [  # (variant, against, threshold, strict, label)
    ("rate=0", "bare", 0.97, False, "rate=0 >= 97% of bare"),
    ("rate=1.0", "floor", 0.90, False, "rate=1.0 >= 90% of floor"),
    ("rate=1.0", "anchor", 1.0, True, "rate=1.0 > anchor"),
    ("default", "bare", 0.95, False, "default >= 95% of bare"),
    ("continuous", "bare", 0.95, False, "continuous >= 95% of bare"),
    ("continuous_detailed", "bare", 0.93, False, "cont+detailed >= 93% of bare"),
]


def report_framework(framework: str, server: str, runs: dict[str, list[dict]], rounds: int) -> list[str]:
    """Print the table, the calibration line and the verdicts; return the verdicts."""
    variants = list(runs)
    print(f"\n{framework} on {server}: medians of {rounds} rounds")
    print(f"  {'variant':<19} {'req/s':>6} {'p50 ms':>7} {'p99 ms':>7} {'cpu us/req':>11}  {'req/s vs bare (IQR)':>25}"
          f"  {'vs floor (IQR)':>25} {'errors':>6}")
    for v in variants:
        rs = runs[v]
        cols = [median([x[k] for x in rs]) for k in ("rps", "p50_ms", "p99_ms", "cpu_us")]
        rel = []
        for base in ("bare", "floor"):
            if base in runs:
                ratios = paired(runs, v, base)
                lo, hi = iqr(ratios)
                rel.append(f"{median(ratios):7.1%} ({lo:6.1%}-{hi:6.1%})")
            else:
                rel.append("")
        print(f"  {v:<19} {cols[0]:6.0f} {cols[1]:7.2f} {cols[2]:7.2f} {cols[3]:11.0f}  {rel[0]:>25}  {rel[1]:>25}"
              f" {sum(x['errors'] for x in rs):6d}")
    verdicts = []
    if "bare2" in runs:
        for metric, key in (("req/s", "rps"), ("req per cpu-s", "cpu_us")):
            ratios = paired(runs, "bare2", "bare", key)
            lo, hi = median_ci(ratios)
            q1, q3 = iqr(ratios)
            note = "" if lo <= 1.0 <= hi else "  (the interval excludes 100%: a bias beyond noise)"
            print(f"  calibration ({metric:>13}): a second identical bare server measures {median(ratios):.1%} of bare "
                  f"(IQR {q1:.1%}-{q3:.1%}, 95% CI of the median {lo:.1%}-{hi:.1%}){note}")
    for metric, key in (("req/s", "rps"), ("req per cpu-s", "cpu_us")):
        for v, base, threshold, strict, label in TARGETS:
            if v not in runs or base not in runs:
                continue
            ratios = paired(runs, v, base, key)
            lo, hi = median_ci(ratios)
            result = verdict(ratios, threshold, strict)
            if key == "rps":
                verdicts.append(result)
            print(f"  target ({metric:>13}) {label:<26} median {median(ratios):6.1%}, 95% CI {lo:6.1%}-{hi:6.1%}: {result}"
                  + ("" if key == "rps" else " (supplementary)"))
    return verdicts


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--rounds", type=int, default=15, help="measured rounds (one more warms up)")
    parser.add_argument("--seconds", type=int, default=1, help="per variant per round (wrk takes whole seconds)")
    parser.add_argument("--concurrency", type=int, default=4, help="keep-alive connections")
    parser.add_argument("--serve", nargs=4, metavar=("FRAMEWORK", "VARIANT", "PORT", "CPU"))
    parser.add_argument("--frameworks", default="flask,starlette")
    parser.add_argument("--variants", default=",".join(VARIANTS + EXTRA_VARIANTS + ANCHORS), help="for quick looks; the targets need all")
    parser.add_argument("--no-inprocess", action="store_true", help="skip the in-process section")
    args = parser.parse_args()
    if args.serve:
        framework, variant, port, cpu = args.serve
        pin(None if cpu == "None" else int(cpu))
        serve(framework, variant, int(port))
        return 0
    if args.rounds < 3:
        parser.error("--rounds must be at least 3 (the figures are medians of paired ratios)")

    started = time.monotonic()
    server_cpu, load_cpu = cpus()
    where = (f"servers pinned to CPU {server_cpu}, wrk to CPU {load_cpu}" if server_cpu is not None
             else "nothing pinned (fewer than 2 CPUs)")
    print(f"adapter overhead: {HANDLER_MS} ms pure-Python handler; wrk, 1 thread, {args.concurrency} keep-alive connections; "
          f"{args.rounds} rounds of {args.seconds}s per variant, compared variants side by side in a new random order each round; "
          f"{where}; "
          f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    verdicts: list[str] = []
    variants = [v for v in VARIANTS + EXTRA_VARIANTS + ANCHORS if v in args.variants.split(",")]
    for framework in args.frameworks.split(","):
        server = "waitress (4 threads)" if framework == "flask" else "uvicorn"
        runs = run_framework(framework, variants, args.rounds, args.seconds, args.concurrency)
        verdicts += report_framework(framework, server, runs, args.rounds)
    print(f"  load average after the server runs: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    if not args.no_inprocess:
        pin(None if server_cpu is None else server_cpu)
        print("\nin process (no server, no sockets): CPU per request, fastest of 5 interleaved batches; and the time the"
              "\nadapter adds to an unsampled request around a trivial app, fastest of 7 batches of 5,000")
        for framework in args.frameworks.split(","):
            best = inprocess(framework)
            added = unsampled_cost(framework)
            print(f"  {framework:<10}" + "".join(f" {v} {best[v] * 1e6:5.0f} us" for v in VARIANTS))
            print(f"  {framework:<10} unsampled request: +{added * 1e6:.2f} us = {added / best['bare']:.2%} of the bare request")
            checks = [
                ("rate=0 <= 3% over bare", added <= 0.03 * best["bare"]),
                ("rate=1.0 <= 10% over floor", best["rate=1.0"] <= best["floor"] / 0.90),
                ("rate=1.0 cheaper than anchor", best["rate=1.0"] < best["anchor"]),
            ]
            for label, passed in checks:
                print(f"  target (in-process)    {label:<28} {'met' if passed else 'missed'}"
                      + (f"  ({best['rate=1.0'] / best['floor'] - 1:+.1%} vs floor)" if "floor" in label else ""))
    if len(verdicts) < len(TARGETS) * len(args.frameworks.split(",")):
        summary = "not all checked (partial run)"
    elif "MISS" in verdicts:
        summary = "NOT all met (server level)"
    elif "within noise" in verdicts:
        summary = "none missed; some within noise (server level)"
    else:
        summary = "all met (server level)"
    print(f"\nbench_adapters finished in {time.monotonic() - started:.0f}s; targets: {summary}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
