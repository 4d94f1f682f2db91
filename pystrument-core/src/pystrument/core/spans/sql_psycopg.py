"""psycopg (3): cursors of span-filing subclasses set as the connection's cursor factories, not proxies.

``psycopg.connect`` is wrapped: the connection it returns keeps its own class, and its ``cursor_factory`` and
``server_cursor_factory`` become this module's ``Cursor``/``ServerCursor`` (or a subclass combining the caller's own
factory: MRO theirs, ours, psycopg's). ``execute``/``executemany`` are then methods of the cursor itself: no proxy
delegation, no extra Python frame besides the timed method (each is a profiler event while a unit is profiled).
``connection.execute`` makes its cursor with ``cursor_factory``, so it is timed too. A factory set on the
connection after ``connect`` replaces ours: its cursors file no spans.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from types import ModuleType
from typing import Any

from .capture import accelerate, spanned

DB = "postgresql"
_made: dict[tuple[type, type], type] = {}


def _ours(base: Any) -> type:
    """``base`` (psycopg's Cursor or ServerCursor) with spanned execute and executemany, named as psycopg's."""
    namespace = {"__slots__": (), "__module__": base.__module__, "__qualname__": base.__qualname__,
                 "execute": spanned(base.execute, DB), "executemany": spanned(base.executemany, DB)}
    ours = type(base.__name__, (base,), namespace)
    accelerate(ours, base.execute, base.executemany, DB)  # C methods where the C module was built
    return ours


def _combine(factory: Any, ours: type, base: type) -> Any:
    """The cursor factory to set: ours for psycopg's own, a subclass of the caller's (made once), or theirs as it is
    when it is not a subclass of ``base`` (a callable: no spans from it)."""
    if factory is base or factory is None:
        return ours
    if not (isinstance(factory, type) and issubclass(factory, base)) or issubclass(factory, ours):
        return factory
    made = _made.get((factory, ours))
    if made is None:
        made = _made[(factory, ours)] = type(factory.__name__, (factory, ours), {"__slots__": ()})
    return made


def patch(module: ModuleType) -> None:
    """Wrap ``psycopg.connect`` (``module`` is psycopg): the connections it makes hand out spanned cursors."""
    connect = module.connect
    if getattr(connect, "__pystrument_spans__", False):
        return
    cursor, server_cursor = _ours(module.Cursor), _ours(module.ServerCursor)

    def wrap(connect: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(connect)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            conn = connect(*args, **kwargs)
            conn.cursor_factory = _combine(conn.cursor_factory, cursor, module.Cursor)
            conn.server_cursor_factory = _combine(conn.server_cursor_factory, server_cursor, module.ServerCursor)
            return conn

        wrapper.__pystrument_spans__ = True  # type: ignore[attr-defined]
        return wrapper

    module.connect = wrap(connect)  # type: ignore[attr-defined]
