"""N+1 from spans: the same statement (or HTTP call) issued from the same line many times in one unit.

Spans (``Record.spans``, docs/spans.md) count calls exactly, where the call tree can only infer a lower bound
from samples, and they name the statement and the issuing line. ``RepeatedCallAnalyser`` uses them to name
its tree findings' statement and count, and reports repeats the samples did not see (calls shorter than the
sampling interval) as findings of their own.
"""

from __future__ import annotations

import os
import statistics
from dataclasses import dataclass, field
from typing import Any

from pystrument.core.analysis import Finding
from pystrument.core.record import Record

from .base import r, severity

WHAT = {"sql": ("queries", "db"), "http": ("HTTP calls", "network")}
MAX_TEXT = 200  # characters of a statement shown in a title


@dataclass
class SpanRepeat:
    kind: str
    text: str  # the normalised statement, or "METHOD url"
    file: str
    line: int
    function: str
    count: int = 0
    ms: float = 0.0
    errors: int = 0
    used: bool = field(default=False, compare=False)

    @property
    def key(self) -> tuple[str, str, str, int]:
        return (self.kind, self.text, self.file, self.line)


def _text(span: Any) -> str:
    return span.statement if span.kind == "sql" else f"{span.method} {span.url}"


def span_groups(record: Record) -> dict[tuple[str, str, str, int], SpanRepeat]:
    groups: dict[tuple[str, str, str, int], SpanRepeat] = {}
    for span in getattr(record, "spans", None) or ():
        key = (span.kind, _text(span), span.file, span.line)
        group = groups.get(key)
        if group is None:
            group = groups[key] = SpanRepeat(span.kind, key[1], span.file, span.line, span.function)
        group.count += 1
        group.ms += span.duration_ms
        group.errors += bool(span.error)
    return groups


def repeats(record: Record, min_calls: int) -> list[SpanRepeat]:
    """Statements issued at least ``min_calls`` times from one line, most time first."""
    found = [g for g in span_groups(record).values() if g.count >= min_calls]
    found.sort(key=lambda g: (-g.ms, -g.count))
    return found


def _short(text: str) -> str:
    return text if len(text) <= MAX_TEXT else text[: MAX_TEXT - 1] + "…"


def _evidence(repeat: SpanRepeat, record: Record, peers: list[Record]) -> dict[str, Any]:
    evidence: dict[str, Any] = {
        "statement" if repeat.kind == "sql" else "http_call": repeat.text,
        "count_per_request": repeat.count,
        "spans_time_ms": r(repeat.ms, 2),
        "issued_at": f"{repeat.file}:{repeat.line}",
        "issued_by": repeat.function,
    }
    if repeat.errors:
        evidence["failed"] = repeat.errors
    if getattr(record, "spans_dropped", 0):
        evidence["spans_dropped"] = record.spans_dropped  # beyond max_spans_per_unit: the count is a lower bound
    counts = [g.count for p in peers if (g := span_groups(p).get(repeat.key)) is not None]
    if peers:
        evidence["peers_with_statement"] = f"{len(counts)} of {len(peers)}"
        if counts:
            evidence["peers_median_count"] = statistics.median(counts)
    return evidence


def _title(repeat: SpanRepeat, function: str) -> str:
    what = WHAT[repeat.kind][0]
    return (f"N+1 {what}: {function} runs `{_short(repeat.text)}` {repeat.count} times per request "
            f"at {os.path.basename(repeat.file)}:{repeat.line} ({repeat.ms:.1f} ms)")


def attach(finding: Finding, candidates: list[SpanRepeat], site_file: str, site_function: str, record: Record,
           peers: list[Record]) -> None:
    """Name in a tree finding the statement its site repeats, the exact count and the issuing line."""
    short = site_function.rpartition(".")[2]
    for repeat in candidates:
        if repeat.used or repeat.file != site_file or repeat.function != short:
            continue
        repeat.used = True
        finding.evidence.update(_evidence(repeat, record, peers))
        finding.evidence["calls_at_least"] = max(int(finding.evidence.get("calls_at_least", 0)), repeat.count)
        finding.evidence["calls_basis"] = "counted from spans"
        finding.title = _title(repeat, site_function) + f"; {finding.title}"
        return


def finding(repeat: SpanRepeat, record: Record, peers: list[Record], share: float, suggestion: str,
            confidence: float, suggestion_code: str = "") -> Finding:
    """A finding of its own for a repeat the call tree did not show (each call shorter than the sampling interval)."""
    return Finding(
        analyser="n_plus_one", title=_title(repeat, repeat.function or "?"), function=repeat.function,
        file=repeat.file, line=repeat.line, evidence={**_evidence(repeat, record, peers), "share": round(share, 3),
                                                      "calls_at_least": repeat.count, "calls_basis": "counted from spans"},
        suggestion=suggestion, expected_saving_ms=r(repeat.ms * (1.0 - 1.0 / repeat.count) * 0.8),
        confidence=confidence, severity=severity(repeat.ms, share), suggestion_code=suggestion_code,
    )
