"""What every pystrument framework adapter shares.

- ``client_getter(config)``: the client a middleware uses (its own for a config, the process-wide one
  for none), resolved lazily so that ``configure()`` called after the middleware was built still counts.
- ``unmatched(method)``: the one name per method of requests that matched no route.
- ``follow_in_threads(client)``: makes work handed to worker threads (anyio's ``to_thread.run_sync``,
  asgiref's ``sync_to_async``) count for the unit that handed it over; installed once, idempotently.
- ``Adapter``: the object a plugin registers with ``register_adapters`` for the zero-config runner.
- ``claim(predicate)`` / ``claimed(app)``: framework adapters claim the apps they instrument themselves,
  so the runner's server-level hooks (gunicorn, waitress, uvicorn) wrap only the apps nobody claimed.
- ``is_asgi(app)``: whether an app object is an ASGI 3 application (an ``async`` callable).
- ``load_profiler()``: called by each middleware module when it is imported, so that the profiler's own
  import never happens while the host builds its app or serves a request.
- ``lazy_exports(package, module, names)``: PEP 562 hooks for an adapter package that must not import its
  framework when it (or its ``plugin`` module, which the runner loads in every process) is imported.
"""

from __future__ import annotations

import functools
import importlib
import importlib.util
import inspect
import logging
import sys
import threading
from collections.abc import Callable
from typing import Any

from pystrument.core import Client, Config, get_client
from pystrument.core.failsafe import report
from pystrument.core.unit import current_unit

logger = logging.getLogger("pystrument")

UNMATCHED = "[unmatched]"

_clients: dict[str, Client] = {}
_clients_lock = threading.Lock()


def load_profiler() -> None:
    """Import the detailed profiler (pyinstrument) now, with the middleware's module, not when the first
    client is built inside the host's app construction: pyinstrument's import calls
    ``warnings.filterwarnings``, which a host (or its tests) may patch and count. The runner's plugin
    modules do not call this: they load nothing at start (pyinstrument imports subprocess and webbrowser)."""
    import pystrument.core.profiling.stack_sampler  # noqa: F401


def unmatched(method: str) -> str:
    return f"{method} {UNMATCHED}"


def _key(config: Config | dict[str, Any]) -> str:
    """Equal dicts give one key. Built with ``repr`` only: no call into a process-wide function the
    host may patch or count (stdlib ``json``)."""
    if isinstance(config, Config):
        return f"config:{id(config)}"
    return "dict:" + _canonical(config)


def _canonical(value: Any) -> str:
    if isinstance(value, dict):
        items = sorted((repr(k), _canonical(v)) for k, v in value.items())
        return "{" + ",".join(f"{k}:{v}" for k, v in items) + "}"
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(_canonical(v) for v in value) + "]"
    return repr(value)


def client_getter(config: Config | dict[str, Any] | None) -> Callable[[], Client]:
    """A function returning the client for ``config``: ``get_client()`` for None or for the
    process-wide client's own ``Config``, else one private ``Client`` per distinct config (a Django or
    Starlette app may build its middleware more than once; each build must not start another thread)."""
    if config is None:
        return get_client
    if not isinstance(config, (Config, dict)):
        raise TypeError(f"pystrument: config must be a pystrument Config, a dict or None, not {type(config).__name__}")
    key = _key(config)
    holder: list[Client] = []

    def get() -> Client:
        if holder:
            return holder[0]
        if isinstance(config, Config) and config is get_client().config:
            holder.append(get_client())
            return holder[0]
        with _clients_lock:
            client = _clients.get(key)
            if client is None:
                client = _clients[key] = Client(config)
            holder.append(client)
        return client

    if threading.current_thread() is threading.main_thread():
        get()  # built where the app is assembled: the client can set up what needs the main thread (SIGTERM flush)
    return get


# -- following a unit into worker threads -------------------------------------------------------
_followed: dict[str, Any] = {}
_follow_lock = threading.Lock()


def _collector() -> Any:
    return _followed.get("collector")


def follow_now(func: Callable[..., Any]) -> Callable[..., Any]:
    """Wrap ``func`` (about to be handed to a worker thread) for the unit current here, if any."""
    collector = _collector()
    if collector is None or current_unit.get() is None:
        return func
    return collector.follow(func)  # type: ignore[no-any-return]


def follow_at_call(func: Callable[..., Any]) -> Callable[..., Any]:
    """Wrap ``func`` so that, when it is called inside a copied context in a worker thread, the unit
    current in that context is followed there (asgiref enters the context only in the worker)."""

    @functools.wraps(func)
    def followed(*args: Any, **kwargs: Any) -> Any:
        collector = _collector()
        if collector is None or current_unit.get() is None:
            return func(*args, **kwargs)
        return collector.follow(func)(*args, **kwargs)

    return followed


def _patch_anyio() -> None:
    import anyio.to_thread

    original = anyio.to_thread.run_sync
    if getattr(original, "_pystrument_follows", False):
        return

    @functools.wraps(original)
    async def run_sync(func: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        return await original(follow_now(func), *args, **kwargs)

    run_sync._pystrument_follows = True  # type: ignore[attr-defined]
    anyio.to_thread.run_sync = run_sync  # type: ignore[assignment]


def _patch_asgiref() -> None:
    from asgiref.sync import SyncToAsync

    original: Callable[..., Any] = SyncToAsync.thread_handler  # unannotated in asgiref
    if getattr(original, "_pystrument_follows", False):
        return

    @functools.wraps(original)
    def thread_handler(self: Any, loop: Any, exc_info: Any, task_context: Any, func: Any, *args: Any, **kwargs: Any) -> Any:
        if args:
            args = (follow_at_call(args[0]),) + args[1:]
        return original(self, loop, exc_info, task_context, func, *args, **kwargs)

    thread_handler._pystrument_follows = True  # type: ignore[attr-defined]
    SyncToAsync.thread_handler = thread_handler  # type: ignore[method-assign]


def follow_in_threads(client: Client) -> None:
    """Install, once per process, the wrappers that make anyio's and asgiref's worker threads sample
    for the unit that handed them work. Does nothing for a disabled client or a collector without
    ``follow``; a library that is not installed is skipped."""
    collector = getattr(client, "collector", None) if client.enabled else None
    if collector is None or not hasattr(collector, "follow"):
        return
    with _follow_lock:
        _followed.setdefault("collector", collector)
        for name, patch in (("anyio", _patch_anyio), ("asgiref", _patch_asgiref)):
            if name in _followed or importlib.util.find_spec(name) is None:
                continue
            try:
                patch()
                _followed[name] = True
            except Exception as exc:
                report(f"follow_in_threads({name})", exc)


# -- which adapter instruments an app: framework adapters claim theirs, server hooks wrap the rest ---
_claims: list[Callable[[Any], bool]] = []


def claim(predicate: Callable[[Any], bool]) -> None:
    """Declare that apps for which ``predicate(app)`` is true are instrumented by a framework adapter."""
    if predicate not in _claims:
        _claims.append(predicate)


def claimed(app: Any) -> bool:
    """Whether a framework adapter instruments ``app`` itself (a server hook then leaves it alone)."""
    for predicate in list(_claims):
        try:
            if predicate(app):
                return True
        except Exception as exc:
            report("adapter claim", exc)
    return False


def is_asgi(app: Any) -> bool:
    """An ASGI 3 app: an ``async def`` function or an object whose ``__call__`` is one."""
    call = None if inspect.isfunction(app) else inspect.getattr_static(type(app), "__call__", None)
    return inspect.iscoroutinefunction(app) or inspect.iscoroutinefunction(call)


# -- the zero-config runner's adapter object ------------------------------------------------------
class Adapter:
    """Registered with ``register_adapters``: ``name``, ``on_import``, ``detect()`` and ``instrument(config)``.

    ``detect()`` is True when the framework (the top-level package ``module``) is importable;
    ``instrument(config)`` runs ``install(config)`` once per process (a second call logs a warning and
    does nothing). ``pystrument-run`` calls ``instrument`` when the application imports ``on_import``
    (default ``module``): the module whose objects ``install`` patches, so the runner imports nothing.
    """

    def __init__(self, name: str, module: str, install: Callable[[Config | dict[str, Any] | None], None],
                 on_import: str | None = None) -> None:
        self.name = name
        self.module = module
        self.on_import = on_import or module
        self._install = install
        self.instrumented = False
        self._lock = threading.Lock()

    def detect(self) -> bool:
        try:
            return importlib.util.find_spec(self.module) is not None
        except (ImportError, ValueError):
            return False

    def instrument(self, config: Config | dict[str, Any] | None = None) -> None:
        with self._lock:
            if self.instrumented:
                logger.warning("pystrument: %s is already instrumented; the second call does nothing", self.name)
                return
            self._install(config)
            self.instrumented = True

    def __repr__(self) -> str:
        return f"<pystrument adapter {self.name}>"


# -- adapter packages that import their framework only when used ---------------------------------
def lazy_exports(package: str, module: str, names: list[str]) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """``__getattr__`` and ``__dir__`` for ``package``: an attribute asked for loads ``package.module``
    (which imports the framework) and is taken from there. Used as
    ``__getattr__, __dir__ = lazy_exports(__name__, "middleware", __all__)``."""

    def __getattr__(name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        # not ``from . import``: it would ask this very __getattr__
        return getattr(importlib.import_module(f"{package}.{module}"), name)

    def __dir__() -> list[str]:
        return sorted(set(vars(sys.modules[package])) | set(names))

    return __getattr__, __dir__
