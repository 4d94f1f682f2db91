"""Hatch build hook: the server's wheel carries the built web UI (package data ``static/ui``).

When ``src/pystrument/server/static/ui/index.html`` is missing, or older than a UI source, a wheel built
from a checkout runs ``npm ci`` and ``npm run build`` in the repository's ``ui/`` (what ``nox -s ui``
does); an up-to-date build is reused as it is. Editable installs skip this: a
checkout serves whatever ``nox -s ui`` built, and says how to build it when nothing was.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

from hatchling.builders.hooks.plugin.interface import BuildHookInterface

UI_SOURCES = ("src", "public", "index.html", "package.json", "package-lock.json", "vite.config.ts")


def stale(built: Path, ui: Path) -> bool:
    """A UI source newer than the build (only where the sources are: a copy of the server's folder has none)."""
    newest = 0.0
    for name in UI_SOURCES:
        path = ui / name
        files = path.rglob("*") if path.is_dir() else [path]
        newest = max([newest, *(f.stat().st_mtime for f in files if f.is_file())])
    return newest > built.stat().st_mtime


class UiBuildError(RuntimeError):
    """The UI cannot be built into the wheel: the message says what is missing and how to fix it."""


class BuildUiHook(BuildHookInterface):  # type: ignore[type-arg]
    PLUGIN_NAME = "custom"

    def initialize(self, version: str, build_data: dict[str, Any]) -> None:
        if version == "editable":
            return
        root = Path(self.root)
        built = root / "src" / "pystrument" / "server" / "static" / "ui" / "index.html"
        ui = root.parent / "ui"
        if built.exists() and not stale(built, ui):
            return
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
