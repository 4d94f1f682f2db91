"""A Starlette record's call tree starts at the app's frames, never at ours (the middleware is hidden)."""

from __future__ import annotations

import os
import time

from pystrument.adapters.asgi import PerformanceMiddleware
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.responses import PlainTextResponse
from starlette.routing import Route
from starlette.testclient import TestClient

OURS = f"{os.sep}pystrument{os.sep}"


async def slow(request):
    end = time.perf_counter() + 0.01
    while time.perf_counter() < end:
        pass
    return PlainTextResponse("done")


def test_starlette_records_start_at_the_apps_frames(make_config, records):
    app = Starlette(routes=[Route("/slow", slow)], middleware=[Middleware(PerformanceMiddleware, config=make_config())])
    with TestClient(app) as client:
        for _ in range(5):
            assert client.get("/slow").text == "done"
    found = records()
    assert len(found) == 5
    assert sum(1 for r in found if r.sample_count) >= 3, [r.sample_count for r in found]
    for record in found:
        tree = record.call_tree
        tops = [tree, *tree.children]
        assert not [n.file for n in tops if OURS in n.file], [(n.function, n.file) for n in tops]
