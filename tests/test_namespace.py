"""``pystrument`` and ``pystrument.sinks`` are PEP 420 namespaces shared by our distributions and a
third party's, installed from wheels and installed editable, in fresh virtual environments."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DISTS = ["pystrument-core", "pystrument-sinks/http", "tests/plugins/pystrument-sink-thirdparty"]
CHECK = (
    "import pystrument, pystrument.core, pystrument.sinks.http, pystrument.sinks.thirdparty;"
    "from pystrument.core import Client;"
    "from pystrument.sinks import thirdparty;"
    "c = Client(sinks=['thirdparty://x'], async_send=False); c.finish(c.start('block', 'ns'));"
    "assert [r.name for r in thirdparty.RECEIVED] == ['ns'];"
    "assert not hasattr(pystrument, '__file__') or pystrument.__file__ is None;"
    "print('ok', len(list(pystrument.__path__)))"
)


def uv() -> str:
    found = shutil.which("uv") or str(Path(sys.executable).with_name("uv"))
    if not Path(found).exists():
        pytest.skip("uv is not installed")
    return found


def fresh_venv(tmp_path: Path, name: str) -> Path:
    venv = tmp_path / name
    subprocess.run([uv(), "venv", "-q", "--python", sys.executable, str(venv)], check=True, timeout=120)
    return venv / "bin" / "python"


def install(python: Path, *args: str) -> None:
    subprocess.run([uv(), "pip", "install", "-q", "--python", str(python), *args], check=True, timeout=600, cwd=ROOT)


def test_shared_namespace_from_wheels(tmp_path):
    wheels = tmp_path / "wheels"
    for dist in DISTS:
        subprocess.run([uv(), "build", "-q", "--wheel", "--out-dir", str(wheels), str(ROOT / dist)], check=True, timeout=600)
    built = sorted(str(p) for p in wheels.glob("*.whl"))
    assert len(built) == 3
    for whl in built:  # no distribution ships pystrument/__init__.py or pystrument/sinks/__init__.py
        names = subprocess.run([sys.executable, "-m", "zipfile", "-l", whl], capture_output=True, text=True, check=True).stdout
        assert "pystrument/__init__.py" not in names and "pystrument/sinks/__init__.py" not in names
    python = fresh_venv(tmp_path, "wheels-venv")
    install(python, *built)
    out = subprocess.run([str(python), "-c", CHECK], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and out.stdout.startswith("ok 1"), out.stderr  # one site-packages dir holds them all


def test_shared_namespace_editable(tmp_path):
    python = fresh_venv(tmp_path, "editable-venv")
    args: list[str] = []
    for dist in DISTS:
        args += ["-e", str(ROOT / dist)]
    install(python, *args)
    out = subprocess.run([str(python), "-c", CHECK], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and out.stdout.startswith("ok 3"), out.stderr  # three src/ folders share it
