"""The API's response envelope ``{"code", "msg", "data"}`` (docs/api.md, "Conventions"); its codes are the contract
shared with the SDK's sinks, in pystrument.core.contract."""

from __future__ import annotations

from typing import Any

import msgspec
from pystrument.core.contract import (
    AI_SERVICE_UNAVAILABLE,
    ANALYSIS_IN_PROGRESS,
    AUTHENTICATION_ERROR,
    DATABASE_ERROR,
    DEFAULT_STATUS,
    INVALID_PROJECT_KEY,
    PARAMETER_ERROR,
    PERFORMANCE_DATA_INVALID,
    PERMISSION_ERROR,
    PROJECT_NAME_EXISTS,
    PROJECT_NOT_FOUND,
    RATE_LIMIT_ERROR,
    SUCCESS,
    SYSTEM_ERROR,
)
from starlette.responses import Response

# the codes are re-exported for the server's modules
__all__ = [
    "AI_SERVICE_UNAVAILABLE", "ANALYSIS_IN_PROGRESS", "AUTHENTICATION_ERROR", "DATABASE_ERROR", "DEFAULT_STATUS", "INVALID_PROJECT_KEY",
    "PARAMETER_ERROR", "PERFORMANCE_DATA_INVALID", "PERMISSION_ERROR", "PROJECT_NAME_EXISTS", "PROJECT_NOT_FOUND", "RATE_LIMIT_ERROR",
    "SUCCESS", "SYSTEM_ERROR", "ApiError", "EnvelopeResponse", "error", "ok",
]

_encoder = msgspec.json.Encoder()


class ApiError(Exception):
    """Raised anywhere in a request: answered as the envelope with ``code`` and HTTP ``status``."""

    def __init__(self, code: int, msg: str, *, status: int | None = None, data: Any = None, headers: dict[str, str] | None = None) -> None:
        super().__init__(msg)
        self.code = code
        self.msg = msg
        self.status = status or DEFAULT_STATUS.get(code, 400)
        self.data = {} if data is None else data
        self.headers = headers or {}


class EnvelopeResponse(Response):
    media_type = "application/json"

    def __init__(self, data: Any = None, *, code: int = SUCCESS, msg: str = "success", status_code: int = 200, headers: dict[str, str] | None = None) -> None:
        body = {"code": code, "msg": msg, "data": {} if data is None else data}
        super().__init__(content=_encoder.encode(body), status_code=status_code, headers=headers)


def ok(data: Any = None, status_code: int = 200, headers: dict[str, str] | None = None) -> EnvelopeResponse:
    return EnvelopeResponse(data, status_code=status_code, headers=headers)


def error(err: ApiError) -> EnvelopeResponse:
    return EnvelopeResponse(err.data, code=err.code, msg=err.msg, status_code=err.status, headers=err.headers)
