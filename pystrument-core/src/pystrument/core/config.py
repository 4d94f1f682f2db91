"""SDK configuration (docs/configuration.md): the settings as a msgspec ``Struct``, read without pydantic.

Precedence, highest first: arguments in code; environment (``PYSTRUMENT_*``, then the legacy
``PERFORMANCE_MONITOR_*``, kept for compatibility); a YAML or JSON file (``PYSTRUMENT_CONFIG`` or
``pystrument.yaml|yml|json`` in the working directory) whose top-level key is ``pystrument`` or the legacy
``performance_monitor`` (config_sources.py). Values are validated by ``msgspec.convert(..., strict=False)`` against
:class:`ConfigFields` (types and ``Meta`` bounds); ``config.origin(key)`` tells where each came from.

An invalid setting gives one log line naming the key, the bad value and where it came from, and the
resulting ``Config`` has monitoring switched off; with ``strict=True`` a ``ConfigError`` is raised instead.
"""

from __future__ import annotations

import functools
import logging
import os
import re
import typing
from collections.abc import Iterable
from typing import TYPE_CHECKING, Annotated, Any

import msgspec
from msgspec import Meta, field

from .config_sources import FILE_KEYS, FILE_NAMES, ConfigError, find_config_file, gather
from .sampling import DEFAULT_MAX_OVERHEAD_PCT

__all__ = ["FILE_KEYS", "FILE_NAMES", "Config", "ConfigError", "ConfigFields", "find_config_file", "load_config",
           "markdown_table", "reference_markdown"]

logger = logging.getLogger("pystrument")


class ConfigFields(msgspec.Struct, kw_only=True):
    """Every SDK setting: type, bounds (``Meta``), default and description. ``Config`` carries these."""

    enabled: Annotated[bool, Meta(description="Switch monitoring on or off.")] = True
    strict: Annotated[bool, Meta(description="Raise ConfigError on an invalid setting instead of switching monitoring off.")] = False
    project_key: Annotated[str, Meta(description="The project's ingestion key (X-Project-Key).")] = ""
    api_endpoint: Annotated[str, Meta(description="The pystrument server's URL; means an HTTP sink (the original name, kept for compatibility).")] = ""
    sinks: Annotated[list[str], Meta(description="Sink URLs: http(s)://, file://, mongodb://, redis://, memory://")] = field(default_factory=list)
    sampling_rate: Annotated[float, Meta(ge=0.0, le=1.0, description="Share of units of work that are profiled.")] = 1.0
    max_overhead_pct: Annotated[Annotated[float, Meta(gt=0, le=100)] | None, Meta(description="Budget of the SDK's estimated cost, in percent of the process's CPU time: the cost counts the continuous mode's sampling thread and per-unit work (fixed) and detailed profiling (in proportion to its rate); the governor sets the effective detailed rate (at most sampling_rate) so that the whole comes to about 0.9 x the budget; records carry the rate in effect. None or 100 (e.g. PYSTRUMENT_MAX_OVERHEAD_PCT=100): every unit at sampling_rate, whatever it costs.")] = DEFAULT_MAX_OVERHEAD_PCT
    batch_size: Annotated[int, Meta(ge=1, le=10_000, description="Records per batch handed to the sinks.")] = 50
    async_send: Annotated[bool, Meta(description="Deliver from a background thread (False: synchronously at the end of each unit).")] = True
    flush_interval: Annotated[float, Meta(gt=0, description="Seconds between deliveries of a partial batch.")] = 2.0
    max_queue_size: Annotated[int, Meta(ge=1, description="Records held in memory waiting for delivery, and in each in-memory retry queue; beyond it records are dropped and counted.")] = 1000
    shutdown_timeout: Annotated[float, Meta(ge=0, description="Seconds the exit (interpreter exit, or SIGTERM left at its default) may take: up to half of it waiting for units still running in other threads to end, the rest delivering what is queued and replaying the retry queues (what is left on a disk spool stays for the next process; in memory it is dropped and counted).")] = 2.0
    flush_on_sigterm: Annotated[bool, Meta(description="Install SIGTERM/SIGINT handlers (from the main thread, when the first client is built) that deliver what is queued before the signal takes effect; a host's own handler is called after, the default action kept.")] = True
    profiler_interval: Annotated[float, Meta(gt=0, le=1.0, description="Seconds between profiler samples (one sampler serves every client of a process: it samples at the finest interval any of them asks for, and records report the interval in effect).")] = 0.001
    collector: Annotated[str, Meta(description="The profiling collector plugin.")] = "pyinstrument"
    profiling_mode: Annotated[typing.Literal["detailed", "continuous", "both"], Meta(description="detailed: pyinstrument call trees of a sample of units (sampling_rate). continuous: one sampling thread reads every thread's stack about every continuous_interval_ms and ships per-endpoint aggregates (merged stacks, request counts, statuses, duration histogram) of 100% of requests every continuous_flush_interval. both (the default): continuous on every unit plus detailed records at sampling_rate, at the rate the max_overhead_pct governor sets.")] = "both"
    continuous_interval_ms: Annotated[float, Meta(ge=1.0, le=1000.0, description="Mean interval of the continuous sampler, in ms (randomised, exponential around it: 10 ms = 100 Hz).")] = 10.0
    continuous_flush_interval: Annotated[float, Meta(ge=0.5, le=3600.0, description="Seconds of one continuous aggregation window: one aggregate record per endpoint is shipped at its end (and at flush/exit).")] = 10.0
    tail_keep_ms: Annotated[float, Meta(ge=0, description="In continuous mode, a request not picked for detailed profiling that lasts at least this long (or fails) is shipped as a coarse request record from its own continuous samples.")] = 1000.0
    min_duration_ms: Annotated[float, Meta(ge=0, description="Profiled units faster than this are not kept (failed units always are).")] = 0.0
    exclude_paths: Annotated[list[str], Meta(description="Path prefixes never profiled.")] = field(default_factory=lambda: ["/health", "/healthz", "/favicon.ico", "/static/"])
    max_tree_nodes: Annotated[int, Meta(ge=10, description="Call trees are pruned to this many nodes; pruned time goes to an 'other' node.")] = 2000
    max_samples_per_unit: Annotated[int, Meta(ge=100, description="Samples kept per unit; later ones are dropped, counted, and the record is marked truncated.")] = 20_000
    capture_source: Annotated[bool, Meta(description="Send source lines of hot application functions, for analysis.")] = False
    capture_spans: Annotated[bool, Meta(description="Record the SQL queries (DB-API drivers, SQLAlchemy, Django) and outbound HTTP calls (requests, httpx, urllib3) of profiled units as spans; hooks load only when those libraries are imported.")] = True
    max_spans_per_unit: Annotated[int, Meta(ge=0, le=10_000, description="Spans kept per unit (at most 10,000, what the server accepts); later ones are counted in the record's spans_dropped.")] = 500
    app_name: Annotated[str, Meta(description="Application name recorded with every record.")] = ""
    app_version: Annotated[str, Meta(description="Application version: statistics and comparisons are per version.")] = ""
    environment: Annotated[str, Meta(description="Deployment environment (production, staging, ...).")] = "production"
    tags: Annotated[dict[str, str], Meta(description="Tags added to every record.")] = field(default_factory=dict)
    sink_retries: Annotated[int, Meta(ge=0, le=20, description="Failed attempts of its sink a batch waiting in a retry queue in MEMORY lives through (one at each step of the backoff) before it is dropped and counted; batches on a disk spool wait until the sink takes them or room is needed.")] = 3
    sink_timeout: Annotated[float, Meta(gt=0, description="Seconds a sink waits to connect to, or hear back from, its target.")] = 5.0
    spool_dir: Annotated[str, Meta(description="Folder where the retry queues of spooling sinks (HTTP, Redis, MongoDB) keep batches while their target is unreachable; what one process leaves is replayed by the next (default: <tempdir>/pystrument-spool-<uid>).")] = ""
    spool_max_bytes: Annotated[int, Meta(ge=0, description="Size cap of each spooling sink's on-disk retry queue; beyond it the least valuable records are dropped and counted (0: no spool, the retry queue stays in memory, at most max_queue_size records).")] = 64 * 1024 * 1024


if TYPE_CHECKING:  # mypy sees the fields as Config's attributes; at run time they are set in __init__
    _Base = ConfigFields
else:
    _Base = object

_TRUE = frozenset({"yes", "on", "y", "t"})  # beyond msgspec's lax "true"/"1": what pydantic accepted too
_FALSE = frozenset({"no", "off", "n", "f"})
_AT_KEY = re.compile(r" - at `\$\.([A-Za-z_]\w*)")


class Config(_Base):
    """Everything the SDK can be told. Every place that takes a config takes this, a dict, or nothing.

    ``Config(**settings)`` merges the arguments with the environment and the config file and validates
    the result; an invalid setting switches monitoring off (``config_error`` says why) or, with
    ``strict=True``, raises ``ConfigError``."""

    def __init__(self, **values: Any) -> None:
        strict = bool(values.get("strict")) or os.environ.get("PYSTRUMENT_STRICT", "").lower() in ("1", "true")
        origins: dict[str, str] = {}
        error: str | None = None
        try:
            settings = _validate(gather(values, _names(), _json_names(), origins), origins)
        except ConfigError as exc:
            if strict:
                raise ConfigError(str(exc)) from None
            logger.error("%s; monitoring is switched off", exc)
            settings, error = ConfigFields(enabled=False), str(exc)  # origins still say where the bad values came from
        self.__dict__.update(msgspec.structs.asdict(settings))
        self._origins = origins
        self._config_error = error

    @classmethod
    def _disabled(cls, error: str) -> Config:
        config = cls.__new__(cls)
        config.__dict__.update(msgspec.structs.asdict(ConfigFields(enabled=False)))
        config._origins, config._config_error = {}, error
        return config

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

    def model_dump(self) -> dict[str, Any]:
        """The settings as a dict (the name pydantic gave it)."""
        return {name: getattr(self, name) for name in _names()}

    def model_copy(self, *, update: dict[str, Any] | None = None) -> Config:
        """A copy with ``update`` applied as is (not validated, as pydantic's ``model_copy``)."""
        copy = type(self).__new__(type(self))
        copy.__dict__.update(self.__dict__)
        copy._origins = dict(self._origins)
        copy.__dict__.update(update or {})
        return copy

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Config) and self.model_dump() == other.model_dump()

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return "Config(" + ", ".join(f"{k}={v!r}" for k, v in self.model_dump().items()) + ")"


@functools.cache
def _field_types() -> dict[str, type]:
    """Each setting's base type (bool, int, float, str, list, dict), Annotated and Optional unwrapped."""
    return {f.name: _base_type(f.type) for f in msgspec.structs.fields(ConfigFields)}


def _names() -> tuple[str, ...]:
    return tuple(_field_types())


@functools.cache
def _json_names() -> frozenset[str]:
    return frozenset(name for name, kind in _field_types().items() if kind is dict)


def _base_type(annotation: Any) -> Any:
    while typing.get_origin(annotation) is Annotated:
        annotation = typing.get_args(annotation)[0]
    args = [a for a in typing.get_args(annotation) if a is not type(None)]
    if args and typing.get_origin(annotation) not in (list, dict):  # X | None
        return _base_type(args[0])
    return typing.get_origin(annotation) or annotation


def _lax(kind: type, value: Any) -> Any:
    """The coercions pydantic's lax mode made beyond msgspec's ``strict=False``."""
    if kind is list and isinstance(value, str):  # "a, b" or a JSON list, from the environment or code
        text = value.strip()
        if text.startswith("["):
            return msgspec.json.decode(text)
        return [part.strip() for part in text.split(",") if part.strip()]
    if kind is bool and isinstance(value, str):
        word = value.strip().lower()
        return True if word in _TRUE else False if word in _FALSE else value
    if kind in (int, float) and isinstance(value, bool):
        return int(value)
    return value


def _validate(data: dict[str, Any], origins: dict[str, str]) -> ConfigFields:
    """``data`` as ``ConfigFields``, or ConfigError naming every bad key, its value and where it came from."""
    kinds = _field_types()
    problems: list[str] = []
    candidate = dict(data)
    while True:
        try:
            values = {k: _lax(kinds[k], v) if k in kinds else v for k, v in candidate.items()}
        except msgspec.DecodeError as exc:  # a list setting given as broken JSON
            key = next(k for k, v in candidate.items() if kinds.get(k) is list and isinstance(v, str) and v.strip().startswith("["))
            problems.append(f"{key}={candidate.pop(key)!r} from {origins.get(key, 'code')}: not a JSON list ({exc})")
            continue
        try:
            settings = msgspec.convert(values, ConfigFields, strict=False)
        except msgspec.ValidationError as exc:
            message, _, _ = str(exc).partition(" - at `")
            found = _AT_KEY.search(str(exc))
            key = found.group(1) if found else "?"
            if key not in candidate:  # cannot pin it on one key: report it as it is
                problems.append(f"{exc}")
                break
            problems.append(f"{key}={candidate.pop(key)!r} from {origins.get(key, 'code')}: {message}")
            continue
        if not problems:
            return settings
        break
    raise ConfigError("pystrument: invalid setting " + "; ".join(problems))


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
    except Exception as exc:  # a bug of ours must not take the host down: monitoring off, logged
        if overrides.get("strict") or (isinstance(config, dict) and config.get("strict")):
            raise ConfigError(str(exc)) from exc
        logger.error("pystrument: invalid configuration: %s; monitoring is switched off", exc)
        return Config._disabled(str(exc))


def markdown_table(title: str, env_prefix: str, rows: Iterable[tuple[str, str, str, str]]) -> str:
    """A Markdown table of settings: rows of (name, type, default repr, description) (docs/configuration.md)."""
    lines = [f"## {title}", "", "| Setting | Environment | Type | Default | Description |", "|---|---|---|---|---|"]
    for name, annotation, default, description in rows:
        desc = description.replace("|", "\\|")
        lines.append(f"| `{name}` | `{env_prefix}{name.upper()}` | `{annotation}` | `{default}` | {desc} |")
    return "\n".join(lines) + "\n"


def reference_markdown() -> str:
    """The SDK settings' table for docs/configuration.md."""
    rows = []
    for f in msgspec.structs.fields(ConfigFields):
        default = f.default_factory() if f.default is msgspec.NODEFAULT else f.default
        metas = [m for m in typing.get_args(f.type)[1:] if isinstance(m, Meta)]
        description = next((m.description for m in metas if m.description), "") or ""
        rows.append((f.name, _type_name(f.type), repr(default), description))
    return markdown_table("SDK settings (`pystrument.core.Config`)", "PYSTRUMENT_", rows)


def _type_name(annotation: Any) -> str:
    while typing.get_origin(annotation) is Annotated:
        annotation = typing.get_args(annotation)[0]
    args = typing.get_args(annotation)
    if type(None) in args:
        return " | ".join("None" if a is type(None) else _type_name(a) for a in args)
    return str(getattr(typing.get_origin(annotation) or annotation, "__name__", annotation))
