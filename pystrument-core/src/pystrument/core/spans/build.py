"""Raw spans -> ``Span`` structs, in the background thread (normalising statements and URLs there)."""

from __future__ import annotations

from ..record import Span
from ..unit import Unit
from .normalise import normalise_sql, safe_url, statement_text


def build_spans(unit: Unit) -> list[Span]:
    base = unit.t0
    out: list[Span] = []
    append = out.append
    for kind, t0, t1, text, db, method, url, status, error, file, line, function in unit.spans:
        start_ms = round((t0 - base) * 1000.0, 3)
        duration_ms = round((t1 - t0) * 1000.0, 3)
        # positional: (kind, start_ms, duration_ms, statement, db, host, method, url, status, error, file, line, function)
        if kind == "sql":
            statement = normalise_sql(text if type(text) is str else statement_text(text))
            append(Span("sql", start_ms, duration_ms, statement, db, "", "", "", 0, error, file, line, function))
        else:
            safe, host = safe_url(url)
            append(Span("http", start_ms, duration_ms, "", "", host, method, safe, status, error, file, line, function))
    return out
