"""Classify what went wrong in a litellm call, by status and by cause, not by exception class alone.

litellm's classes do not map one to one: a 401 may come as ``BadRequestError``, a refused connection
as ``InternalServerError`` (status 500) with ``ConnectionRefusedError`` at the end of its cause chain,
a timeout as ``Timeout`` (408) or as an ``APIConnectionError`` caused by ``httpx.ReadTimeout``.
"""

from __future__ import annotations

import re
import socket

from pystrument.core.analysis import AIUnavailable

from .redact import redact
from .settings import setting_name

_AUTH_TEXT = re.compile(r"(?i)(incorrect|invalid|missing|no)\s+(api[\s_-]?key|token)|unauthori[sz]ed|invalid_api_key|authentication|api[_ ]key")
_TIMEOUT_NAMES = {"Timeout", "APITimeoutError", "ReadTimeout", "ConnectTimeout", "WriteTimeout", "PoolTimeout", "TimeoutException"}
_CONNECT_NAMES = {"APIConnectionError", "ConnectError", "RemoteProtocolError", "ServiceUnavailableError"}

# kinds that another attempt may fix
TRANSIENT = {"timeout", "unreachable", "rate_limited", "server_error"}


def _chain(exc: BaseException) -> list[BaseException]:
    seen: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in seen:
        seen.append(current)
        current = current.__cause__ or current.__context__
    return seen


def _status(exc: BaseException) -> int | None:
    for item in _chain(exc):
        status = getattr(item, "status_code", None)
        try:
            if status is not None:
                return int(status)
        except (TypeError, ValueError):
            continue
    return None


def classify(exc: BaseException) -> tuple[str, int | None]:
    """(kind, HTTP status) with kind one of: timeout, unreachable, auth, rate_limited, not_found,
    server_error, bad_request, unknown."""
    chain = _chain(exc)
    names = {cls.__name__ for item in chain for cls in type(item).__mro__}
    status = _status(exc)
    if names & _TIMEOUT_NAMES or any(isinstance(e, (TimeoutError, socket.timeout)) for e in chain) or status == 408:
        return "timeout", status
    if any(isinstance(e, (ConnectionError, socket.gaierror)) for e in chain) or (names & _CONNECT_NAMES and status in (None, 500)):
        return "unreachable", status
    text = " ".join(str(e) for e in chain)
    if status in (401, 403) or names & {"AuthenticationError", "PermissionDeniedError"} or (status == 400 and _AUTH_TEXT.search(text)):
        return "auth", status
    if status == 429 or "RateLimitError" in names:
        return "rate_limited", status
    if status == 404 or "NotFoundError" in names:
        return "not_found", status
    if status is not None and status >= 500:
        return "server_error", status
    if status == 400 or "BadRequestError" in names:
        return "bad_request", status
    return "unknown", status


REASONS = {"timeout": "timeout", "unreachable": "unreachable", "auth": "auth", "rate_limited": "rate_limited"}


def unavailable(exc: BaseException, *, provider: str, model: str, base_url: str | None, timeout: float, attempts: int) -> AIUnavailable:
    """An ``AIUnavailable`` saying what happened and what to check."""
    kind, status = classify(exc)
    key, url, model_setting, timeout_setting = (setting_name(provider, o) for o in ("api_key", "base_url", "model", "timeout"))
    where = base_url or "its default URL"
    detail = redact(str(exc).splitlines()[0] if str(exc) else type(exc).__name__)[:240]
    tries = f" (after {attempts} attempts)" if attempts > 1 else ""
    messages = {
        "timeout": f"AI provider {provider} did not answer within {timeout:g} s{tries} (model {model} at {where}): "
                   f"raise {timeout_setting} or PYSTRUMENT_AI_TIMEOUT, or check the service's load.",
        "unreachable": f"AI provider {provider} is unreachable at {where}{tries}: check {url}, that the service "
                       f"is running and that this server can reach it (DNS, proxy, firewall). Cause: {detail}",
        "auth": f"AI provider {provider} refused the API key (HTTP {status or '?'}): check {key} "
                f"(or the provider's own variable) and the key's access to model {model}. Provider said: {detail}",
        "rate_limited": f"AI provider {provider} is rate-limiting us (HTTP 429){tries}: wait and retry, or check the "
                        f"account's quota. Provider said: {detail}",
        "not_found": f"AI provider {provider} answered 404 for model {model} at {where}: check {model_setting} and that "
                     f"{url} points where /chat/completions is served (often ending in /v1).",
        "server_error": f"AI provider {provider} failed with HTTP {status}{tries}: the service has a problem; try again "
                        f"later. Provider said: {detail}",
        "bad_request": f"AI provider {provider} rejected the request (HTTP {status or 400}): {detail}. If it is about "
                       f"response_format, set PYSTRUMENT_AI_JSON_MODE=false; check {model_setting}.",
        "unknown": f"AI provider {provider} call failed: {type(exc).__name__}: {detail}",
    }
    return AIUnavailable(messages[kind], reason=REASONS.get(kind, "unavailable"))
