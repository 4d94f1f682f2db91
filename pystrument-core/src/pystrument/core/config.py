"""SDK configuration (design.md section 5), on pydantic-settings.

Precedence, highest first: arguments in code; environment (``PYSTRUMENT_*``, then the seed's
``PERFORMANCE_MONITOR_*``); a YAML or JSON file (``PYSTRUMENT_CONFIG`` or ``pystrument.yaml|yml|json``
in the working directory) whose top-level key is ``pystrument`` or the seed's ``performance_monitor``.

An invalid setting gives one log line naming the key, the bad value and where it came from, and the
resulting ``Config`` has monitoring switched off; with ``strict=True`` a ``ConfigError`` is raised instead.
"""

from __future__ import annotations

import contextvars
import json
import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import yaml
from pydantic import Field, PrivateAttr, ValidationError, field_validator
from pydantic_settings import (
    BaseSettings,
    EnvSettingsSource,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

from .sampling import DEFAULT_MAX_OVERHEAD_PCT

logger = logging.getLogger("pystrument")

FILE_KEYS = ("pystrument", "performance_monitor")
FILE_NAMES = ("pystrument.yaml", "pystrument.yml", "pystrument.json")

StrList = Annotated[list[str], NoDecode]


class ConfigError(ValueError):
    """An invalid pystrument setting (raised only with ``strict=True``)."""


class Config(BaseSettings):
    """Everything the SDK can be told. Every place that takes a config takes this, a dict, or nothing."""

    model_config = SettingsConfigDict(env_prefix="PYSTRUMENT_", extra="ignore", validate_default=True)

    enabled: bool = Field(True, description="Switch monitoring on or off.")
    strict: bool = Field(False, description="Raise ConfigError on an invalid setting instead of switching monitoring off.")
    project_key: str = Field("", description="The project's ingestion key (X-Project-Key).")
    api_endpoint: str = Field("", description="The pystrument server's URL; means an HTTP sink (the seed's name).")
    sinks: StrList = Field(default_factory=list, description="Sink URLs: http(s)://, file://, mongodb://, redis://, memory://")
    sampling_rate: float = Field(1.0, ge=0.0, le=1.0, description="Share of units of work that are profiled.")
    max_overhead_pct: float | None = Field(DEFAULT_MAX_OVERHEAD_PCT, gt=0, le=100, description="Budget of the SDK's estimated cost, in percent of the process's CPU time: the effective sampling rate is lowered while the cost is above it and raised back (never above sampling_rate) below half of it; records carry the rate in effect. None or 100 (e.g. PYSTRUMENT_MAX_OVERHEAD_PCT=100): every unit at sampling_rate, whatever it costs.")
    batch_size: int = Field(50, ge=1, le=10_000, description="Records per batch handed to the sinks.")
    async_send: bool = Field(True, description="Deliver from a background thread (False: synchronously at the end of each unit).")
    flush_interval: float = Field(2.0, gt=0, description="Seconds between deliveries of a partial batch.")
    max_queue_size: int = Field(1000, ge=1, description="Records held in memory waiting for delivery; beyond it records are dropped and counted.")
    shutdown_timeout: float = Field(2.0, ge=0, description="Seconds the exit (interpreter exit, or SIGTERM left at its default) may take: up to half of it waiting for units still running in other threads to end, the rest delivering what is queued.")
    flush_on_sigterm: bool = Field(True, description="Install SIGTERM/SIGINT handlers (from the main thread, when the first client is built) that deliver what is queued before the signal takes effect; a host's own handler is called after, the default action kept.")
    profiler_interval: float = Field(0.001, gt=0, le=1.0, description="Seconds between profiler samples (one sampler serves every client of a process: it samples at the finest interval any of them asks for, and records report the interval in effect).")
    collector: str = Field("pyinstrument", description="The profiling collector plugin.")
    min_duration_ms: float = Field(0.0, ge=0, description="Profiled units faster than this are not kept (failed units always are).")
    exclude_paths: StrList = Field(default_factory=lambda: ["/health", "/healthz", "/favicon.ico", "/static/"], description="Path prefixes never profiled.")
    max_tree_nodes: int = Field(2000, ge=10, description="Call trees are pruned to this many nodes; pruned time goes to an 'other' node.")
    max_samples_per_unit: int = Field(20_000, ge=100, description="Samples kept per unit; later ones are dropped, counted, and the record is marked truncated.")
    capture_source: bool = Field(False, description="Send source lines of hot application functions, for analysis.")
    app_name: str = Field("", description="Application name recorded with every record.")
    app_version: str = Field("", description="Application version: statistics and comparisons are per version.")
    environment: str = Field("production", description="Deployment environment (production, staging, ...).")
    tags: dict[str, str] = Field(default_factory=dict, description="Tags added to every record.")
    sink_retries: int = Field(3, ge=0, le=20, description="Retries of a failed batch per sink before it is dropped and counted.")
    sink_timeout: float = Field(5.0, gt=0, description="Seconds a sink waits to connect to, or hear back from, its target.")
    spool_dir: str = Field("", description="Folder where the HTTP sink keeps batches while the server is unreachable (default: <tempdir>/pystrument-spool-<uid>).")
    spool_max_bytes: int = Field(64 * 1024 * 1024, ge=0, description="Size cap of the HTTP sink's on-disk spool; beyond it the least valuable records are dropped and counted (0: no spool).")

    @field_validator("sinks", "exclude_paths", mode="before")
    @classmethod
    def _split_list(cls, value: Any) -> Any:
        if isinstance(value, str):
            text = value.strip()
            if text.startswith("["):
                return json.loads(text)
            return [part.strip() for part in text.split(",") if part.strip()]
        return value

    def __init__(self, **values: Any) -> None:
        strict = bool(values.get("strict")) or os.environ.get("PYSTRUMENT_STRICT", "").lower() in ("1", "true")
        origins: dict[str, str] = {}
        token = _origins.set(origins)
        try:
            super().__init__(**values)
        except (ValidationError, ConfigError) as exc:
            message = describe_error(exc, origins) if isinstance(exc, ValidationError) else str(exc)
            if strict:
                raise ConfigError(message) from None
            logger.error("%s; monitoring is switched off", message)
            fallback = Config.model_construct(enabled=False)
            object.__setattr__(self, "__dict__", fallback.__dict__)
            object.__setattr__(self, "__pydantic_fields_set__", set())
            object.__setattr__(self, "__pydantic_extra__", None)
            object.__setattr__(self, "__pydantic_private__", {"_origins": {}, "_config_error": message})
        finally:
            _origins.reset(token)
        self._origins = origins

    _origins: dict[str, str] = PrivateAttr(default_factory=dict)
    _config_error: str | None = PrivateAttr(None)

    @property
    def config_error(self) -> str | None:
        """Why monitoring was switched off, when a setting was invalid."""
        return self._config_error

    def origin(self, key: str) -> str:
        """Where the effective value of ``key`` came from."""
        return self._origins.get(key, "default")

    def sink_urls(self) -> list[str]:
        urls = list(self.sinks)
        if self.api_endpoint and not any(u.rstrip("/") == self.api_endpoint.rstrip("/") for u in urls):
            urls.insert(0, self.api_endpoint)
        return urls

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        seed_env = EnvSettingsSource(settings_cls, env_prefix="PERFORMANCE_MONITOR_")
        return (
            TracedSource(settings_cls, init_settings, lambda k: "code", _record_origin),
            TracedSource(settings_cls, env_settings, lambda k: f"environment variable PYSTRUMENT_{k.upper()}", _record_origin),
            TracedSource(settings_cls, seed_env, lambda k: f"environment variable PERFORMANCE_MONITOR_{k.upper()}", _record_origin),
            _FileSource(settings_cls),
        )


_origins: contextvars.ContextVar[dict[str, str] | None] = contextvars.ContextVar("pystrument_config_origins", default=None)


def _record_origin(key: str, label: str) -> None:
    origins = _origins.get()
    if origins is not None:
        origins.setdefault(key, label)


class TracedSource(PydanticBaseSettingsSource):
    """Wraps a settings source and reports, per key it sets, where it came from: ``record(key, label(key))``.

    Sources are listed highest precedence first, so a recorder that keeps the first label per key
    (``dict.setdefault``) knows the origin of every effective value. Used by the SDK's ``Config`` and by
    the server's settings."""

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


def find_config_file() -> Path | None:
    explicit = os.environ.get("PYSTRUMENT_CONFIG") or os.environ.get("PERFORMANCE_MONITOR_CONFIG")
    if explicit:
        return Path(explicit)
    for name in FILE_NAMES:
        candidate = Path.cwd() / name
        if candidate.is_file():
            return candidate
    return None


class _FileSource(PydanticBaseSettingsSource):
    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:  # pragma: no cover - unused
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        path = find_config_file()
        if path is None:
            return {}
        try:
            text = path.read_text(encoding="utf-8")
            loaded = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
        except (OSError, ValueError, yaml.YAMLError) as exc:
            raise ConfigError(f"pystrument: cannot read config file {path}: {exc}") from None
        if not isinstance(loaded, dict):
            return {}
        key = next((k for k in FILE_KEYS if k in loaded), None)
        section = loaded[key] if key else {}
        if not isinstance(section, dict):
            raise ConfigError(f"pystrument: config file {path}: '{key}' must be a mapping of settings")
        fields = self.settings_cls.model_fields
        data = {k: v for k, v in section.items() if k in fields}
        for k in data:
            _record_origin(k, f"file {path} (key {key}.{k})")
        return data


def describe_error(exc: ValidationError, origins: dict[str, str]) -> str:
    """One line: each bad key, its bad value, where it came from and what is expected."""
    parts = []
    for err in exc.errors():
        key = ".".join(str(p) for p in err.get("loc", ())) or "?"
        top = str(err["loc"][0]) if err.get("loc") else key
        parts.append(f"{key}={err.get('input')!r} from {origins.get(top, 'code')}: {err.get('msg')}")
    return "pystrument: invalid setting " + "; ".join(parts)


def load_config(config: Config | dict[str, Any] | None = None, **overrides: Any) -> Config:
    """Accept a ``Config``, a dict, or nothing (then the environment and files decide)."""
    try:
        if isinstance(config, Config):
            return config.model_copy(update=overrides) if overrides else config
        values = dict(config or {})
        values.update({k: v for k, v in overrides.items() if v is not None})
        return Config(**values)
    except ConfigError:
        raise
    except Exception as exc:  # a broken file or type: monitoring off, host unaffected
        if overrides.get("strict") or (isinstance(config, dict) and config.get("strict")):
            raise ConfigError(str(exc)) from exc
        logger.error("pystrument: invalid configuration: %s; monitoring is switched off", exc)
        disabled = Config.model_construct(enabled=False)
        disabled._config_error = str(exc)
        return disabled



def reference_markdown(settings_cls: type[BaseSettings] = Config, env_prefix: str = "PYSTRUMENT_",
                       title: str = "SDK settings (`pystrument.core.Config`)") -> str:
    """A Markdown table of every setting: name, env var, type, default, description (docs/configuration.md)."""
    lines = [f"## {title}", "", "| Setting | Environment | Type | Default | Description |", "|---|---|---|---|---|"]
    for name, field in settings_cls.model_fields.items():
        annotation = getattr(field.annotation, "__name__", None) or str(field.annotation).replace("typing.", "")
        if field.default_factory is not None:
            default = repr(field.default_factory())  # type: ignore[call-arg]
        else:
            default = repr(field.default)
        desc = (field.description or "").replace("|", "\\|")
        env = f"`{env_prefix}{name.upper()}`"
        lines.append(f"| `{name}` | {env} | `{annotation}` | `{default}` | {desc} |")
    return "\n".join(lines) + "\n"
