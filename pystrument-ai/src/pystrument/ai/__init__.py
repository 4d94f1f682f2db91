"""pystrument.ai: rule-based analysers and AI providers for the server's analysis jobs.

Importing this package never imports litellm (it takes seconds and ~300 MB): the AI providers import
it inside the call.

    from pystrument.ai import run_analysers, AISettings
"""

from .analyse import registered_analysers, run_analysers
from .providers import LiteLLMProvider, builtin_providers
from .redact import redact
from .rules import (
    AsyncBlockingAnalyser,
    CostlyCallAnalyser,
    HotPathAnalyser,
    RegressionAnalyser,
    RepeatedCallAnalyser,
    default_analysers,
    rank_findings,
)
from .settings import AISettings, ProviderOptions
from .settings import resolve as resolve_settings

__all__ = [
    "AISettings", "LiteLLMProvider", "ProviderOptions", "builtin_providers", "redact", "resolve_settings",
    "AsyncBlockingAnalyser", "CostlyCallAnalyser", "HotPathAnalyser", "RegressionAnalyser", "RepeatedCallAnalyser",
    "default_analysers", "rank_findings", "registered_analysers", "run_analysers",
]
