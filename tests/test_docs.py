"""The plugin guide documents every hook, and nothing that is not a hook."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

from pystrument.core import hookspecs

DOC = Path(__file__).resolve().parents[1] / "docs" / "plugins.md"


def test_every_hook_is_documented_with_its_signature():
    text = DOC.read_text()
    documented = dict(re.findall(r"^### (\w+)\(([^)]*)\)$", text, flags=re.M))
    specs = {
        name: ", ".join(inspect.signature(func).parameters)
        for name, func in vars(hookspecs).items()
        if inspect.isfunction(func) and hasattr(func, "pystrument_spec")
    }
    assert specs, "no hook specifications found"
    assert documented == specs


def test_every_hook_has_a_docstring():
    for name, func in vars(hookspecs).items():
        if inspect.isfunction(func) and hasattr(func, "pystrument_spec"):
            assert func.__doc__ and func.__doc__.strip(), name
