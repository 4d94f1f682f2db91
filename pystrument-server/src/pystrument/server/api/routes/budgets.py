"""Budgets (docs/budgets.md): ``GET/PUT /projects/{id}/budgets``, ``GET /projects/{id}/budgets/breaches`` (what the
periodic check found) and ``POST /projects/{id}/budgets/check`` (one version checked now: the CI gate)."""

from __future__ import annotations

from typing import Any, cast

import msgspec
from pystrument.server.analysis import budget_check
from pystrument.server.analysis import budgets as budgets_mod
from pystrument.server.api import params
from pystrument.server.api.context import Context, api
from pystrument.server.api.envelope import PARAMETER_ERROR, ApiError, ok
from pystrument.server.api.routes.body import json_body
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route


class BudgetsIn(msgspec.Struct, forbid_unknown_fields=True):
    budgets: list[Any]


class CheckIn(msgspec.Struct, forbid_unknown_fields=True):
    version: str
    environment: str | None = None
    budgets: list[Any] | None = None


def _parse(value: Any) -> list[budgets_mod.Budget]:
    try:
        return budgets_mod.parse(value)
    except ValueError as exc:
        raise ApiError(PARAMETER_ERROR, str(exc)) from None


def _answer(project: dict[str, Any], ctx: Context) -> dict[str, Any]:
    own = (project.get("settings") or {}).get("budgets") or []
    try:
        effective = budgets_mod.to_builtins(budgets_mod.effective(project, ctx.settings))
    except ValueError:
        effective = []
    return {"budgets": own, "server": list(ctx.settings.budgets), "effective": effective,
            "check_interval_s": ctx.settings.budget_check_interval_s}


async def get_budgets(request: Request, ctx: Context) -> Response:
    return ok(_answer(await ctx.project(request.path_params["project_id"]), ctx))


async def put_budgets(request: Request, ctx: Context) -> Response:
    project = await ctx.project(request.path_params["project_id"])
    body = await json_body(request, BudgetsIn, ctx.settings.max_body_bytes)
    parsed = budgets_mod.to_builtins(_parse(body.budgets))
    updated = await ctx.run(ctx.store.update_project, project["id"], {"settings": {**project["settings"], "budgets": parsed}})
    return ok(_answer(cast("dict[str, Any]", updated), ctx))  # None only if the project was deleted meanwhile


async def list_breaches(request: Request, ctx: Context) -> Response:
    project = await ctx.project(request.path_params["project_id"])
    items = await ctx.run(budget_check.breaches(ctx.store).list, project["id"], params.str_param(request, "version"),
                          params.str_param(request, "endpoint"))
    return ok({"items": items, "check_interval_s": ctx.settings.budget_check_interval_s})


async def check(request: Request, ctx: Context) -> Response:
    project = await ctx.project(request.path_params["project_id"])
    body = await json_body(request, CheckIn, ctx.settings.max_body_bytes)
    if not body.version.strip():
        raise ApiError(PARAMETER_ERROR, "version: must not be blank (GET /versions lists them)")
    if body.budgets is None:
        try:
            chosen = budgets_mod.effective(project, ctx.settings)
        except ValueError as exc:
            raise ApiError(PARAMETER_ERROR, f"the project's budgets are invalid: {exc} (fix them with PUT /budgets)") from None
    else:
        chosen = _parse(body.budgets)
    found = await ctx.run(budgets_mod.check_version, ctx.store, project["id"], body.version, chosen, ctx.settings.sample_limit,
                          body.environment)
    return ok({"version": body.version, "environment": body.environment, "budgets": budgets_mod.to_builtins(chosen),
               "breaches": found, "lines": [budgets_mod.describe(b) for b in found]})


async def endpoint_breaches(ctx: Context, project_id: str, version: str | None) -> dict[str, list[dict[str, Any]]]:
    """The stored breaches per endpoint (of ``version`` when given): what ``/endpoints`` adds to its items."""
    items = await ctx.run(budget_check.breaches(ctx.store).list, project_id, version)
    out: dict[str, list[dict[str, Any]]] = {}
    for b in items:
        out.setdefault(b["endpoint"], []).append(b)
    return out


routes = [
    Route("/api/v1/projects/{project_id}/budgets", api(get_budgets), methods=["GET"]),
    Route("/api/v1/projects/{project_id}/budgets", api(put_budgets), methods=["PUT"]),
    Route("/api/v1/projects/{project_id}/budgets/breaches", api(list_breaches), methods=["GET"]),
    Route("/api/v1/projects/{project_id}/budgets/check", api(check), methods=["POST"]),
]
