"""``pystrument-run``: start any command with every installed framework adapter applied on import.

    pystrument-run gunicorn app:app
    pystrument-run uvicorn main:app
    pystrument-run python manage.py runserver

Like ``opentelemetry-instrument``: the command is executed (``os.execvpe``, same pid, same signals)
with this package's ``bootstrap`` folder first on ``PYTHONPATH``. Its ``sitecustomize`` runs at the
start of every Python process of the command (gunicorn/uvicorn workers included), chains to any
``sitecustomize`` the environment already had, and calls ``instrument_installed()``, which loads only
the ``pystrument.adapters`` plugins and imports no framework: for each adapter it registers a post-import
hook (``pystrument.core.post_import``: wrapt's mechanism without importing wrapt, whose import pulls asyncio,
ssl and subprocess into the host) on the module the adapter patches (``adapter.on_import``, e.g. ``flask``,
``django.core.handlers.base``, ``uvicorn.config``), and the adapter is ``instrument(config)``-ed when the
application imports that module, with the configuration from env (``PYSTRUMENT_*``,
``PERFORMANCE_MONITOR_*``) and files, as usual. So a test runner started under ``pystrument-run``
(``pytest``) still sees every module imported after it starts (its assertion rewriting works).
``PYSTRUMENT_ADAPTERS=flask,django`` limits which adapters run. An adapter object without
``on_import`` (only ``detect()`` and ``instrument(config)``) is instrumented at start when it detects
its framework, as before.
"""

from __future__ import annotations

import logging
import os
import shutil
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

from pystrument.core import plugins
from pystrument.core.failsafe import report

logger = logging.getLogger("pystrument")

BOOTSTRAP = Path(__file__).resolve().parent / "bootstrap"
USAGE = "usage: pystrument-run COMMAND [ARGS...]   e.g. pystrument-run gunicorn app:app"
HELP = USAGE + """

Run your web app with pystrument without changing its code: every installed framework adapter (Flask,
Django, FastAPI, Starlette; gunicorn, uvicorn, waitress) attaches itself when your app imports its
framework. Sampled requests are profiled and sent, in the background, to the pystrument server.

Set at least (environment variables, or the same keys in a pystrument.yaml in the working folder):
  PYSTRUMENT_PROJECT_KEY    your project's key (`pystrument-server projects create NAME` prints it)
  PYSTRUMENT_API_ENDPOINT   the server's URL, e.g. http://127.0.0.1:8000
Often useful:
  PYSTRUMENT_APP_VERSION    your app's version: statistics and comparisons are per version
  PYSTRUMENT_ENVIRONMENT    production (the default), staging, ...
  PYSTRUMENT_SAMPLING_RATE  share of requests profiled at most (default 1.0; a CPU budget may lower it)
  PYSTRUMENT_SINKS          other destinations, e.g. file:///var/log/app/records.jsonl
  PYSTRUMENT_ADAPTERS       only these adapters, e.g. flask,gunicorn (default: every installed one)
Every setting is in the configuration reference (docs/configuration.md). A bad setting logs one line
naming it and switches monitoring off: your app still starts.

examples:
  export PYSTRUMENT_PROJECT_KEY=pk_... PYSTRUMENT_API_ENDPOINT=http://127.0.0.1:8000 PYSTRUMENT_APP_VERSION=1.4.0
  pystrument-run gunicorn app:app
  pystrument-run uvicorn main:app --port 8080
  pystrument-run python manage.py runserver
"""
# Specific adapters before generic ones when their hooks fire on the same import (or at start): FastAPI
# before Starlette; the servers' adapters last (they wrap only the apps no framework adapter claimed,
# and they wrap when the server loads the app, after the app imported its framework).
ORDER = {"fastapi": 0, "flask": 0, "django": 0, "starlette": 1, "gunicorn": 2, "waitress": 2, "uvicorn": 2}


def _on_import(adapter: Any) -> Any:
    """The post-import hook of ``adapter``: instruments it, in a failsafe (an import never fails for us)."""
    name = getattr(adapter, "name", repr(adapter))

    def hook(module: ModuleType) -> None:
        try:
            if not getattr(adapter, "instrumented", False):
                adapter.instrument(None)
        except Exception as exc:
            logger.error("pystrument-run: adapter %s could not instrument %s and is skipped: %s: %s",
                         name, module.__name__, type(exc).__name__, exc)
            report(f"pystrument-run adapter {name}", exc)

    return hook


def instrument_installed() -> list[str]:
    """Arrange for every installed adapter to instrument its framework when the framework is imported;
    returns the adapters' names (hooked, or instrumented at start for those without ``on_import``)."""
    from pystrument.core.post_import import register

    done: list[str] = []
    wanted = {n.strip() for n in os.environ.get("PYSTRUMENT_ADAPTERS", "").split(",") if n.strip()} or None
    adapters = list(plugins.provided("register_adapters").values())
    adapters.sort(key=lambda a: ORDER.get(getattr(a, "name", ""), 0))
    for adapter in adapters:
        name = getattr(adapter, "name", repr(adapter))
        if wanted is not None and name not in wanted:
            continue
        try:
            module = getattr(adapter, "on_import", None)
            if module:
                register(_on_import(adapter), module)
                done.append(name)
            elif adapter.detect():
                adapter.instrument(None)
                done.append(name)
        except Exception as exc:
            logger.error("pystrument-run: adapter %s could not instrument and is skipped: %s: %s", name, type(exc).__name__, exc)
            report(f"pystrument-run adapter {name}", exc)
    return done


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in ("-h", "--help"):
        print(HELP, file=sys.stderr if not args else sys.stdout)
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
