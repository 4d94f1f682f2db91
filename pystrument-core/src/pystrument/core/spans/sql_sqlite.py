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

from ..profiling.stack_sampler import current_unit
from .capture import accelerate, spanned

_cursor = sqlite3.Connection.cursor
_execute = sqlite3.Cursor.execute
_executemany = sqlite3.Cursor.executemany
_get_unit = current_unit.get


_spanned_execute = spanned(_execute, "sqlite")
_spanned_executemany = spanned(_executemany, "sqlite")


def _quick(call: Callable[..., Any], slow: Callable[..., Any], many: bool) -> Callable[..., Any]:
    """sqlite3's ``execute(sql, parameters=(), /)`` / ``executemany(sql, parameters, /)`` with the span-filing
    method on the side: when no unit keeps spans (most requests in the default configuration: continuous only),
    one Python call with positional arguments (no ``*args`` tuple or ``**kwargs`` dict), then sqlite3's C method;
    ``slow`` (capture.spanned) times and files the query when a unit keeps spans."""

    def method(self: Any, sql: Any, parameters: Any = (), /) -> Any:
        unit = _get_unit()
        if unit is None or unit.spans is None:
            return call(self, sql, parameters)
        return slow(self, sql, parameters)

    def method_many(self: Any, sql: Any, parameters: Any, /) -> Any:  # no default, as sqlite3's
        unit = _get_unit()
        if unit is None or unit.spans is None:
            return call(self, sql, parameters)
        return slow(self, sql, parameters)

    chosen: Callable[..., Any] = method_many if many else method
    chosen.__name__ = call.__name__
    chosen.__qualname__ = getattr(call, "__qualname__", call.__name__)
    return chosen


class Cursor(sqlite3.Cursor):
    # named as sqlite3's own: flame graphs and analyses show Cursor.execute / Connection.execute as without spans
    __slots__ = ()  # no instance dict: a cursor per query is made and freed without one
    execute = _quick(_execute, _spanned_execute, many=False)
    executemany = _quick(_executemany, _spanned_executemany, many=True)


# with the C module: Cursor.execute/executemany are C methods doing what _quick and spanned do (capture.accelerate)
ACCELERATED = accelerate(Cursor, _execute, _executemany, "sqlite")
_cursor_execute = Cursor.execute
_cursor_executemany = Cursor.executemany


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

    # sqlite3's own Connection.execute makes a cursor with self.cursor() but runs it in C, past our execute; ours
    # runs the cursor's: the C method (one Python call per query, this one) or, without the C module, sqlite3's C
    # method or the span-filing one when a unit keeps spans (no Cursor.execute in between)
    if ACCELERATED:
        def execute(self, sql: str, parameters: Any = (), /) -> Any:
            return _cursor_execute(_cursor(self, Cursor), sql, parameters)

        def executemany(self, sql: str, parameters: Any, /) -> Any:
            return _cursor_executemany(_cursor(self, Cursor), sql, parameters)
    else:
        def execute(self, sql: str, parameters: Any = (), /) -> Any:
            unit = _get_unit()
            if unit is None or unit.spans is None:
                return _execute(_cursor(self, Cursor), sql, parameters)
            return _spanned_execute(_cursor(self, Cursor), sql, parameters)

        def executemany(self, sql: str, parameters: Any, /) -> Any:
            unit = _get_unit()
            if unit is None or unit.spans is None:
                return _executemany(_cursor(self, Cursor), sql, parameters)
            return _spanned_executemany(_cursor(self, Cursor), sql, parameters)


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
