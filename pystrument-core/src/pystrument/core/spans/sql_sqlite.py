"""sqlite3: connections and cursors of span-filing subclasses (``factory=``), not proxies.

A query on an in-memory or local SQLite database takes a few microseconds, so the wrapper must cost far less
than a proxy's delegation: ``sqlite3.connect`` gets ``factory=Connection`` (or a subclass combining the
caller's own factory), whose ``cursor()`` hands out this module's ``Cursor``s (or subclasses of the caller's cursor
factory, as Django's ``SQLiteCursorWrapper``). Everything else is sqlite3's own C code; ``isinstance`` checks
hold. ``Connection.execute``/``executemany`` go through ``cursor()`` so they are timed too.
"""

from __future__ import annotations

import functools
import sqlite3
from collections.abc import Callable
from types import ModuleType
from typing import Any

from .capture import spanned

_cursor = sqlite3.Connection.cursor


class Cursor(sqlite3.Cursor):
    # named as sqlite3's own: flame graphs and analyses show Cursor.execute / Connection.execute as without spans
    execute = spanned(sqlite3.Cursor.execute, "sqlite")
    executemany = spanned(sqlite3.Cursor.executemany, "sqlite")


_subclasses: dict[tuple[type, type], type] = {}


def _subclass(factory: type, ours: type) -> type:
    """A subclass of the caller's factory whose methods run the factory's first (Django's cursor turns ``%s`` into
    ``?``), then ours, then sqlite3's: MRO (factory, ours, sqlite3's class). Made once per factory."""
    if issubclass(factory, ours):
        return factory
    made = _subclasses.get((factory, ours))
    if made is None:
        made = _subclasses[(factory, ours)] = type(factory.__name__, (factory, ours), {})
    return made


class Connection(sqlite3.Connection):
    def cursor(self, factory: Any = sqlite3.Cursor) -> Any:
        if factory is sqlite3.Cursor:
            return _cursor(self, Cursor)
        if isinstance(factory, type) and issubclass(factory, sqlite3.Cursor):
            return _cursor(self, _subclass(factory, Cursor))
        return _cursor(self, factory)  # a callable factory: left as it is

    # sqlite3's own Connection.execute makes a cursor with self.cursor() but runs it in C, past our execute
    def execute(self, sql: str, parameters: Any = (), /) -> Any:
        return _cursor(self, Cursor).execute(sql, parameters)

    def executemany(self, sql: str, parameters: Any, /) -> Any:
        return _cursor(self, Cursor).executemany(sql, parameters)


def _proxy(connection: Any) -> Any:
    """A caller's factory that is not a Connection subclass (a callable): a proxy around what it made."""
    from .sql_dbapi import ShortcutConnectionProxy  # imports wrapt: only for this rare case

    return ShortcutConnectionProxy(connection, "sqlite")


def _wrap_connect(connect: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(connect)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if len(args) > 5:  # factory given positionally
            return _proxy(connect(*args, **kwargs))
        factory: Any = kwargs.get("factory", sqlite3.Connection)
        if not (isinstance(factory, type) and issubclass(factory, sqlite3.Connection)):
            return _proxy(connect(*args, **kwargs))
        kwargs["factory"] = Connection if factory is sqlite3.Connection else _subclass(factory, Connection)
        return connect(*args, **kwargs)

    wrapper.__pystrument_spans__ = True  # type: ignore[attr-defined]
    return wrapper


def patch(module: ModuleType) -> None:
    """Wrap ``sqlite3.connect`` and ``sqlite3.dbapi2.connect`` (SQLAlchemy and Django call the latter)."""
    for owner in (module, getattr(module, "dbapi2", None)):
        connect = getattr(owner, "connect", None)
        if connect is not None and not getattr(connect, "__pystrument_spans__", False):
            owner.connect = _wrap_connect(connect)  # type: ignore[union-attr]
