"""``pystrument-run``: start any command with every installed, detected framework adapter applied.

    pystrument-run gunicorn app:app
    pystrument-run uvicorn main:app
    pystrument-run python manage.py runserver

Like ``opentelemetry-instrument``: the command is executed (``os.execvpe``, same pid, same signals)
with this package's ``bootstrap`` folder first on ``PYTHONPATH``. Its ``sitecustomize`` runs at the
start of every Python process of the command (gunicorn/uvicorn workers included), chains to any
``sitecustomize`` the environment already had, and calls ``instrument_installed()``: each adapter
registered through the ``register_adapters`` hook whose ``detect()`` is true is ``instrument(config)``-ed,
with the configuration from env (``PYSTRUMENT_*``, ``PERFORMANCE_MONITOR_*``) and files, as usual.
``PYSTRUMENT_ADAPTERS=flask,django`` limits which adapters run.
"""

from __future__ import annotations

import logging
import os
import shutil
import sys
from pathlib import Path

from pystrument.core import plugins
from pystrument.core.failsafe import report

logger = logging.getLogger("pystrument")

BOOTSTRAP = Path(__file__).resolve().parent / "bootstrap"
USAGE = "usage: pystrument-run COMMAND [ARGS...]   e.g. pystrument-run gunicorn app:app"
# Specific adapters before generic ones: FastAPI before Starlette (both patch the same class, once);
# the servers' adapters last (they wrap only the apps no framework adapter claimed).
ORDER = {"fastapi": 0, "flask": 0, "django": 0, "starlette": 1, "gunicorn": 2, "waitress": 2, "uvicorn": 2}


def instrument_installed() -> list[str]:
    """Instrument every installed adapter that detects its framework; returns their names."""
    done: list[str] = []
    wanted = {n.strip() for n in os.environ.get("PYSTRUMENT_ADAPTERS", "").split(",") if n.strip()} or None
    adapters = [args[0] for _p, args, _k in plugins.collect("register_adapters") if args]
    adapters.sort(key=lambda a: ORDER.get(getattr(a, "name", ""), 0))
    for adapter in adapters:
        name = getattr(adapter, "name", repr(adapter))
        if wanted is not None and name not in wanted:
            continue
        try:
            if adapter.detect():
                adapter.instrument(None)
                done.append(name)
        except Exception as exc:
            logger.error("pystrument-run: adapter %s could not instrument and is skipped: %s: %s", name, type(exc).__name__, exc)
            report(f"pystrument-run adapter {name}", exc)
    return done


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in ("-h", "--help"):
        print(USAGE + "\n\n" + (__doc__ or ""), file=sys.stderr if not args else sys.stdout)
        return 2 if not args else 0
    executable = shutil.which(args[0])
    if executable is None:
        print(f"pystrument-run: command not found: {args[0]!r} (is it installed in this environment and on PATH?)", file=sys.stderr)
        return 127
    env = dict(os.environ)
    previous = env.get("PYTHONPATH")
    env["PYTHONPATH"] = str(BOOTSTRAP) + (os.pathsep + previous if previous else "")
    env["PYSTRUMENT_RUN"] = "1"
    os.execvpe(executable, args, env)
    return 0  # not reached
