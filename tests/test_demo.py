"""The README's first command runs `pystrument-server demo`: it must bring up data worth looking at."""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
from pystrument_testing.ports import free_port

pytest.importorskip("pystrument.server")
pytest.importorskip("pystrument.adapters.asgi")


def test_demo_fills_the_store_flags_the_regression_and_analyses(tmp_path):
    data = tmp_path / "data"
    port = free_port()
    # as a newcomer runs it: without the suite's PYSTRUMENT_MAX_OVERHEAD_PCT=100 (conftest.py), under the SDK's defaults
    env = {k: v for k, v in os.environ.items() if k != "PYSTRUMENT_MAX_OVERHEAD_PCT"}
    out = subprocess.run([sys.executable, "-m", "pystrument.server", "--data-dir", str(data), "demo", "--port", str(port),
                          "--requests", "100", "--no-serve"], capture_output=True, text=True, timeout=300, cwd=tmp_path, env=env)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "regression   GET /search" in out.stdout
    assert out.stdout.count("(done)") == 2
    assert f"http://127.0.0.1:{port}/projects/" in out.stdout
    listing = subprocess.run([sys.executable, "-m", "pystrument.server", "--data-dir", str(data), "projects", "list", "--json"],
                             capture_output=True, text=True, timeout=60)
    import json

    (project,) = json.loads(listing.stdout)
    assert project["name"] == "demo-shop" and project["record_count"] >= 180  # 200 requests, /health not profiled
    # the demo prints the full command for the user's own project, in the store it serves (the CLI may not be on PATH)
    line = next(x for x in out.stdout.splitlines() if x.startswith("Your own app, in the same store: "))
    command = shlex.split(line.split(": ", 1)[1].split("   (", 1)[0])
    assert Path(command[0]).is_absolute() and command[-3:] == ["projects", "create", "my-app"]
    elsewhere = tmp_path / "elsewhere"  # from any folder: the printed command names the store
    elsewhere.mkdir()
    created = subprocess.run(command, capture_output=True, text=True, timeout=60, cwd=elsewhere)
    assert created.returncode == 0 and "project key: pk_" in created.stdout, created.stderr
    listed = json.loads(subprocess.run([sys.executable, "-m", "pystrument.server", "--data-dir", str(data), "projects", "list", "--json"],
                                       capture_output=True, text=True, timeout=60).stdout)
    assert sorted(p["name"] for p in listed) == ["demo-shop", "my-app"]
