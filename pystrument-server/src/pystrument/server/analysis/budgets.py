"""Performance budgets per endpoint (issue #18 item 3, docs/budgets.md): what a budget is, which budgets apply to a
project, and how one version of a project is checked against them.

A budget names its endpoints by ``endpoint``: the record name exactly (``GET /orders``) or a glob (``GET /orders*``,
``* /admin/*``: ``fnmatch`` rules, case-sensitive). Its limits, each optional (at least one is required):

- ``p95_ms``: the endpoint's p95 duration in the version, from the roll-ups (the p95 of ``/endpoints?version=``);
- ``queries_p95`` / ``http_calls_p95``: the p95 of SQL queries / outbound HTTP calls per request, from the latest
  records' spans (``/endpoints/spans``);
- ``functions``: ``[{function, max_share_pct}]``: the self time of the functions whose name matches ``function`` (a
  glob on the function name, or on ``file:function``), in percent of the endpoint's self time in the version (the
  ``self_share`` of ``/functions?endpoint=&version=``, summed over the matching functions).

A version is judged only once it has ``min_requests`` requests of the endpoint (default 20): a p95 of three
requests says little. Budgets come from the server's ``budgets`` setting and from each project's own
(``PUT /projects/{id}/budgets``, kept in its settings): a project budget replaces the server's budget of the same
``endpoint`` pattern; the server's other budgets still apply.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import fnmatch
from typing import Annotated, Any

import msgspec
from pystrument.server.stats import rollup
from pystrument.server.stats import spans as span_stats
from pystrument.server.stats import summary as stats
from pystrument.server.stores.base import Filters, Store

MAX_BUDGETS = 200
METRICS = ("p95_ms", "queries_p95", "http_calls_p95", "function_share_pct")
FUNCTION_PAGE = 1000
HELP = ("a budget is {endpoint: 'GET /orders' or a glob like 'GET /orders*', p95_ms: > 0, queries_p95: >= 0, http_calls_p95: >= 0, "
        "functions: [{function: a name or glob, max_share_pct: 0-100}], min_requests: >= 1 (default 20)}, with at least one limit")


class FunctionBudget(msgspec.Struct, forbid_unknown_fields=True):
    function: Annotated[str, msgspec.Meta(min_length=1, max_length=500)]
    max_share_pct: Annotated[float, msgspec.Meta(gt=0, le=100)]


class Budget(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True):
    endpoint: Annotated[str, msgspec.Meta(min_length=1, max_length=500)]
    p95_ms: Annotated[float, msgspec.Meta(gt=0)] | None = None
    queries_p95: Annotated[float, msgspec.Meta(ge=0)] | None = None
    http_calls_p95: Annotated[float, msgspec.Meta(ge=0)] | None = None
    functions: list[FunctionBudget] = []
    min_requests: Annotated[int, msgspec.Meta(ge=1, le=1_000_000)] = 20

    def matches(self, endpoint: str) -> bool:
        return endpoint == self.endpoint or fnmatch.fnmatchcase(endpoint, self.endpoint)


def parse(value: Any, where: str = "budgets") -> list[Budget]:
    """Validate a list of budgets; raises ValueError saying which budget, what is wrong and how a budget looks."""
    if value is None:
        return []
    if not isinstance(value, list):
        raise ValueError(f"{where}: expected a list of budgets, got {type(value).__name__}; {HELP}")
    if len(value) > MAX_BUDGETS:
        raise ValueError(f"{where}: {len(value)} budgets, at most {MAX_BUDGETS}: use globs to cover several endpoints with one")
    out: list[Budget] = []
    seen: set[str] = set()
    for i, item in enumerate(value):
        try:
            budget = msgspec.convert(item, Budget)
        except msgspec.ValidationError as exc:
            raise ValueError(f"{where}[{i}]: {exc}; {HELP}") from None
        if budget.p95_ms is None and budget.queries_p95 is None and budget.http_calls_p95 is None and not budget.functions:
            raise ValueError(f"{where}[{i}] ({budget.endpoint!r}) sets no limit: add p95_ms, queries_p95, http_calls_p95 or functions")
        if budget.endpoint in seen:
            raise ValueError(f"{where}[{i}]: a second budget for {budget.endpoint!r}: put its limits into one budget")
        seen.add(budget.endpoint)
        out.append(budget)
    return out


def to_builtins(budgets: list[Budget]) -> list[dict[str, Any]]:
    return [msgspec.to_builtins(b) for b in budgets]


def effective(project: dict[str, Any], settings: object) -> list[Budget]:  # ServerSettings (settings.py imports this module)
    """The project's budgets, then the server's whose ``endpoint`` pattern the project does not set itself."""
    own = parse((project.get("settings") or {}).get("budgets"), "settings.budgets")
    patterns = {b.endpoint for b in own}
    return own + [b for b in parse(getattr(settings, "budgets", None) or []) if b.endpoint not in patterns]


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat().replace("+00:00", "Z")


def _breach(version: str, endpoint: str, budget: Budget, metric: str, limit: float, measured: float, requests: int,
            function: str = "") -> dict[str, Any]:
    return {"version": version, "endpoint": endpoint, "budget": budget.endpoint, "metric": metric, "function": function,
            "limit": limit, "measured": round(measured, 3), "requests": requests, "checked_at": _now()}


def breach_key(b: dict[str, Any]) -> tuple[str, str, str, str, str]:
    return (b["version"], b["endpoint"], b["budget"], b["metric"], b.get("function") or "")


def _function_share(store: Store, project_id: str, endpoint: str, version: str, pattern: str) -> float:
    """Percent of the endpoint's self time in the version spent in functions matching ``pattern``."""
    matched, offset = 0.0, 0
    while True:
        page = store.function_page(project_id, endpoint, version, offset, FUNCTION_PAGE)
        for row in page.rows:
            function, file, _line = rollup.split_function_key(row.fkey)
            if fnmatch.fnmatchcase(function, pattern) or fnmatch.fnmatchcase(f"{file}:{function}", pattern):
                matched += row.self_ms
        offset += len(page.rows)
        if not page.rows or offset >= page.total:
            return 100.0 * matched / page.total_self_ms if page.total_self_ms > 0 else 0.0


def check_version(store: Store, project_id: str, version: str, budgets: list[Budget], sample_limit: int,
                  environment: str | None = None) -> list[dict[str, Any]]:
    """The breaches of one version: every (endpoint, budget) with enough requests, from the figures the UI shows."""
    if not budgets:
        return []
    base = Filters(version=version, environment=environment)
    breaches: list[dict[str, Any]] = []
    for item in stats.endpoints(store, project_id, base):
        endpoint, count = item["endpoint"], int(item["count"])
        for budget in budgets:
            if not budget.matches(endpoint) or count < budget.min_requests:
                continue
            if budget.p95_ms is not None and item["p95"] > budget.p95_ms:
                breaches.append(_breach(version, endpoint, budget, "p95_ms", budget.p95_ms, item["p95"], count))
            if budget.queries_p95 is not None or budget.http_calls_p95 is not None:
                spans = span_stats.endpoint_spans(store, project_id, dataclasses.replace(base, endpoint=endpoint), sample_limit)
                if spans:
                    for metric, limit, figure in (("queries_p95", budget.queries_p95, "queries"),
                                                  ("http_calls_p95", budget.http_calls_p95, "http_calls")):
                        measured = spans[0][figure]["p95"]
                        if limit is not None and measured > limit:
                            breaches.append(_breach(version, endpoint, budget, metric, limit, measured, count))
            for fb in budget.functions:
                share = _function_share(store, project_id, endpoint, version, fb.function)
                if share > fb.max_share_pct:
                    breaches.append(_breach(version, endpoint, budget, "function_share_pct", fb.max_share_pct, share, count, fb.function))
    return breaches


def describe(b: dict[str, Any]) -> str:
    """One readable line: endpoint, budget, measured value (the CI gate's report and the logs)."""
    what = {"p95_ms": ("p95 duration", "ms"), "queries_p95": ("queries per request (p95)", ""),
            "http_calls_p95": ("outbound HTTP calls per request (p95)", ""),
            "function_share_pct": (f"share of {b.get('function')}", "%")}[b["metric"]]
    unit = what[1]
    return (f"{b['endpoint']}: {what[0]} {b['measured']:g}{unit} over its budget of {b['limit']:g}{unit} "
            f"(budget {b['budget']!r}, version {b['version']}, {b['requests']} requests)")
