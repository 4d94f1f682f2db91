"""pystrument-server/hatch_build.py: a wheel without its web UI is never built silently. On a copy of the
server's folder without the built UI, the wheel build fails with a message saying what is missing and how
to fix it (tests/test_wheels.py builds and installs the real wheel)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

SERVER = Path(__file__).resolve().parents[1]


def build(repo: Path, path_env: str) -> subprocess.CompletedProcess[str]:
    shutil.copytree(SERVER, repo / "pystrument-server", ignore=shutil.ignore_patterns("ui", "__pycache__", "tests", "*.egg-info"))
    assert not (repo / "pystrument-server/src/pystrument/server/static/ui").exists()
    return subprocess.run([sys.executable, "-m", "uv", "build", "--wheel", "--offline", "--python", sys.executable,
                           "--out-dir", str(repo / "dist"), str(repo / "pystrument-server")],
                          capture_output=True, text=True, timeout=300, env={"PATH": path_env, "HOME": str(Path.home())})


def test_without_npm_the_wheel_build_says_to_install_node(tmp_path):
    (tmp_path / "ui").mkdir()
    (tmp_path / "ui" / "package.json").write_text("{}")
    done = build(tmp_path, str(tmp_path / "no-npm-here"))
    assert done.returncode != 0 and not list(tmp_path.glob("dist/*.whl"))
    assert "built with Node 20+ and npm: install them" in done.stderr, done.stderr[-3000:]


def test_without_the_ui_sources_the_wheel_build_says_where_to_build(tmp_path):
    done = build(tmp_path, str(Path(sys.executable).parent))
    assert done.returncode != 0
    assert "the UI's sources are not" in done.stderr and "nox -s dist" in done.stderr, done.stderr[-3000:]
