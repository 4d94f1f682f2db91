"""Rule-based analysers: no network, no litellm. Each is a plugin (``register_analysers``)."""

from __future__ import annotations

from pystrument.core.analysis import Analyser

from .async_blocking import AsyncBlockingAnalyser
from .base import rank_findings
from .costly import CostlyCallAnalyser
from .hot_path import HotPathAnalyser
from .regressions import RegressionAnalyser
from .repeated import RepeatedCallAnalyser


def default_analysers() -> list[Analyser]:
    """The built-in analysers, with their default thresholds."""
    return [HotPathAnalyser(), RepeatedCallAnalyser(), AsyncBlockingAnalyser(), CostlyCallAnalyser(), RegressionAnalyser()]


__all__ = [
    "AsyncBlockingAnalyser", "CostlyCallAnalyser", "HotPathAnalyser", "RegressionAnalyser", "RepeatedCallAnalyser",
    "default_analysers", "rank_findings",
]
