"""Regressed functions: the version comparison's function deltas, placed in the record under analysis.

``context.regressions`` holds the ``functions`` items of ``/projects/{id}/compare`` (docs/api.md):
``{"name", "base": {...}, "head": {...}, "change_pct", "delta_ms", "p_value", "significant", "kind"}``.
``name`` may be a bare function name or ``function (file:line)`` / ``file:line:function``; optional
``function``, ``file`` and ``line`` keys are used when present.
"""

from __future__ import annotations

import re
from typing import Any

from pystrument.core.analysis import AnalysisContext, Finding

from .. import messages
from ..tree import Frame, TreeView
from .base import finding, r

_WITH_LOCATION = re.compile(r"^(?P<function>.+?)\s*\((?P<file>.+):(?P<line>\d+)\)$")
_LOCATION_FIRST = re.compile(r"^(?P<file>.+):(?P<line>\d+):(?P<function>[^:]+)$")


def _identity(item: dict[str, Any]) -> tuple[str, str, int]:
    function, file, line = str(item.get("function") or ""), str(item.get("file") or ""), int(item.get("line") or 0)
    name = str(item.get("name") or "")
    m = _WITH_LOCATION.match(name) or _LOCATION_FIRST.match(name)
    if m:
        function = function or m.group("function")
        file = file or m.group("file")
        line = line or int(m.group("line"))
    return function or name, file, line


class RegressionAnalyser:
    name = "regressions"

    def __init__(self, min_delta_ms: float = 1.0) -> None:
        self.min_delta_ms = min_delta_ms

    def analyse(self, context: AnalysisContext) -> list[Finding]:
        if not context.regressions:
            return []
        view = TreeView(context.record)
        findings = []
        for item in context.regressions:
            if not isinstance(item, dict) or item.get("kind", "regression") != "regression":
                continue
            delta = float(item.get("delta_ms") or 0.0)
            if delta < self.min_delta_ms:
                continue
            function, file, line = _identity(item)
            frames = [f for f in view.frames if f.function == function and (not file or f.node.file.endswith(file) or file.endswith(f.node.file))
                      and (not line or f.node.line == line)]
            frame = max(frames, key=lambda f: f.node.time_ms) if frames else None
            findings.append(self._finding(context, view, item, function, file, line, delta, frame))
        return findings

    def _finding(self, context: AnalysisContext, view: TreeView, item: dict[str, Any], function: str, file: str, line: int,
                 delta: float, frame: Frame | None) -> Finding:
        base, head = item.get("base") or {}, item.get("head") or {}
        significant = bool(item.get("significant", True))
        change = float(item.get("change_pct") or 0.0)
        evidence: dict[str, Any] = {
            "delta_ms": r(delta), "change_pct": r(change), "base": base, "head": head, "significant": significant,
        }
        for key in ("p_value", "effect_size"):
            if key in item:
                evidence[key] = item[key]
        params: dict[str, Any] = {"delta_ms": r(delta), "change_pct": r(change)}
        suggestion_code = "regressed.compare"
        if frame is not None:
            evidence["in_this_record_ms"] = r(frame.node.time_ms)
            evidence["path"] = " > ".join(frame.path())
            callees = sorted(frame.children, key=lambda c: -c.node.time_ms)[:3]
            if callees:
                names = ", ".join(f"{c.function} ({c.node.time_ms:.1f} ms)" for c in callees)
                evidence["top_callees"] = names
                suggestion_code, params["callees"] = "regressed.callees", names
        suggestion = messages.suggestion(suggestion_code, function=function, **params)
        sev = "high" if significant and (delta >= 50 or change >= 100) else ("medium" if significant else "low")
        confidence = 0.8 if significant else 0.4
        f = finding(self.name, f"Regressed: {function} +{delta:.1f} ms ({change:+.0f}%)", frame, evidence, suggestion,
                    delta, confidence, sev, "regressed", params, suggestion_code)  # type: ignore[arg-type]
        if frame is None:
            f.function, f.file, f.line = function, file, line
            f.params["function"] = function
        return f
