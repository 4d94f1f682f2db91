"""The documented public API: ``monitor_performance`` and ``PerformanceCollector``."""

from __future__ import annotations

import functools
import inspect
import sys
import threading
from collections.abc import Callable
from typing import Any, TypeVar, overload

from .client import Client, get_client
from .config import Config
from .record import Kind
from .unit import Unit

F = TypeVar("F", bound=Callable[..., Any])


def _client_getter(config: Config | dict[str, Any] | None, settings: dict[str, Any]) -> Callable[[], Client]:
    """The global client, or a private one (created on first call) when settings are given."""
    if config is None and not settings:
        return get_client
    lock = threading.Lock()
    holder: list[Client] = []

    def get() -> Client:
        if not holder:
            with lock:
                if not holder:
                    holder.append(Client(config, **settings))
        return holder[0]

    return get


@overload
def monitor_performance(func: F, /) -> F: ...
@overload
def monitor_performance(
    func: None = None, /, *, name: str | None = ..., kind: Kind = ..., tags: dict[str, str] | None = ...,
    config: Config | dict[str, Any] | None = ..., **settings: Any,
) -> Callable[[F], F]: ...


def monitor_performance(
    func: Callable[..., Any] | None = None,
    /,
    *,
    name: str | None = None,
    kind: Kind = "function",
    tags: dict[str, str] | None = None,
    config: Config | dict[str, Any] | None = None,
    **settings: Any,
) -> Any:
    """Profile each (sampled) call of a sync or async function.

    Bare (``@monitor_performance``) it uses the process-wide configuration; with ``config=`` or settings
    such as the documented ``project_key=`` and ``api_endpoint=`` it uses its own. The function's result,
    exceptions and signature are unchanged.
    """

    def decorate(fn: Callable[..., Any]) -> Callable[..., Any]:
        unit_name = name or f"{fn.__module__}.{fn.__qualname__}"
        get = _client_getter(config, settings)
        unit_tags = tags or {}

        if inspect.iscoroutinefunction(fn):
            @functools.wraps(fn)
            async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
                client = get()
                if not client.sample():
                    return await fn(*args, **kwargs)
                unit = client.start_sampled(kind, unit_name, entry_frame=sys._getframe(), is_async=True, tags=dict(unit_tags))
                if unit is None:
                    return await fn(*args, **kwargs)
                try:
                    result = await fn(*args, **kwargs)
                except BaseException as exc:
                    client.finish(unit, exc)
                    raise
                client.finish(unit)
                return result

            return async_wrapper

        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            client = get()
            if not client.sample():
                return fn(*args, **kwargs)
            unit = client.start_sampled(kind, unit_name, entry_frame=sys._getframe(), tags=dict(unit_tags) if unit_tags else None)
            if unit is None:
                return fn(*args, **kwargs)
            try:
                result = fn(*args, **kwargs)
            except BaseException as exc:
                client.finish(unit, exc)
                raise
            client.finish(unit)
            return result

        return wrapper

    if func is not None:
        return decorate(func)
    return decorate


class _Block:
    """A sync and async context manager measuring one block of code."""

    __slots__ = ("client", "name", "kind", "tags", "unit")

    def __init__(self, client: Client, name: str, kind: Kind, tags: dict[str, str] | None) -> None:
        self.client = client
        self.name = name
        self.kind = kind
        self.tags = tags
        self.unit: Unit | None = None

    def _start(self, frame: Any, is_async: bool) -> Unit | None:
        self.unit = self.client.start(self.kind, self.name, entry_frame=frame, include_entry=True,
                                      is_async=is_async, tags=dict(self.tags) if self.tags else None)
        return self.unit

    def _end(self, exc: BaseException | None) -> None:
        if self.unit is not None:
            self.client.finish(self.unit, exc)
            self.unit = None

    def __enter__(self) -> Unit | None:
        return self._start(sys._getframe(1), False)

    def __exit__(self, exc_type: Any, exc: BaseException | None, tb: Any) -> None:
        self._end(exc)

    async def __aenter__(self) -> Unit | None:
        return self._start(sys._getframe(1), True)

    async def __aexit__(self, exc_type: Any, exc: BaseException | None, tb: Any) -> None:
        self._end(exc)


class PerformanceCollector:
    """Manual collection, the documented form: ``with PerformanceCollector(config).collect(): ...``."""

    def __init__(self, config: Config | dict[str, Any] | None = None, **settings: Any) -> None:
        self.client = Client(config, **settings) if (config is not None or settings) else get_client()

    def collect(self, name: str | None = None, *, kind: Kind = "block", tags: dict[str, str] | None = None) -> _Block:
        if name is None:
            caller = sys._getframe(1)
            name = f"{caller.f_globals.get('__name__', '?')}:{caller.f_code.co_name}"
        return _Block(self.client, name, kind, tags)

    def stats(self) -> dict[str, Any]:
        return self.client.stats()

    def flush(self, timeout: float | None = None) -> bool:
        return self.client.flush(timeout)

    def close(self) -> None:
        self.client.close()
