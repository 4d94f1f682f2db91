"""The plugin manager and the one plugin registry: one pluggy project, one entry-point group per role.

Roles and their entry-point groups (docs/plugins.md)::

    sinks         pystrument.sinks          name = URL scheme           register_sinks
    profilers     pystrument.profilers      name = collector name       register_collectors
    enrichers     pystrument.enrichers                                  register_enrichers
    adapters      pystrument.adapters       name = adapter name         register_adapters
    stores        pystrument.stores         name = URL scheme           register_stores
    analysers     pystrument.analysers      name = analyser name        register_analysers
    ai_providers  pystrument.ai_providers   name = provider name        register_ai_providers
    server        pystrument.server                                     register_routes, register_commands, startup

A process loads a role's group only when it needs that role (``load(role, names)``), and each entry
point once: the SDK loads its profiler, the sinks of the schemes it is configured with and the
enrichers; the server loads stores, analysers, AI providers and server plugins; ``pystrument-run``
loads adapters. With ``names``, only the entry points of those names load; a name no entry point of the
group has makes the rest of the group load (a plugin may register more than its entry-point name). The
legacy group ``pystrument`` (any hooks) is loaded whole the first time any role is needed.

Each entry point loads in its own failsafe: a broken plugin (import error, missing optional dependency,
exception in a hook) is logged once with its name and skipped; it never takes the host application
down. ``registered(hook)`` is the registry every role reads: name -> ``Registration``, the first
registration of a name wins and a second one is logged once, naming both plugins. Environment:

- ``PYSTRUMENT_LOAD_PLUGINS``: comma-separated entry-point names (``name`` in any group, or ``group:name``);
  only these load.
- ``PYSTRUMENT_DISABLED_PLUGINS``: comma-separated entry-point names (same forms) that do not load.
- ``PYSTRUMENT_TRACE_PLUGINS=1``: log every hook call (pluggy's hook call monitoring).
- ``PYSTRUMENT_STRICT_PLUGINS=1``: re-raise plugin errors instead of skipping (used by tests).
"""

from __future__ import annotations

import importlib.metadata
import itertools
import logging
import os
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import pluggy

from . import hookspecs

logger = logging.getLogger("pystrument.plugins")

LEGACY_GROUP = "pystrument"
GROUP = LEGACY_GROUP  # the name this module exported before the role groups
hookimpl = pluggy.HookimplMarker("pystrument")


@dataclass(frozen=True)
class Role:
    group: str
    hooks: tuple[str, ...]


ROLES: dict[str, Role] = {
    "sinks": Role("pystrument.sinks", ("register_sinks",)),
    "profilers": Role("pystrument.profilers", ("register_collectors",)),
    "enrichers": Role("pystrument.enrichers", ("register_enrichers",)),
    "adapters": Role("pystrument.adapters", ("register_adapters",)),
    "stores": Role("pystrument.stores", ("register_stores",)),
    "analysers": Role("pystrument.analysers", ("register_analysers",)),
    "ai_providers": Role("pystrument.ai_providers", ("register_ai_providers",)),
    "server": Role("pystrument.server", ("register_routes", "register_commands", "startup")),
}
HOOK_ROLES: dict[str, str] = {hook: role for role, spec in ROLES.items() for hook in spec.hooks}

pm = pluggy.PluginManager("pystrument")
pm.add_hookspecs(hookspecs)

_lock = threading.RLock()
_loaded: set[tuple[str, str]] = set()  # (group, entry-point name) tried once, loaded or not
_whole: set[str] = set()  # groups loaded whole
_failed: dict[str, str] = {}  # plugin name -> error
_sources: dict[str, tuple[str, str]] = {}  # plugin name -> (distribution, version)
_origins: dict[str, list[str]] = {}  # plugin name -> ["group:name", ...] of the entry points that name it
_in_code: dict[str, int] = {}  # plugins registered in code -> sequence (latest wins over earlier ones)
_seq = itertools.count()
_warned: set[tuple[str, str, str, str]] = set()
_traced = False


def _env_list(name: str) -> list[str] | None:
    raw = os.environ.get(name)
    if raw is None:
        return None
    return [part.strip() for part in raw.split(",") if part.strip()]


def _strict() -> bool:
    return os.environ.get("PYSTRUMENT_STRICT_PLUGINS", "") in ("1", "true", "yes")


# every entry point, read once per process: EntryPoints (3.12+) or SelectableGroups (3.10, 3.11), both with select()
_installed: list[Any] = []


def _entry_points(group: str) -> list[importlib.metadata.EntryPoint]:
    if not _installed:  # one scan of the installed distributions' metadata, whichever roles are then loaded
        _installed.append(importlib.metadata.entry_points())
    seen: set[str] = set()
    unique = []
    for ep in _installed[0].select(group=group):
        if ep.name not in seen:  # the same distribution on sys.path twice lists its entry points twice
            seen.add(ep.name)
            unique.append(ep)
    return unique


def _load_entry_point(ep: importlib.metadata.EntryPoint) -> None:
    key = (ep.group, ep.name)
    if key in _loaded:
        return
    _loaded.add(key)
    origin = f"{ep.group}:{ep.name}"
    allow = _env_list("PYSTRUMENT_LOAD_PLUGINS")
    deny = _env_list("PYSTRUMENT_DISABLED_PLUGINS") or []
    if (allow is not None and ep.name not in allow and origin not in allow) or ep.name in deny or origin in deny:
        return
    try:
        module = ep.load()
        name = pm.get_name(module)
        if name is None:  # one module may be listed under several names (one per scheme): registered once
            name = ep.name if pm.get_plugin(ep.name) is None else origin
            pm.register(module, name=name)
    except Exception as exc:  # one broken plugin never takes the host down
        _failed[ep.name] = f"{type(exc).__name__}: {exc}"
        logger.error("pystrument: plugin %r (%s) could not be loaded and is skipped: %s: %s",
                     ep.name, ep.value, type(exc).__name__, exc)
        if _strict():
            raise
        return
    _origins.setdefault(name, []).append(origin)
    dist = getattr(ep, "dist", None)
    if dist is not None:
        _sources.setdefault(name, (dist.metadata["Name"], dist.version))


def _trace() -> None:
    global _traced
    if not _traced and os.environ.get("PYSTRUMENT_TRACE_PLUGINS"):
        pm.add_hookcall_monitoring(
            lambda name, impls, kwargs: logger.warning("pystrument hook %s -> %s", name, [i.plugin_name for i in impls]),
            lambda outcome, name, impls, kwargs: None,
        )
        _traced = True


def _load_group(group: str, names: Iterable[str] | None = None) -> None:
    if group in _whole:
        return
    eps = _entry_points(group)
    if names is not None:
        wanted = set(names)
        if wanted <= {ep.name for ep in eps}:
            for ep in eps:
                if ep.name in wanted:
                    _load_entry_point(ep)
            return
    for ep in eps:  # no names, or a name no entry point has: the plugin providing it may be any of them
        _load_entry_point(ep)
    _whole.add(group)


def load(role: str, names: Iterable[str] | None = None) -> pluggy.PluginManager:
    """Load the plugins of ``role`` (only the entry points ``names``, when given) and the legacy group, once."""
    spec = ROLES.get(role)
    if spec is None:
        raise ValueError(f"unknown plugin role {role!r}; the roles are: {', '.join(ROLES)}")
    with _lock:
        _trace()
        _load_group(LEGACY_GROUP)
        _load_group(spec.group, None if names is None else list(names))
    return pm


def load_plugins() -> pluggy.PluginManager:
    """Load every installed plugin of every role (``list_plugins`` and tools that show everything)."""
    for role in ROLES:
        load(role)
    return pm


def _ordered_impls(hook_name: str) -> list[Any]:
    """Plugins registered in code first (latest first), then entry-point plugins by name: deterministic,
    whatever order the roles happened to be loaded in."""
    impls = getattr(pm.hook, hook_name).get_hookimpls()
    return sorted(impls, key=lambda i: (0, -_in_code[i.plugin_name], "") if i.plugin_name in _in_code else (1, 0, i.plugin_name))


def collect(hook_name: str, *, names: Iterable[str] | None = None,
            plugin_errors: str = "log") -> list[tuple[str, tuple[Any, ...], dict[str, Any]]]:
    """Call a ``register_*`` hook, one implementation at a time, each in its own failsafe.

    Loads the hook's role first (``names``: only those entry points). Returns ``(plugin_name, args,
    kwargs)`` for every ``register(...)`` call made. A raising hook implementation is logged with its
    plugin's name and skipped; the others still run.
    """
    load(HOOK_ROLES[hook_name], names)
    out: list[tuple[str, tuple[Any, ...], dict[str, Any]]] = []
    for impl in _ordered_impls(hook_name):
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


def call(hook_name: str, **kwargs: Any) -> None:
    """Call a hook that registers nothing (``register_commands(cli)``, ``startup(app)``) on every
    plugin of its role, each implementation in its own failsafe."""
    load(HOOK_ROLES[hook_name])
    for impl in _ordered_impls(hook_name):
        try:
            impl.function(**kwargs)
        except Exception as exc:
            logger.error("pystrument: plugin %r failed in hook %s and is skipped: %s: %s",
                         impl.plugin_name, hook_name, type(exc).__name__, exc)
            if _strict():
                raise


@dataclass(frozen=True)
class Registration:
    """One thing a plugin registered: its ``name`` (scheme, collector, adapter, analyser... name), the
    registered ``value`` (factory, object, function, route) and the ``plugin`` that registered it."""

    name: str
    value: Any
    plugin: str


def _describe(value: Any) -> str:
    if isinstance(value, str):
        return value
    named = getattr(value, "name", None) or getattr(value, "path", None)
    if isinstance(named, str):
        return named
    module = getattr(value, "__module__", None) or ""
    qualname = getattr(value, "__qualname__", None) or type(value).__qualname__
    return f"{module}.{qualname}" if module else qualname


def _registration(plugin: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Registration:
    values = list(args) + list(kwargs.values())
    if len(values) >= 2 and isinstance(values[0], str):  # register(name, thing)
        return Registration(values[0], values[1], plugin)
    if not values:
        raise TypeError("register() needs the thing to register")
    return Registration(_describe(values[0]), values[0], plugin)  # register(thing): named by its name/path


def registered(hook_name: str, names: Iterable[str] | None = None) -> dict[str, Registration]:
    """The registry of one hook: name -> ``Registration``, in precedence order.

    The one rule for duplicates, for every role: the first registration of a name wins (plugins
    registered in code, then entry-point plugins by name); a later one is ignored and logged once,
    naming both plugins. ``names`` loads only the entry points of those names (see ``load``).
    """
    found: dict[str, Registration] = {}
    for plugin, args, kwargs in collect(hook_name, names=names):
        try:
            item = _registration(plugin, args, kwargs)
        except TypeError as exc:
            logger.error("pystrument: plugin %r called register() wrongly in %s and is skipped: %s", plugin, hook_name, exc)
            continue
        first = found.get(item.name)
        if first is None:
            found[item.name] = item
            continue
        key = (hook_name, item.name, first.plugin, plugin)
        if key not in _warned:
            _warned.add(key)
            logger.warning("pystrument: %s %r of plugin %r is ignored: plugin %r registered it first",
                           hook_name.removeprefix("register_").rstrip("s"), item.name, plugin, first.plugin)
    return found


def provided(hook_name: str, names: Iterable[str] | None = None) -> dict[str, Any]:
    """``registered(hook_name, names)`` as name -> registered value."""
    return {name: item.value for name, item in registered(hook_name, names).items()}


@dataclass
class PluginInfo:
    name: str
    distribution: str = ""
    version: str = ""
    hooks: list[str] = field(default_factory=list)
    provides: dict[str, list[str]] = field(default_factory=dict)
    error: str = ""
    entry_points: list[str] = field(default_factory=list)  # "group:name" of each entry point naming it


def list_plugins() -> list[PluginInfo]:
    """What is installed and what each plugin provides (``pystrument-server plugins`` prints it)."""
    load_plugins()
    infos: dict[str, PluginInfo] = {}
    for name, plugin in pm.list_name_plugin():
        dist, version = _sources.get(name, ("", ""))
        hooks = sorted(h.name for h in pm.get_hookcallers(plugin) or [])
        infos[name] = PluginInfo(name=name, distribution=dist, version=version, hooks=hooks,
                                 entry_points=list(_origins.get(name, [])))
    for hook in (n for n in dir(hookspecs) if n.startswith("register_") and n != "register_commands"):
        for plugin_name, args, kwargs in collect(hook):
            what = hook.removeprefix("register_")
            try:
                described = _registration(plugin_name, args, kwargs).name
            except TypeError:
                described = "?"
            infos[plugin_name].provides.setdefault(what, []).append(described)
    for name, error in _failed.items():
        infos[name] = PluginInfo(name=name, error=error)
    return sorted(infos.values(), key=lambda i: i.name)


def register(plugin: object, name: str | None = None) -> Callable[[], None]:
    """Register a plugin in code (it takes precedence over entry-point plugins); returns a function
    that unregisters it."""
    with _lock:
        registered_name = pm.register(plugin, name=name)
        if registered_name is None:
            raise ValueError(f"plugin {name or plugin!r} is blocked")
        _in_code[registered_name] = next(_seq)

    def unregister() -> None:
        with _lock:
            pm.unregister(name=registered_name)
            _in_code.pop(registered_name, None)

    return unregister
