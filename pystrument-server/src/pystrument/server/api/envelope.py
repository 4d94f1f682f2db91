"""The API's response envelope ``{"code", "msg", "data"}`` and its error codes (docs/api.md, "Conventions" and "Codes")."""

from __future__ import annotations

from typing import Any

import msgspec
from starlette.responses import Response

SUCCESS = 0
SYSTEM_ERROR = 10000
PARAMETER_ERROR = 10001
AUTHENTICATION_ERROR = 10002
PERMISSION_ERROR = 10003
RATE_LIMIT_ERROR = 10004
DATABASE_ERROR = 10005
PROJECT_NOT_FOUND = 20001
PROJECT_NAME_EXISTS = 20002
INVALID_PROJECT_KEY = 20003
PERFORMANCE_DATA_INVALID = 20004
AI_SERVICE_UNAVAILABLE = 20005
ANALYSIS_IN_PROGRESS = 20006

# The HTTP status each code answers with unless the raiser says otherwise.
DEFAULT_STATUS = {
    SYSTEM_ERROR: 500,
    PARAMETER_ERROR: 400,
    AUTHENTICATION_ERROR: 401,
    PERMISSION_ERROR: 403,
    RATE_LIMIT_ERROR: 429,
    DATABASE_ERROR: 503,
    PROJECT_NOT_FOUND: 404,
    PROJECT_NAME_EXISTS: 409,
    INVALID_PROJECT_KEY: 401,
    PERFORMANCE_DATA_INVALID: 422,
    AI_SERVICE_UNAVAILABLE: 503,
    ANALYSIS_IN_PROGRESS: 409,
}

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
