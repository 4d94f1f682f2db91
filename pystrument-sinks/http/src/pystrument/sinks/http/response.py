"""Reading the server's answer to an ingest POST (docs/api.md, Ingestion) into what the sink does next."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any

import msgspec
from pystrument.core.contract import (
    INVALID_PROJECT_KEY,
    PARAMETER_ERROR,
    PERFORMANCE_DATA_INVALID,
    PERMISSION_ERROR,
    RATE_LIMIT_ERROR,
)


class Action(enum.Enum):
    OK = "ok"  # delivered (some records may have been rejected as invalid: counted, not retried)
    RETRY = "retry"  # the server is unreachable, overloaded or failing: keep the batch, try later
    SPLIT = "split"  # 413: the body is too large, send halves
    STOP = "stop"  # retrying cannot help (bad key, no such endpoint): stop sending


@dataclass
class Outcome:
    action: Action
    reason: str = ""
    retry_after: float | None = None
    accepted: int = 0
    duplicates: int = 0
    rejected: list[dict[str, Any]] = field(default_factory=list)


def _envelope(body: bytes) -> dict[str, Any]:
    try:
        data = msgspec.json.decode(body)
    except msgspec.DecodeError:
        return {}
    return data if isinstance(data, dict) else {}


def _data(env: dict[str, Any]) -> dict[str, Any]:
    data = env.get("data")
    return data if isinstance(data, dict) else {}


def _retry_after(headers: Any) -> float | None:
    raw = headers.get("Retry-After")
    if not raw:
        return None
    try:
        return max(0.0, float(raw))
    except ValueError:
        return None  # an HTTP date: rare from our server; the backoff decides


def classify(status: int, headers: Any, body: bytes, sent: int, single: bool) -> Outcome:
    env = _envelope(body)
    code = env.get("code")
    msg = str(env.get("msg") or "")
    if status == 401 or code == INVALID_PROJECT_KEY:
        return Outcome(Action.STOP, f"the server rejected the project key (HTTP {status}, code {code}: {msg or 'invalid project key'}); "
                                    "set project_key (PYSTRUMENT_PROJECT_KEY) to the key of your project shown by the pystrument server")
    if status == 429 or code == RATE_LIMIT_ERROR:
        return Outcome(Action.RETRY, f"rate limited (HTTP {status}, code {code})", retry_after=_retry_after(headers))
    if status == 413:
        return Outcome(Action.SPLIT, f"body too large (HTTP 413, code {code})")
    if status >= 500:
        return Outcome(Action.RETRY, f"server error (HTTP {status}{', code ' + str(code) if code is not None else ''}: {msg})",
                       retry_after=_retry_after(headers))
    if status in (403, 404, 405) or code == PERMISSION_ERROR:
        return Outcome(Action.STOP, f"HTTP {status} from the ingest endpoint (code {code}: {msg}); check api_endpoint "
                                    "(the pystrument server's URL, e.g. http://host:8000) and the project's permissions")
    if 200 <= status < 300 and code in (0, None):
        data = _data(env)
        if single:
            dup = bool(data.get("duplicate"))
            return Outcome(Action.OK, accepted=0 if dup else 1, duplicates=1 if dup else 0)
        rejected = [r for r in data.get("rejected") or [] if isinstance(r, dict)]
        accepted = int(data.get("accepted", sent - len(rejected)))
        return Outcome(Action.OK, accepted=accepted, duplicates=int(data.get("duplicates", 0)), rejected=rejected)
    if status in (400, 422) or code in (PARAMETER_ERROR, PERFORMANCE_DATA_INVALID):
        # Invalid data: retrying the same bytes cannot help; the records are counted as rejected.
        data = _data(env)
        rejected = [r for r in data.get("rejected") or [] if isinstance(r, dict)]
        if not rejected:
            rejected = [{"index": i, "code": code, "error": msg} for i in range(sent)]
        return Outcome(Action.OK, f"records rejected (HTTP {status}, code {code}: {msg})", rejected=rejected)
    return Outcome(Action.RETRY, f"unexpected answer (HTTP {status}, code {code}: {msg})", retry_after=_retry_after(headers))
