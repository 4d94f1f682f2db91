"""Run the registered analysers over one context: each in its own failsafe, findings ranked."""

from __future__ import annotations

from typing import Any

from pystrument.core import plugins
from pystrument.core.analysis import AnalysisContext, Finding
from pystrument.core.failsafe import report

from .rules.base import rank_findings


def registered_analysers() -> dict[str, Any]:
    """Every analyser registered through ``register_analysers`` (ours and third parties'), by name."""
    return plugins.provided("register_analysers")


def run_analysers(context: AnalysisContext, analysers: dict[str, Any] | None = None) -> list[Finding]:
    """All findings of ``analysers`` (default: the registered ones), most important first.

    An analyser that raises is reported through ``pystrument.core.failsafe`` (logged in production,
    a failure in tests) and the others still run.
    """
    if analysers is None:
        analysers = registered_analysers()
    findings: list[Finding] = []
    for name, analyser in analysers.items():
        try:
            found = analyser.analyse(context)
        except Exception as exc:
            report(f"analyser {name}", exc)
            continue
        findings.extend(f for f in found if isinstance(f, Finding))
    return rank_findings(findings)
