"""``mypy --strict`` passes on every distribution's sources (issue 17), in the default suite so that it cannot drift.
The same check as ``nox -s typecheck``; settings in the root pyproject.toml's [tool.mypy]."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def typed_sources() -> list[str]:
    return sorted(str(p.parent.relative_to(ROOT)) for p in ROOT.glob("pystrument-*/**/src/pystrument")
                  if ".nox" not in p.parts and "node_modules" not in p.parts)


def test_every_distribution_passes_mypy_strict(tmp_path):
    pytest.importorskip("mypy", reason="mypy is a test dependency (noxfile TEST_DEPS)")
    sources = typed_sources()
    assert len(sources) >= 15, sources  # every distribution with sources, core to demo
    done = subprocess.run([sys.executable, "-m", "mypy", "--strict", "--cache-dir", str(tmp_path / "cache"), *sources],
                          cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stdout[-6000:] + done.stderr[-2000:]
