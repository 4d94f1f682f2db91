"""JSON request bodies decoded into msgspec structs, with 10001 errors naming the field."""

from __future__ import annotations

from typing import TypeVar

import msgspec
from pystrument.server.api.envelope import PARAMETER_ERROR, ApiError
from pystrument.server.api.routes.ingest import read_body
from starlette.requests import Request

T = TypeVar("T")


async def json_body(request: Request, kind: type[T], limit: int, *, allow_empty: bool = False) -> T:
    body = await read_body(request, limit)
    if not body.strip():
        if allow_empty:
            return msgspec.convert({}, kind)
        raise ApiError(PARAMETER_ERROR, "this endpoint needs a JSON body")
    try:
        return msgspec.json.decode(body, type=kind)
    except msgspec.ValidationError as exc:
        text = str(exc)
        reason, _, where = text.rpartition(" - at `")
        where = where.rstrip("`").lstrip("$.") or "body"
        raise ApiError(PARAMETER_ERROR, f"{where}: {reason or text}") from None
    except msgspec.DecodeError as exc:
        raise ApiError(PARAMETER_ERROR, f"body is not valid JSON: {exc}") from None
    except RecursionError:
        raise ApiError(PARAMETER_ERROR, "body: JSON nested too deeply to decode") from None


