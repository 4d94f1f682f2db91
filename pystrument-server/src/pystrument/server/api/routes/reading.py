"""Reading: records, export, endpoint statistics, trends, versions, functions, flame graph, compare."""

from __future__ import annotations

from typing import Any

from pystrument.core.record import Record
from pystrument.server.api import export as export_mod
from pystrument.server.api import params
from pystrument.server.api.context import Context, api
from pystrument.server.api.envelope import PARAMETER_ERROR, ApiError, ok
from pystrument.server.api.routes import budgets as budget_routes
from pystrument.server.stats import compare as compare_mod
from pystrument.server.stats import continuous, flamegraph
from pystrument.server.stats import spans as span_stats
from pystrument.server.stats import summary as stats
from pystrument.server.stores.base import AmbiguousRecord, Filters
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

SORTS = ("started_at", "-started_at", "duration_ms", "-duration_ms")


async def find_record(request: Request, ctx: Context, record_id: str) -> tuple[str, Record]:
    """(project_id, record). A record_id is unique per project: ``?project_id=`` picks the project (needed when
    several projects hold the id; without it the one project holding the id answers)."""
    project_id = params.str_param(request, "project_id")
    try:
        found = await ctx.run(ctx.store.get_record, record_id, project_id)
    except AmbiguousRecord as exc:
        raise ApiError(PARAMETER_ERROR, f"record {record_id!r} exists in {len(exc.project_ids)} projects: "
                       f"add ?project_id= (one of {', '.join(exc.project_ids)})", status=409,
                       data={"project_ids": exc.project_ids}) from None
    if found is None:
        where = f" in project {project_id!r}" if project_id else ""
        raise ApiError(PARAMETER_ERROR, f"record {record_id!r} not found{where}", status=404)
    return found


async def list_records(request: Request, ctx: Context) -> Response:
    project = await ctx.project(request.path_params["project_id"])
    f = params.filters(request)
    page = params.int_param(request, "page", 1, 1, 1_000_000)
    page_size = params.int_param(request, "page_size", 50, 1, 500)
    sort = params.choice(request, "sort", SORTS, "-started_at")
    items, total = await ctx.run(ctx.store.query_records, project["id"], f, page, page_size, sort)
    return ok({"items": items, "total": total, "page": page, "page_size": page_size})


async def get_record(request: Request, ctx: Context) -> Response:
    project_id, record = await find_record(request, ctx, request.path_params["record_id"])
    import msgspec

    data = msgspec.to_builtins(record)
    data["project_id"] = project_id
    return ok(data)


async def export_record(request: Request, ctx: Context) -> Response:
    fmt = params.choice(request, "format", tuple(export_mod.FORMATS), "speedscope")
    _project_id, record = await find_record(request, ctx, request.path_params["record_id"])
    body, media = await ctx.run(export_mod.export, record, fmt)
    name = export_mod.filename(record, fmt)
    return Response(body, media_type=media, headers={"Content-Disposition": f'attachment; filename="{name}"'})


async def endpoints(request: Request, ctx: Context) -> Response:
    project = await ctx.project(request.path_params["project_id"])
    f = params.filters(request)
    items = await ctx.run(stats.endpoints, ctx.store, project["id"], f)
    counts = await ctx.run(continuous.endpoint_counts, ctx.store, project["id"], f)
    breaches = await budget_routes.endpoint_breaches(ctx, project["id"], f.version)
    for item in items:  # the stored breaches of the endpoint (of the version asked for), from the periodic budget check
        item["budget_breaches"] = breaches.get(item["endpoint"], [])
    return ok({"items": continuous.with_endpoint_counts(items, counts)})


async def endpoint_spans(request: Request, ctx: Context) -> Response:
    project = await ctx.project(request.path_params["project_id"])
    f = params.filters(request)
    if f.endpoint is None:
        raise ApiError(PARAMETER_ERROR, "endpoint is required: the record name, e.g. ?endpoint=GET%20/users/{user_id}")
    items = await ctx.run(span_stats.endpoint_spans, ctx.store, project["id"], f, ctx.settings.sample_limit)
    return ok({"endpoint": f.endpoint, "items": items})


async def trends(request: Request, ctx: Context) -> Response:
    project = await ctx.project(request.path_params["project_id"])
    bucket = params.choice(request, "bucket", tuple(stats.BUCKETS), "1h")
    f = params.filters(request, default_since="7d")
    return ok(await ctx.run(stats.trends, ctx.store, project["id"], f, bucket))


async def versions(request: Request, ctx: Context) -> Response:
    project = await ctx.project(request.path_params["project_id"])
    items = await ctx.run(ctx.store.versions, project["id"])
    items.sort(key=lambda v: v["last_seen"], reverse=True)
    return ok({"items": items})


async def delete_version(request: Request, ctx: Context) -> Response:
    project = await ctx.project(request.path_params["project_id"])
    deleted = await ctx.run(ctx.store.delete_version, project["id"], request.path_params["version"])
    ctx.names.forget(project["id"])  # the version no longer counts against max_versions_per_project
    return ok({"deleted": deleted})


async def functions(request: Request, ctx: Context) -> Response:
    project = await ctx.project(request.path_params["project_id"])
    limit = params.int_param(request, "limit", 50, 1, 1000)
    offset = params.int_param(request, "offset", 0, 0, 100_000_000)
    items, total = await ctx.run(stats.functions, ctx.store, project["id"], params.str_param(request, "endpoint"),
                                 params.str_param(request, "version"), limit, offset)
    return ok({"items": items, "total": total, "offset": offset, "limit": limit})


def _flame(ctx: Context, project_id: str, f: Filters, limit_nodes: int, expand: str | None) -> tuple[dict[str, Any] | None, int]:
    records = ctx.store.sample_records(project_id, f, ctx.settings.sample_limit)
    root, count = flamegraph.merge(records, f.endpoint or "[all endpoints]", ctx.settings.flame_max_nodes)
    return flamegraph.render(root, limit_nodes, expand), count


async def flame(request: Request, ctx: Context) -> Response:
    project = await ctx.project(request.path_params["project_id"])
    f = params.filters(request)
    limit_nodes = params.int_param(request, "limit_nodes", 500, 1, 20_000)
    expand = params.str_param(request, "expand")
    tree, count = await ctx.run(_flame, ctx, project["id"], f, limit_nodes, expand)
    if tree is None:
        raise ApiError(PARAMETER_ERROR, f"expand={expand!r}: no such node in this flame graph (use a 'path' from a previous answer)", status=404)
    return ok({"records": count, "root": tree})


async def compare(request: Request, ctx: Context) -> Response:
    project = await ctx.project(request.path_params["project_id"])
    base, head = params.str_param(request, "base"), params.str_param(request, "head")
    if not base or not head:
        raise ApiError(PARAMETER_ERROR, "base and head are required: /compare?base=1.0.0&head=1.1.0 (GET /versions lists them)")
    try:
        result = await ctx.run(compare_mod.compare, ctx.store, project["id"], base, head,
                               endpoint=params.str_param(request, "endpoint"), environment=params.str_param(request, "environment"),
                               limit=ctx.settings.sample_limit, budget=compare_mod.Budget.from_settings(ctx.settings),
                               metric=params.choice(request, "metric", compare_mod.METRICS, "duration"))
    except compare_mod.NoData as exc:
        raise ApiError(PARAMETER_ERROR, str(exc), status=404, data=exc.data()) from None
    return ok(result)


routes = [
    Route("/api/v1/projects/{project_id}/records", api(list_records), methods=["GET"]),
    Route("/api/v1/records/{record_id}", api(get_record), methods=["GET"]),
    Route("/api/v1/records/{record_id}/export", api(export_record), methods=["GET"]),
    Route("/api/v1/projects/{project_id}/endpoints", api(endpoints), methods=["GET"]),
    Route("/api/v1/projects/{project_id}/endpoints/spans", api(endpoint_spans), methods=["GET"]),
    Route("/api/v1/projects/{project_id}/trends", api(trends), methods=["GET"]),
    Route("/api/v1/projects/{project_id}/versions", api(versions), methods=["GET"]),
    Route("/api/v1/projects/{project_id}/versions/{version:path}", api(delete_version), methods=["DELETE"]),
    Route("/api/v1/projects/{project_id}/functions", api(functions), methods=["GET"]),
    Route("/api/v1/projects/{project_id}/flamegraph", api(flame), methods=["GET"]),
    Route("/api/v1/projects/{project_id}/compare", api(compare), methods=["GET"]),
]
