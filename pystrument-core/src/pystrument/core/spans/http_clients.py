"""Outbound HTTP: requests (``Session.send``), httpx (``Client.send``, ``AsyncClient.send``), urllib3
(``HTTPConnectionPool.urlopen``). requests and httpx set ``capture.outer``, so a requests call is one
span, not a second one for the urllib3 call under it (nor for urllib3's own retries and redirects).
"""

from __future__ import annotations

import contextvars
from collections.abc import Callable
from time import perf_counter
from types import ModuleType
from typing import Any

import wrapt

from ..unit import Unit
from .capture import close_outer, file_span, open_outer, unit_for_span

Describe = Callable[..., tuple[str, str]]
Begun = tuple[Unit, str, str, contextvars.Token[bool], float]


def _begin(describe: Describe, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Begun | None:
    unit = unit_for_span()
    if unit is None:
        return None
    method, url = describe(instance, *args, **kwargs)
    return unit, method, url, open_outer(), perf_counter()


def _end(begun: Begun, response: Any, exc: BaseException | None) -> None:
    unit, method, url, token, t0 = begun
    close_outer(token)
    if exc is not None:
        file_span(unit, "http", t0, None, method=method, url=url, error=type(exc).__name__)
    else:
        file_span(unit, "http", t0, None, method=method, url=url, status=_status(response))


class _Call:
    """One outbound call: a span of the running unit (if any) from ``with`` to its end, failed or not."""

    __slots__ = ("begun", "response")

    def __init__(self, describe: Describe, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        self.begun = _begin(describe, instance, args, kwargs)
        self.response: Any = None

    def __enter__(self) -> _Call:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: Any) -> None:
        if self.begun is not None:
            _end(self.begun, self.response, exc)


def _sync(describe: Describe) -> Callable[..., Any]:
    def wrapper(wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        with _Call(describe, instance, args, kwargs) as call:
            call.response = wrapped(*args, **kwargs)
        return call.response

    return wrapper


def _async(describe: Describe) -> Callable[..., Any]:
    async def wrapper(wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        with _Call(describe, instance, args, kwargs) as call:
            call.response = await wrapped(*args, **kwargs)
        return call.response

    return wrapper


def _status(response: Any) -> int:
    status = getattr(response, "status_code", None)
    if status is None:
        status = getattr(response, "status", 0)
    return status if isinstance(status, int) and 0 <= status <= 999 else 0  # the server accepts 0-999


def _request(instance: Any, request: Any, *args: Any, **kwargs: Any) -> tuple[str, str]:
    """requests' PreparedRequest and httpx's Request: ``.method`` and ``.url``."""
    return str(request.method), str(request.url)


def _urlopen(pool: Any, method: str, url: str, *args: Any, **kwargs: Any) -> tuple[str, str]:
    if url.startswith("/"):
        port = f":{pool.port}" if pool.port else ""
        url = f"{pool.scheme}://{pool.host}{port}{url}"
    return method, url


def _wrap(module: ModuleType, name: str, wrapper: Callable[..., Any]) -> None:
    owner_name, _, attribute = name.rpartition(".")
    owner = getattr(module, owner_name) if owner_name else module
    if not isinstance(vars(owner).get(attribute), wrapt.FunctionWrapper):  # not patched yet
        wrapt.wrap_function_wrapper(owner, attribute, wrapper)


def patch_requests(module: ModuleType) -> None:
    _wrap(module, "Session.send", _sync(_request))


def patch_httpx(module: ModuleType) -> None:
    _wrap(module, "Client.send", _sync(_request))
    _wrap(module, "AsyncClient.send", _async(_request))


def patch_urllib3(module: ModuleType) -> None:
    _wrap(module, "HTTPConnectionPool.urlopen", _sync(_urlopen))
