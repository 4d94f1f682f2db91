"""Import footprint of the SDK's configuration (issue 14): a host that imports pystrument.core and calls
configure() gets neither pydantic nor PyYAML, unless a YAML config file is there to be read."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

PROBE = """
import json, sys
from pystrument.core import configure
client = configure(sinks=["memory://probe"])
heavy = sorted({m.split(".")[0] for m in sys.modules} & {"pydantic", "pydantic_core", "pydantic_settings", "yaml"})
print(json.dumps({"heavy": heavy, "enabled": client.enabled, "app_name": client.config.app_name,
                  "origin": client.config.origin("app_name")}))
"""


def _probe(cwd: str) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYSTRUMENT_", "PERFORMANCE_MONITOR_"))}
    out = subprocess.run([sys.executable, "-c", PROBE], cwd=cwd, env=env, capture_output=True, text=True, timeout=60, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("files", [{}, {"pystrument.json": json.dumps({"pystrument": {"app_name": "from-json"}})}])
def test_configure_imports_neither_pydantic_nor_yaml(tmp_path, files):
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    found = _probe(str(tmp_path))
    assert found["heavy"] == [] and found["enabled"]
    if files:  # the file was read all the same
        assert found["app_name"] == "from-json" and "pystrument.json" in found["origin"]


def test_yaml_imported_only_to_read_a_yaml_file(tmp_path):
    (tmp_path / "pystrument.yaml").write_text("pystrument:\n  app_name: from-yaml\n")
    found = _probe(str(tmp_path))
    assert found["heavy"] == ["yaml"] and found["app_name"] == "from-yaml" and "pystrument.yaml" in found["origin"]
