"""The plugin's command-line options, their environment variables, and their checks (a clear usage error
naming the option, the variable and how to fix it; checked before any test runs)."""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from pystrument.core.comparison import DEFAULT_MIN_CHANGE_PCT, DEFAULT_MIN_DELTA_MS, Thresholds

from .budgets import read_file

# (option, environment variable, help)
OPTIONS = (
    ("--pystrument-server", "PYSTRUMENT_SERVER_URL", "URL of the pystrument server (`pystrument-server serve`), e.g. http://pystrument:8000."),
    ("--pystrument-token", "PYSTRUMENT_TOKEN", "The server's bearer token (to read projects and compare versions)."),
    ("--pystrument-project", "PYSTRUMENT_PROJECT", "Project name or id on the server."),
    ("--pystrument-key", "PYSTRUMENT_PROJECT_KEY", "The project's ingestion key (default: read from the server with the token)."),
    ("--pystrument-version", "PYSTRUMENT_APP_VERSION", "The version this run uploads (default: `git rev-parse HEAD`)."),
    ("--pystrument-baseline", "PYSTRUMENT_BASELINE", "The version to compare with (default: the project's most recently seen other "
                                                     "version in the environment)."),
    ("--pystrument-environment", "PYSTRUMENT_GATE_ENVIRONMENT", "Environment the records are filed under and compared in (default: ci)."),
    ("--pystrument-metric", "PYSTRUMENT_GATE_METRIC", "What the endpoints are compared on: cpu (the request thread's CPU time, "
                                                      "the default: steady on shared CI machines) or duration (wall clock: also "
                                                      "sees waits such as I/O; for a quiet dedicated runner)."),
    ("--pystrument-min-change", "PYSTRUMENT_GATE_MIN_CHANGE", f"Fail only when an endpoint's p50 grew by at least this many percent "
                                                              f"(and significantly; default {DEFAULT_MIN_CHANGE_PCT:g})."),
    ("--pystrument-min-delta-ms", "PYSTRUMENT_GATE_MIN_DELTA_MS", f"...and by at least this many milliseconds (default "
                                                                  f"{DEFAULT_MIN_DELTA_MS:g})."),
    ("--pystrument-budgets", "PYSTRUMENT_GATE_BUDGETS", "A YAML or JSON file of budgets per endpoint (docs/budgets.md); a breach "
                                                        "fails the run. Default: the project's budgets on the server."),
)


def add_options(parser: pytest.Parser) -> None:
    group = parser.getgroup("pystrument", "pystrument CI gate (docs/ci-gate.md)")
    group.addoption("--pystrument", action="store_true", default=False,
                    help="Profile this run, upload it as a version and fail on a significant regression against the baseline "
                         "(or set PYSTRUMENT_GATE=1).")
    for option, env, text in OPTIONS:
        group.addoption(option, default=None, help=f"{text} Env: {env}.")


@dataclass(frozen=True)
class GateOptions:
    server: str
    token: str | None
    project: str
    key: str | None
    version: str
    baseline: str | None
    environment: str
    metric: str
    thresholds: Thresholds
    budgets: list[Any] | None = None  # from --pystrument-budgets; None: the project's on the server


def enabled(config: pytest.Config) -> bool:
    return bool(config.getoption("--pystrument")) or os.environ.get("PYSTRUMENT_GATE", "").lower() in ("1", "true", "yes")


def _value(config: pytest.Config, option: str, env: str) -> str | None:
    value = config.getoption(option) or os.environ.get(env) or None
    return value.strip() if isinstance(value, str) and value.strip() else None


def _git_head(root: Path) -> str:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise pytest.UsageError(f"--pystrument: cannot run git to name this version ({exc}): pass --pystrument-version "
                                "(or PYSTRUMENT_APP_VERSION)") from None
    if out.returncode != 0:
        raise pytest.UsageError(f"--pystrument: `git rev-parse HEAD` failed in {root} ({out.stderr.strip()}): run inside a git "
                                "checkout or pass --pystrument-version (or PYSTRUMENT_APP_VERSION)")
    return out.stdout.strip()


def read(config: pytest.Config) -> GateOptions:
    values = {option: _value(config, option, env) for option, env, _ in OPTIONS}
    for option, env, text in OPTIONS[:1] + OPTIONS[2:3]:
        if values[option] is None:
            raise pytest.UsageError(f"--pystrument needs {option} (or {env}): {text}")
    limits = {}
    for option, name, default in (("--pystrument-min-change", "min_change_pct", DEFAULT_MIN_CHANGE_PCT),
                                  ("--pystrument-min-delta-ms", "min_delta_ms", DEFAULT_MIN_DELTA_MS)):
        raw = values[option]
        try:
            limits[name] = default if raw is None else float(raw)
        except ValueError:
            limits[name] = -1.0
        if not limits[name] >= 0:
            raise pytest.UsageError(f"{option} must be a number >= 0, got {raw!r}")
    metric = values["--pystrument-metric"] or "cpu"
    if metric not in ("cpu", "duration"):
        raise pytest.UsageError(f"--pystrument-metric must be cpu or duration, got {metric!r}")
    return GateOptions(
        server=str(values["--pystrument-server"]), token=values["--pystrument-token"], project=str(values["--pystrument-project"]),
        key=values["--pystrument-key"], version=values["--pystrument-version"] or _git_head(config.rootpath),
        baseline=values["--pystrument-baseline"], environment=values["--pystrument-environment"] or "ci", metric=metric,
        thresholds=Thresholds(**limits),
        budgets=None if values["--pystrument-budgets"] is None else read_file(values["--pystrument-budgets"], "--pystrument-budgets"),
    )
