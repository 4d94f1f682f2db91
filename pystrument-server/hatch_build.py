"""Hatch build hook: the server's wheel carries the built web UI (package data ``static/ui``).

When ``src/pystrument/server/static/ui/index.html`` is missing, a wheel built from a checkout runs
``npm ci`` and ``npm run build`` in the repository's ``ui/`` (what ``nox -s ui`` does); a built UI that
is present is reused as it is (``nox -s dist`` rebuilds it first). Editable installs skip this: a
checkout serves whatever ``nox -s ui`` built, and says how to build it when nothing was.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

from hatchling.builders.hooks.plugin.interface import BuildHookInterface


class UiBuildError(RuntimeError):
    """The UI cannot be built into the wheel: the message says what is missing and how to fix it."""


class BuildUiHook(BuildHookInterface):  # type: ignore[type-arg]
    PLUGIN_NAME = "custom"

    def initialize(self, version: str, build_data: dict[str, Any]) -> None:
        if version == "editable":
            return
        root = Path(self.root)
        built = root / "src" / "pystrument" / "server" / "static" / "ui" / "index.html"
        if built.exists():
            return
        ui = root.parent / "ui"
        if not (ui / "package.json").exists():
            raise UiBuildError(f"the server's wheel needs the built web UI ({built} is missing) and the UI's sources are not "
                               f"at {ui}: build the wheel from a repository checkout (nox -s dist)")
        npm = shutil.which("npm")
        if npm is None:
            raise UiBuildError("the server's wheel carries the web UI, which is built with Node 20+ and npm: install them "
                               "(e.g. apt-get install -y nodejs npm), then build again (or run `nox -s ui` first)")
        self.app.display_info(f"building the web UI in {ui} (npm ci && npm run build)")
        for step in (["ci", "--no-audit", "--no-fund"], ["run", "build"]):
            done = subprocess.run([npm, *step], cwd=ui, check=False)
            if done.returncode != 0:
                raise UiBuildError(f"`npm {' '.join(step)}` in {ui} failed (exit {done.returncode}): see its output above")
        if not built.exists():
            raise UiBuildError(f"`npm run build` in {ui} finished but wrote no {built}: check ui/vite.config.ts's outDir")
