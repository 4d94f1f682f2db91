"""Server settings (pydantic-settings). Precedence, highest first: CLI flags (passed as keyword
arguments), ``PYSTRUMENT_SERVER_*`` environment variables, a YAML or JSON file (``--config`` or
``PYSTRUMENT_SERVER_CONFIG``) whose settings sit at the top level or under a ``server`` key.
``origin(key)`` tells where each effective value came from (``pystrument-server check-config``).
"""

from __future__ import annotations

import contextvars
import ipaddress
import json
import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import yaml
from pydantic import Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, PydanticBaseSettingsSource, SettingsConfigDict
from pystrument.core.config import markdown_table
from pystrument.core.contract import REDIS_STREAM

StrList = Annotated[list[str], NoDecode]
_origins: contextvars.ContextVar[dict[str, str] | None] = contextvars.ContextVar("pystrument_server_origins", default=None)
_config_file: contextvars.ContextVar[str | None] = contextvars.ContextVar("pystrument_server_config_file", default=None)

def _origin_map() -> dict[str, str]:
    found = _origins.get()
    return found if found is not None else {}


class SettingsError(ValueError):
    """A bad server setting: the message names the key, the value and where it came from."""


class ServerSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="PYSTRUMENT_SERVER_", extra="ignore", validate_default=True)

    host: str = Field("127.0.0.1", description="Address to listen on. Beyond loopback a token is required.")
    port: int = Field(8000, ge=0, le=65535)
    data_dir: str = Field(".pystrument", description="Folder of the embedded SQLite store.")
    store: str = Field("", description="Store URL: sqlite:///path/to.db or mongodb://host/db. Empty: SQLite in data_dir.")
    token: str = Field("", description="Bearer token required by every non-ingest endpoint (empty: none).")
    read_token: str = Field("", description="A second bearer token that may only read (GET): for dashboards. Writes with it get 10003.")
    cors_origins: StrList = Field(default_factory=list, description="Origins allowed by CORS, e.g. the UI's dev server.")
    max_body_bytes: int = Field(10 * 1024 * 1024, ge=1024, description="Largest request body accepted (after gzip decompression too).")
    header_timeout_s: float = Field(10.0, gt=0, description="Seconds a client has to send a request line and headers, counted from its "
                                    "connection (or its next request's first byte); then 408 and the connection is closed.")
    body_timeout_s: float = Field(60.0, gt=0, description="Seconds a client has to send a whole request body, from its first read; then 408 "
                                  "and the connection is closed.")
    keep_alive_timeout_s: float = Field(5.0, gt=0, description="Seconds an idle keep-alive connection stays open between requests.")
    body_bytes_in_flight: int = Field(64 * 1024 * 1024, ge=1024, description="Bytes of request bodies received or being handled at once, all "
                                      "connections together (at least max_body_bytes); a body beyond waits body_wait_s, then gets 503 with Retry-After.")
    body_wait_s: float = Field(5.0, ge=0, description="Seconds a request body waits for room in body_bytes_in_flight before its 503.")
    max_connections: int = Field(1000, ge=1, description="Open connections; one beyond gets 503 with Retry-After and is closed.")
    max_header_bytes: int = Field(16 * 1024, ge=1024, description="Largest request line plus headers; beyond, 431 (400 when it arrives in pieces) and the connection is closed.")
    rate_limit_rps: float = Field(50.0, ge=0, description="Ingest requests per second per project key (0: unlimited).")
    rate_limit_burst: int = Field(200, ge=1, description="Requests a project key may send at once before the rate applies.")
    retention_days: float = Field(0.0, ge=0, description="Records older than this are purged (0: keep forever); per project in its settings.")
    purge_interval_s: float = Field(3600.0, gt=0, description="Seconds between retention purges.")
    analysis_workers: int = Field(2, ge=1, le=64, description="Threads of the in-process analysis worker.")
    ai_provider: str = Field("", description="Default AI provider for analysis jobs (empty: rules only unless requested).")
    ai: dict[str, Any] = Field(default_factory=dict, description="Settings handed to AI providers (keys, models, api_base). Never returned by the API.")
    sample_limit: int = Field(2000, ge=10, description="Records read per version and endpoint for flame graphs and comparisons.")
    compare_max_functions: int = Field(200, ge=1, le=100_000, description="Functions a comparison tests per endpoint: the heaviest by self "
                                       "time; the others are summed per request into one [other] function.")
    compare_memory_mb: float = Field(256.0, gt=0, description="Largest working set of a comparison per endpoint (kept self times, 8 bytes "
                                     "each): fewer functions are kept when records x functions would not fit.")
    compare_time_budget_s: float = Field(120.0, gt=0, description="A comparison stops reading records after this long; endpoints not "
                                         "reached are listed in skipped_endpoints and the answer says complete: false.")
    job_backoff_max_s: float = Field(3600.0, gt=0, description="Longest wait before an automatic job (regression check, slow-record "
                                     "analysis) that failed runs again; the wait doubles from auto_analysis_interval_s at each failure.")
    max_nodes_per_record: int = Field(20_000, ge=10, le=10_000_000, description="Call-tree nodes kept per record: a larger tree is folded "
                                      "at ingest (its lightest frames go to '[other]' nodes, times kept) and the record marked truncated.")
    max_functions_per_record: int = Field(5_000, ge=10, le=10_000_000, description="Distinct functions (function, file, line) kept per "
                                          "record: beyond it the tree is folded at ingest like max_nodes_per_record.")
    max_endpoints_per_project: int = Field(2_000, ge=1, le=10_000_000, description="Distinct endpoints (record names) a project may have: "
                                           "records of a new endpoint beyond it are refused (code 20004), known endpoints still accepted.")
    max_versions_per_project: int = Field(1_000, ge=1, le=10_000_000, description="Distinct app versions a project may have: records of a "
                                          "new version beyond it are refused (code 20004); delete old ones with DELETE .../versions/{version}.")
    flame_max_nodes: int = Field(200_000, ge=1000, le=100_000_000, description="Nodes a merged flame graph may hold while it is built: "
                                 "frames beyond it are merged into '[other]' nodes (memory stays bounded whatever the records hold).")
    log_level: str = Field("info")
    redis: str = Field("", description="Redis URL (redis://host:6379/0): shared cache, rate limits, RQ queues and the stream consumer. Empty: embedded, one process.")
    redis_prefix: str = Field("pystrument:", description="Prefix of every Redis key and RQ queue name the server and its workers use.")
    redis_stream: str = Field(REDIS_STREAM, description="The Redis sink's stream the workers consume (the sink's 'stream' option).")
    stream_batch: int = Field(500, ge=1, le=100_000, description="Stream entries a worker reads per XREADGROUP.")
    stream_claim_idle_s: float = Field(60.0, gt=0, description="Entries pending this long with a dead consumer are claimed (XAUTOCLAIM) by another worker.")
    job_retries: int = Field(3, ge=0, le=20, description="Times a failed RQ job is retried before it lands in the failed jobs (GET /api/v1/jobs/failed).")
    job_retry_backoff_s: int = Field(10, ge=0, description="Wait before the first retry; each next retry waits 4 times longer.")
    cache_ttl_s: float = Field(300.0, gt=0, description="Seconds an aggregate answer stays in the Redis cache (ingest invalidates it sooner).")
    auto_analysis: bool = Field(True, description="Analyse slow records and new regressions without a click, in every project that does not "
                                "say otherwise in its settings (settings.auto_analysis.enabled).")
    auto_analysis_slow_ms: float = Field(1000.0, gt=0, description="A record at least this slow (ms) is analysed automatically, once per endpoint "
                                         "and version per auto_analysis_cooldown_s. Per project: settings.auto_analysis.slow_ms.")
    auto_analysis_per_hour: int = Field(10, ge=1, le=10_000, description="Automatic analyses per project: this many at once, then this many per hour "
                                        "(a token bucket, shared by every process with Redis). Per project: settings.auto_analysis.per_hour.")
    auto_analysis_provider: str = Field("", description="Provider of automatic analyses: empty for the rule-based analysers; an AI provider "
                                        "is used only when it is configured. Per project: settings.auto_analysis.provider.")
    auto_analysis_cooldown_s: float = Field(3600.0, gt=0, description="An endpoint and version gets at most one automatic slow-record analysis "
                                            "in this many seconds.")
    auto_analysis_interval_s: float = Field(60.0, gt=0, description="Seconds between checks of each project's newest version against the one "
                                            "before it (a regression found is analysed once per base and head).")
    auto_analysis_min_records: int = Field(30, ge=5, description="Records the newest version needs before it is compared; compared again "
                                           "each time its count doubles, until a regression is found.")
    advice_min_requests: int = Field(30, ge=1, description="Requests a later version of an endpoint needs before the findings of an analysis "
                                     "of an earlier version are checked against it (the continuous aggregates' count where present, else "
                                     "detailed records; docs/analysis.md, 'Advice that is checked').")
    advice_confirm_share: float = Field(0.5, gt=0, le=1, description="A finding is confirmed when the measured saving per request is at least "
                                        "this share of the predicted one.")
    advice_partly_share: float = Field(0.1, gt=0, le=1, description="Below advice_confirm_share but at least this share of the predicted "
                                       "saving: partly confirmed; below it: not confirmed.")
    advice_records: int = Field(200, ge=10, le=5000, description="Detailed records read per version (the latest) to measure a finding's "
                                "target: the time per request of its function or statement.")

    budgets: Annotated[list[dict[str, Any]], NoDecode] = Field(default_factory=list, description="Performance budgets per endpoint, for every project "
                                          "(docs/budgets.md): [{endpoint: name or glob, p95_ms, queries_p95, http_calls_p95, functions: "
                                          "[{function, max_share_pct}], min_requests}]. A project's own budget for the same endpoint "
                                          "pattern (PUT /projects/{id}/budgets) replaces the server's.")
    budget_check_interval_s: float = Field(60.0, gt=0, description="Seconds between budget checks (the budgets' roll-up interval): a "
                                           "breach shows in the API and the UI at most this long after the traffic that caused it.")
    budget_auto_analysis: bool = Field(True, description="A budget breach seen for the first time is analysed automatically (trigger "
                                       "budget), within the project's automatic-analysis policy and hourly quota.")

    @model_validator(mode="after")
    def _bodies_fit(self) -> ServerSettings:
        if self.body_bytes_in_flight < self.max_body_bytes:
            raise ValueError(f"body_bytes_in_flight ({self.body_bytes_in_flight}) must be at least max_body_bytes ({self.max_body_bytes}): "
                             "else a body of the largest size accepted could never be received")
        return self

    @field_validator("budgets", mode="before")
    @classmethod
    def _budgets(cls, value: Any) -> Any:
        from pystrument.server.analysis.budgets import parse, to_builtins

        if isinstance(value, str):
            try:
                value = json.loads(value) if value.strip() else []
            except ValueError as exc:
                raise ValueError(f"budgets: not JSON ({exc}): give a JSON list, e.g. [{{\"endpoint\": \"GET /orders\", \"p95_ms\": 200}}]") from None
        return to_builtins(parse(value))

    @field_validator("cors_origins", mode="before")
    @classmethod
    def _split(cls, value: Any) -> Any:
        if isinstance(value, str):
            text = value.strip()
            if text.startswith("["):
                return json.loads(text)
            return [p.strip() for p in text.split(",") if p.strip()]
        return value

    def __init__(self, **values: Any) -> None:
        origins: dict[str, str] = {}
        token = _origins.set(origins)
        file_token = _config_file.set(values.pop("_config_file", None))
        try:
            super().__init__(**values)
        except ValidationError as exc:
            parts = []
            for err in exc.errors():
                key = ".".join(str(p) for p in err.get("loc", ())) or "?"
                top = str(err["loc"][0]) if err.get("loc") else key
                parts.append(f"{key}={err.get('input')!r} from {origins.get(top, 'default')}: {err.get('msg')}")
            raise SettingsError("invalid server setting " + "; ".join(parts)) from None
        finally:
            _origins.reset(token)
            _config_file.reset(file_token)
        object.__setattr__(self, "_origin_map", origins)

    def origin(self, key: str) -> str:
        origins: dict[str, str] = getattr(self, "_origin_map", {})
        return origins.get(key, "default")


    def store_url(self) -> str:
        if self.store:
            return self.store
        return "sqlite:///" + str(Path(self.data_dir).resolve() / "pystrument.db")

    def store_label(self) -> str:
        """The store URL as it may be shown (CLI output, the ingest API's invalid-key hint): no password."""
        return re.sub(r"://[^/@]*@", "://***@", self.store_url())

    def is_loopback(self) -> bool:
        if self.host in ("localhost", ""):
            return self.host == "localhost"
        try:
            return ipaddress.ip_address(self.host).is_loopback
        except ValueError:
            return False

    def check_listen(self) -> None:
        """Refuse to listen beyond loopback without a token."""
        if not self.is_loopback() and not self.token:
            raise SettingsError(
                f"refusing to listen on {self.host} without a token: anyone who can reach it could read your profiles. "
                "Set one with --token, PYSTRUMENT_SERVER_TOKEN or 'token:' in the config file "
                "(e.g. PYSTRUMENT_SERVER_TOKEN=$(python -c 'import secrets;print(secrets.token_urlsafe(32))')), "
                "or listen on 127.0.0.1."
            )

    @classmethod
    def settings_customise_sources(cls, settings_cls: type[BaseSettings], init_settings: PydanticBaseSettingsSource,
                                   env_settings: PydanticBaseSettingsSource, dotenv_settings: PydanticBaseSettingsSource,
                                   file_secret_settings: PydanticBaseSettingsSource) -> tuple[PydanticBaseSettingsSource, ...]:
        return (
            TracedSource(settings_cls, init_settings, lambda k: "command line", _record_origin),
            TracedSource(settings_cls, env_settings, lambda k: f"environment variable PYSTRUMENT_SERVER_{k.upper()}", _record_origin),
            _FileSource(settings_cls),
        )


class TracedSource(PydanticBaseSettingsSource):
    """Wraps a settings source and reports, per key it sets, where it came from: ``record(key, label(key))``.

    Sources are listed highest precedence first, so a recorder that keeps the first label per key
    (``dict.setdefault``) knows the origin of every effective value."""

    def __init__(self, settings_cls: type[BaseSettings], inner: PydanticBaseSettingsSource,
                 label: Callable[[str], str], record: Callable[[str, str], Any]) -> None:
        super().__init__(settings_cls)
        self.inner = inner
        self.label = label
        self.record = record

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:  # pragma: no cover - unused
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        data = self.inner()
        for key in data:
            self.record(key, self.label(key))
        return data


def _record_origin(key: str, label: str) -> None:
    _origin_map().setdefault(key, label)


class _FileSource(PydanticBaseSettingsSource):
    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:  # pragma: no cover
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        name = _config_file.get() or os.environ.get("PYSTRUMENT_SERVER_CONFIG")
        if not name:
            return {}
        path = Path(name)
        try:
            text = path.read_text(encoding="utf-8")
            loaded = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
        except (OSError, ValueError, yaml.YAMLError) as exc:
            raise SettingsError(f"cannot read config file {path}: {exc}") from None
        if loaded is None:
            return {}
        if not isinstance(loaded, dict):
            raise SettingsError(f"config file {path}: expected a mapping of settings, got {type(loaded).__name__}")
        key = next((k for k in ("server", "pystrument_server") if isinstance(loaded.get(k), dict)), None)
        section = loaded[key] if key else loaded
        fields = self.settings_cls.model_fields
        unknown = sorted(k for k in section if k not in fields)
        if unknown:
            raise SettingsError(f"config file {path}: unknown setting(s) {', '.join(unknown)}; known: {', '.join(fields)}")
        for k in section:
            _record_origin(k, f"file {path}" + (f" (key {key}.{k})" if key else f" (key {k})"))
        return dict(section)


def load_settings(config_file: str | None = None, **flags: Any) -> ServerSettings:
    """Settings from flags (None values are ignored) > environment > file; raises SettingsError."""
    return ServerSettings(_config_file=config_file, **{k: v for k, v in flags.items() if v is not None})


def reference_markdown() -> str:
    """The server settings' table for docs/configuration.md."""
    rows = []
    for name, info in ServerSettings.model_fields.items():
        annotation = getattr(info.annotation, "__name__", None) or str(info.annotation).replace("typing.", "")
        default = info.default_factory() if info.default_factory is not None else info.default  # type: ignore[call-arg]
        rows.append((name, annotation, repr(default), info.description or ""))
    return markdown_table("Server settings (`pystrument-server`)", "PYSTRUMENT_SERVER_", rows)
