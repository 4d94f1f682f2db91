"""Budgets for the CI gate (docs/budgets.md): ``--pystrument-budgets FILE`` (or PYSTRUMENT_GATE_BUDGETS) names a YAML or
JSON file holding a list of budgets, or a mapping with the list under ``budgets``. Without it the gate checks the
project's effective budgets on the server (its own and the server's). The server validates and checks them
(``POST /projects/{id}/budgets/check``); the gate fails on any breach of the version it uploaded."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

EXAMPLE = "- endpoint: GET /orders\n  p95_ms: 200\n  queries_p95: 5"


def read_file(name: str, option: str) -> list[Any]:
    path = Path(name)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise pytest.UsageError(f"{option}: cannot read {path} ({exc.strerror or exc}): give the path of a YAML or JSON file of budgets") from None
    try:
        if path.suffix == ".json":
            loaded = json.loads(text)
        else:
            import yaml  # a dependency of pystrument-core, imported only to read this file

            loaded = yaml.safe_load(text)
    except Exception as exc:  # json.JSONDecodeError, yaml.YAMLError
        kind = "JSON" if path.suffix == ".json" else "YAML"
        raise pytest.UsageError(f"{option}: {path} is not valid {kind}: {exc}") from None
    if isinstance(loaded, dict) and "budgets" in loaded:
        loaded = loaded["budgets"]
    if not isinstance(loaded, list):
        raise pytest.UsageError(f"{option}: {path} must hold a list of budgets (or a mapping with a 'budgets' list), e.g.\n{EXAMPLE}")
    return loaded


def report(result: dict[str, Any]) -> list[str]:
    """The gate's lines for a budget check: one per breach (endpoint, budget, measured value), or that none was found."""
    breaches = result.get("breaches") or []
    checked = len(result.get("budgets") or [])
    if not checked:
        return []
    if not breaches:
        return [f"budgets: {checked} checked, no breach"]
    return [f"FAIL: {len(breaches)} budget breach(es) in version {result['version']}:"] + [f"  {line}" for line in result.get("lines", [])]
