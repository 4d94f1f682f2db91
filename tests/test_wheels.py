"""What a user installs is what works: wheels built from this checkout, installed with their dependencies
into a clean virtualenv (no editable install, nothing of the suite's venv), give a server that serves the
web UI and a Flask adapter that imports. The install line is the one docs/adapters.md gives
(``--find-links dist/``); ``--offline`` resolves third-party packages from uv's cache (filled when the
suite's own venv was installed), so the test needs no network.

The server's wheel runs ``npm ci && npm run build`` (pystrument-server/hatch_build.py) only when the
checkout has no built UI or one older than its sources; otherwise it reuses the one ``nox -s ui`` (or the
suite's UI tests) built.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest
from pystrument_testing.ports import free_port
from pystrument_testing.services import serving

ROOT = Path(__file__).resolve().parents[1]
# the server and the Flask adapter with every first-party distribution they depend on
NEEDED = ["pystrument-core", "pystrument-server", "pystrument-sinks/http", "pystrument-adapters/base",
          "pystrument-adapters/wsgi", "pystrument-adapters/flask"]


def uv(*args: str, cwd: Path) -> str:
    done = subprocess.run([sys.executable, "-m", "uv", *args], cwd=cwd, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, f"uv {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}"
    return done.stdout + done.stderr


@pytest.fixture(scope="module")
def clean_venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if shutil.which("npm") is None and not (ROOT / "pystrument-server/src/pystrument/server/static/ui/index.html").exists():
        pytest.fail("the server's wheel carries the UI, built with npm: install Node 20+ and npm (or run `nox -s ui` first)")
    tmp = tmp_path_factory.mktemp("wheels")
    dist = tmp / "dist"
    for folder in NEEDED:
        uv("build", "--wheel", "--offline", "--out-dir", str(dist), str(ROOT / folder), cwd=tmp)
    venv = tmp / "venv"
    uv("venv", "--offline", "--python", sys.executable, str(venv), cwd=tmp)
    python = venv / "bin" / "python"
    uv("pip", "install", "--offline", "--python", str(python), "--find-links", str(dist), "pystrument-server", "pystrument-flask", cwd=tmp)
    return venv


def get(url: str) -> tuple[int, str, str]:
    with urllib.request.urlopen(url, timeout=30) as response:
        return response.status, response.headers.get("content-type", ""), response.read().decode()


@pytest.mark.timeout(900)  # the first test builds the wheels (and the UI with npm when the checkout has none)
def test_server_wheel_in_a_clean_venv_serves_the_built_ui(clean_venv: Path, tmp_path: Path) -> None:
    cli = clean_venv / "bin" / "pystrument-server"
    port = free_port()
    with serving([str(cli), "--data-dir", str(tmp_path / "data"), "serve", "--port", str(port)], log=tmp_path / "serve.log",
                 port=port, timeout=60, stop_timeout=20, cwd=tmp_path):
        status, kind, page = get(f"http://127.0.0.1:{port}/")
        assert status == 200 and kind.startswith("text/html")
        assert "web UI is not built" not in page
        assert '<div id="app">' in page
        assets = re.findall(r'(?:src|href)="(/assets/[^"]+\.js)"', page)
        assert assets, page
        status, kind, script = get(f"http://127.0.0.1:{port}{assets[0]}")
        assert status == 200 and "javascript" in kind and len(script) > 1000
    # the wheel, not this checkout: the served files come from the venv's site-packages
    where = subprocess.run([str(clean_venv / "bin" / "python"), "-c", "import pystrument.server, os; print(os.path.dirname(pystrument.server.__file__))"],
                           capture_output=True, text=True, check=True).stdout.strip()
    assert where.startswith(str(clean_venv)) and Path(where, "static", "ui", "index.html").exists()


@pytest.mark.timeout(900)
def test_flask_adapter_installs_from_the_wheels_with_its_dependencies(clean_venv: Path) -> None:
    code = "from pystrument.adapters.flask import PerformanceMiddleware; import pystrument.sinks.http, flask; print(PerformanceMiddleware.__module__)"
    done = subprocess.run([str(clean_venv / "bin" / "python"), "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().startswith("pystrument.adapters.flask")
