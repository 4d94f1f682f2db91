"""A unit's span store, ``unit.spans``: ``SpanLog(max_spans)``, bounded (``left``, ``dropped``).

The C module's where it was built (``_capture.c``: the fast SQL spans filed by the C cursor methods are C structs,
so a span makes no Python object on the request thread), else this pure-Python twin: a list of raw tuples
(``capture.Raw``). Both take ``append(raw)`` from the Python paths (``capture.file_span``) and make the ``Span``
structs with ``build(...)`` in the background thread (``build.py``), in filing order.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


class PySpanLog(list[tuple[Any, ...]]):
    __slots__ = ("left", "dropped")

    def __init__(self, max_spans: int) -> None:
        super().__init__()
        self.left = max_spans  # room left for spans (max_spans_per_unit, counted down)
        self.dropped = 0  # spans not kept for want of room

    def build(self, base: float, statements: dict[object, str], statement_of: Callable[[object], str],
              from_raw: Callable[[float, tuple[Any, ...]], Any], span: type) -> list[Any]:
        return [from_raw(base, raw) for raw in self]


__all__ = ["PySpanLog", "SpanLog"]

try:
    from ._capture import SpanLog
except ImportError:  # not built here: the pure-Python twin
    SpanLog = PySpanLog  # type: ignore[assignment,misc]
