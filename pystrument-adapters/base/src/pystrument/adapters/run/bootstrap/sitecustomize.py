"""pystrument-run's bootstrap: instrument detected frameworks, then run any previous sitecustomize."""

import importlib.util
import os
import sys


def _chain_previous() -> None:
    here = os.path.dirname(os.path.abspath(__file__))
    saved = sys.path[:]
    try:
        sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != here]
        spec = importlib.util.find_spec("sitecustomize")
    finally:
        sys.path[:] = saved
    if spec is not None and spec.loader is not None and spec.origin and os.path.dirname(os.path.abspath(spec.origin)) != here:
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)


def _bootstrap() -> None:
    try:
        from pystrument.adapters.run import instrument_installed
    except ImportError:  # a Python without pystrument (another venv) started by the command
        return
    instrument_installed()


_chain_previous()
if os.environ.get("PYSTRUMENT_RUN"):
    _bootstrap()
