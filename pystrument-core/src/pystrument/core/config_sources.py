"""Where SDK settings come from: code, ``PYSTRUMENT_*``, ``PERFORMANCE_MONITOR_*``, a YAML or JSON file.

Each source yields ``(values, label)`` pairs; :func:`gather` merges them highest precedence first (a dict
setting is merged key by key across sources, as pydantic-settings did) and records, per key, the label of
the source that set it. PyYAML is imported only when a YAML file is actually read.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

FILE_KEYS = ("pystrument", "performance_monitor")
FILE_NAMES = ("pystrument.yaml", "pystrument.yml", "pystrument.json")
ENV_PREFIXES = ("PYSTRUMENT_", "PERFORMANCE_MONITOR_")


class ConfigError(ValueError):
    """An invalid pystrument setting (raised only with ``strict=True``)."""


def find_config_file() -> Path | None:
    explicit = os.environ.get("PYSTRUMENT_CONFIG") or os.environ.get("PERFORMANCE_MONITOR_CONFIG")
    if explicit:
        return Path(explicit)
    for name in FILE_NAMES:
        candidate = Path.cwd() / name
        if candidate.is_file():
            return candidate
    return None


def env_values(prefix: str, names: Iterable[str], json_names: frozenset[str] = frozenset()) -> dict[str, Any]:
    """The settings ``names`` found as ``<prefix><NAME>`` environment variables (case-insensitive); those in
    ``json_names`` (mappings) are decoded from JSON."""
    lowered = {key.lower(): value for key, value in os.environ.items()}
    found: dict[str, Any] = {}
    for name in names:
        value = lowered.get(f"{prefix}{name}".lower())
        if value is None:
            continue
        if name in json_names:
            try:
                value = json.loads(value)
            except ValueError as exc:
                raise ConfigError(f"pystrument: invalid setting {name}={value!r} from environment variable "
                                  f"{prefix}{name.upper()}: expected a JSON object ({exc})") from None
        found[name] = value
    return found


def file_values(names: Iterable[str]) -> tuple[dict[str, Any], Callable[[str], str]]:
    """The settings ``names`` of the config file, if there is one, and the origin label of each key."""
    path = find_config_file()
    if path is None:
        return {}, str
    loaded = _read(path)
    if not isinstance(loaded, dict):
        return {}, str
    key = next((k for k in FILE_KEYS if k in loaded), None)
    section = loaded[key] if key else {}
    if not isinstance(section, dict):
        raise ConfigError(f"pystrument: config file {path}: '{key}' must be a mapping of settings")
    wanted = set(names)
    return {k: v for k, v in section.items() if k in wanted}, lambda k: f"file {path} (key {key}.{k})"


def _read(path: Path) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
        if path.suffix == ".json":
            return json.loads(text)
    except (OSError, ValueError) as exc:
        raise ConfigError(f"pystrument: cannot read config file {path}: {exc}") from None
    import yaml  # only now: a host without a YAML config file never imports PyYAML

    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"pystrument: cannot read config file {path}: {exc}") from None


def gather(code: dict[str, Any], names: tuple[str, ...], json_names: frozenset[str],
           origins: dict[str, str]) -> dict[str, Any]:
    """Merge code > PYSTRUMENT_* > PERFORMANCE_MONITOR_* > file; ``origins`` gets each key's source label.
    Environment values of ``json_names`` (mapping settings) are decoded from JSON."""
    layers: list[tuple[dict[str, Any], Callable[[str], str]]] = [(code, lambda k: "code")]
    for prefix in ENV_PREFIXES:
        layers.append((env_values(prefix, names, json_names), _env_label(prefix)))
    layers.append(file_values(names))
    merged: dict[str, Any] = {}
    for values, _label in reversed(layers):  # lowest first; higher layers overwrite (dicts key by key)
        _deep_update(merged, values)
    for values, label in layers:  # highest first: the first label per key is where its value came from
        for key in values:
            origins.setdefault(key, label(key))
    return merged


def _env_label(prefix: str) -> Callable[[str], str]:
    return lambda key: f"environment variable {prefix}{key.upper()}"


def _deep_update(target: dict[str, Any], update: dict[str, Any]) -> None:
    for key, value in update.items():
        if isinstance(value, dict) and isinstance(target.get(key), dict):
            merged = dict(target[key])
            _deep_update(merged, value)
            target[key] = merged
        else:
            target[key] = value
