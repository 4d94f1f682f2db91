"""Filing spans on the request thread: cheap, bounded, never raising into the host.

A hook asks ``unit_for_span()`` first: one ContextVar get when no sampled unit runs. While a unit runs
it times the call with ``perf_counter`` and files a raw tuple with the issuing application frame's code object
and line; the background thread turns raw tuples into ``Span`` structs (``build.py``: normalising, file and
function names). A library-level hook (SQLAlchemy, Django, requests) sets ``outer`` while it runs so the layer
under it (the DB-API cursor, urllib3) files nothing: one span per call.

Everything here runs with the profiler's hook on, where every Python call and every call of a C function costs a
profiler event (~0.1-0.3 µs each): the DB-API cursors' hot path is C (``accelerate``, ``_capture.c``); the
Python paths here are the library-level hooks', failed calls', and the fallback where the C module was not
built. Source files are classified once, kept in sets of strings whose hash is cached (a code object's is not,
and costs ~0.2 µs).
"""

from __future__ import annotations

import contextvars
import sys
from collections.abc import Callable
from time import perf_counter
from types import CodeType, FrameType
from typing import Any

from ..calltree import is_app_file
from ..failsafe import report
from ..profiling.stack_sampler import current_unit
from ..unit import Unit

try:  # the hot path in C, compiled by the distribution's build hook (pystrument-core/hatch_build.py)
    from . import _capture
except ImportError:  # not built here (no compiler): ``spanned`` below, the same spans at a higher cost
    _capture = None  # type: ignore[assignment]

# raw span: (kind, t0, t1, text, db, method, url, status, error, code of the issuing app frame or None, line)
Raw = tuple[str, float, float, Any, str, str, str, int, str, CodeType | None, int]

# True while a library-level span is open in this context: the layers under it do not file their own
outer: contextvars.ContextVar[bool] = contextvars.ContextVar("pystrument_span_outer", default=False)
# Set once a library-level hook has run in the process: until then nobody reads ``outer`` (one call less per query)
outer_seen = False

MAX_FRAMES = 100  # frames walked looking for the application's
_getframe = sys._getframe
# source files seen while looking for the application frame, by kind
_app_files: set[str] = set()
_lib_files: set[str] = set()
MAX_FILES = 100_000


def open_outer() -> contextvars.Token[bool]:
    """A library-level span begins: the layers under it file nothing until ``close_outer``."""
    global outer_seen
    if not outer_seen:
        outer_seen = True
        if _capture is not None:
            _capture.see_outer()
    return outer.set(True)


def close_outer(token: contextvars.Token[bool]) -> None:
    try:
        outer.reset(token)
    except ValueError:  # closed in another context (a greenlet, a callback): clear this context's flag
        outer.set(False)


def unit_for_span() -> Unit | None:
    """The running sampled unit that keeps spans, or None (no unit, spans off, or an outer span open)."""
    unit = current_unit.get()
    if unit is None or unit.spans is None or (outer_seen and outer.get()):
        return None
    return unit


def _classify(filename: str) -> bool:
    if len(_app_files) + len(_lib_files) > MAX_FILES:  # files made at run time (exec, templates) must not pile up
        _app_files.clear()
        _lib_files.clear()
    app = is_app_file(filename)
    (_app_files if app else _lib_files).add(filename)
    return app


def _app_frame(frame: FrameType | None) -> tuple[CodeType | None, int]:
    """The first application frame from ``frame`` outwards: its code object and line, or (None, 0)."""
    depth = 0
    while frame is not None and depth < MAX_FRAMES:
        code = frame.f_code
        filename = code.co_filename
        if filename in _app_files or (filename not in _lib_files and _classify(filename)):
            return code, frame.f_lineno
        frame = frame.f_back
        depth += 1
    return None, 0


def file_span(unit: Unit, kind: str, t0: float, text: Any, db: str = "", method: str = "", url: str = "",
              status: int = 0, error: str = "") -> None:
    """File one raw span on the unit, or count it when the unit has no room left (``max_spans_per_unit``).

    For the library-level hooks (SQLAlchemy, Django, HTTP clients) and failed calls; DB-API cursors use the C
    methods (``accelerate``) or, without them, ``spanned()``.
    """
    t1 = perf_counter()
    log = unit.spans
    if log.left <= 0:
        log.dropped += 1
        return
    log.left -= 1
    code, line = _app_frame(_getframe(1))
    log.append((kind, t0, t1, text, db, method, url, status, error, code, line))


def spanned(call: Callable[..., Any], db: str) -> Callable[..., Any]:
    """A DB-API cursor's ``execute``/``executemany`` (``call``, the driver's own) as a method of a cursor subclass
    that files a SQL span of ``db`` while a unit runs.

    The pure-Python path, where the C module (``accelerate``) was not built: while a unit keeps spans it runs the
    driver's method through ``timed_sql``, as the DB-API proxies do.
    """

    def method(self: Any, statement: Any, /, *args: Any, **kwargs: Any) -> Any:
        unit = unit_for_span()
        if unit is None:
            return call(self, statement, *args, **kwargs)
        return timed_sql(unit, call.__get__(self), statement, db, args, kwargs)

    method.__name__ = call.__name__
    method.__qualname__ = getattr(call, "__qualname__", call.__name__)
    return method


def accelerate(cls: type, execute: Callable[..., Any], executemany: Callable[..., Any], db: str) -> bool:
    """Make ``cls.execute``/``cls.executemany`` (a cursor subclass) the C span-filing methods around the driver's
    ``execute``/``executemany``: ``spanned()``'s work with no Python call and one profiler event per query, as the
    driver's own C method (``_capture.c``). False, and nothing changed, where the C module was not built."""
    if _capture is None:
        return False
    _capture.install(cls, execute, executemany, db)
    return True


def timed_sql(unit: Unit, call: Callable[..., Any], statement: Any, db: str, args: tuple[Any, ...],
              kwargs: dict[str, Any]) -> Any:
    """Run a driver's execute call as a SQL span of ``unit`` (the proxies of ``sql_dbapi.py``)."""
    t0 = perf_counter()
    try:
        result = call(statement, *args, **kwargs)
    except BaseException as exc:
        file_span(unit, "sql", t0, statement, db, error=type(exc).__name__)
        raise
    file_span(unit, "sql", t0, statement, db)
    return result


if _capture is not None:
    _capture.configure(current_unit, outer, _app_files, _lib_files, _classify, file_span, report, perf_counter)
    _capture.set_unit_type(Unit)
