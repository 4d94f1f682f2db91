"""The sample project (tests/gate_sample) in a temporary git repository, and ``pytest --pystrument`` run on it
in a subprocess against a real server, as CI would run it."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

TOKEN = "gate-acceptance-token-0123456789"
SAMPLE = Path(__file__).resolve().parents[2] / "tests" / "gate_sample"
ROUNDS = re.compile(r"^ROUNDS = ([\d_]+)$", re.M)


class SampleRepo:
    """A git repository holding the sample shop; each commit is a version the gate uploads."""

    def __init__(self, root: Path) -> None:
        self.root = root
        shutil.copytree(SAMPLE, root, ignore=shutil.ignore_patterns("__pycache__", ".pytest_cache"))
        self.git("init", "-q")
        self.commit("the sample shop")

    def git(self, *args: str) -> str:
        env = {**os.environ, "GIT_AUTHOR_NAME": "gate", "GIT_AUTHOR_EMAIL": "gate@example.invalid",
               "GIT_COMMITTER_NAME": "gate", "GIT_COMMITTER_EMAIL": "gate@example.invalid"}
        return subprocess.run(["git", *args], cwd=self.root, env=env, check=True, capture_output=True, text=True).stdout.strip()

    def commit(self, message: str) -> str:
        self.git("add", "-A")
        self.git("commit", "-q", "--allow-empty", "-m", message)
        return self.git("rev-parse", "HEAD")

    def plant_regression(self, factor: float = 1.4) -> str:
        """``price_order`` does ``factor`` times the work: GET /orders (mostly pricing) gets ~30-40% slower at 1.4."""
        pricing = self.root / "shop" / "pricing.py"
        text = pricing.read_text()
        rounds = int(ROUNDS.search(text).group(1).replace("_", ""))  # type: ignore[union-attr]
        pricing.write_text(ROUNDS.sub(f"ROUNDS = {int(rounds * factor)}", text))
        return self.commit(f"pricing: {factor:g}x the rounds")


@dataclass
class GateResult:
    exit_code: int
    output: str


def run_gate(repo: SampleRepo, server: str, project: str, token: str, *extra: str) -> GateResult:
    """``python -m pytest --pystrument`` in the repository (a fresh process, as a CI job starts it)."""
    return run_pytest(repo.root, "--pystrument", "--pystrument-server", server, "--pystrument-project", project, *extra,
                      env={"PYSTRUMENT_TOKEN": token})


def run_pytest(folder: Path, *args: str, env: dict[str, str] | None = None) -> GateResult:
    """pytest in ``folder`` in a fresh process, without the PYSTRUMENT_* variables of the calling test run."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("PYSTRUMENT_", "PERFORMANCE_MONITOR_"))}
    clean.update({"PYTHONDONTWRITEBYTECODE": "1", "PYINSTRUMENT_IGNORE_OVERHEAD_WARNING": "1", **(env or {})})
    out = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *args], cwd=folder, env=clean,
                         capture_output=True, text=True, timeout=600)
    return GateResult(out.returncode, out.stdout + out.stderr)
