"""Adapter overhead, side by side in one run: Flask on waitress and Starlette on uvicorn.

For each framework, one server process per variant (the same ~1 ms pure-Python handler):
  bare          the app alone
  rate=0        the pystrument adapter at sampling_rate 0
  rate=0.1      ... at 0.1
  rate=1.0      ... at 1.0 (every request profiled, records built in the background thread)
  anchor        a hand-written minimal pyinstrument middleware: Profiler start/stop per request and
                the profile rendered as JSON on the request thread
  floor         the same app with only Profiler().start()/stop() per request, the result unused
A separate load-generator process (keep-alive connections, CONCURRENCY clients) measures requests/s
and p50/p99 latency, and the server process's CPU per request. Targets (issue 3): rate=0 loses <= 3%
of bare; rate=1.0 >= 90% of floor and more than anchor.

On a shared 2-core machine two identical bare servers measured 15-18% apart (``--variants bare,bare2``
with ``BENCH_VERBOSE=1`` shows every round), far more than the 3% target. So the run ends with an
in-process section that needs no sockets: CPU per request for each variant (fastest of interleaved
batches, the SDK's background thread included) and the time the adapter adds to an unsampled request
around a trivial app (fastest of 7 batches of 5,000), which resolves microseconds.

    python bench/bench_adapters.py [--rounds 3] [--seconds 2] [--concurrency 4]
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import socket
import subprocess
import sys
import threading
import time

VARIANTS = ["bare", "rate=0", "rate=0.1", "rate=1.0", "anchor", "floor"]
EXTRA_VARIANTS = ["bare2"]  # a second bare server: how far apart two identical servers measure
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
    rate = float(variant.split("=")[1])
    return {"sampling_rate": rate, "sinks": ["memory://bench"], "app_name": "bench", "max_queue_size": 1000}


def flask_app(variant: str):
    import flask

    app = flask.Flask("bench")

    @app.get("/work/<int:n>")
    def handler(n: int):
        return {"n": work(), "id": n}

    if variant.startswith("rate="):
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
    if variant.startswith("rate="):
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
    if framework == "flask":
        from waitress import serve as waitress_serve

        waitress_serve(flask_app(variant), host="127.0.0.1", port=port, threads=4)
    else:
        import uvicorn

        uvicorn.run(starlette_app(variant), host="127.0.0.1", port=port, log_level="error", access_log=False)


# -- load generator ------------------------------------------------------------------------------
def load(port: int, seconds: float, concurrency: int, warmup: float) -> None:
    latencies: list[list[float]] = [[] for _ in range(concurrency)]
    errors = [0]
    start_at = time.perf_counter() + warmup
    stop_at = start_at + seconds

    def client(i: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        n = 0
        while True:
            t0 = time.perf_counter()
            if t0 >= stop_at:
                break
            try:
                conn.request("GET", f"/work/{n}")
                response = conn.getresponse()
                response.read()
                if response.status != 200:
                    errors[0] += 1
            except Exception:
                errors[0] += 1
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
                continue
            t1 = time.perf_counter()
            if t0 >= start_at:
                latencies[i].append(t1 - t0)
            n += 1

    threads = [threading.Thread(target=client, args=(i,)) for i in range(concurrency)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    flat = sorted(x for lst in latencies for x in lst)
    count = len(flat)
    print(json.dumps({
        "rps": count / seconds, "count": count, "errors": errors[0],
        "p50_ms": flat[count // 2] * 1000 if count else 0.0,
        "p99_ms": flat[min(count - 1, int(count * 0.99))] * 1000 if count else 0.0,
    }))


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


# -- orchestration ---------------------------------------------------------------------------------
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


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


def start_server(framework: str, variant: str) -> tuple[subprocess.Popen, int]:
    port = _free_port()
    server = subprocess.Popen([sys.executable, __file__, "--serve", framework, variant, str(port)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _wait_ready(port, server)
    return server, port


def _cpu(pid: int) -> float:
    import psutil

    times = psutil.Process(pid).cpu_times()
    return times.user + times.system


def measure(server: subprocess.Popen, port: int, seconds: float, concurrency: int, warmup: float) -> dict:
    """Requests/s and latency from the load generator, plus the server process's CPU seconds per
    request (all its threads, the SDK's background thread included): on a shared machine the CPU cost
    per request is far steadier than wall-clock throughput."""
    load = subprocess.Popen([sys.executable, __file__, "--load", str(port), str(seconds), str(concurrency), str(warmup)],
                            stdout=subprocess.PIPE, text=True)
    time.sleep(warmup)
    cpu0 = _cpu(server.pid)
    out, _ = load.communicate(timeout=seconds + warmup + 60)
    cpu1 = _cpu(server.pid)
    result = json.loads(out)
    result["cpu_us"] = (cpu1 - cpu0) / max(1, result["count"]) * 1e6
    return result


def run_framework(framework: str, rounds: int, seconds: float, concurrency: int, warmup: float,
                  variants: list[str]) -> dict[str, dict]:
    """All variants' servers run at once; each round measures every variant in a new random order and
    each variant reports its median round (the machine is shared: drift hits every variant alike)."""
    servers = {}
    try:
        for v in variants:
            servers[v] = start_server(framework, v)
        runs: dict[str, list[dict]] = {v: [] for v in variants}
        order = list(variants)
        for _ in range(rounds):
            random.shuffle(order)
            for v in order:
                runs[v].append(measure(*servers[v], seconds, concurrency, warmup))
        if os.environ.get("BENCH_VERBOSE"):
            for v, rs in runs.items():
                print(f"  {framework} {v:<10} rounds req/s:", " ".join(f"{r['rps']:.0f}" for r in rs),
                      " cpu us/req:", " ".join(f"{r['cpu_us']:.0f}" for r in rs))
        out = {}
        for v, rs in runs.items():
            out[v] = sorted(rs, key=lambda r: r["rps"])[len(rs) // 2]
            out[v]["cpu_us"] = sorted(r["cpu_us"] for r in rs)[len(rs) // 2]
        return out
    finally:
        for proc, _port in servers.values():
            proc.terminate()
        for proc, _port in servers.values():
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=1.2, help="per variant per round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--warmup", type=float, default=0.3)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--serve", nargs=3, metavar=("FRAMEWORK", "VARIANT", "PORT"))
    parser.add_argument("--load", nargs=4, metavar=("PORT", "SECONDS", "CONCURRENCY", "WARMUP"))
    parser.add_argument("--frameworks", default="flask,starlette")
    parser.add_argument("--variants", default=",".join(VARIANTS), help="for quick looks; the targets need all six")
    args = parser.parse_args()
    if args.serve:
        serve(args.serve[0], args.serve[1], int(args.serve[2]))
        return 0
    if args.load:
        load(int(args.load[0]), float(args.load[1]), int(args.load[2]), float(args.load[3]))
        return 0

    started = time.monotonic()
    ok: bool | None = True
    print(f"adapter overhead: {HANDLER_MS} ms pure-Python handler, {args.concurrency} keep-alive clients, "
          f"median of {args.rounds} rounds of {args.seconds}s per variant (+{args.warmup}s warm-up), variants in random order")
    for framework in args.frameworks.split(","):
        server = "waitress (4 threads)" if framework == "flask" else "uvicorn"
        variants = [v for v in VARIANTS + EXTRA_VARIANTS if v in args.variants.split(",")]
        results = run_framework(framework, args.rounds, args.seconds, args.concurrency, args.warmup, variants)
        if variants != VARIANTS:
            for v in variants:
                print(f"  {framework} {v:<10} {results[v]['rps']:8.0f} req/s  p50 {results[v]['p50_ms']:.2f} ms  p99 {results[v]['p99_ms']:.2f} ms  cpu {results[v]['cpu_us']:.0f} us/req")
            ok = None
            continue
        bare, floor = results["bare"]["rps"], results["floor"]["rps"]
        print(f"\n{framework} on {server}")
        cap = {v: 1e6 / results[v]["cpu_us"] for v in VARIANTS}  # requests per CPU-second of the server
        print(f"  {'variant':<10} {'req/s':>7} {'p50 ms':>7} {'p99 ms':>7} {'vs bare':>8} {'vs floor':>9}"
              f" {'cpu us/req':>11} {'vs bare':>8} {'vs floor':>9} {'errors':>7}")
        for v in VARIANTS:
            r = results[v]
            print(f"  {v:<10} {r['rps']:7.0f} {r['p50_ms']:7.2f} {r['p99_ms']:7.2f} {r['rps'] / bare:8.1%} "
                  f"{r['rps'] / floor:9.1%} {r['cpu_us']:11.0f} {cap[v] / cap['bare']:8.1%} {cap[v] / cap['floor']:9.1%} {r['errors']:7d}")
        for metric, values in (("req/s", {v: results[v]["rps"] for v in VARIANTS}), ("req per cpu-s", cap)):
            checks = [
                ("rate=0 >= 97% of bare", values["rate=0"] >= 0.97 * values["bare"]),
                ("rate=1.0 >= 90% of floor", values["rate=1.0"] >= 0.90 * values["floor"]),
                ("rate=1.0 > anchor", values["rate=1.0"] > values["anchor"]),
            ]
            for label, passed in checks:
                ok = bool(ok) and passed
                print(f"  target ({metric:>13}) {label:<26} {'met' if passed else 'MISSED'}")
    if ok is not None:
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
                ok = bool(ok) and passed
                print(f"  target (in-process)    {label:<28} {'met' if passed else 'MISSED'}"
                      + (f"  ({best['rate=1.0'] / best['floor'] - 1:+.1%} vs floor)" if "floor" in label else ""))
    verdict = "not checked (partial run)" if ok is None else ("all met" if ok else "NOT all met")
    print(f"\nbench_adapters finished in {time.monotonic() - started:.0f}s; targets {verdict}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
