"""Helpers shared by the rule-based analysers: severity, rounding, the finding's place."""

from __future__ import annotations

from typing import Any

# ranking lives in core (the server ranks the findings it stores too); re-exported here for the analysers
from pystrument.core.analysis import SEVERITY_RANK as SEVERITY_RANK
from pystrument.core.analysis import Finding as Finding
from pystrument.core.analysis import Severity as Severity
from pystrument.core.analysis import rank_findings as rank_findings
from pystrument.core.analysis import rank_key as rank_key

from ..tree import Frame


def severity(ms: float, share: float, *, high: tuple[float, float] = (100.0, 0.3), medium: tuple[float, float] = (20.0, 0.15)) -> Severity:
    """``high`` / ``medium`` when both the time and the share reach the thresholds, else ``low``."""
    if ms >= high[0] and share >= high[1]:
        return "high"
    if ms >= medium[0] and share >= medium[1]:
        return "medium"
    return "low"


def r(value: float, digits: int = 1) -> float:
    return round(float(value), digits)


def finding(analyser: str, title: str, frame: Frame | None, evidence: dict[str, Any], suggestion: str,
            saving_ms: float, confidence: float, sev: Severity, code: str = "", params: dict[str, Any] | None = None,
            suggestion_code: str = "", note_code: str = "") -> Finding:
    """A finding at ``frame``; ``code`` and ``params`` say the title again as a message a UI translates
    (``params`` gains ``function``; times in ms, shares as 0..1); ``suggestion_code`` and ``note_code`` say
    the suggestion and ``evidence["note"]`` again, with their parameters in ``params`` too."""
    node = frame.node if frame is not None else None
    return Finding(
        analyser=analyser,
        title=title,
        function=node.function if node else "",
        file=node.file if node else "",
        line=node.line if node else 0,
        evidence=evidence,
        suggestion=suggestion,
        expected_saving_ms=r(saving_ms),
        confidence=round(min(max(confidence, 0.0), 1.0), 2),
        severity=sev,
        code=code,
        params={"function": node.function if node else "", **(params or {})} if code or suggestion_code else {},
        suggestion_code=suggestion_code,
        note_code=note_code,
    )
