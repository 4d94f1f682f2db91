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
and p50/p99 latency. Targets (issue 3): rate=0 loses <= 3% of bare; rate=1.0 >= 90% of floor and
more than anchor.

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
HANDLER_MS = 1.0


def work(ms: float = HANDLER_MS) -> int:
    """~1 ms of pure-Python calls (what a profiler sees in a typical handler)."""
    end = time.perf_counter() + ms / 1000
    n = 0
    while time.perf_counter() < end:
        n += _leaf(n)
    return n


def _leaf(n: int) -> int:
    return n % 7 + 1


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


def measure(port: int, seconds: float, concurrency: int, warmup: float) -> dict:
    out = subprocess.run([sys.executable, __file__, "--load", str(port), str(seconds), str(concurrency), str(warmup)],
                         capture_output=True, text=True, timeout=seconds + warmup + 60, check=True)
    return json.loads(out.stdout)


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
                runs[v].append(measure(servers[v][1], seconds, concurrency, warmup))
        return {v: sorted(rs, key=lambda r: r["rps"])[len(rs) // 2] for v, rs in runs.items()}
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
    parser.add_argument("--seconds", type=float, default=2.0, help="per variant per round")
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
        variants = [v for v in VARIANTS if v in args.variants.split(",")]
        results = run_framework(framework, args.rounds, args.seconds, args.concurrency, args.warmup, variants)
        if variants != VARIANTS:
            for v in variants:
                print(f"  {framework} {v:<10} {results[v]['rps']:8.0f} req/s  p50 {results[v]['p50_ms']:.2f} ms  p99 {results[v]['p99_ms']:.2f} ms")
            ok = None
            continue
        bare, floor, anchor = results["bare"]["rps"], results["floor"]["rps"], results["anchor"]["rps"]
        print(f"\n{framework} on {server}")
        print(f"  {'variant':<10} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'vs bare':>8} {'vs floor':>9} {'errors':>7}")
        for v in VARIANTS:
            r = results[v]
            print(f"  {v:<10} {r['rps']:8.0f} {r['p50_ms']:8.2f} {r['p99_ms']:8.2f} {r['rps'] / bare:8.1%} "
                  f"{r['rps'] / floor:9.1%} {r['errors']:7d}")
        checks = [
            ("rate=0 >= 97% of bare", results["rate=0"]["rps"] >= 0.97 * bare),
            ("rate=1.0 >= 90% of floor", results["rate=1.0"]["rps"] >= 0.90 * floor),
            ("rate=1.0 > anchor", results["rate=1.0"]["rps"] > anchor),
        ]
        for label, passed in checks:
            ok = bool(ok) and passed
            print(f"  target {label:<26} {'met' if passed else 'MISSED'}")
    verdict = "not checked (partial run)" if ok is None else ("all met" if ok else "NOT all met")
    print(f"\nbench_adapters finished in {time.monotonic() - started:.0f}s; targets {verdict}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
