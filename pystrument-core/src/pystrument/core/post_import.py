"""Run a function right after a module is imported (at once if it is imported already).

What ``wrapt.register_post_import_hook`` does, without importing wrapt (whose import pulls asyncio and
subprocess into every process that configures the SDK). A finder on ``sys.meta_path`` answers only for the
named modules: it asks the other finders for the real spec and wraps its loader so that the hook runs after
the module's code; the module keeps its real loader (``__loader__``, ``__spec__.loader``).
"""

from __future__ import annotations

import importlib.abc
import importlib.util
import sys
import threading
from collections.abc import Callable, Sequence
from importlib.machinery import ModuleSpec
from types import ModuleType
from typing import Any

Hook = Callable[[ModuleType], None]

_hooks: dict[str, list[Hook]] = {}
_lock = threading.RLock()
_finding: set[str] = set()  # names being looked up by the other finders (no recursion into ourselves)


class _HookLoader(importlib.abc.Loader):
    def __init__(self, loader: importlib.abc.Loader, name: str) -> None:
        self.loader = loader
        self.name = name

    def create_module(self, spec: ModuleSpec) -> ModuleType | None:
        return self.loader.create_module(spec)

    def exec_module(self, module: ModuleType) -> None:
        module.__loader__ = self.loader
        if module.__spec__ is not None:
            module.__spec__.loader = self.loader
        self.loader.exec_module(module)
        _fire(self.name, module)


class _Finder(importlib.abc.MetaPathFinder):
    def find_spec(self, fullname: str, path: Sequence[str] | None = None, target: ModuleType | None = None) -> ModuleSpec | None:
        if fullname not in _hooks or fullname in _finding:
            return None
        _finding.add(fullname)
        try:
            spec = importlib.util.find_spec(fullname)
        finally:
            _finding.discard(fullname)
        if spec is None or spec.loader is None or not hasattr(spec.loader, "exec_module"):
            return None
        spec.loader = _HookLoader(spec.loader, fullname)
        return spec


_finder = _Finder()


def _fire(name: str, module: ModuleType) -> None:
    with _lock:
        hooks = _hooks.pop(name, [])
    for hook in hooks:
        hook(module)


def register(hook: Hook, name: str) -> None:
    """Call ``hook(module)`` once module ``name`` has been imported (now, if it has been already)."""
    with _lock:
        if _finder not in sys.meta_path:
            sys.meta_path.insert(0, _finder)
        module: Any = sys.modules.get(name)
        if module is None:
            _hooks.setdefault(name, []).append(hook)
            return
    hook(module)
