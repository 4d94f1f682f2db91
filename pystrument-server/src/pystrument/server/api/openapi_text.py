"""The prose of the OpenAPI document: what each operation does, what each parameter and field means, and
which error codes each operation answers with (the ``x-error-codes`` list and one response per HTTP status).

Kept apart from the shapes in openapi.py so that adding an endpoint and describing it are two small edits;
``annotate`` fills in only what a path or schema does not already say. docs/api.md is generated from the
annotated document (``python docs/gen_api_reference.py``) and tests/test_api_reference.py checks that every
operation has a description and error codes and every parameter a description.
"""

from __future__ import annotations

from typing import Any

import msgspec
from pystrument.core import contract as codes

# One error an operation can answer with: (HTTP status, envelope code, when).
Err = tuple[int, int, str]

CODES = {
    0: "success",
    codes.SYSTEM_ERROR: "system error (a bug: the server log has the traceback)",
    codes.PARAMETER_ERROR: "parameter error (also: no such endpoint, method not allowed, body too large)",
    codes.AUTHENTICATION_ERROR: "authentication: missing or wrong bearer token",
    codes.PERMISSION_ERROR: "permission: the read-only token was used to write, or a CORS origin is not allowed",
    codes.RATE_LIMIT_ERROR: "rate limit of a project key (`Retry-After` header)",
    codes.DATABASE_ERROR: "database error (the store failed or is unreachable)",
    codes.PROJECT_NOT_FOUND: "project not found",
    codes.PROJECT_NAME_EXISTS: "project name exists",
    codes.INVALID_PROJECT_KEY: "invalid or missing project key",
    codes.PERFORMANCE_DATA_INVALID: "performance data invalid",
    codes.AI_SERVICE_UNAVAILABLE: "AI service unavailable (provider not installed or not configured)",
    codes.ANALYSIS_IN_PROGRESS: "analysis in progress",
}

BAD_QUERY: Err = (400, codes.PARAMETER_ERROR, "a query parameter is invalid; `msg` names it and what it accepts")
RECORD_MISSING: Err = (404, codes.PARAMETER_ERROR, "no record with this id (in the project of `?project_id=`, if given)")
RECORD_AMBIGUOUS: Err = (409, codes.PARAMETER_ERROR, "several projects hold this `record_id` and `?project_id=` is missing (`data.project_ids` lists them)")
TIME_RANGE = (400, codes.PARAMETER_ERROR, "`since`/`until` is not a time, or `since` is after `until`")

TAGS = {
    "ingest": "What the SDK sends. Authenticated by the project key (`X-Project-Key`), never by the bearer token.",
    "projects": "Projects and their ingestion keys.",
    "reading": "Records, one at a time or a page at a time, and their export as files.",
    "statistics": "Per-endpoint statistics, trends, top functions, merged flame graphs and version comparison.",
    "budgets": "Performance budgets per endpoint (docs/budgets.md): set, found breaches, a check on demand.",
    "analysis": "Analyses of a record: the rule-based analysers and, if configured, an AI provider.",
    "meta": "The server itself.",
}

# Parameters by (in, name); an operation's PARAMS entry overrides one.
PARAMETERS: dict[tuple[str, str], str] = {
    ("path", "project_id"): "The project's `id` (GET /api/v1/projects lists them).",
    ("path", "record_id"): "The record's `record_id` (made by the SDK; listed by GET /api/v1/projects/{project_id}/records).",
    ("path", "analysis_id"): "The analysis id returned by POST /api/v1/analysis/analyze/{record_id}.",
    ("path", "version"): "The application version (`app.version` of the records), as listed by GET /api/v1/projects/{project_id}/versions.",
    ("header", "X-Project-Key"): "The project's ingestion key (or `project_key` in each record).",
    ("query", "project_id"): "The project holding the record: a `record_id` is unique per project, so two projects may hold the same "
                             "id. Needed only then (the answer is 409 listing the projects); without it the one project holding the id answers.",
    ("query", "version"): "Only records of this application version (`app.version`).",
    ("query", "environment"): "Only records of this environment (`app.environment`).",
    ("query", "endpoint"): "Only records with this name: the route template, e.g. `GET /users/{user_id}`.",
    ("query", "min_duration"): "Only records at least this slow, in milliseconds.",
    ("query", "status"): "Only records with this outcome: `error`, `ok`, a status code like `404`, or a class like `5xx`.",
    ("query", "page"): "Page number, from 1 (default 1).",
    ("query", "page_size"): "Records per page (default 50).",
    ("query", "sort"): "Order: `started_at` or `duration_ms`, `-` for descending (default `-started_at`).",
}

# Schema fields by (schema, field), for schemas whose fields do not describe themselves.
FIELDS: dict[tuple[str, str], str] = {
    ("Record", "schema_version"): "Version of the record schema (1).",
    ("Record", "record_id"): "Made by the SDK; the idempotency key within its project (a record sent twice to one project is stored "
                             "once; another project's record with the same id is a different record).",
    ("Record", "project_key"): "The project's ingestion key, when not sent as X-Project-Key.",
    ("Record", "kind"): "What was measured: a web request, a decorated function, a task or a block.",
    ("Record", "name"): "The unit's name; for requests the route template, e.g. `GET /users/{user_id}` (the `endpoint` filter).",
    ("Record", "method"): "HTTP method, for requests.",
    ("Record", "path"): "The concrete request path, for requests.",
    ("Record", "status_code"): "HTTP status of the response, for requests.",
    ("Record", "started_at"): "Start time, ISO 8601 (UTC).",
    ("Record", "duration_ms"): "Wall-clock duration in milliseconds.",
    ("Record", "cpu_ms"): "CPU time of the unit in milliseconds.",
    ("Record", "sample_rate"): "The sampling rate the unit was kept at (1.0: every unit is profiled).",
    ("Record", "app"): "Application name, version, environment, host, process and SDK.",
    ("Record", "tags"): "Free-form string tags.",
    ("Record", "error"): "The exception that ended the unit, if any.",
    ("Record", "call_tree"): "The profiled call tree (pruned to the SDK's `max_tree_nodes`).",
    ("Record", "truncated"): "True when samples beyond `max_samples_per_unit` were dropped.",
    ("Record", "is_async"): "The unit ran as a coroutine (its call tree holds `[await]` time).",
    ("Record", "sample_count"): "Number of profiler samples behind `call_tree`.",
    ("Record", "interval_ms"): "The sampling interval the samples were taken at, in milliseconds.",
    ("Record", "source"): "Source lines of hot application functions keyed `file:line` (only with the SDK's `capture_source`).",
    ("AppInfo", "name"): "Application name (the SDK's `app_name`).",
    ("AppInfo", "version"): "Application version (`app_version`): statistics and comparisons are per version.",
    ("AppInfo", "environment"): "Deployment environment (`environment`).",
    ("AppInfo", "host"): "Host name of the process.",
    ("AppInfo", "pid"): "Process id.",
    ("AppInfo", "python"): "Python version.",
    ("AppInfo", "framework"): "The web framework the adapter saw (flask, django, fastapi, starlette, ...).",
    ("AppInfo", "sdk_version"): "Version of pystrument-core.",
    ("ErrorInfo", "type"): "The exception's class name.",
    ("ErrorInfo", "message"): "The exception's message.",
    ("Finding", "analyser"): "The analyser that found it: `hot_path`, `n_plus_one`, `async_blocking`, `costly_calls`, `regressions`, a plugin's "
                              "analyser, or `ai:<provider>`.",
    ("Finding", "title"): "One line saying what is wrong.",
    ("Finding", "function"): "The function to change.",
    ("Finding", "file"): "Its file.",
    ("Finding", "line"): "Its first line.",
    ("Finding", "evidence"): "The figures behind the finding (times, counts, shares).",
    ("Finding", "suggestion"): "What to do.",
    ("Finding", "expected_saving_ms"): "Estimated saving per request, in ms.",
    ("Finding", "confidence"): "0..1.",
    ("Finding", "severity"): "How much it costs in this unit of work (time and share of it): not a verdict of a version comparison.",
    ("Finding", "code"): "The title as a message code (`hot_path`, `async_blocking.io`, `async_blocking.cpu`, `costly.<pattern>`, "
                         "`repeated.at_least|about|per_item`, `regressed`), for a UI that renders it in its own language; empty for free text "
                         "(AI providers write in the requested language).",
    ("Finding", "params"): "The codes' parameters: `function`, `ms`, `share` (0..1) and, per code, `kind`, `count`, `parent`, "
                           "`delta_ms`, `change_pct` (`regressed`), `lists`, `callee`, `callees` (suggestions).",
    ("Finding", "suggestion_code"): "The suggestion as a message code (`hot_path.callee`, `repeated.db`, ...; its parameters in "
                                    "`params`), for a UI that renders it in its own language; `suggestion` is its English text. "
                                    "Empty for free text.",
    ("Finding", "note_code"): "The evidence's `note` as a message code (e.g. `hot_path.busy_host`); empty when there is none.",
    ("CallNode", "file"): "Source file.",
    ("CallNode", "line"): "First line of the function.",
    ("CallNode", "children"): "Callees.",
    ("CallNode", "function"): "Function name (`[await]`, `[other]` and `[pystrument]` are synthetic nodes).",
    ("CallNode", "time_ms"): "Inclusive time in milliseconds.",
    ("CallNode", "self_ms"): "Exclusive time in milliseconds.",
    ("CallNode", "is_app"): "The frame is application code (not the standard library or site-packages).",
    ("CallNode", "pruned"): "On a synthetic node standing for pruned frames: how many frames it replaced.",
    ("CallNode", "samples"): "Profiler samples that landed in this frame or below it.",
    ("FullRecord", "project_id"): "The project the record belongs to.",
    ("Project", "id"): "The project's id, used in every project path.",
    ("Project", "project_key"): "The ingestion key the SDK sends as X-Project-Key (a project key cannot read data).",
    ("Project", "created_at"): "ISO 8601 (UTC).",
    ("Project", "settings"): "Free-form settings; `retention_days` (a number, 0: keep forever) is read by the server.",
    ("Project", "record_count"): "Records stored.",
    ("Project", "last_seen_at"): "When the last record arrived (ISO 8601), null before the first.",
    ("ProjectIn", "name"): "Unique among projects; surrounding blanks are removed.",
    ("ProjectIn", "settings"): "Free-form settings; `retention_days` must be a number >= 0 (0: keep forever).",
    ("ProjectUpdate", "settings"): "Merged into the project's settings (keys not given are kept).",
    ("CollectResult", "record_id"): "The stored record's id.",
    ("CollectResult", "duplicate"): "True when a record with this id was already stored (nothing was written).",
    ("BatchResult", "accepted"): "Records stored.",
    ("BatchResult", "duplicates"): "Records this project already holds (by `record_id`), not written again.",
    ("BatchResult", "rejected"): "One entry per invalid record: its index in the batch, its id if readable, code 20004 and the error naming the field "
                                 "(a path into the record, e.g. `records[1].call_tree.children[3].self_ms`), or the project limit it is beyond "
                                 "(`max_endpoints_per_project`, `max_versions_per_project`).",
    ("BatchResult", "folded"): "Only when some records' call trees were beyond `max_nodes_per_record` or `max_functions_per_record`: one entry "
                               "per such record (stored, its tree folded into `[other]` nodes and marked `truncated`).",
    ("CollectResult", "folded"): "Only when the call tree was beyond `max_nodes_per_record` or `max_functions_per_record`: what was folded "
                                 "(the record is stored, marked `truncated`).",
    ("FunctionPage", "items"): "One page of functions, heaviest total self time first.",
    ("FunctionPage", "total"): "Distinct functions matching the filters, over all pages.",
    ("FunctionPage", "offset"): "Functions skipped before this page.",
    ("FunctionPage", "limit"): "The page size asked for.",
    ("RecordPage", "total"): "Records matching the filters, over all pages.",
    ("EndpointStats", "endpoint"): "The record name (route template).",
    ("EndpointStats", "method"): "The HTTP method when all records of the endpoint share one, else null.",
    ("EndpointStats", "error_rate"): "error_count / count.",
    ("EndpointStats", "p50"): "Median duration in ms (from log-scale histograms, within about 4%).",
    ("EndpointStats", "p95"): "95th percentile duration in ms.",
    ("EndpointStats", "p99"): "99th percentile duration in ms.",
    ("EndpointStats", "max"): "Slowest duration in ms.",
    ("EndpointStats", "mean"): "Mean duration in ms.",
    ("EndpointStats", "versions"): "Application versions seen for the endpoint.",
    ("Trends", "bucket"): "The bucket width asked for.",
    ("Trends", "points"): "One point per bucket with data: start time `t` (ISO 8601), counts and percentiles in ms.",
    ("Versions", "items"): "Newest first (by last seen).",
    ("FunctionStats", "function"): "Function name.",
    ("FunctionStats", "self_ms_total"): "Self time summed over the records, in ms.",
    ("FunctionStats", "self_share"): "Share of all self time (0..1).",
    ("FunctionStats", "request_share"): "Share of requests in which the function appears (0..1).",
    ("FunctionStats", "p50_self_ms"): "Median self time per request in which it appears, in ms.",
    ("FunctionStats", "p95_self_ms"): "95th percentile self time per request in which it appears, in ms.",
    ("FunctionStats", "calls_in"): "Number of requests in which the function appears.",
    ("FlameNode", "time_ms"): "Inclusive time summed over the merged records, in ms.",
    ("FlameNode", "self_ms"): "Exclusive time summed over the merged records, in ms.",
    ("FlameNode", "other"): "True for a node standing for pruned siblings; pass its `path` as `expand=` to get them.",
    ("FlameNode", "path"): "The node's path in the merged tree (an `other` node's ends in `/*`).",
    ("FlameNode", "samples"): "Profiler samples at or below this node (continuous flame graphs; 0 where the records carry none).",
    ("EndpointStats", "continuous"): "Only when continuous mode sent aggregates for the endpoint: the figures of 100% of its requests "
                                     "(not of the sampled records) and the profiler samples behind its continuous flame graph.",
    ("RequestFigures", "count"): "Requests that ended in the range (100% of them, counted by the SDK's continuous mode).",
    ("RequestFigures", "errors"): "Requests with status >= 500 or that raised.",
    ("RequestFigures", "statuses"): "Requests per HTTP status code.",
    ("RequestFigures", "p50"): "Median duration in ms, from the log-scale histogram of every request (within about 4%).",
    ("RequestFigures", "cpu_ms"): "Summed CPU time of the requests when the SDK measured it, else 0.",
    ("ContinuousFlame", "sample_count"): "Profiler samples behind the tree: how sure its shares are.",
    ("ContinuousFlame", "aggregates"): "SDK aggregation windows merged.",
    ("ContinuousFlame", "window_ms"): "Summed length of those windows in ms.",
    ("ContinuousFlame", "root"): "A synthetic root named after the endpoint (or `[all endpoints]`); `samples` on every node.",
    ("ContinuousFunction", "self_samples"): "Samples whose innermost frame is this function.",
    ("ContinuousFunction", "self_share"): "self_samples / sample_count: the share of all sampled time spent in the function itself.",
    ("ContinuousFunctions", "total"): "Distinct functions in the merged tree, over all pages.",
    ("FlameGraph", "records"): "How many records were merged (the latest `sample_limit` matching ones).",
    ("FlameGraph", "root"): "A synthetic root named after the endpoint (or `[all endpoints]`).",
    ("Delta", "name"): "The endpoint, or for a function delta the function (which then also carries `endpoint`, `file`, `line`, `is_app`).",
    ("Delta", "base"): "Request count, p50, p95 and mean in ms in the base version (count 0: only in head).",
    ("Delta", "head"): "The same in the head version (count 0: only in base).",
    ("Delta", "change_pct"): "Change of the mean, in percent of the base mean.",
    ("Delta", "delta_ms"): "head mean - base mean, in ms.",
    ("Delta", "p_value"): "Two-sided Mann-Whitney U p-value (1.0 with fewer than 5 requests on a side).",
    ("Delta", "effect_size"): "Rank-biserial correlation: +1 every head request slower than every base one, 0 no shift, -1 the opposite.",
    ("Delta", "q_value"): "p_value adjusted with Benjamini-Hochberg across the comparison's endpoints, or across all its functions (false discovery rate).",
    ("Delta", "significant"): "q_value < alpha and the means differ.",
    ("Delta", "kind"): "regression (head slower), improvement, or unchanged (not significant).",
    ("Comparison", "alpha"): "The false discovery rate a change is flagged at: q_value < alpha (0.01).",
    ("Comparison", "correction"): "The multiple-comparison correction behind q_value: `benjamini-hochberg`.",
    ("Comparison", "endpoints"): "One delta per endpoint seen in either version; significant ones first.",
    ("Comparison", "functions"): "Per (endpoint, function) deltas for endpoints in both versions; significant first, unchanged ones cut to the 100 heaviest.",
    ("Comparison", "metric"): "What the endpoints' deltas compare: `duration` (duration_ms), `cpu` (cpu_ms) or `cpu_calibrated` (cpu_ms "
                              "divided by each record's machine tag, in ms of the base's machine; `cpu` when asked for but a version has "
                              "no tags); functions always compare self time.",
    ("Comparison", "machine"): "Only when `metric=cpu_calibrated` was asked for: the machine tags (`pystrument.machine_ms`, the CPU time of the "
                               "CI gate's calibration workload timed beside each record) of each version, or null when one version has fewer "
                               "than 5 tagged records (then the raw CPU times were compared).",
    ("MachineSpeed", "base"): "The base's machine tags: count (records), p50, p95, mean (ms).",
    ("MachineSpeed", "head"): "The head's machine tags: count (records), p50, p95, mean (ms).",
    ("Comparison", "functions_compared"): "Function deltas computed before the cut.",
    ("Comparison", "regressions"): "Significant regressions among endpoints and functions.",
    ("Comparison", "improvements"): "Significant improvements among endpoints and functions.",
    ("Comparison", "counts"): "The verdicts counted per table (endpoints apart from functions), so a summary says what each count counts.",
    ("ComparisonCounts", "endpoints"): "Verdicts of the `endpoints` deltas.",
    ("ComparisonCounts", "functions"): "Verdicts of all compared function deltas (`functions_compared`, before the cut of unchanged ones).",
    ("VerdictCounts", "regressions"): "Significant and slower in head.",
    ("VerdictCounts", "improvements"): "Significant and faster in head.",
    ("VerdictCounts", "unchanged"): "Not significant.",
    ("Comparison", "complete"): "false when the time budget (`compare_time_budget_s`) ran out before every endpoint's functions were read.",
    ("Comparison", "skipped_endpoints"): "Endpoints whose functions were not compared because the time budget ran out (their durations were).",
    ("Comparison", "functions_folded"): "Functions beyond `compare_max_functions` per endpoint (or the memory budget), summed per request into "
                                        "one `[other]` function per endpoint.",
    ("AnalyzeIn", "provider"): "`rules` (the rule-based analysers, the default unless the server sets `ai_provider`) or an installed AI provider.",
    ("AnalyzeIn", "model"): "The provider's model (default: the provider's default model).",
    ("AnalyzeIn", "language"): "Language of the summary (default `en`).",
    ("Queued", "task_id"): "Same as analysis_id (the name the original API used).",
    ("Queued", "analysis_id"): "Poll GET /api/v1/analysis/{analysis_id} with it.",
    ("Analysis", "provider"): "`rules` for the rule-based analysers, else the AI provider.",
    ("Analysis", "summary"): "Markdown summary of the findings.",
    ("Analysis", "findings"): "Findings ranked by severity, then by expected saving x confidence.",
    ("Analysis", "error"): "Why a failed analysis failed (or the last error of a retried one).",
    ("Analysis", "raw"): "The model's raw answer when it failed validation twice.",
    ("Analysis", "trigger"): "What queued it: `manual` (POST /api/v1/analysis/analyze/{record_id}), `slow_record` or `regression` "
                             "(automatic analysis, per project in `settings.auto_analysis`).",
    ("Analysis", "endpoint"): "The analysed record's name (its endpoint).",
    ("Analysis", "version"): "The analysed record's application version.",
    ("Analysis", "severity"): "The most severe finding's severity, once done (null before, or without findings).",
    ("AnalysisPage", "total"): "Analyses matching the filters.",
    ("Providers", "items"): "Installed providers; `configured` is false until the server config holds the provider's key.",
    ("Health", "store"): "The store in use (`sqlite`, `mongodb`).",
    ("Health", "jobs"): "The automatic jobs of this process (`regression_check`, `slow_record_analysis`, `upkeep`) and their state.",
    ("JobState", "state"): "`idle` (not run yet), `ok`, or `failing` (a run failed for at least one project; it is retried with backoff).",
    ("JobState", "runs"): "Runs since the process started (per project for the per-project jobs).",
    ("JobState", "failed_runs"): "Runs that failed since the process started.",
    ("JobState", "last_ok_at"): "When a run last succeeded (ISO 8601, UTC), or null.",
    ("JobState", "failing_projects"): "Projects whose job is failing now.",
    ("JobState", "project_id"): "While failing: the project of the latest failure (null for the server-wide upkeep).",
    ("JobState", "failures"): "While failing: consecutive failures of that project's job.",
    ("JobState", "last_error_at"): "While failing: when the latest failure happened.",
    ("JobState", "next_retry_at"): "While failing: when it runs again (its interval doubled at each failure, at most `job_backoff_max_s`).",
    ("JobState", "last_error"): "While failing: the error type and message; only to a caller with a valid token (or when the server has none).",
    ("Error", "code"): "The error code (table above).",
    ("Error", "msg"): "What is wrong and how to fix it.",
    ("Error", "data"): "Details: {} for most errors; the BatchResult for a batch with every record rejected; `analysis_id` for 20006.",
}

SAME_FIELDS = {"RecordSummary": "Record"}  # schemas whose fields are another's

INGEST_ERRORS: list[Err] = [
    (401, codes.INVALID_PROJECT_KEY, "no project key, or a key no project has"),
    (413, codes.PARAMETER_ERROR, "the body (after gunzip too) is larger than `max_body_bytes`: split the batch"),
    (415, codes.PARAMETER_ERROR, "a Content-Encoding other than gzip"),
    (429, codes.RATE_LIMIT_ERROR, "the key's rate limit (`rate_limit_rps`); wait the `Retry-After` seconds"),
]
BODY_ERRORS: list[Err] = [
    (400, codes.PARAMETER_ERROR, "the body is not JSON or a field is invalid (`msg` names the field), or gzip that does not decompress"),
    (413, codes.PARAMETER_ERROR, "the body is larger than `max_body_bytes`"),
    (415, codes.PARAMETER_ERROR, "a Content-Encoding other than gzip"),
]

# Per operation: description, parameter overrides, errors beyond the ones every operation of its kind has.
OPERATIONS: dict[tuple[str, str], dict[str, Any]] = {
    ("post", "/api/v1/performance/collect"): {
        "description": "Stores one record (the JSON of `pystrument.core.record.Record`). The body may be gzip (`Content-Encoding: gzip`). "
                       "Sending a record again is harmless: it is stored once and answered with `duplicate: true`. A `record_id` is "
                       "unique per project: another project's record with the same id is stored as this project's own.",
        "errors": [*INGEST_ERRORS, (400, codes.PARAMETER_ERROR, "gzip that does not decompress"),
                   (422, codes.PERFORMANCE_DATA_INVALID, "the record is invalid (a number out of its range included); `msg` names the field, "
                    "`data.record_id` the record; or it is of a new endpoint or version beyond the project's limit")],
    },
    ("post", "/api/v1/performance/batch"): {
        "description": "Stores many records: `{\"records\": [record, ...]}` or a bare JSON array. Each record is checked on its own: "
                       "good records are stored even when others are rejected (listed in `rejected`). HTTP 200 when at least one record "
                       "was accepted or was a duplicate.",
        "errors": [*INGEST_ERRORS, (400, codes.PARAMETER_ERROR, "an empty batch, or gzip that does not decompress"),
                   (422, codes.PERFORMANCE_DATA_INVALID, "every record was rejected (`data` is the BatchResult), or the body is not a batch")],
    },
    ("get", "/api/v1/projects"): {"description": "Every project, with its ingestion key and record count."},
    ("post", "/api/v1/projects"): {
        "description": "Creates a project and its ingestion key (`project_key`), answered with HTTP 201.",
        "errors": [*BODY_ERRORS, (400, codes.PARAMETER_ERROR, "a blank name, `settings.retention_days` not a number >= 0, a bad `settings.auto_analysis` or `settings.budgets` (`msg` names the key)"),
                   (409, codes.PROJECT_NAME_EXISTS, "a project with this name exists")],
    },
    ("get", "/api/v1/projects/{project_id}"): {"description": "One project."},
    ("put", "/api/v1/projects/{project_id}"): {
        "description": "Changes the fields given (name, description, settings); `settings` is merged into the current settings.",
        "errors": [*BODY_ERRORS, (400, codes.PARAMETER_ERROR, "a blank name, `settings.retention_days` not a number >= 0, or a bad `settings.auto_analysis` (`msg` names the key)"),
                   (409, codes.PROJECT_NAME_EXISTS, "another project has this name")],
    },
    ("delete", "/api/v1/projects/{project_id}"): {"description": "Deletes the project with its records, statistics and analyses."},
    ("post", "/api/v1/projects/{project_id}/rotate-key"): {
        "description": "Replaces the project's ingestion key; SDKs sending the old key get 20003 from then on.",
    },
    ("get", "/api/v1/projects/{project_id}/records"): {
        "description": "A page of records matching the filters, without `call_tree`, `source` and `spans` (GET /api/v1/records/{record_id} has them).",
        "errors": [BAD_QUERY],
    },
    ("get", "/api/v1/records/{record_id}"): {"description": "The full record with its call tree, and its `project_id`.", "errors": [RECORD_MISSING, RECORD_AMBIGUOUS]},
    ("get", "/api/v1/records/{record_id}/export"): {
        "description": "The record as a file, not in the envelope, with a `Content-Disposition` file name `<endpoint>-<record id>.<ext>`: "
                       "`speedscope` (open in speedscope.app), `html` (pyinstrument's HTML page), `pyisession` (`pyinstrument --load`), "
                       "`json` (the record). Errors are in the envelope as usual.",
        "params": {"format": "The file format (default `speedscope`)."},
        "errors": [BAD_QUERY, RECORD_MISSING, RECORD_AMBIGUOUS],
    },
    ("get", "/api/v1/projects/{project_id}/endpoints"): {
        "description": "Count, errors and duration percentiles per endpoint, computed from hourly roll-ups (records are not scanned), "
                       "sorted by p95, slowest first. `budget_breaches`: the endpoint's breaches found by the last budget check (of `version` "
                       "when given, else of every version; docs/budgets.md).",
        "errors": [TIME_RANGE],
    },
    ("get", "/api/v1/projects/{project_id}/endpoints/spans"): {
        "description": "For one endpoint, per version (newest first, at most 20): SQL queries, SQL time, outbound HTTP calls and "
                       "HTTP time per request as p50/p95/mean, from the spans of the latest `sample_limit` records of the version "
                       "(docs/spans.md). A record without spans counts as a request that made none; `records_with_spans` says how many had some.",
        "errors": [(400, codes.PARAMETER_ERROR, "no `endpoint`"), TIME_RANGE],
    },
    ("get", "/api/v1/projects/{project_id}/budgets"): {
        "description": "The project's own budgets (`budgets`), the server's `budgets` setting (`server`) and what is checked (`effective`): "
                       "a project budget replaces the server's budget of the same `endpoint` pattern; the server's others still apply. "
                       "`check_interval_s`: how often the server checks (docs/budgets.md).",
    },
    ("put", "/api/v1/projects/{project_id}/budgets"): {
        "description": "Replaces the project's budgets (kept in its `settings.budgets`); an empty list removes them. Each budget names "
                       "endpoints by `endpoint` (the record name or a glob) and sets at least one limit: `p95_ms`, `queries_p95`, "
                       "`http_calls_p95`, `functions` (`function` name or glob, `max_share_pct` of the endpoint's self time); a version is "
                       "judged from `min_requests` requests of the endpoint (default 20). Checked at the next interval.",
        "errors": [*BODY_ERRORS, (400, codes.PARAMETER_ERROR, "a budget is not valid: `msg` names it (`budgets[i]`), says what is wrong and how a budget looks")],
    },
    ("get", "/api/v1/projects/{project_id}/budgets/breaches"): {
        "description": "The breaches that held at the last check, per (version, endpoint, budget, metric, function): the limit, the "
                       "measured figure (the same the endpoint table, its spans and its functions show), the requests it is computed from, "
                       "when the breach was first seen and last checked. Checked every `budget_check_interval_s` for the versions that "
                       "received records (the newest 20).",
        "params": {"version": "Only this version's breaches.", "endpoint": "Only this endpoint's breaches (the record name)."},
    },
    ("post", "/api/v1/projects/{project_id}/budgets/check"): {
        "description": "Checks one version now and answers its breaches without storing them, with one readable line per breach "
                       "(`lines`): the project's effective budgets, or the `budgets` given (validated like PUT). `pytest --pystrument` "
                       "calls it for the version it uploaded.",
        "errors": [*BODY_ERRORS, (400, codes.PARAMETER_ERROR, "a blank `version`, or a budget that is not valid (`msg` names it)")],
    },
    ("get", "/api/v1/projects/{project_id}/trends"): {
        "description": "Request count, errors and percentiles per time bucket, from the roll-ups. Without `since`, the last 7 days.",
        "params": {"bucket": "Bucket width (default `1h`).", "since": "Start: ISO 8601 (UTC when no zone) or relative: 30m, 24h, 7d, 2w (default 7d)."},
        "errors": [BAD_QUERY],
    },
    ("get", "/api/v1/projects/{project_id}/versions"): {"description": "Each (version, environment) with its record count and first and last record, newest first."},
    ("delete", "/api/v1/projects/{project_id}/versions/{version}"): {
        "description": "Deletes one version's records and statistics; answers how many records were deleted (0 for an unknown version).",
    },
    ("get", "/api/v1/projects/{project_id}/functions"): {
        "description": "Functions ranked by total self time, from the roll-ups, one page at a time: the database sums and orders "
                       "them and only the page is read, so an answer's cost is its page, whatever the number of functions.",
        "params": {"endpoint": "Only this endpoint's requests (the record name).", "version": "Only this application version.",
                   "limit": "How many functions (default 50).", "offset": "How many of the heaviest functions to skip (default 0): "
                   "the next page is at `offset + limit` while it is below `total`."},
        "errors": [BAD_QUERY],
    },
    ("get", "/api/v1/projects/{project_id}/flamegraph"): {
        "description": "The call trees of the latest `sample_limit` (2000) matching records merged into one tree (while it is "
                       "built, frames beyond the server's `flame_max_nodes` go to `[other]` nodes, so memory stays bounded). Siblings beyond "
                       "the node budget are pruned into one `other` node whose times add up; pass its `path` as `expand` to get the "
                       "pruned siblings as its children.",
        "params": {"limit_nodes": "Node budget of the answer (default 500).",
                   "expand": "The `path` of a node (e.g. an `other` node) to answer with its children."},
        "errors": [BAD_QUERY, (404, codes.PARAMETER_ERROR, "`expand` names no node of this flame graph")],
    },
    ("get", "/api/v1/projects/{project_id}/continuous"): {
        "description": "The continuous aggregates (records of kind `aggregate`: the SDK's continuous mode, every request sampled) of "
                       "the filters' hours merged into one tree (the /flamegraph shape with `samples` per node; memory bounded by "
                       "`flame_max_nodes`), with the sample count and the figures of 100% of the requests. Aggregates are kept per "
                       "hour, so `since`/`until` select whole hours.",
        "params": {"limit_nodes": "Node budget of the answer (default 500).",
                   "expand": "The `path` of a node (e.g. an `other` node) to answer with its children."},
        "errors": [BAD_QUERY, (404, codes.PARAMETER_ERROR, "`expand` names no node of this flame graph")],
    },
    ("get", "/api/v1/projects/{project_id}/continuous/functions"): {
        "description": "Functions of the continuous flame tree ranked by self samples, one page at a time: each one's share of all "
                       "samples (`self_share`) with the sample counts behind it.",
        "params": {"limit": "How many functions (default 50).", "offset": "How many of the heaviest functions to skip (default 0)."},
        "errors": [BAD_QUERY],
    },
    ("get", "/api/v1/projects/{project_id}/compare"): {
        "description": "Compares two versions per endpoint (request durations) and per (endpoint, function) (self time per request) "
                       "with a two-sided Mann-Whitney U test on the latest `sample_limit` records of each side; the p-values are adjusted "
                       "with Benjamini-Hochberg (once across the endpoints, once across all the functions) and a change is flagged "
                       "when its q-value < `alpha` (0.01). Sides with fewer than 5 requests are never flagged. Per endpoint at most "
                       "`compare_max_functions` functions are tested (the heaviest; the rest as one `[other]`) and reading stops "
                       "after `compare_time_budget_s` (then `complete` is false).",
        "params": {"base": "The base version (`app.version`), e.g. the one in production.", "head": "The version compared with base.",
                   "endpoint": "Only this endpoint.", "environment": "Only records of this environment.",
                   "metric": "What is compared per endpoint: `duration` (wall clock, the default), `cpu` (the request thread's CPU "
                             "time: on a shared CI machine the time waiting for a core is noise; waits such as I/O show in duration only) "
                             "or `cpu_calibrated` (each record's CPU time divided by its `pystrument.machine_ms` tag, which `pytest "
                             "--pystrument` sets: a machine that ran slower for a while slows the calibration beside the requests too)."},
        "errors": [(400, codes.PARAMETER_ERROR, "`base` or `head` is missing, or `metric` is not duration, cpu or cpu_calibrated"),
                   (404, codes.PARAMETER_ERROR, "`base` or `head` has no records (a version nobody uploaded), or `endpoint` has none in "
                                          "them: `data.missing` names them, `data.versions` (and `data.endpoints`) list what exists")],
    },
    ("post", "/api/v1/analysis/analyze/{record_id}"): {
        "description": "Queues an analysis of one record, answered with HTTP 202: the rule-based analysers, then the AI provider if one "
                       "is chosen. The body is optional. Poll GET /api/v1/analysis/{analysis_id} until `status` is `done` or `failed`.",
        "errors": [*BODY_ERRORS, RECORD_MISSING, RECORD_AMBIGUOUS,
                   (400, codes.AI_SERVICE_UNAVAILABLE, "the provider is not installed (`msg` lists the installed ones)"),
                   (503, codes.AI_SERVICE_UNAVAILABLE, "the provider is installed but has no key in the server config"),
                   (409, codes.ANALYSIS_IN_PROGRESS, "an analysis of this record with this provider is queued or running (`data.analysis_id`)")],
    },
    ("get", "/api/v1/analysis/providers"): {"description": "The analysis providers installed on the server and whether each is configured."},
    ("get", "/api/v1/analysis/{analysis_id}"): {"description": "One analysis, with its status and, once done, its findings.",
                                                 "errors": [(404, codes.PARAMETER_ERROR, "no analysis with this id")]},
    ("get", "/api/v1/records/{record_id}/analyses"): {"description": "Every analysis of a record, newest first (empty for an unknown record); "
                                                                  "with `?project_id=`, only that project's."},
    ("get", "/api/v1/projects/{project_id}/analyses"): {
        "description": "The project's analyses, newest first: manual ones and the automatic ones (slow records after ingest, "
                       "regressions between the two newest versions; set per project in `settings.auto_analysis`: `enabled`, "
                       "`slow_ms`, `per_hour`, `provider`, `regressions`).",
        "params": {"endpoint": "Only analyses of this endpoint's records (the record name).", "version": "Only analyses of records of this version.",
                   "page_size": "Analyses per page (default 20)."},
        "errors": [BAD_QUERY],
    },
    ("get", "/api/v1/jobs/failed"): {
        "description": "With Redis (`--redis`): the RQ jobs that failed after their last retry, kept 7 days (an analysis job's `id` is "
                       "its analysis id). Without Redis there is no job queue: a failed analysis is stored with status `failed`.",
        "params": {"limit": "How many jobs (default 100)."},
        "errors": [BAD_QUERY, (409, codes.PARAMETER_ERROR, "the server runs without Redis (no job queue)")],
    },
    ("get", "/health"): {"description": "Liveness and the store's reachability, and the state of the automatic jobs (`jobs`); needs no token "
                                     "(also at /api/v1/health); the jobs' error texts are shown only with a valid token."},
}


def _errors(method: str, op: dict[str, Any], extra: list[Err]) -> list[Err]:
    out: list[Err] = []
    if op.get("security") != []:
        out.append((401, codes.AUTHENTICATION_ERROR, "the server has a token and the request has no valid `Authorization: Bearer <token>`"))
        if method != "get":
            out.append((403, codes.PERMISSION_ERROR, "the read-only token cannot write"))
    if any(p["in"] == "path" and p["name"] == "project_id" for p in op.get("parameters", [])):
        out.append((404, codes.PROJECT_NOT_FOUND, "no project with this id"))
    if any(p["in"] == "path" for p in op.get("parameters", [])):
        # the router's mounts match the rest of a path with ".*": a line break in a path parameter routes nowhere
        out.append((404, codes.PARAMETER_ERROR, "a path parameter holds a line break: no such endpoint"))
    out += extra
    out += [(500, codes.SYSTEM_ERROR, "a bug; the server log has the traceback"), (503, codes.DATABASE_ERROR, "the store failed or is unreachable")]
    merged: dict[tuple[int, int], str] = {}
    for status, code, when in out:  # two reasons for one (status, code) are said together
        merged[(status, code)] = f"{merged[(status, code)]}; or {when}" if (status, code) in merged else when
    return sorted((status, code, when) for (status, code), when in merged.items())


def _responses(op: dict[str, Any], errors: list[Err]) -> None:
    by_status: dict[int, list[Err]] = {}
    for err in errors:
        by_status.setdefault(err[0], []).append(err)
    for status, errs in by_status.items():
        op["responses"].setdefault(str(status), {
            "description": "; ".join(f"{code}: {when}" for _, code, when in errs),
            "content": {"application/json": {"schema": {"allOf": [
                {"$ref": "#/components/schemas/Error"},
                {"type": "object", "properties": {"code": {"enum": [code for _, code, _ in errs]}}},
            ]}}},
        })


def annotate(doc: dict[str, Any]) -> dict[str, Any]:
    """The document with descriptions, parameter docs and error codes filled in where the shapes leave them out."""
    doc = msgspec.json.decode(msgspec.json.encode(doc))  # a copy in which no two places share a dict
    used = [tag for item in doc["paths"].values() for op in item.values() for tag in op.get("tags", [])]
    doc.setdefault("tags", [{"name": tag, "description": TAGS.get(tag, "")} for tag in dict.fromkeys([*TAGS, *used]) if tag in used])
    doc["info"]["x-error-codes"] = [{"code": code, "meaning": meaning} for code, meaning in CODES.items()]
    for path, item in doc["paths"].items():
        for method, op in item.items():
            text = OPERATIONS.get((method, path), {})
            if text.get("description") and not op.get("description"):
                op["description"] = text["description"]
            for param in op.get("parameters", []):
                said = text.get("params", {}).get(param["name"]) or PARAMETERS.get((param["in"], param["name"]))
                if said and not param.get("description"):
                    param["description"] = said
            if "x-error-codes" not in op:
                errors = _errors(method, op, text.get("errors", []))
                op["x-error-codes"] = [{"status": s, "code": c, "when": w} for s, c, w in errors]
                _responses(op, errors)
    for name, schema in doc["components"]["schemas"].items():
        for part in [schema, *schema.get("allOf", [])]:
            for field, prop in part.get("properties", {}).items():
                said = FIELDS.get((name, field)) or FIELDS.get((SAME_FIELDS.get(name, ""), field))
                if said and "description" not in prop and "$ref" not in prop:
                    prop["description"] = said
                elif said and "$ref" in prop:  # a $ref cannot have siblings in every tool: wrap it
                    part["properties"][field] = {"allOf": [prop], "description": said}
    return doc
