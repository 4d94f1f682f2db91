"""Projects: ``GET/POST /projects``, ``GET/PUT/DELETE /projects/{id}``, ``POST /projects/{id}/rotate-key``."""

from __future__ import annotations

import datetime as dt
import secrets
import uuid
from typing import Annotated, Any

import msgspec
from pystrument.server.analysis import auto as autoanalysis
from pystrument.server.analysis import budget_check, budgets
from pystrument.server.api.context import Context, api
from pystrument.server.api.envelope import PARAMETER_ERROR, PROJECT_NAME_EXISTS, PROJECT_NOT_FOUND, ApiError, ok
from pystrument.server.api.routes.body import json_body
from pystrument.server.stores.base import DuplicateName, Store
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

Name = Annotated[str, msgspec.Meta(min_length=1, max_length=100)]
Description = Annotated[str, msgspec.Meta(max_length=2000)]


class ProjectIn(msgspec.Struct, forbid_unknown_fields=True):
    name: Name
    description: Description = ""
    settings: dict[str, Any] = {}


class ProjectUpdate(msgspec.Struct, forbid_unknown_fields=True):
    name: Name | None = None
    description: Description | None = None
    settings: dict[str, Any] | None = None


def new_key() -> str:
    return "pk_" + secrets.token_urlsafe(24)


def check_settings(settings: dict[str, Any]) -> dict[str, Any]:
    retention = settings.get("retention_days")
    if retention is not None and (not isinstance(retention, (int, float)) or isinstance(retention, bool) or retention < 0):
        raise ApiError(PARAMETER_ERROR, f"settings.retention_days={retention!r}: a number of days >= 0 (0: keep forever)")
    if "auto_analysis" in settings:
        try:
            settings = {**settings, "auto_analysis": autoanalysis.check_project_settings(settings["auto_analysis"])}
        except ValueError as exc:
            raise ApiError(PARAMETER_ERROR, str(exc)) from None
    if "budgets" in settings:  # also PUT /projects/{id}/budgets
        try:
            settings = {**settings, "budgets": budgets.to_builtins(budgets.parse(settings["budgets"], "settings.budgets"))}
        except ValueError as exc:
            raise ApiError(PARAMETER_ERROR, str(exc)) from None
    return settings


def create_project(store: Store, name: str, description: str = "", settings: dict[str, Any] | None = None) -> dict[str, Any]:
    """Create a project (used by the API and the CLI); raises DuplicateName."""
    name = name.strip()
    if store.get_project_by_name(name) is not None:
        raise DuplicateName(name)
    now = dt.datetime.now(dt.timezone.utc).isoformat().replace("+00:00", "Z")
    return store.create_project({
        "id": uuid.uuid4().hex[:12], "name": name, "description": description, "project_key": new_key(),
        "created_at": now, "settings": settings or {}, "record_count": 0, "last_seen_at": None,
    })


async def list_projects(request: Request, ctx: Context) -> Response:
    items = await ctx.run(ctx.store.list_projects)
    return ok({"items": items, "total": len(items)})


async def post_project(request: Request, ctx: Context) -> Response:
    body = await json_body(request, ProjectIn, ctx.settings.max_body_bytes)
    if not body.name.strip():
        raise ApiError(PARAMETER_ERROR, "name: must not be blank")
    try:
        project = await ctx.run(create_project, ctx.store, body.name, body.description, check_settings(body.settings))
    except DuplicateName:
        raise ApiError(PROJECT_NAME_EXISTS, f"a project named {body.name.strip()!r} exists: choose another name") from None
    return ok(project, status_code=201)


async def get_project(request: Request, ctx: Context) -> Response:
    return ok(await ctx.project(request.path_params["project_id"]))


async def put_project(request: Request, ctx: Context) -> Response:
    project = await ctx.project(request.path_params["project_id"])
    body = await json_body(request, ProjectUpdate, ctx.settings.max_body_bytes)
    fields = {k: v for k, v in msgspec.structs.asdict(body).items() if v is not None}
    if "name" in fields:
        fields["name"] = fields["name"].strip()
        if not fields["name"]:
            raise ApiError(PARAMETER_ERROR, "name: must not be blank")
    if "settings" in fields:
        fields["settings"] = {**project["settings"], **check_settings(fields["settings"])}
    try:
        updated = await ctx.run(ctx.store.update_project, project["id"], fields)
    except DuplicateName:
        raise ApiError(PROJECT_NAME_EXISTS, f"a project named {fields.get('name')!r} exists: choose another name") from None
    return ok(updated)


async def delete_project(request: Request, ctx: Context) -> Response:
    project = await ctx.project(request.path_params["project_id"])
    if not await ctx.run(ctx.store.delete_project, project["id"]):
        raise ApiError(PROJECT_NOT_FOUND, f"project {project['id']!r} not found")
    await ctx.run(budget_check.forget, ctx.store, project["id"])
    return ok({"deleted": True, "id": project["id"]})


async def rotate_key(request: Request, ctx: Context) -> Response:
    project = await ctx.project(request.path_params["project_id"])
    return ok(await ctx.run(ctx.store.update_project, project["id"], {"project_key": new_key()}))


routes = [
    Route("/api/v1/projects", api(list_projects), methods=["GET"]),
    Route("/api/v1/projects", api(post_project), methods=["POST"]),
    Route("/api/v1/projects/{project_id}", api(get_project), methods=["GET"]),
    Route("/api/v1/projects/{project_id}", api(put_project), methods=["PUT"]),
    Route("/api/v1/projects/{project_id}", api(delete_project), methods=["DELETE"]),
    Route("/api/v1/projects/{project_id}/rotate-key", api(rotate_key), methods=["POST"]),
]
