"""Instructions per request of a real server (uvicorn, or waitress with one worker thread), counted by callgrind.

callgrind_request.py counts the middleware path with the app called directly; a served request also runs the
server's event loop or I/O thread, where continuous mode adds work of its own (the loop's timeline stamps each
task step, docs/continuous.md). Here the server runs under ``valgrind --tool=callgrind --separate-threads=yes``
and a client outside valgrind sends ``--requests`` requests one after the other on one keep-alive connection,
after 200 warm-up requests; a second run sends the warm-up only, and the difference per request is printed,
summed over the server's threads but the continuous sampler's (whose timed wake-ups grow with valgrind's wall
time; its count is shown beside). The sampler's interval is 1 s, pyinstrument's too, as in callgrind_request.py.

    python bench/callgrind_server.py [--server uvicorn|waitress|both] [--modes bare,continuous,detailed]
                                     [--requests 1000] [--uvicorn-stack plain|standard]

``--uvicorn-stack standard``: uvloop and httptools, what ``pip install uvicorn[standard]`` gives (needs both installed);
the default is asyncio's loop and h11, uvicorn's own.

Needs valgrind; not run by ``nox -s bench`` (its name does not start with bench_).
"""

from __future__ import annotations

import argparse
import http.client
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from callgrind_request import print_modes, valgrind_script  # noqa: E402

SERVER = r'''
import os, sys, threading
server, mode, port, stack = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
threading.current_thread().name = "main"
cfg = {"project_key": "k", "sinks": ["memory://callgrind"], "profiling_mode": mode, "continuous_interval_ms": 1000,
       "sampling_rate": 1.0, "max_overhead_pct": 100, "flush_interval": 3600, "profiler_interval": 1.0}
if server == "uvicorn":
    import uvicorn
    from starlette.applications import Starlette
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    async def item(request):
        return JSONResponse({"id": request.path_params["item_id"]})

    app = Starlette(routes=[Route("/items/{item_id:int}", item)])
    if mode != "bare":
        from pystrument.adapters.asgi import PerformanceMiddleware
        app = PerformanceMiddleware(app, config=cfg)
    uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", access_log=False,
                                  loop="uvloop" if stack == "standard" else "asyncio",
                                  http="httptools" if stack == "standard" else "h11")).run()
else:
    import waitress
    from flask import Flask
    app = Flask("callgrind")

    @app.route("/items/<int:item_id>")
    def item(item_id):
        return {"id": item_id}

    if mode != "bare":
        from pystrument.adapters.flask import PerformanceMiddleware
        app.wsgi_app = PerformanceMiddleware(app.wsgi_app, cfg)
    waitress.serve(app, host="127.0.0.1", port=port, threads=1, _quiet=True)
'''
WARMUP = 200


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_for(port: int, proc: subprocess.Popen[str], timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            sys.exit(f"the server exited early:\n{proc.stderr.read() if proc.stderr else ''}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.2)
    sys.exit("the server did not start")


def _ask(port: int, n: int) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    for i in range(n):
        conn.request("GET", f"/items/{i % 50}")
        resp = conn.getresponse()
        resp.read()
        if resp.status != 200:
            sys.exit(f"status {resp.status}")
    conn.close()


def instructions(script: str, server: str, mode: str, n: int, stack: str) -> tuple[int, int]:
    """(the server's threads but the sampler's, the sampler thread's) instructions for WARMUP + n requests."""
    port = _free_port()
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "callgrind.out")
        proc = subprocess.Popen(["valgrind", "--tool=callgrind", "--separate-threads=yes", f"--callgrind-out-file={out}",
                                 sys.executable, script, server, mode, str(port), stack], stderr=subprocess.PIPE, text=True,
                                env={**os.environ, "PYTHONHASHSEED": "0"})
        _wait_for(port, proc)
        _ask(port, WARMUP + n)
        proc.send_signal(signal.SIGTERM if server == "uvicorn" else signal.SIGINT)
        _, err = proc.communicate(timeout=300)
        if re.search(r"switched off|invalid setting|internal error", err):
            sys.exit(f"pystrument complained in {server} {mode}:\n{err[-2000:]}")
        served, sampler = 0, 0
        for name in os.listdir(tmp):
            with open(os.path.join(tmp, name)) as f:
                text = f.read()
            total = re.search(r"^totals: (\d+)", text, re.M)
            if total is None:
                continue
            # the continuous sampler's thread: it reads every thread's frames, and it is the one thread that calls
            # time.sleep (between wake-ups); the servers' own threads wait on selectors and conditions
            if "sys__current_frames" in text or "time_sleep" in text:
                sampler += int(total.group(1))
            else:
                served += int(total.group(1))
    return served, sampler


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--server", default="uvicorn", choices=["uvicorn", "waitress", "both"])
    parser.add_argument("--modes", default="bare,continuous,detailed")
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--uvicorn-stack", default="plain", choices=["plain", "standard"],
                        help="plain: asyncio's loop and h11 (uvicorn alone); standard: uvloop and httptools (uvicorn[standard])")
    args = parser.parse_args()
    servers = ["uvicorn", "waitress"] if args.server == "both" else [args.server]
    with valgrind_script("callgrind_server", SERVER) as script:
        for server in servers:
            print_modes(f"{server:9}", args.modes.split(","), args.requests, "sampler thread",
                        lambda mode, n, server=server: instructions(script, server, mode, n, args.uvicorn_stack))


if __name__ == "__main__":
    main()
