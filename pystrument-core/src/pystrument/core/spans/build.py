"""Raw spans -> ``Span`` structs, in the background thread (normalising statements and URLs there)."""

from __future__ import annotations

from typing import Any

from ..record import Span
from .normalise import normalise_sql, safe_url, statement_text

# raw statement object -> normalised text, for the statements seen most (a dict lookup, cheaper than the lru_cache
# of normalise_sql); str, bytes and other hashable statements only, bounded
_statements: dict[object, str] = {}
MAX_STATEMENTS = 4096


def _statement(text: object) -> str:
    try:
        cached = _statements.get(text)
    except TypeError:  # an unhashable statement object: normalised every time
        return normalise_sql(statement_text(text))
    if cached is None:
        cached = normalise_sql(text if type(text) is str else statement_text(text))
        if len(_statements) >= MAX_STATEMENTS:
            _statements.clear()
        _statements[text] = cached
    return cached


def from_raw(base: float, raw: tuple[Any, ...]) -> Span:
    """One raw span (``capture.Raw``) as a ``Span``; ``base`` is the unit's start (``perf_counter``)."""
    kind, t0, t1, text, db, method, url, status, error, code, line = raw
    # rounded to the µs: round(x, 3) would cost ~0.2 µs each (a correctly rounded decimal conversion)
    start_ms = ((t0 - base) * 1e6 + 0.5) // 1.0 / 1000.0
    duration_ms = ((t1 - t0) * 1e6 + 0.5) // 1.0 / 1000.0
    file, function = (code.co_filename, code.co_name) if code is not None else ("", "")
    # positional: (kind, start_ms, duration_ms, statement, db, host, method, url, status, error, file, line, function)
    if kind == "sql":
        statement = _statements.get(text) if type(text) is str else None
        if statement is None:
            statement = _statement(text)
        return Span("sql", start_ms, duration_ms, statement, db, "", "", "", 0, error, file, line, function)
    safe, host = safe_url(url)
    return Span("http", start_ms, duration_ms, "", "", host, method, safe, status, error, file, line, function)


def build_spans(log: Any, base: float) -> list[Span]:
    """A unit's spans (its ``SpanLog``, spans/log.py) as ``Span`` structs, offsets from ``base`` (the unit's start).

    The C log makes the fast SQL spans' structs itself and calls ``from_raw`` for the others."""
    spans: list[Span] = log.build(base, _statements, _statement, from_raw, Span)
    return spans
