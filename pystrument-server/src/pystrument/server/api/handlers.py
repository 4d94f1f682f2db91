"""What the API answers when no route did: 404 and 405 in the envelope (or the UI's page for a browser's
path), an ApiError raised outside a handler, a bug (10000, logged); and CORS preflights in the envelope."""

from __future__ import annotations

from typing import Any

from pystrument.core import failsafe
from pystrument.server.api.envelope import PARAMETER_ERROR, PERMISSION_ERROR, SYSTEM_ERROR, ApiError, EnvelopeResponse, error
from pystrument.server.api.routes import meta
from starlette.exceptions import HTTPException
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import Response


async def not_found(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    path = request.url.path
    if exc.status_code == 404 and request.method in ("GET", "HEAD") and not path.startswith(("/api/", "/docs/")) and path != "/health":
        return await meta.ui_fallback(_with_path(request))
    if exc.status_code == 405:
        return error(ApiError(PARAMETER_ERROR, f"method {request.method} is not allowed on {path}", status=405, headers=dict(exc.headers or {})))
    if exc.status_code == 404:
        return error(ApiError(PARAMETER_ERROR, f"no such endpoint: {request.method} {path} (the API is under /api/v1, see /docs)", status=404))
    return error(ApiError(PARAMETER_ERROR, exc.detail or "bad request", status=exc.status_code, headers=dict(exc.headers or {})))


def _with_path(request: Request) -> Request:
    request.scope.setdefault("path_params", {})["path"] = request.url.path.lstrip("/")
    return request


async def api_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    return error(exc)


async def server_error(request: Request, exc: Exception) -> Response:
    failsafe.report(f"server {request.method} {request.url.path}", exc)
    return error(ApiError(SYSTEM_ERROR, f"internal server error ({type(exc).__name__}); see the server log", status=500))


class EnvelopeCORSMiddleware(CORSMiddleware):
    """Starlette's CORS middleware, with its preflight answers in the envelope too."""

    def preflight_response(self, request_headers: Any) -> Response:
        response = super().preflight_response(request_headers)
        headers = {k: v for k, v in response.headers.items() if k.lower() not in ("content-length", "content-type")}
        if response.status_code == 200:
            return EnvelopeResponse({}, headers=headers)
        text = bytes(response.body).decode()
        return EnvelopeResponse({}, code=PERMISSION_ERROR, msg=f"{text}: allowed origins are set with cors_origins", status_code=400, headers=headers)
