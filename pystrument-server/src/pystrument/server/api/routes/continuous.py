"""Continuous mode (issue #16): ``GET /projects/{id}/continuous`` (the merged flame tree of every sampled request,
``samples`` per node, with the request figures of 100% of requests) and ``.../continuous/functions`` (function
shares). Read from the aggregates (continuous.py), never from records."""

from __future__ import annotations

from typing import cast

from pystrument.server.api import params
from pystrument.server.api.context import Context, api
from pystrument.server.api.envelope import PARAMETER_ERROR, ApiError, ok
from pystrument.server.stats import continuous
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route


def _aggregates(ctx: Context) -> continuous.AggregateStore:
    # the SQLite and MongoDB stores keep the aggregates; a store plugin without aggregate_rows fails on the read, as before
    return cast("continuous.AggregateStore", ctx.store)


async def continuous_flame(request: Request, ctx: Context) -> Response:
    project = await ctx.project(request.path_params["project_id"])
    f = params.filters(request)
    limit_nodes = params.int_param(request, "limit_nodes", 500, 1, 20_000)
    expand = params.str_param(request, "expand")
    answer = await ctx.run(continuous.flame, _aggregates(ctx), project["id"], f, ctx.settings, limit_nodes, expand)
    if answer is None:
        raise ApiError(PARAMETER_ERROR, f"expand={expand!r}: no such node in this flame graph (use a 'path' from a previous answer)", status=404)
    return ok(answer)


async def continuous_functions(request: Request, ctx: Context) -> Response:
    project = await ctx.project(request.path_params["project_id"])
    f = params.filters(request)
    limit = params.int_param(request, "limit", 50, 1, 1000)
    offset = params.int_param(request, "offset", 0, 0, 100_000_000)
    return ok(await ctx.run(continuous.functions, _aggregates(ctx), project["id"], f, ctx.settings, limit, offset))


routes = [
    Route("/api/v1/projects/{project_id}/continuous", api(continuous_flame), methods=["GET"]),
    Route("/api/v1/projects/{project_id}/continuous/functions", api(continuous_functions), methods=["GET"]),
]
