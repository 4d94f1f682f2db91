"""Filing spans on the request thread: cheap, bounded, never raising into the host.

A hook asks ``unit_for_span()`` first: one ContextVar get when no sampled unit runs. While a unit runs
it times the call with ``perf_counter`` and files a raw tuple with the issuing application frame; the
background thread turns raw tuples into ``Span`` structs (``build.py``). A library-level hook (SQLAlchemy,
Django, requests) sets ``outer`` while it runs so the layer under it (the DB-API cursor, urllib3) files
nothing: one span per call.
"""

from __future__ import annotations

import contextvars
import sys
from collections.abc import Callable
from time import perf_counter
from types import CodeType, FrameType
from typing import Any

from ..calltree import is_app_file
from ..profiling.stack_sampler import current_unit
from ..unit import Unit

# raw span: (kind, t0, t1, text, db, method, url, status, error, file, line, function)
Raw = tuple[str, float, float, Any, str, str, str, int, str, str, int, str]

# True while a library-level span is open in this context: the layers under it do not file their own
outer: contextvars.ContextVar[bool] = contextvars.ContextVar("pystrument_span_outer", default=False)
# Set once a library-level hook has run in the process: until then nobody reads ``outer`` (one call less per query)
outer_seen = False

MAX_FRAMES = 100  # frames walked looking for the application's
_getframe = sys._getframe
# code objects seen while looking for the application frame, by kind (membership tests are not calls: while the
# profiler's hook is on, every call costs an event, so the hot path below makes as few as it can)
_app_codes: set[CodeType] = set()
_lib_codes: set[CodeType] = set()
MAX_CODES = 100_000


def open_outer() -> contextvars.Token[bool]:
    """A library-level span begins: the layers under it file nothing until ``close_outer``."""
    global outer_seen
    outer_seen = True
    return outer.set(True)


def close_outer(token: contextvars.Token[bool]) -> None:
    try:
        outer.reset(token)
    except ValueError:  # closed in another context (a greenlet, a callback): clear this context's flag
        outer.set(False)


def unit_for_span() -> Unit | None:
    """The running sampled unit that keeps spans, or None (no unit, spans off, or an outer span open)."""
    unit = current_unit.get()
    if unit is None or not unit.max_spans or (outer_seen and outer.get()):
        return None
    return unit


def app_frame(depth: int = 2) -> tuple[str, int, str]:
    """``(file, line, function)`` of the innermost application frame calling us (is_app rule of the call tree)."""
    frame: FrameType | None = sys._getframe(depth)
    for _ in range(MAX_FRAMES):
        if frame is None:
            break
        code = frame.f_code
        if is_app_file(code.co_filename):
            return code.co_filename, frame.f_lineno, code.co_name
        frame = frame.f_back
    return "", 0, ""


def _classify(code: CodeType) -> bool:
    if len(_app_codes) + len(_lib_codes) > MAX_CODES:  # code made at run time (exec, templates) must not pile up
        _app_codes.clear()
        _lib_codes.clear()
    app = is_app_file(code.co_filename)
    (_app_codes if app else _lib_codes).add(code)
    return app


def file_span(unit: Unit, kind: str, t0: float, text: Any, db: str = "", method: str = "", url: str = "",
              status: int = 0, error: str = "") -> None:
    """File one raw span on the unit, or count it when the unit has no room left (``max_spans_per_unit``).

    The hot path of span capture, run with the profiler's hook on: three calls (the clock, the frame, and
    rarely the classification of a code object not seen before); the application frame is found inline.
    """
    t1 = perf_counter()
    if unit.spans_left <= 0:
        unit.spans_dropped += 1
        return
    unit.spans_left -= 1
    frame: FrameType | None = _getframe(1)
    depth = 0
    while frame is not None and depth < MAX_FRAMES:
        code = frame.f_code
        if code in _app_codes or (code not in _lib_codes and _classify(code)):
            unit.spans += ((kind, t0, t1, text, db, method, url, status, error, code.co_filename, frame.f_lineno,
                            code.co_name),)  # += a tuple: no method call (append would be one more profiler event)
            return
        frame = frame.f_back
        depth += 1
    unit.spans += ((kind, t0, t1, text, db, method, url, status, error, "", 0, ""),)


def timed_sql(unit: Unit, call: Callable[..., Any], statement: Any, db: str, args: tuple[Any, ...],
              kwargs: dict[str, Any]) -> Any:
    """Run a driver's execute call as a SQL span of ``unit``."""
    t0 = perf_counter()
    try:
        result = call(statement, *args, **kwargs)
    except BaseException as exc:
        file_span(unit, "sql", t0, statement, db, error=type(exc).__name__)
        raise
    file_span(unit, "sql", t0, statement, db)
    return result
