"""The OpenAPI 3.1 document at ``/api/v1/openapi.json``: every endpoint, its parameters, and the real
response shapes (each in the envelope). Record and Finding schemas are generated from the msgspec
structs shared with the SDK; the rest is written here beside the handlers' shapes. Descriptions, parameter docs
and error codes per operation are added by openapi_text.annotate; docs/api.md is generated from the result."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import msgspec
from pystrument.core.analysis import Finding
from pystrument.server.analysis import advice_schema
from pystrument.server.api.export import FORMATS
from pystrument.server.api.openapi_text import annotate
from pystrument.server.ingest.types import IngestRecord
from pystrument.server.stats.summary import BUCKETS
from pystrument.server.stores.base import TRIGGERS
from pystrument.server.version import __version__

REF = "#/components/schemas/{name}"


def ref(name: str) -> dict[str, str]:
    return {"$ref": REF.format(name=name)}


def obj(props: dict[str, Any], required: list[str] | None = None) -> dict[str, Any]:
    return {"type": "object", "properties": props, "required": list(props) if required is None else required}


S, INT, N, B = {"type": "string"}, {"type": "integer"}, {"type": "number"}, {"type": "boolean"}
NS = {"type": ["string", "null"]}


def arr(item: dict[str, Any]) -> dict[str, Any]:
    return {"type": "array", "items": item}


# the record as the server decodes it (ingest_types: every number bounded), under the SDK's names
_INGEST_NAMES = {"IngestRecord": "Record", "IngestNode": "CallNode", "IngestApp": "AppInfo"}


def _record_schemas() -> dict[str, Any]:
    _, generated = msgspec.json.schema_components([IngestRecord, Finding], ref_template=REF)
    text = msgspec.json.encode(generated).decode()
    for ours, theirs in _INGEST_NAMES.items():
        text = text.replace(f'"{REF.format(name=ours)}"', f'"{REF.format(name=theirs)}"')
    out: dict[str, Any] = {_INGEST_NAMES.get(k, k): v for k, v in msgspec.json.decode(text).items()}
    for theirs in _INGEST_NAMES.values():
        out[theirs]["title"] = theirs
    return out


def _schemas() -> dict[str, Any]:
    generated = {**_record_schemas(), **advice_schema.components()}
    generated["Finding"]["properties"].update({  # set by the server, not by analysers (advice.py, advice_check.py)
        "prediction": {"allOf": [ref("Prediction")], "description": "What the finding predicts (absent when it names nothing measurable)."},
        "check": {"allOf": [ref("AdviceCheck")], "description": "The prediction checked against a later version (absent until one has "
                  "enough requests)."}})
    stats_block = obj({"count": INT, "p50": N, "p95": N, "mean": N})
    flame_node: dict[str, Any] = obj({
        "function": S, "file": S, "line": INT, "time_ms": N, "self_ms": N, "is_app": B,
        "children": arr(ref("FlameNode")), "other": B, "path": S, "samples": INT,
    }, ["function", "file", "line", "time_ms", "self_ms", "is_app", "children", "other", "path"])
    schemas = {
        **generated,
        "Error": obj({"code": {"type": "integer", "minimum": 1}, "msg": S, "data": {}}),
        "Project": obj({"id": S, "name": S, "description": S, "project_key": S, "created_at": S, "settings": {"type": "object"},
                        "record_count": INT, "last_seen_at": NS}),
        "ProjectIn": {**obj({"name": {"type": "string", "minLength": 1, "maxLength": 100}, "description": {"type": "string", "maxLength": 2000},
                             "settings": {"type": "object"}}, ["name"]), "additionalProperties": False},
        "ProjectUpdate": {**obj({"name": {"type": "string", "minLength": 1, "maxLength": 100}, "description": {"type": "string", "maxLength": 2000},
                                 "settings": {"type": "object"}}, []), "additionalProperties": False},
        "Batch": {"oneOf": [obj({"records": arr(ref("Record"))}), arr(ref("Record"))]},
        "CollectResult": obj({"record_id": NS, "duplicate": B, "folded": S}, ["record_id", "duplicate"]),
        "BatchResult": obj({"accepted": INT, "duplicates": INT, "rejected": arr(obj({"index": INT, "record_id": NS, "code": INT, "error": S})),
                            "folded": arr(obj({"index": INT, "record_id": S, "message": S}))}, ["accepted", "duplicates", "rejected"]),
        "RecordSummary": {"type": "object", "description": "A record without call_tree, source and spans.",
                          "properties": {k: v for k, v in generated["Record"]["properties"].items() if k not in ("call_tree", "source", "spans")},
                          "required": generated["Record"].get("required", [])},
        "RecordPage": obj({"items": arr(ref("RecordSummary")), "total": INT, "page": INT, "page_size": INT}),
        "FullRecord": {"allOf": [ref("Record"), obj({"project_id": S})]},
        "EndpointStats": obj({"endpoint": S, "method": NS, "count": INT, "error_count": INT, "error_rate": N, "p50": N, "p95": N, "p99": N,
                              "max": N, "mean": N, "versions": arr(S), "continuous": ref("ContinuousEndpoint"),
                              "budget_breaches": arr(ref("BudgetBreach"))},
                             ["endpoint", "method", "count", "error_count", "error_rate", "p50", "p95", "p99", "max", "mean", "versions"]),
        "RequestFigures": obj({"count": INT, "errors": INT, "error_rate": N, "statuses": {"type": "object", "additionalProperties": INT},
                               "p50": N, "p95": N, "p99": N, "max": N, "cpu_ms": N}),
        "ContinuousEndpoint": {"allOf": [ref("RequestFigures"), obj({"sample_count": INT})]},
        "ContinuousFlame": obj({"sample_count": INT, "aggregates": INT, "window_ms": N, "requests": ref("RequestFigures"), "root": ref("FlameNode")}),
        "ContinuousFunction": obj({"function": S, "file": S, "line": INT, "is_app": B, "self_samples": INT, "self_share": N, "self_ms": N}),
        "ContinuousFunctions": obj({"sample_count": INT, "unseen_samples": INT, "aggregates": INT, "window_ms": N, "requests": ref("RequestFigures"),
                                    "items": arr(ref("ContinuousFunction")), "total": INT, "offset": INT, "limit": INT}),
        "FunctionBudget": {**obj({"function": {"type": "string", "minLength": 1, "maxLength": 500},
                                  "max_share_pct": {"type": "number", "exclusiveMinimum": 0, "maximum": 100}}), "additionalProperties": False},
        "Budget": {**obj({"endpoint": {"type": "string", "minLength": 1, "maxLength": 500}, "p95_ms": {"type": "number", "exclusiveMinimum": 0},
                          "queries_p95": {"type": "number", "minimum": 0}, "http_calls_p95": {"type": "number", "minimum": 0},
                          "functions": arr(ref("FunctionBudget")), "min_requests": {"type": "integer", "minimum": 1, "maximum": 1_000_000}},
                         ["endpoint"]), "additionalProperties": False},
        "BudgetsIn": {**obj({"budgets": {**arr(ref("Budget")), "maxItems": 200}}), "additionalProperties": False},
        "Budgets": obj({"budgets": arr(ref("Budget")), "server": arr(ref("Budget")), "effective": arr(ref("Budget")), "check_interval_s": N}),
        "BudgetBreach": obj({"version": S, "endpoint": S, "budget": S,
                             "metric": {"type": "string", "enum": ["p95_ms", "queries_p95", "http_calls_p95", "function_share_pct"]},
                             "function": S, "limit": N, "measured": N, "requests": INT, "checked_at": S, "first_seen": S},
                            ["version", "endpoint", "budget", "metric", "function", "limit", "measured", "requests", "checked_at"]),
        "BudgetBreaches": obj({"items": arr(ref("BudgetBreach")), "check_interval_s": N}),
        "BudgetCheckIn": {**obj({"version": {"type": "string", "minLength": 1}, "environment": NS, "budgets": {"type": ["array", "null"], "items": ref("Budget")}},
                                ["version"]), "additionalProperties": False},
        "BudgetCheck": obj({"version": S, "environment": NS, "budgets": arr(ref("Budget")), "breaches": arr(ref("BudgetBreach")), "lines": arr(S)}),
        "SpanDistribution": obj({"p50": N, "p95": N, "mean": N}),
        "EndpointSpans": obj({"endpoint": S, "items": arr(obj({
            "version": S, "records": INT, "records_with_spans": INT, "queries": ref("SpanDistribution"),
            "query_ms": ref("SpanDistribution"), "http_calls": ref("SpanDistribution"), "http_ms": ref("SpanDistribution")}))}),
        "Trends": obj({"bucket": S, "points": arr(obj({"t": S, "count": INT, "error_count": INT, "p50": N, "p95": N, "p99": N}))}),
        "Versions": obj({"items": arr(obj({"version": S, "environment": S, "count": INT, "first_seen": S, "last_seen": S}))}),
        "FunctionStats": obj({"function": S, "file": S, "line": INT, "is_app": B, "self_ms_total": N, "self_share": N, "request_share": N,
                              "p50_self_ms": N, "p95_self_ms": N, "calls_in": INT}),
        "FunctionPage": obj({"items": arr(ref("FunctionStats")), "total": INT, "offset": INT, "limit": INT}),
        "FlameNode": flame_node,
        "FlameGraph": obj({"records": INT, "root": ref("FlameNode")}),
        "Delta": obj({"name": S, "base": stats_block, "head": stats_block, "change_pct": N, "delta_ms": N, "p_value": N, "q_value": N,
                      "effect_size": N, "significant": B, "kind": {"type": "string", "enum": ["regression", "improvement", "unchanged"]}},
                     ["name", "base", "head", "change_pct", "delta_ms", "p_value", "q_value", "effect_size", "significant", "kind"]),
        "Comparison": obj({"base": S, "head": S, "alpha": N, "correction": S, "endpoints": arr(ref("Delta")), "functions": arr(ref("Delta")),
                           "metric": {"type": "string", "enum": ["duration", "cpu", "cpu_calibrated"]}, "functions_compared": INT, "regressions": INT,
                           "improvements": INT, "counts": ref("ComparisonCounts"),
                           "complete": B, "skipped_endpoints": arr(S), "functions_folded": INT,
                           "machine": {"oneOf": [ref("MachineSpeed"), {"type": "null"}]}},
                          ["base", "head", "alpha", "correction", "endpoints", "functions", "metric", "functions_compared", "regressions",
                           "improvements", "counts", "complete", "skipped_endpoints", "functions_folded"]),
        "MachineSpeed": obj({"base": stats_block, "head": stats_block}),
        "ComparisonCounts": obj({"endpoints": ref("VerdictCounts"), "functions": ref("VerdictCounts")}),
        "VerdictCounts": obj({"regressions": INT, "improvements": INT, "unchanged": INT}),
        "AnalyzeIn": {**obj({"provider": NS, "model": NS, "language": {"type": "string", "enum": ["en", "zh"]}}, []), "additionalProperties": False},
        "Queued": obj({"task_id": S, "analysis_id": S, "status": {"const": "queued"}}),
        "Analysis": obj({"id": S, "record_id": S, "project_id": S, "provider": S, "model": NS,
                         "status": {"type": "string", "enum": ["queued", "running", "done", "failed"]}, "created_at": S,
                         "finished_at": NS, "summary": S, "findings": arr(ref("Finding")), "error": NS, "raw": NS,
                         "trigger": {"type": "string", "enum": list(TRIGGERS)}, "endpoint": NS, "version": NS,
                         "severity": {"type": ["string", "null"], "enum": ["info", "low", "medium", "high", None]},
                         "regression": {"type": ["object", "null"], "description": "For trigger regression: base, head, endpoint, "
                                        "delta (the endpoint's, or null) and functions (the regressed function deltas)."}}),
        "AnalysisPage": obj({"items": arr(ref("Analysis")), "total": INT, "page": INT, "page_size": INT}),
        "Providers": obj({"items": arr(obj({"name": S, "default_model": NS, "configured": B}))}),
        "Health": obj({"status": S, "store": S, "version": S, "jobs": {"type": "object", "additionalProperties": ref("JobState")}}),
        "JobState": obj({"state": {"type": "string", "enum": ["idle", "ok", "failing"]}, "runs": INT, "failed_runs": INT, "last_ok_at": NS,
                         "failing_projects": INT, "project_id": NS, "failures": INT, "last_error_at": S, "next_retry_at": S, "last_error": S},
                        ["state", "runs", "failed_runs", "last_ok_at", "failing_projects"]),
    }
    return schemas


def envelope(data: dict[str, Any]) -> dict[str, Any]:
    return obj({"code": {"const": 0}, "msg": S, "data": data})


def op(summary: str, data: dict[str, Any] | None, *, status: str = "200", params: list[dict[str, Any]] | None = None,
       body: dict[str, Any] | None = None, tag: str = "", raw: dict[str, Any] | None = None, secured: bool = True) -> dict[str, Any]:
    responses: dict[str, Any] = {"default": {"description": "An error, in the envelope with its code.",
                                             "content": {"application/json": {"schema": ref("Error")}}}}
    if raw is not None:
        responses[status] = {"description": "The file.", "content": raw}
    else:
        responses[status] = {"description": "Success.", "content": {"application/json": {"schema": envelope(data or {})}}}
    out: dict[str, Any] = {"summary": summary, "tags": [tag] if tag else [], "parameters": params or [], "responses": responses}
    if body is not None:
        out["requestBody"] = {"required": True, "content": {"application/json": {"schema": body}}}
    if not secured:
        out["security"] = []
    return out


def q(name: str, schema: dict[str, Any], description: str = "") -> dict[str, Any]:
    return {"name": name, "in": "query", "required": False, "schema": schema, "description": description}


def p(name: str) -> dict[str, Any]:
    return {"name": name, "in": "path", "required": True, "schema": {"type": "string", "minLength": 1}}


KEY = {"name": "X-Project-Key", "in": "header", "required": False, "schema": S, "description": "The project's ingestion key (or project_key in the record)."}
TIME = "ISO 8601 (UTC when no zone) or relative: 30m, 24h, 7d, 2w."
COMMON = [q("version", S), q("environment", S), q("since", S, TIME), q("until", S, TIME), q("endpoint", S, "The record name, e.g. GET /users/{user_id}.")]


@lru_cache(maxsize=1)
def document() -> dict[str, Any]:
    pid = p("project_id")
    rid = [p("record_id"), q("project_id", S)]  # a record_id is unique per project: ?project_id= picks one
    records_params = [pid, *COMMON, q("min_duration", {"type": "number", "minimum": 0}), q("status", S, "error, ok, a code like 404, a class like 5xx"),
                      q("page", {"type": "integer", "minimum": 1, "maximum": 1_000_000}), q("page_size", {"type": "integer", "minimum": 1, "maximum": 500}),
                      q("sort", {"type": "string", "enum": ["started_at", "-started_at", "duration_ms", "-duration_ms"]})]
    paths: dict[str, Any] = {
        "/api/v1/performance/collect": {"post": op("Ingest one record", ref("CollectResult"), params=[KEY], body=ref("Record"), tag="ingest", secured=False)},
        "/api/v1/performance/batch": {"post": op("Ingest many records (partial acceptance per record)", ref("BatchResult"), params=[KEY], body=ref("Batch"),
                                                 tag="ingest", secured=False)},
        "/api/v1/projects": {
            "get": op("List projects", obj({"items": arr(ref("Project")), "total": INT}), tag="projects"),
            "post": op("Create a project", ref("Project"), status="201", body=ref("ProjectIn"), tag="projects"),
        },
        "/api/v1/projects/{project_id}": {
            "get": op("Get a project", ref("Project"), params=[pid], tag="projects"),
            "put": op("Update a project", ref("Project"), params=[pid], body=ref("ProjectUpdate"), tag="projects"),
            "delete": op("Delete a project and its data", obj({"deleted": B, "id": S}), params=[pid], tag="projects"),
        },
        "/api/v1/projects/{project_id}/rotate-key": {"post": op("Give a project a new ingestion key", ref("Project"), params=[pid], tag="projects")},
        "/api/v1/projects/{project_id}/records": {"get": op("List records (no call trees)", ref("RecordPage"), params=records_params, tag="reading")},
        "/api/v1/records/{record_id}": {"get": op("A record with its call tree", ref("FullRecord"), params=rid, tag="reading")},
        "/api/v1/records/{record_id}/export": {"get": op(
            "Export a record as a file (not enveloped)", None, params=[*rid, q("format", {"type": "string", "enum": list(FORMATS)})],
            tag="reading", raw={"application/json": {"schema": {}}, "text/html": {"schema": {"type": "string"}}})},
        "/api/v1/projects/{project_id}/endpoints": {"get": op("Per-endpoint statistics", obj({"items": arr(ref("EndpointStats"))}),
                                                              params=[pid, *COMMON], tag="statistics")},
        "/api/v1/projects/{project_id}/endpoints/spans": {"get": op(
            "Queries and outbound calls per request of one endpoint, per version", ref("EndpointSpans"),
            params=[pid, *COMMON[:-1], {**COMMON[-1], "required": True}], tag="statistics")},
        "/api/v1/projects/{project_id}/budgets": {
            "get": op("A project's budgets, the server's and the effective ones", ref("Budgets"), params=[pid], tag="budgets"),
            "put": op("Set a project's budgets", ref("Budgets"), params=[pid], body=ref("BudgetsIn"), tag="budgets"),
        },
        "/api/v1/projects/{project_id}/budgets/breaches": {"get": op("Budget breaches found by the periodic check", ref("BudgetBreaches"),
                                                                     params=[pid, q("version", S), q("endpoint", S)], tag="budgets")},
        "/api/v1/projects/{project_id}/budgets/check": {"post": op("Check one version against budgets now (the CI gate)", ref("BudgetCheck"),
                                                                   params=[pid], body=ref("BudgetCheckIn"), tag="budgets")},
        "/api/v1/projects/{project_id}/trends": {"get": op("Counts and percentiles over time", ref("Trends"),
                                                           params=[pid, *COMMON, q("bucket", {"type": "string", "enum": list(BUCKETS)})], tag="statistics")},
        "/api/v1/projects/{project_id}/versions": {"get": op("Versions with first and last seen", ref("Versions"), params=[pid], tag="statistics")},
        "/api/v1/projects/{project_id}/versions/{version}": {"delete": op("Delete one version's data", obj({"deleted": INT}), params=[pid, p("version")], tag="statistics")},
        "/api/v1/projects/{project_id}/functions": {"get": op("Top functions by self time", ref("FunctionPage"),
                                                              params=[pid, q("endpoint", S), q("version", S), q("limit", {"type": "integer", "minimum": 1, "maximum": 1000}),
                                                                      q("offset", {"type": "integer", "minimum": 0, "maximum": 100_000_000})],
                                                              tag="statistics")},
        "/api/v1/projects/{project_id}/flamegraph": {"get": op("Merged call tree of many records", ref("FlameGraph"),
                                                               params=[pid, *COMMON, q("limit_nodes", {"type": "integer", "minimum": 1, "maximum": 20000}),
                                                                       q("expand", S, "The path of a node (e.g. an 'other' node) to expand")], tag="statistics")},
        "/api/v1/projects/{project_id}/continuous": {"get": op("Merged flame tree of continuous mode (100% of requests)", ref("ContinuousFlame"),
                                                               params=[pid, *COMMON, q("limit_nodes", {"type": "integer", "minimum": 1, "maximum": 20000}),
                                                                       q("expand", S, "The path of a node (e.g. an 'other' node) to expand")], tag="statistics")},
        "/api/v1/projects/{project_id}/continuous/functions": {"get": op(
            "Function shares of continuous mode (self samples / the samples whose stack was seen)", ref("ContinuousFunctions"), tag="statistics",
            params=[pid, *COMMON, q("limit", {"type": "integer", "minimum": 1, "maximum": 1000}), q("offset", {"type": "integer", "minimum": 0, "maximum": 100_000_000})])},
        "/api/v1/projects/{project_id}/compare": {"get": op("Compare two versions (Mann-Whitney U, Benjamini-Hochberg q < 0.01)", ref("Comparison"),
                                                            params=[pid, {**q("base", S), "required": True}, {**q("head", S), "required": True}, q("endpoint", S),
                                                                    q("environment", S), q("metric", {"type": "string", "enum": ["duration", "cpu", "cpu_calibrated"]})],
                                                            tag="statistics")},
        "/api/v1/analysis/analyze/{record_id}": {"post": {**op("Queue an analysis of a record", ref("Queued"), status="202", params=rid, tag="analysis"),
                                                          "requestBody": {"required": False, "content": {"application/json": {"schema": ref("AnalyzeIn")}}}}},
        "/api/v1/analysis/providers": {"get": op("Analysis providers", ref("Providers"), tag="analysis")},
        "/api/v1/analysis/{analysis_id}": {"get": op("An analysis", ref("Analysis"), params=[p("analysis_id")], tag="analysis")},
        "/api/v1/records/{record_id}/analyses": {"get": op("A record's analyses", obj({"items": arr(ref("Analysis"))}), params=rid, tag="analysis")},
        "/api/v1/projects/{project_id}/analyses": {"get": op(
            "A project's analyses, newest first (per endpoint, version, trigger)", ref("AnalysisPage"), tag="analysis",
            params=[pid, q("endpoint", S, "The record name, e.g. GET /users/{user_id}."), q("version", S),
                    q("trigger", {"type": "string", "pattern": "^({0})(,({0}))*$".format("|".join(TRIGGERS))},
                      "manual, slow_record, regression, budget; several separated by commas"),
                    q("page", {"type": "integer", "minimum": 1, "maximum": 1_000_000}), q("page_size", {"type": "integer", "minimum": 1, "maximum": 200})])},
        "/api/v1/jobs/failed": {"get": op("RQ jobs that failed after their last retry (409 without Redis)", obj({"items": arr(obj({
            "id": S, "queue": S, "function": S, "args": arr({}), "description": NS, "enqueued_at": NS, "ended_at": NS, "error": NS})), "total": INT}),
            params=[q("limit", {"type": "integer", "minimum": 1, "maximum": 1000})], tag="analysis")},
        "/health": {"get": op("Health", ref("Health"), tag="meta", secured=False)},
    }
    return annotate({
        "openapi": "3.1.0",
        "info": {"title": "pystrument server API", "version": __version__,
                 "description": "Every response is the envelope {code, msg, data}; see docs/api.md for the codes."},
        "paths": paths,
        "components": {"schemas": _schemas(), "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}}},
        "security": [{"bearer": []}],
    })
