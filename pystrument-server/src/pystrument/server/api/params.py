"""Query-parameter parsing with clear 10001 errors."""

from __future__ import annotations

import datetime as dt
import re
import time
from typing import Any

from pystrument.server.api.envelope import PARAMETER_ERROR, ApiError
from pystrument.server.stores.base import Filters, status_matches
from starlette.requests import Request

_REL = re.compile(r"^(\d+(?:\.\d+)?)\s*(s|m|h|d|w)$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def parse_time(name: str, value: str | None) -> float | None:
    """ISO 8601 (UTC when no zone) or relative to now (``24h``, ``7d``, ``30m``) -> epoch seconds."""
    if value is None or value == "":
        return None
    m = _REL.match(value.strip())
    if m:
        return time.time() - float(m.group(1)) * _UNITS[m.group(2)]
    try:
        parsed = dt.datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        raise ApiError(PARAMETER_ERROR, f"{name}={value!r}: use an ISO 8601 time (2024-05-01T12:00:00Z) or a relative one like 24h or 7d") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=dt.timezone.utc)
    return parsed.timestamp()


def int_param(request: Request, name: str, default: int, lo: int, hi: int) -> int:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ApiError(PARAMETER_ERROR, f"{name}={raw!r}: expected an integer between {lo} and {hi}") from None
    if not lo <= value <= hi:
        raise ApiError(PARAMETER_ERROR, f"{name}={value}: must be between {lo} and {hi}")
    return value


def float_param(request: Request, name: str) -> float | None:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return None
    try:
        value = float(raw)
    except ValueError:
        raise ApiError(PARAMETER_ERROR, f"{name}={raw!r}: expected a number (milliseconds)") from None
    if value != value or value in (float("inf"), float("-inf")):
        raise ApiError(PARAMETER_ERROR, f"{name}={raw!r}: expected a finite number")
    return value


def str_param(request: Request, name: str) -> str | None:
    raw = request.query_params.get(name)
    return raw if raw not in (None, "") else None


def filters(request: Request, *, default_since: str | None = None) -> Filters:
    q = request.query_params
    since = parse_time("since", q.get("since") or default_since)
    until = parse_time("until", q.get("until"))
    if since is not None and until is not None and since > until:
        raise ApiError(PARAMETER_ERROR, f"since ({q.get('since')}) is after until ({q.get('until')})")
    status = str_param(request, "status")
    try:
        status_matches(status)
    except ValueError as exc:
        raise ApiError(PARAMETER_ERROR, str(exc)) from None
    return Filters(
        endpoint=str_param(request, "endpoint"), version=str_param(request, "version"), environment=str_param(request, "environment"),
        since=since, until=until, min_duration=float_param(request, "min_duration"), status=status,
    )


def choice(request: Request, name: str, options: Any, default: str) -> str:
    raw = request.query_params.get(name) or default
    if raw not in options:
        raise ApiError(PARAMETER_ERROR, f"{name}={raw!r}: use one of {', '.join(options)}")
    return raw
