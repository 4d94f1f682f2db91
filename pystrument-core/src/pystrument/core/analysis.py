"""Shared shapes of analysis: findings, results, and the analyser / AI provider interfaces.

The server runs analysis jobs; analysers and AI providers are plugins (``register_analysers``,
``register_ai_providers``) that only depend on these types.
"""

from __future__ import annotations

from typing import Any, Literal, Protocol

import msgspec

from .record import Record

Severity = Literal["info", "low", "medium", "high"]


class Finding(msgspec.Struct, omit_defaults=True):
    """One concrete thing to change: which function, where, what evidence, what to do, how much it saves."""

    analyser: str
    title: str
    function: str = ""
    file: str = ""
    line: int = 0
    evidence: dict[str, Any] = {}
    suggestion: str = ""
    expected_saving_ms: float = 0.0
    confidence: float = 0.5  # 0..1
    severity: Severity = "medium"
    # the title as a message code and its parameters, so a UI renders it in its own language ("" for free text)
    code: str = ""
    params: dict[str, Any] = {}
    # the suggestion and the evidence's note as message codes (their parameters in ``params``), for the same
    # UI; ``suggestion`` and ``evidence["note"]`` stay the English text for API users ("" for free text)
    suggestion_code: str = ""
    note_code: str = ""


SEVERITY_RANK: dict[str, int] = {"info": 0, "low": 1, "medium": 2, "high": 3}


def rank_key(finding: Finding) -> tuple[int, float]:
    return (-SEVERITY_RANK.get(finding.severity, 0), -(finding.expected_saving_ms * finding.confidence))


def rank_findings(findings: list[Finding]) -> list[Finding]:
    """Most important first: severity, then expected saving weighted by confidence."""
    return sorted(findings, key=rank_key)


class AnalysisResult(msgspec.Struct):
    summary: str = ""
    findings: list[Finding] = []
    raw: str | None = None


class AnalysisContext(msgspec.Struct):
    """What an analyser sees: the record under analysis and, when known, the endpoint's history."""

    record: Record
    # Other records of the same endpoint (recent, same version), for evidence across requests.
    peers: list[Record] = []
    # Version comparison deltas (the /compare "functions" items) when a regression is analysed.
    regressions: list[dict[str, Any]] = []
    language: Literal["en", "zh"] = "en"
    # What earlier findings on this endpoint predicted and what the later version measured (the server's advice
    # check): dicts with title, function, verdict, predicted_ms, measured_ms, version, against.
    advice: list[dict[str, Any]] = []


class Analyser(Protocol):
    """Rule-based: must need no network. ``analyse`` is synchronous and runs in a worker."""

    name: str

    def analyse(self, context: AnalysisContext) -> list[Finding]: ...


class AIProvider(Protocol):
    """An AI provider. ``analyse`` is synchronous, runs in a worker, and raises ``AIUnavailable`` on
    transport/auth/timeout problems with a message that says which and what to check."""

    name: str
    default_model: str

    def analyse(self, context: AnalysisContext, findings: list[Finding], settings: Any) -> AnalysisResult: ...


class AIUnavailable(Exception):
    """The provider cannot be reached or refuses us (maps to error code 20005)."""

    def __init__(self, message: str, *, reason: str = "unavailable") -> None:
        super().__init__(message)
        self.reason = reason  # "unreachable" | "auth" | "timeout" | "rate_limited" | "bad_response" | "unavailable"
