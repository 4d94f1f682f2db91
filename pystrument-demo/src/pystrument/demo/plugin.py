"""The ``demo`` command of ``pystrument-server``, added through the server role's ``register_commands`` hook
(entry point ``pystrument.server: demo``), as any third-party command is: the server never imports the demo."""

from __future__ import annotations

from typing import Any

import click
from pystrument.core import hookimpl


@hookimpl
def register_commands(cli: click.Group) -> None:
    @cli.command()
    @click.option("--port", type=int, default=None, help="Port of the server (default 8000).")
    @click.option("--requests", "requests_", type=int, default=300, show_default=True, help="Requests sent to each version of the demo shop.")
    @click.option("--serve/--no-serve", default=True, help="Keep serving after the demo data is in (--no-serve: stop, for scripts).")
    @click.pass_obj
    def demo(obj: Any, port: int | None, requests_: int, serve: bool) -> None:
        """Start the server with an instrumented demo shop in two versions, traffic and analysis."""
        from pystrument.server.ports import ensure_free

        from .run import run_demo

        settings = obj.settings(port=port)
        ensure_free(settings.host, settings.port)
        run_demo(settings, obj.store(), requests=requests_, serve=serve, store_flag=obj.store_flag())
