"""Raw spans -> ``Span`` structs, in the background thread (normalising statements and URLs there)."""

from __future__ import annotations

from ..record import Span
from ..unit import Unit
from .normalise import normalise_sql, safe_url, statement_text


def build_spans(unit: Unit) -> list[Span]:
    t_unit = unit.t0
    out: list[Span] = []
    for kind, t0, t1, text, db, method, url, status, error, file, line, function in unit.spans:
        start_ms = round((t0 - t_unit) * 1000.0, 3)
        duration_ms = round((t1 - t0) * 1000.0, 3)
        if kind == "sql":
            out.append(Span("sql", start_ms, duration_ms, statement=normalise_sql(statement_text(text)), db=db,
                            error=error, file=file, line=line, function=function))
        else:
            safe, host = safe_url(url)
            out.append(Span("http", start_ms, duration_ms, host=host, method=method, url=safe, status=status,
                            error=error, file=file, line=line, function=function))
    return out
