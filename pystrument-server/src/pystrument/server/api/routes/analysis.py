"""Analysis jobs: ``POST /analysis/analyze/{record_id}``, ``GET /analysis/{id}``, ``GET /records/{id}/analyses``,
``GET /projects/{id}/analyses`` (per endpoint, version, trigger), ``GET /analysis/providers``."""

from __future__ import annotations

from typing import Literal

import msgspec
from pystrument.server.analysis.worker import RULES, Busy
from pystrument.server.api import params
from pystrument.server.api.context import Context, api
from pystrument.server.api.envelope import AI_SERVICE_UNAVAILABLE, ANALYSIS_IN_PROGRESS, PARAMETER_ERROR, ApiError, ok
from pystrument.server.api.routes.body import json_body
from pystrument.server.api.routes.reading import find_record
from pystrument.server.stores.base import TRIGGERS, AnalysisQuery
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route


class AnalyzeIn(msgspec.Struct, forbid_unknown_fields=True):
    provider: str | None = None
    model: str | None = None
    language: Literal["en", "zh"] = "en"


async def analyze(request: Request, ctx: Context) -> Response:
    record_id = request.path_params["record_id"]
    body = await json_body(request, AnalyzeIn, ctx.settings.max_body_bytes, allow_empty=True)
    found = await find_record(request, ctx, record_id)
    worker = ctx.worker
    provider = body.provider or ctx.settings.ai_provider or RULES
    if provider != RULES:
        if provider not in worker.providers:
            installed = ", ".join(sorted(worker.providers)) or "none (pip install pystrument-ai)"
            raise ApiError(AI_SERVICE_UNAVAILABLE, f"AI provider {provider!r} is not installed; installed: {installed}", status=400)
        if not worker.configured(provider):
            raise ApiError(AI_SERVICE_UNAVAILABLE, f"AI provider {provider!r} is not configured: set its key under 'ai: {{{provider}: {{api_key: ...}}}}' in the server config", status=503)
    try:
        analysis = await ctx.run(worker.submit, found[0], record_id, provider, body.model, body.language,
                                 endpoint=found[1].name, version=found[1].app.version)
    except Busy as exc:
        raise ApiError(ANALYSIS_IN_PROGRESS, f"an analysis of record {record_id!r} with provider {provider!r} is already queued or running",
                       data={"analysis_id": exc.analysis_id}) from None
    return ok({"task_id": analysis["id"], "analysis_id": analysis["id"], "status": "queued"}, status_code=202)


async def get_analysis(request: Request, ctx: Context) -> Response:
    analysis = await ctx.run(ctx.store.get_analysis, request.path_params["analysis_id"])
    if analysis is None:
        raise ApiError(PARAMETER_ERROR, f"analysis {request.path_params['analysis_id']!r} not found", status=404)
    return ok(analysis)


async def record_analyses(request: Request, ctx: Context) -> Response:
    return ok({"items": await ctx.run(ctx.store.list_analyses, request.path_params["record_id"], params.str_param(request, "project_id"))})


async def project_analyses(request: Request, ctx: Context) -> Response:
    project = await ctx.project(request.path_params["project_id"])
    triggers = tuple(t.strip() for t in (params.str_param(request, "trigger") or "").split(",") if t.strip())
    unknown = sorted(set(triggers) - set(TRIGGERS))
    if unknown:
        raise ApiError(PARAMETER_ERROR, f"trigger={','.join(unknown)}: use {', '.join(TRIGGERS)} (several separated by commas)")
    query = AnalysisQuery(endpoint=params.str_param(request, "endpoint"), version=params.str_param(request, "version"), triggers=triggers,
                          page=params.int_param(request, "page", 1, 1, 1_000_000), page_size=params.int_param(request, "page_size", 20, 1, 200))
    items, total = await ctx.run(ctx.store.list_project_analyses, project["id"], query)
    return ok({"items": items, "total": total, "page": query.page, "page_size": query.page_size})


async def providers(request: Request, ctx: Context) -> Response:
    return ok({"items": ctx.worker.describe_providers()})


routes = [
    Route("/api/v1/analysis/analyze/{record_id}", api(analyze), methods=["POST"]),
    Route("/api/v1/analysis/providers", api(providers), methods=["GET"]),
    Route("/api/v1/analysis/{analysis_id}", api(get_analysis), methods=["GET"]),
    Route("/api/v1/records/{record_id}/analyses", api(record_analyses), methods=["GET"]),
    Route("/api/v1/projects/{project_id}/analyses", api(project_analyses), methods=["GET"]),
]
