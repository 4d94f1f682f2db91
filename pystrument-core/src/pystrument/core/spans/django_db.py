"""Django ORM: an execute wrapper (``connection.execute_wrappers``) on every connection Django opens.

Installed from the ``connection_created`` signal; it sets ``capture.outer`` so the DB-API proxy under it
(sqlite3 through ``dbapi2.connect``, PyMySQL) files nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from time import perf_counter
from types import ModuleType
from typing import Any

from .capture import close_outer, file_span, open_outer, unit_for_span


def execute_wrapper(execute: Callable[..., Any], sql: Any, params: Any, many: bool, context: dict[str, Any]) -> Any:
    unit = unit_for_span()
    if unit is None:
        return execute(sql, params, many, context)
    db = getattr(context.get("connection"), "vendor", "")
    token = open_outer()
    t0 = perf_counter()
    try:
        result = execute(sql, params, many, context)
    except BaseException as exc:
        file_span(unit, "sql", t0, sql, db, error=type(exc).__name__)
        raise
    finally:
        close_outer(token)
    file_span(unit, "sql", t0, sql, db)
    return result


def _on_connection_created(sender: Any, connection: Any, **kwargs: Any) -> None:
    wrappers = connection.execute_wrappers
    if execute_wrapper not in wrappers:
        wrappers.append(execute_wrapper)


def patch(module: ModuleType) -> None:
    """``module`` is ``django.db.backends.signals``."""
    module.connection_created.connect(_on_connection_created, dispatch_uid="pystrument-spans")
