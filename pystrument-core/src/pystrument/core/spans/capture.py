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
from types import FrameType
from typing import Any

from ..calltree import is_app_file
from ..profiling.stack_sampler import current_unit
from ..unit import Unit

# raw span: (kind, t0, t1, text, db, method, url, status, error, file, line, function)
Raw = tuple[str, float, float, Any, str, str, str, int, str, str, int, str]

# True while a library-level span is open in this context: the layers under it do not file their own
outer: contextvars.ContextVar[bool] = contextvars.ContextVar("pystrument_span_outer", default=False)

MAX_FRAMES = 100  # frames walked looking for the application's


def unit_for_span() -> Unit | None:
    """The running sampled unit that keeps spans, or None (no unit, spans off, or an outer span open)."""
    unit = current_unit.get()
    if unit is None or not unit.max_spans or outer.get():
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


def file_span(unit: Unit, kind: str, t0: float, text: Any, db: str = "", method: str = "", url: str = "",
              status: int = 0, error: str = "") -> None:
    """File one raw span on the unit, or count it when the unit holds ``max_spans`` already."""
    spans = unit.spans
    if len(spans) < unit.max_spans:
        spans.append((kind, t0, perf_counter(), text, db, method, url, status, error, *app_frame()))
    else:
        unit.spans_dropped += 1


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
