"""Continuous mode on a real uvicorn, on both of its stacks: asyncio's loop with h11 (uvicorn's own) and uvloop with
httptools (what ``pip install "uvicorn[standard]"`` gives, and so what most deployments run).

Every request is counted under its route's name, the SDK's own frames are cut, and two endpoints that burn as much
CPU, one in 0.5 ms requests and one in 10 ms ones, get a like share of the samples: on asyncio's loop, where the
loop's timeline (continuous/looptimeline.py) says which request each task step ran. Under uvloop there is no
``_ready`` deque to stamp: on Python 3.12+ the steps are stamped where they pass through the adapter's coroutine
(``sys.monitoring``, continuous/steptimeline.py); before 3.12 each sample goes to the task running when the sampling
thread gets the GIL, and the short requests are starved (a strict xfail there).
"""

from __future__ import annotations

import subprocess
import sys
import time
import uuid

import pytest
from pystrument.core import lifecycle, memory_sink
from pystrument_testing.call_trees import functions
from pystrument_testing.http_servers import start_uvicorn, stop_uvicorn
from pystrument_testing.ports import free_port

uvicorn = pytest.importorskip("uvicorn")

CLIENT = """
import sys
from concurrent.futures import ThreadPoolExecutor
import httpx
port, slow, fast = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
paths = [f"/slow/{i}" for i in range(slow)] + [f"/fast/{i}" for i in range(fast)]
def get(path):
    with httpx.Client(base_url=f"http://127.0.0.1:{port}") as client:
        return client.get(path).status_code
with ThreadPoolExecutor(4) as pool:  # requests interleave on the server's loop
    print(*pool.map(get, paths))
"""
SLOW_S, FAST_S = 0.01, 0.0005  # the 0.5 ms request, shorter than the GIL's 5 ms switch interval
SLOW, FAST = 40, 400  # 400 ms of CPU burnt in each endpoint


def _burn_slow(seconds: float) -> None:
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        pass


def _burn_fast(seconds: float) -> None:
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        pass


UVLOOP_STARVES = pytest.mark.xfail(sys.version_info < (3, 12), strict=True, reason=(
    "before Python 3.12 (no sys.monitoring): uvloop's loop has no _ready deque to stamp, so a sample goes to the task "
    "running when the sampling thread gets the GIL; the loop's thread releases it in its poll between steps (no task "
    "runs) or after 5 ms inside one, so requests shorter than 5 ms get almost no samples (measured: 0 of 395)"))


@pytest.mark.parametrize("stack", ["asyncio-h11", pytest.param("uvloop-httptools", marks=UVLOOP_STARVES)])
def test_every_request_counted_and_samples_charged_to_the_endpoint_that_burns_cpu(stack):
    loop, http = stack.split("-")
    if loop == "uvloop":
        pytest.importorskip("uvloop")
        pytest.importorskip("httptools")
    from pystrument.adapters.asgi import PerformanceMiddleware
    from starlette.applications import Starlette
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    sink = uuid.uuid4().hex
    config = {"sinks": [f"memory://{sink}"], "profiling_mode": "continuous", "continuous_interval_ms": 1,
              "tail_keep_ms": 10_000, "flush_interval": 0.05}
    loops: list[str] = []

    async def slow(request):
        import asyncio

        loops.append(type(asyncio.get_running_loop()).__module__)
        _burn_slow(SLOW_S)
        return JSONResponse({"slow": request.path_params["n"]})

    async def fast(request):
        _burn_fast(FAST_S)
        return JSONResponse({"fast": request.path_params["n"]})

    app = PerformanceMiddleware(Starlette(routes=[Route("/slow/{n:int}", slow), Route("/fast/{n:int}", fast)]), config)
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, loop=loop, http=http, log_level="warning",
                                           lifespan="off"))
    thread = start_uvicorn(server, 20)
    try:
        # the client runs in another process: client threads here would hold the GIL the loop's thread waits for
        # (in its socket writes), and that wait is charged to the request the loop runs, as a real server's would be
        done = subprocess.run([sys.executable, "-c", CLIENT, str(port), str(SLOW), str(FAST)], capture_output=True,
                              text=True, timeout=120)
        assert done.returncode == 0 and done.stdout.split() == ["200"] * (SLOW + FAST), done.stderr[-2000:]
    finally:
        stop_uvicorn(server, thread, 10)
    assert loops and all(module.startswith(loop) for module in loops), loops  # the stack asked for ran
    for client in list(lifecycle._clients):
        if f"memory://{sink}" in client.config.sinks:
            assert client.flush(5)
            client.close(1)
    aggregates: dict[str, list] = {}
    for record in memory_sink.records(sink):
        if record.kind == "aggregate":
            aggregates.setdefault(record.name, []).append(record)
    memory_sink.clear(sink)
    assert set(aggregates) == {"GET /slow/{n}", "GET /fast/{n}"}, sorted(aggregates)
    counts = {name: sum(r.requests.count for r in records) for name, records in aggregates.items()}
    assert counts == {"GET /slow/{n}": SLOW, "GET /fast/{n}": FAST}
    samples = {name: sum(r.sample_count for r in records) for name, records in aggregates.items()}
    # each endpoint burns 400 ms of CPU (and pays its requests' parsing, routing and sending besides): each holds
    # a share of the samples near half; an endpoint of short requests starved of samples reads near 0
    total = sum(samples.values())
    assert total > 400, samples
    shares = {name: n / total for name, n in samples.items()}
    assert 0.3 < shares["GET /fast/{n}"] < 0.7, shares
    names = set().union(*(functions(r.call_tree) for r in aggregates["GET /slow/{n}"]))
    assert "_burn_slow" in names and "_burn_fast" not in names, sorted(names)
    assert not any("pystrument" in n for n in names), "the SDK's own frames are cut"
    fast_names = set().union(*(functions(r.call_tree) for r in aggregates["GET /fast/{n}"]))
    assert "_burn_slow" not in fast_names, "a sample of the slow endpoint was charged to the fast one"
