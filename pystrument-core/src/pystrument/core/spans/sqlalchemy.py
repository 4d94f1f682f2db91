"""SQLAlchemy: one span per cursor execution, from the engine events (every Engine, class-level).

``before_cursor_execute`` starts the span and sets ``capture.outer`` so the DB-API proxy under it files
nothing; ``after_cursor_execute`` or ``handle_error`` files it. The state rides on the execution context.
"""

from __future__ import annotations

from time import perf_counter
from types import ModuleType
from typing import Any

from .capture import close_outer, file_span, open_outer, unit_for_span

_STATE = "_pystrument_span"
_SYSTEMS = {"mariadb": "mysql"}


def _before(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, executemany: bool) -> None:
    unit = unit_for_span()
    if unit is None or context is None:
        return
    setattr(context, _STATE, (unit, perf_counter(), open_outer()))


def _end(context: Any, statement: Any, db: str, error: str) -> None:
    state = getattr(context, _STATE, None) if context is not None else None
    if state is None:
        return
    delattr(context, _STATE)
    unit, t0, token = state
    close_outer(token)
    file_span(unit, "sql", t0, statement, db, error=error)


def _after(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, executemany: bool) -> None:
    _end(context, statement, _system(conn.dialect.name), "")


def _error(exception_context: Any) -> None:
    context = exception_context.execution_context
    error = type(exception_context.original_exception).__name__
    _end(context, exception_context.statement, _system(exception_context.dialect.name), error)


def _system(name: str) -> str:
    return _SYSTEMS.get(name, name)


def patch(module: ModuleType) -> None:
    from sqlalchemy import event
    from sqlalchemy.engine import Engine

    if not event.contains(Engine, "before_cursor_execute", _before):
        event.listen(Engine, "before_cursor_execute", _before)
        event.listen(Engine, "after_cursor_execute", _after)
        event.listen(Engine, "handle_error", _error)
