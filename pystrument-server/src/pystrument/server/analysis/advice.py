"""Advice that is checked (docs/analysis.md): what each finding predicts, and how its target is measured.

A finding's *target* is what it says to change: a function (``function`` + ``file``) or, for an N+1 finding that
names a statement or an HTTP call (``evidence.statement`` / ``evidence.http_call``), that statement. The *measure*
of a target at a version of an endpoint is its time per request: the mean over the latest ``advice_records``
detailed records of that endpoint and version, a record without the target counting 0. A function's time is that
of its outermost calls (inclusive: removing a function removes its callees' time too); a statement's, the summed
duration of its spans.

The *prediction*, made when the analysis finishes: the target, the analysed version, its measure there
(``baseline_ms``) and the saving per request it should bring, ``predicted_ms`` = ``baseline_ms`` x the share of the
target's time in the analysed record that the finding expects to save (``expected_saving_ms`` over the target's
time in that record, at most 1; 1 when the finding gives no saving).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from pystrument.core.record import CallNode, Record
from pystrument.server.stores.base import Filters, Store

if TYPE_CHECKING:
    from pystrument.server.settings import ServerSettings

SYNTHETIC = {"[root]", "[await]", "[thread]", "[other]", "[pystrument]"}


def target_of(finding: dict[str, Any]) -> dict[str, Any] | None:
    """The finding's target (None when it names nothing measurable)."""
    evidence: dict[str, Any] = finding["evidence"] if isinstance(finding.get("evidence"), dict) else {}
    for key, kind in (("statement", "sql"), ("http_call", "http")):
        text = evidence.get(key)
        if isinstance(text, str) and text:
            return {"kind": kind, "text": text, "function": finding.get("function") or "", "file": finding.get("file") or ""}
    function = finding.get("function") or ""
    if not function or function in SYNTHETIC:
        return None
    return {"kind": "function", "function": function, "file": finding.get("file") or ""}


def _function_ms(tree: CallNode | None, function: str, file: str) -> float:
    if tree is None:
        return 0.0
    total, stack = 0.0, [tree]
    while stack:
        node = stack.pop()
        if node.function == function and (not file or node.file == file):
            total += node.time_ms  # outermost call: its callees are in it
        elif node.children:
            stack.extend(node.children)
    return total


def target_ms(record: Record, target: dict[str, Any]) -> float:
    """The target's time in one record."""
    if target["kind"] == "function":
        return _function_ms(record.call_tree, target["function"], target["file"])
    kind, text = target["kind"], target["text"]
    # the N+1 rule's text: the statement, or "METHOD url" for an HTTP call (pystrument.ai.rules.span_repeats)
    return sum(s.duration_ms for s in record.spans if s.kind == kind and (s.statement if kind == "sql" else f"{s.method} {s.url}") == text)


def measure(records: Iterable[Record], targets: list[dict[str, Any]]) -> tuple[int, list[float]]:
    """(records read, each target's mean time per request over them)."""
    n, sums = 0, [0.0] * len(targets)
    for record in records:
        n += 1
        for i, target in enumerate(targets):
            sums[i] += target_ms(record, target)
    return n, [s / n if n else 0.0 for s in sums]


def version_records(store: Store, project_id: str, endpoint: str, version: str, limit: int) -> list[Record]:
    return list(store.sample_records(project_id, Filters(endpoint=endpoint, version=version), limit, with_tree=True))


def predict(store: Store, project_id: str, record: Record, findings: list[dict[str, Any]], settings: ServerSettings) -> int:
    """Add ``prediction`` to each finding (a dict in the API's shape) whose target shows in its version's records;
    returns how many got one."""
    targets = [target_of(f) for f in findings]
    wanted = [(f, t) for f, t in zip(findings, targets, strict=True) if t is not None]
    if not wanted:
        return 0
    records = version_records(store, project_id, record.name, record.app.version, settings.advice_records)
    if not any(r.record_id == record.record_id for r in records):
        records.append(record)
    n, baselines = measure(records, [t for _, t in wanted])
    made = 0
    for (finding, target), baseline in zip(wanted, baselines, strict=True):
        if baseline <= 0:
            continue  # the target is not in the profiles (a name the tree does not hold): nothing to check later
        in_record = target_ms(record, target)
        expected = float(finding.get("expected_saving_ms") or 0.0)
        share = min(1.0, expected / in_record) if expected > 0 and in_record > 0 else 1.0
        finding["prediction"] = {
            "target": target, "endpoint": record.name, "version": record.app.version, "records": n,
            "baseline_ms": round(baseline, 3), "share": round(share, 3), "predicted_ms": round(baseline * share, 3),
        }
        made += 1
    return made


def verdict(predicted_ms: float, measured_ms: float, settings: ServerSettings) -> str:
    confirm = settings.advice_confirm_share
    partly = min(settings.advice_partly_share, confirm)
    if measured_ms >= confirm * predicted_ms:
        return "confirmed"
    if measured_ms >= partly * predicted_ms:
        return "partly_confirmed"
    return "not_confirmed"
