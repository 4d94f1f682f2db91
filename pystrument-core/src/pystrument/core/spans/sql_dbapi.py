"""DB-API 2.0 drivers: ``connect()`` returns a connection proxy whose cursors time execute/executemany.

Patched when the driver is imported: psycopg2, PyMySQL, MySQLdb (mysqlclient); sqlite3 and psycopg (3) get
cursor subclasses instead, which cost less than a proxy's delegation (``sql_sqlite.py``, ``sql_psycopg.py``).
Proxies are ``wrapt.ObjectProxy``: everything else reaches the driver's objects unchanged, and ``with`` blocks give the proxy back. Under SQLAlchemy or Django the library's own
hook files the span and these stay silent (``capture.outer``).
"""

from __future__ import annotations

from collections.abc import Callable
from types import ModuleType
from typing import Any

import wrapt

from .capture import timed_sql, unit_for_span

# module imported -> (database system, attributes holding its connect function)
DRIVERS: dict[str, tuple[str, tuple[str, ...]]] = {
    "psycopg2": ("postgresql", ("connect",)),
    "pymysql": ("mysql", ("connect", "Connect")),
    "MySQLdb": ("mysql", ("connect", "Connect")),
}


def _execute(name: str) -> Callable[..., Any]:
    def method(self: Any, statement: Any, *args: Any, **kwargs: Any) -> Any:
        call = getattr(self.__wrapped__, name)
        unit = unit_for_span()
        if unit is None:
            result = call(statement, *args, **kwargs)
        else:
            result = timed_sql(unit, call, statement, self._self_db, args, kwargs)
        return self if result is self.__wrapped__ else result  # psycopg's execute returns the cursor

    method.__name__ = name
    return method


class CursorProxy(wrapt.ObjectProxy):  # type: ignore[misc,type-arg,unused-ignore]  # typed in wrapt 2, untyped before
    def __init__(self, cursor: Any, db: str) -> None:
        super().__init__(cursor)
        self._self_db = db

    execute = _execute("execute")
    executemany = _execute("executemany")

    def __enter__(self) -> CursorProxy:
        self.__wrapped__.__enter__()
        return self

    def __exit__(self, *exc: Any) -> Any:
        return self.__wrapped__.__exit__(*exc)

    def __iter__(self) -> Any:
        return iter(self.__wrapped__)

    def __next__(self) -> Any:
        return next(self.__wrapped__)


class ConnectionProxy(wrapt.ObjectProxy):  # type: ignore[misc,type-arg,unused-ignore]  # typed in wrapt 2, untyped before
    def __init__(self, connection: Any, db: str) -> None:
        super().__init__(connection)
        self._self_db = db

    def cursor(self, *args: Any, **kwargs: Any) -> CursorProxy:
        return CursorProxy(self.__wrapped__.cursor(*args, **kwargs), self._self_db)

    def __enter__(self) -> ConnectionProxy:
        self.__wrapped__.__enter__()
        return self

    def __exit__(self, *exc: Any) -> Any:
        return self.__wrapped__.__exit__(*exc)


class ShortcutConnectionProxy(ConnectionProxy):
    """A connection that executes statements itself too (sqlite3's ``connection.execute``, for a caller's factory
    that is not a Connection subclass)."""

    execute = _execute("execute")
    executemany = _execute("executemany")


def patch(module: ModuleType) -> None:
    """Wrap the driver module's connect functions (called by the post-import hook)."""
    db, attributes = DRIVERS[module.__name__]

    def connect(wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        return ConnectionProxy(wrapped(*args, **kwargs), db)

    for attribute in attributes:
        owner_name, _, name = attribute.rpartition(".")
        owner = getattr(module, owner_name) if owner_name else module
        if hasattr(owner, name) and not isinstance(vars(owner).get(name), wrapt.FunctionWrapper):
            wrapt.wrap_function_wrapper(owner, name, connect)
