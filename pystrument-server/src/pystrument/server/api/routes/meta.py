"""``/health``, the OpenAPI document, the human API docs (``/docs``) and the UI (``/``, SPA fallback)."""

from __future__ import annotations

from pathlib import Path

from pystrument.server.api.context import Context, api
from pystrument.server.api.envelope import PARAMETER_ERROR, ApiError, ok
from pystrument.server.api.security import check_token
from pystrument.server.version import __version__
from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, JSONResponse, Response
from starlette.routing import Route

STATIC = Path(__file__).resolve().parents[2] / "static"  # pystrument/server/static
UI = STATIC / "ui"

MISSING_UI = """<!doctype html><html><head><meta charset="utf-8"><title>pystrument</title></head>
<body style="font-family:sans-serif;max-width:40em;margin:3em auto">
<h1>pystrument server</h1>
<p>The API is running (<a href="/docs">API docs</a>, <a href="/api/v1/openapi.json">OpenAPI</a>,
<a href="/health">health</a>), but the web UI is not built into this installation.</p>
<p>Build it from a checkout of the repository with <code>nox -s ui</code> (needs Node.js and npm);
it is written to <code>pystrument-server/src/pystrument/server/static/ui/</code> and served from here.</p>
</body></html>"""


async def health(request: Request, ctx: Context) -> Response:
    """Answers without a token; the automatic jobs' error texts only to a caller with a valid token (or when none is set)."""
    await ctx.run(ctx.store.ping)
    try:
        check_token(request, ctx.settings.token, ctx.settings.read_token)
        trusted = True
    except ApiError:
        trusted = False
    jobs = ctx.auto.jobs.snapshot(with_errors=trusted) if ctx.auto is not None else {}
    return ok({"status": "ok", "store": ctx.store.name, "version": __version__, "jobs": jobs})


async def openapi(request: Request, ctx: Context) -> Response:
    from pystrument.server.api.openapi import document

    return JSONResponse(document())


async def docs(request: Request, ctx: Context) -> Response:
    return FileResponse(STATIC / "docs" / "index.html", headers={"Cache-Control": "no-cache"})


async def docs_asset(request: Request, ctx: Context) -> Response:
    name = request.path_params["name"]
    path = (STATIC / "docs" / name).resolve()
    if path.parent != (STATIC / "docs").resolve() or not path.is_file():
        raise ApiError(PARAMETER_ERROR, f"no such file: /docs/{name}", status=404)
    return FileResponse(path, headers={"Cache-Control": "public, max-age=3600"})


async def ui(request: Request, ctx: Context) -> Response:
    rel = request.path_params.get("path", "")
    if rel.startswith("api/"):
        raise ApiError(PARAMETER_ERROR, f"no such endpoint: {request.method} /{rel}", status=404)
    index = UI / "index.html"
    if not index.is_file():
        return HTMLResponse(MISSING_UI, headers={"Cache-Control": "no-cache"})
    if rel:
        path = (UI / rel).resolve()
        if path.is_file() and UI.resolve() in path.parents:
            hashed = rel.startswith("assets/")
            cache = "public, max-age=31536000, immutable" if hashed else "public, max-age=3600"
            return FileResponse(path, headers={"Cache-Control": cache})
        if "." in rel.rsplit("/", 1)[-1]:
            raise ApiError(PARAMETER_ERROR, f"no such file: /{rel}", status=404)
    return FileResponse(index, headers={"Cache-Control": "no-cache"})  # SPA fallback: the router decides


def routes() -> list[Route]:
    return [
        Route("/health", api(health, auth="none"), methods=["GET"]),
        Route("/api/v1/health", api(health, auth="none"), methods=["GET"]),
        Route("/api/v1/openapi.json", api(openapi, auth="none"), methods=["GET"]),
        Route("/docs", api(docs, auth="none"), methods=["GET"]),
        Route("/docs/{name}", api(docs_asset, auth="none"), methods=["GET"]),
    ]


def ui_routes() -> list[Route]:
    return [
        Route("/", api(ui, auth="none"), methods=["GET", "HEAD"]),
    ]




async def ui_fallback(request: Request) -> Response:
    """The SPA fallback for GET paths no route matched (client-side routes of the UI)."""
    return await api(ui, auth="none")(request)
