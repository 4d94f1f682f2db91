"""The overhead governor under a real server (issue 16): the default configuration holds max_overhead_pct
when the handler's cost changes tenfold mid-run.

One Flask app on waitress (4 threads), configured with only a project key and a sink (the production
default: continuous on every request, detailed records at the rate the governor sets, max_overhead_pct 3),
pinned to one CPU, driven by wrk (keep-alive connections) on the other. The handler does a fixed amount of
pure-Python work (2,000 small calls, ~1 ms); mid-run the bench tells the app to do ten times as much
(~10 ms), then to go back. A thread in the server prints every window the governor measures: the SDK's
estimated cost as a share of the process's CPU (fixed part: the continuous mode's; the rest: detailed
profiling and the background thread) and the detailed rate it set.

Verdict per window: OK when the share is within +-1 point of max_overhead_pct, MISS otherwise; windows
that end less than SETTLE seconds after the start or a change are printed as "settling" and not judged.
The share is the SDK's own estimate (what the governor holds), read in the server process.

Judged per span too: consecutive windows of one phase gathered until they cover ``--span`` seconds (5), their
share weighted by length; a governor window of 1-3 s holds only a few units profiled in detail, each a lump of
cost, so one window's share swings with their number while the rate holds.

    python bench/bench_governor.py [--phase-seconds 12] [--settle 4] [--span 5] [--connections 8]   (needs wrk)
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import time

BUDGET_PCT = 3.0  # the default max_overhead_pct the server must run with (checked at start)
TOLERANCE = 1.0  # points
LIGHT, HEAVY = 2000, 20000  # calls of work(): ~1 ms and ~10 ms


def work(calls: int) -> int:
    n = 0
    for i in range(calls):
        n += _leaf(i)
    return n


def _leaf(n: int) -> int:
    return sum(range(n % 7 + 40))


def serve(port: int) -> None:
    """The server process: Flask on waitress under the default configuration."""
    import flask
    from pystrument.adapters.flask import PerformanceMiddleware

    calls = [LIGHT]
    app = flask.Flask("bench_governor")

    @app.get("/work/<int:n>")
    def handler(n: int):
        return {"n": work(calls[0]), "id": n}

    @app.post("/cost/<int:n>")
    def cost(n: int):
        calls[0] = n
        return {"calls": n}

    middleware = PerformanceMiddleware(app.wsgi_app, {"project_key": "bench", "sinks": ["memory://bench"]})
    app.wsgi_app = middleware  # type: ignore[method-assign]
    client = middleware.client
    config = client.config
    print(json.dumps({"config": {"profiling_mode": config.profiling_mode, "max_overhead_pct": config.max_overhead_pct,
                                 "sampling_rate": config.sampling_rate}}), flush=True)

    def watch() -> None:
        sampler, seen, t0 = client.sampler, 0, time.monotonic()
        while True:
            time.sleep(0.02)
            if sampler.windows != seen:
                seen = sampler.windows
                print(json.dumps({"t": time.monotonic() - t0, "share": sampler.last_overhead,
                                  "fixed": sampler.last_fixed_overhead, "rate": sampler.rate, "calls": calls[0]}),
                      flush=True)

    threading.Thread(target=watch, daemon=True).start()
    from waitress import serve as waitress_serve

    waitress_serve(app, host="127.0.0.1", port=port, threads=4, _quiet=True)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _request(port: int, method: str, path: str) -> int:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request(method, path)
        response = conn.getresponse()
        response.read()
        return response.status
    finally:
        conn.close()


def _pin(cpu: int) -> list[str]:
    if len(os.sched_getaffinity(0)) > 1 and shutil.which("taskset"):
        return ["taskset", "-c", str(cpu)]
    return []


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--phase-seconds", type=float, default=12.0, help="seconds of each phase (light, heavy, light)")
    parser.add_argument("--settle", type=float, default=4.0, help="seconds after the start and each change not judged")
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--span", type=float, default=5.0, help="seconds of the spans the share is also judged over")
    args, _ = parser.parse_known_args()  # nox -s bench passes its arguments to every bench script
    if shutil.which("wrk") is None:
        print("bench_governor: needs wrk (apt-get install wrk); skipped")
        return 0
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYSTRUMENT_", "PERFORMANCE_MONITOR_"))}
    server = subprocess.Popen([*_pin(0), sys.executable, __file__, "--serve", str(port)], stdout=subprocess.PIPE,
                              text=True, env=env)
    windows: list[dict] = []
    try:
        assert server.stdout is not None
        first = server.stdout.readline()
        if not first:
            print("bench_governor: the server did not start (its error is above)")
            return 1
        header = json.loads(first)["config"]
        if header != {"profiling_mode": "both", "max_overhead_pct": BUDGET_PCT, "sampling_rate": 1.0}:
            print(f"bench_governor: the server does not run the expected default: {header}")
            return 1
        reader = threading.Thread(target=lambda: windows.extend(json.loads(line) for line in server.stdout), daemon=True)
        reader.start()
        for _ in range(200):
            try:
                _request(port, "GET", "/work/0")
                break
            except OSError:
                time.sleep(0.05)
        phases = [LIGHT, HEAVY, LIGHT]
        total = args.phase_seconds * len(phases)
        wrk = subprocess.Popen([*_pin(1), "wrk", "-t1", f"-c{args.connections}", f"-d{total:.0f}s",
                                f"http://127.0.0.1:{port}/work/1"], stdout=subprocess.PIPE, text=True)
        for i, calls in enumerate(phases):
            if i:
                _request(port, "POST", f"/cost/{calls}")
            time.sleep(args.phase_seconds)
        out, _ = wrk.communicate()
    finally:
        server.terminate()
        server.wait(10)
    requests_line = next((line.strip() for line in out.splitlines() if "Requests/sec" in line), "?")
    # a window ending less than --settle seconds after the start or a change (in the server's clock) is not judged
    change_at = [0.0]
    for w in windows:
        if len(change_at) < len(phases) and w["calls"] != (phases[len(change_at) - 1]):
            change_at.append(w["t"] - 1.0)  # the change happened within the window that ended here
    ok = miss = 0
    phase_shares: dict[int, list[float]] = {}
    print(f"bench_governor: Flask on waitress, default configuration (max_overhead_pct {BUDGET_PCT}), "
          f"handler {LIGHT} -> {HEAVY} -> {LIGHT} calls (~1 -> ~10 -> ~1 ms), {args.phase_seconds:.0f} s each; "
          f"judged: |share - {BUDGET_PCT}| <= {TOLERANCE} point after {args.settle:.0f} s of settling; wrk {requests_line}")
    print(f"{'t (s)':>7} {'calls':>6} {'share %':>8} {'fixed %':>8} {'rate':>8}  verdict")
    for w in windows:
        since = min((w["t"] - c for c in change_at if w["t"] >= c), default=0.0)
        share = w["share"] * 100
        if since < args.settle:
            verdict = "settling"
        elif abs(share - BUDGET_PCT) <= TOLERANCE:
            verdict, ok = "OK", ok + 1
        else:
            verdict, miss = "MISS", miss + 1
        if verdict != "settling":
            phase_shares.setdefault(sum(1 for c in change_at if w["t"] >= c), []).append(share)
        print(f"{w['t']:7.2f} {w['calls']:6d} {share:8.2f} {w['fixed'] * 100:8.2f} {w['rate']:8.4f}  {verdict}")
    # the same estimate over spans of at least --span seconds (consecutive judged windows of one phase, weighted by
    # their length): a window of 1-3 s holds a handful of units profiled in detail, each a lump of cost, and its share
    # swings with their number (binomial) while the governor holds the rate
    spans_ok = spans_miss = 0
    span: list[tuple[float, float]] = []  # (seconds, share) of the windows gathered
    previous_t, previous_phase = 0.0, 0
    for w in windows:
        length, previous_t = w["t"] - previous_t, w["t"]
        since = min((w["t"] - c for c in change_at if w["t"] >= c), default=0.0)
        phase = sum(1 for c in change_at if w["t"] >= c)
        if phase != previous_phase:
            span, previous_phase = [], phase
        if since < args.settle:
            continue
        span.append((length, w["share"] * 100))
        seconds = sum(s for s, _ in span)
        if seconds >= args.span:
            share = sum(s * x for s, x in span) / seconds
            verdict = "OK" if abs(share - BUDGET_PCT) <= TOLERANCE else "MISS"
            spans_ok, spans_miss = spans_ok + (verdict == "OK"), spans_miss + (verdict == "MISS")
            print(f"bench_governor: span ending at {w['t']:6.2f} s ({seconds:.1f} s, {len(span)} windows, phase {phase}): "
                  f"share {share:.2f}%: {verdict}")
            span = []
    for phase, shares in sorted(phase_shares.items()):
        mean = sum(shares) / len(shares)
        verdict = "OK" if abs(mean - BUDGET_PCT) <= TOLERANCE else "MISS"
        print(f"bench_governor: phase {phase} ({phases[phase - 1]} calls) after settling: mean share {mean:.2f}% over "
              f"{len(shares)} windows (min {min(shares):.2f}, max {max(shares):.2f}): {verdict}")
    print(f"bench_governor: {ok} OK, {miss} MISS of {ok + miss} judged windows; {spans_ok} OK, {spans_miss} MISS of "
          f"{spans_ok + spans_miss} spans of at least {args.span:.0f} s")
    return 0


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--serve":
        serve(int(sys.argv[2]))
    else:
        sys.exit(main())
