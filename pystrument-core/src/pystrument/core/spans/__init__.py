"""Spans: the SQL queries and outbound HTTP calls of each profiled unit (docs/spans.md).

``install()`` registers post-import hooks (``post_import.py``) once per process: each hook module is imported, and its
library patched, only when the application imports that library; importing the SDK imports none of them.
Which unit a span belongs to is the context's ``current_unit``; units of a client with
``capture_spans=False`` (or ``max_spans_per_unit=0``) file none.
"""

from __future__ import annotations

import importlib
import threading
from collections.abc import Callable
from types import ModuleType

from ..failsafe import report

# library module -> (hook module in this package, its patch function)
HOOKS: dict[str, tuple[str, str]] = {
    "sqlite3": ("sql_sqlite", "patch"),
    "psycopg": ("sql_psycopg", "patch"),
    "psycopg2": ("sql_dbapi", "patch"),
    "pymysql": ("sql_dbapi", "patch"),
    "MySQLdb": ("sql_dbapi", "patch"),
    "sqlalchemy": ("sqlalchemy", "patch"),
    "django.db.backends.signals": ("django_db", "patch"),
    "requests": ("http_clients", "patch_requests"),
    "httpx": ("http_clients", "patch_httpx"),
    "urllib3": ("http_clients", "patch_urllib3"),
}

_installed = False
_lock = threading.Lock()


def _hook(hook_module: str, function: str) -> Callable[[ModuleType], None]:
    def on_import(module: ModuleType) -> None:
        try:
            getattr(importlib.import_module(f"{__name__}.{hook_module}"), function)(module)
        except Exception as exc:  # a library version we do not know: no spans from it, the app runs on
            report(f"spans hook for {module.__name__}", exc)

    return on_import


def install() -> None:
    """Arrange for each supported library to be hooked when it is imported (at once if it is already)."""
    global _installed
    with _lock:
        if _installed:
            return
        _installed = True
    from ..post_import import register

    for library, (hook_module, function) in HOOKS.items():
        register(_hook(hook_module, function), library)
