"""Hatch build hook: compiles span capture's C hot path (``pystrument/core/spans/_capture.c``) with setuptools.

A wheel gets the extension (and a platform tag); an editable install gets it beside the source, where the
checkout imports it. Where it cannot be compiled (no C compiler or no Python headers) the build goes on without
it, says so in one warning, and span capture runs its pure-Python path (``capture.spanned``): slower while a
unit is profiled in detail (docs/spans.md, "Cost"), the same spans. The project's tests fail where a compiler is
and the module is missing (``test_spans_capture_c.py``), so CI does not pass on the fallback unnoticed.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

from hatchling.builders.hooks.plugin.interface import BuildHookInterface

MODULE = "pystrument.core.spans._capture"
SOURCE = Path("src/pystrument/core/spans/_capture.c")


def compile_extension(root: Path, out: Path) -> Path:
    """Compile the module into ``out`` (setuptools' build_ext: the interpreter's own compiler and flags)."""
    from setuptools import Distribution, Extension
    from setuptools.command.build_ext import build_ext

    dist = Distribution({"name": "pystrument-core", "ext_modules": [Extension(MODULE, [str(root / SOURCE)])]})
    command = build_ext(dist)
    command.build_lib = str(out / "lib")
    command.build_temp = str(out / "temp")
    command.ensure_finalized()
    command.run()
    return Path(command.get_ext_fullpath(MODULE))


class BuildCaptureHook(BuildHookInterface):  # type: ignore[type-arg]
    PLUGIN_NAME = "custom"

    def initialize(self, version: str, build_data: dict[str, Any]) -> None:
        root = Path(self.root)
        work = Path(tempfile.mkdtemp(prefix="pystrument-core-build-"))
        try:
            built = compile_extension(root, work)
        except Exception as exc:  # noqa: BLE001 - any compiler failure: the pure-Python path, said once
            shutil.rmtree(work, ignore_errors=True)
            print(f"pystrument-core: WARNING: {SOURCE} did not compile ({type(exc).__name__}: {exc}); span capture "
                  "uses its pure-Python path (a C compiler and the Python headers build it: Debian's gcc and python3-dev)",
                  file=sys.stderr)
            return
        target = (root / SOURCE).parent / built.name
        if version == "editable":  # the checkout imports it from src/
            # copied beside it, then renamed over it: a process that has the old file loaded keeps its own copy
            # (writing into the loaded file in place crashes that process)
            partial = target.with_name(f".{target.name}.{os.getpid()}")
            shutil.copyfile(built, partial)
            os.replace(partial, target)
            shutil.rmtree(work, ignore_errors=True)
            return
        self._work = work
        build_data["force_include"][str(built)] = f"pystrument/core/spans/{built.name}"
        build_data["pure_python"] = False
        build_data["infer_tag"] = True

    def finalize(self, version: str, build_data: dict[str, Any], artifact_path: str) -> None:
        work = getattr(self, "_work", None)
        if work is not None:
            shutil.rmtree(work, ignore_errors=True)
