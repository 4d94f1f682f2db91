"""`pystrument-run --help` is written for users: what it does, which PYSTRUMENT_* variables to set, examples."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from pystrument.adapters.run import main


def test_help_says_what_to_set_with_an_example(capsys):
    assert main(["--help"]) == 0
    text = capsys.readouterr().out
    assert text.startswith("usage: pystrument-run COMMAND")
    for variable in ("PYSTRUMENT_PROJECT_KEY", "PYSTRUMENT_API_ENDPOINT", "PYSTRUMENT_APP_VERSION", "PYSTRUMENT_ADAPTERS"):
        assert variable in text
    assert "examples:" in text and "pystrument-run gunicorn app:app" in text
    assert "``" not in text and "wrapt" not in text and "sitecustomize" not in text  # not the developer docstring


def test_installed_command_prints_the_help():
    found = shutil.which("pystrument-run", path=str(Path(sys.executable).parent))
    if found is None:
        pytest.fail("pystrument-run is not installed in the test environment (pystrument-adapter-base)")
    done = subprocess.run([found, "-h"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and "PYSTRUMENT_PROJECT_KEY" in done.stdout and not done.stderr
