"""The plugin manager: one pluggy project and one entry-point group, both ``pystrument``.

Plugins load lazily and once. Entry points are loaded in our own loop so that a broken plugin (import
error, missing optional dependency, exception in a hook) is logged once with its name and skipped; it
never takes the host application down. Environment variables:

- ``PYSTRUMENT_LOAD_PLUGINS``: comma-separated entry-point names; only these load.
- ``PYSTRUMENT_DISABLED_PLUGINS``: comma-separated entry-point names that do not load.
- ``PYSTRUMENT_TRACE_PLUGINS=1``: log every hook call (pluggy's hook call monitoring).
- ``PYSTRUMENT_STRICT_PLUGINS=1``: re-raise plugin errors instead of skipping (used by tests).
"""

from __future__ import annotations

import importlib.metadata
import logging
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pluggy

from . import hookspecs

logger = logging.getLogger("pystrument.plugins")

GROUP = "pystrument"
hookimpl = pluggy.HookimplMarker("pystrument")

pm = pluggy.PluginManager("pystrument")
pm.add_hookspecs(hookspecs)

_loaded = False
_lock = threading.RLock()
_failed: dict[str, str] = {}
_sources: dict[str, tuple[str, str]] = {}  # plugin name -> (distribution, version)


def _env_list(name: str) -> list[str] | None:
    raw = os.environ.get(name)
    if raw is None:
        return None
    return [part.strip() for part in raw.split(",") if part.strip()]


def _strict() -> bool:
    return os.environ.get("PYSTRUMENT_STRICT_PLUGINS", "") in ("1", "true", "yes")


def load_plugins() -> pluggy.PluginManager:
    """Load the installed plugins once and return the plugin manager."""
    global _loaded
    if _loaded:
        return pm
    with _lock:
        if _loaded:
            return pm
        allow = _env_list("PYSTRUMENT_LOAD_PLUGINS")
        deny = set(_env_list("PYSTRUMENT_DISABLED_PLUGINS") or [])
        for ep in _entry_points():
            if allow is not None and ep.name not in allow:
                continue
            if ep.name in deny or pm.get_plugin(ep.name) is not None:
                continue
            try:
                module = ep.load()
                pm.register(module, name=ep.name)
            except Exception as exc:  # one broken plugin never takes the host down
                _failed[ep.name] = f"{type(exc).__name__}: {exc}"
                logger.error(
                    "pystrument: plugin %r (%s) could not be loaded and is skipped: %s: %s",
                    ep.name, ep.value, type(exc).__name__, exc,
                )
                if _strict():
                    raise
                continue
            dist = getattr(ep, "dist", None)
            if dist is not None:
                _sources[ep.name] = (dist.metadata["Name"], dist.version)
        if os.environ.get("PYSTRUMENT_TRACE_PLUGINS"):
            pm.add_hookcall_monitoring(
                lambda name, impls, kwargs: logger.warning("pystrument hook %s -> %s", name, [i.plugin_name for i in impls]),
                lambda outcome, name, impls, kwargs: None,
            )
        _loaded = True
    return pm


def _entry_points() -> list[importlib.metadata.EntryPoint]:
    eps = importlib.metadata.entry_points(group=GROUP)
    seen: set[str] = set()
    unique = []
    for ep in eps:  # the same distribution on sys.path twice lists its entry points twice
        if ep.name not in seen:
            seen.add(ep.name)
            unique.append(ep)
    return unique


def collect(hook_name: str, *, plugin_errors: str = "log") -> list[tuple[str, tuple[Any, ...], dict[str, Any]]]:
    """Call a ``register_*`` hook, one implementation at a time, each in its own failsafe.

    Returns ``(plugin_name, args, kwargs)`` for every ``register(...)`` call made. A raising hook
    implementation is logged with its plugin's name and skipped; the others still run.
    """
    load_plugins()
    caller = getattr(pm.hook, hook_name)
    out: list[tuple[str, tuple[Any, ...], dict[str, Any]]] = []
    for impl in reversed(caller.get_hookimpls()):
        name = impl.plugin_name

        def register(*args: Any, _name: str = name, **kwargs: Any) -> None:
            out.append((_name, args, kwargs))

        try:
            impl.function(register=register)
        except Exception as exc:
            logger.error("pystrument: plugin %r failed in hook %s and is skipped: %s: %s", name, hook_name, type(exc).__name__, exc)
            if _strict() or plugin_errors == "raise":
                raise
    return out


@dataclass
class PluginInfo:
    name: str
    distribution: str = ""
    version: str = ""
    hooks: list[str] = field(default_factory=list)
    provides: dict[str, list[str]] = field(default_factory=dict)
    error: str = ""


def _describe(args: tuple[Any, ...], kwargs: dict[str, Any]) -> str:
    first = args[0] if args else next(iter(kwargs.values()), "")
    if isinstance(first, str):
        return first
    return getattr(first, "name", None) or getattr(first, "__qualname__", None) or type(first).__name__


def list_plugins() -> list[PluginInfo]:
    """What is installed and what each plugin provides (``pystrument-server plugins`` prints it)."""
    load_plugins()
    infos: dict[str, PluginInfo] = {}
    for name, plugin in pm.list_name_plugin():
        dist, version = _sources.get(name, ("", ""))
        hooks = sorted(h.name for h in pm.get_hookcallers(plugin) or [])
        infos[name] = PluginInfo(name=name, distribution=dist, version=version, hooks=hooks)
    for hook in (n for n in dir(hookspecs) if n.startswith("register_") and n != "register_commands"):
        for plugin_name, args, kwargs in collect(hook):
            what = hook.removeprefix("register_")
            infos[plugin_name].provides.setdefault(what, []).append(_describe(args, kwargs))
    for name, error in _failed.items():
        infos[name] = PluginInfo(name=name, error=error)
    return sorted(infos.values(), key=lambda i: i.name)


def register(plugin: object, name: str | None = None) -> Callable[[], None]:
    """Register a plugin object in code; returns a function that unregisters it."""
    load_plugins()
    registered = pm.register(plugin, name=name)

    def unregister() -> None:
        pm.unregister(name=registered)

    return unregister


def _reset_for_tests() -> None:
    """Forget loaded entry points (tests only)."""
    global _loaded
    with _lock:
        for name, _plugin in list(pm.list_name_plugin()):
            pm.unregister(name=name)
        _failed.clear()
        _sources.clear()
        _loaded = False

