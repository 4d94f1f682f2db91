"""The README's first command runs `pystrument-server demo`: it must bring up data worth looking at."""

from __future__ import annotations

import os
import socket
import subprocess
import sys

import pytest

pytest.importorskip("pystrument.server")
pytest.importorskip("pystrument.adapters.asgi")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


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
