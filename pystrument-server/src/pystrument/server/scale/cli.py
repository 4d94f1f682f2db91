"""The ``pystrument-server worker`` command (added to the CLI by ``cli.create_cli``)."""

from __future__ import annotations

from typing import Any, Protocol

import click
from pystrument.server.scale.connection import require_redis_extra
from pystrument.server.settings import ServerSettings, SettingsError
from pystrument.server.stores.base import StoreError


class _Obj(Protocol):
    """What the worker reads of the CLI's context object (cli.Obj: scale/ does not import the CLI)."""

    def settings(self, **more: Any) -> ServerSettings: ...


@click.command("worker")
@click.option("--queues", default=None, help="Comma-separated RQ queues to work on (default: analysis).")
@click.option("--burst", is_flag=True, help="Drain the stream and the queues, run due periodic work once, then exit.")
@click.option("--name", default=None, help="Worker and stream-consumer name (default: host-pid).")
@click.option("--no-stream", is_flag=True, help="Do not consume the Redis sink's stream in this worker.")
@click.option("--no-periodic", is_flag=True, help="Take no part in periodic work (retention purge, roll-up maintenance).")
@click.option("--log-level", default=None)
@click.pass_obj
def worker_command(obj: _Obj, queues: str | None, burst: bool, name: str | None, no_stream: bool, no_periodic: bool, log_level: str | None) -> None:
    """Run analysis jobs (RQ), consume the Redis sink's stream into the store and share periodic work.

    Needs --redis (or PYSTRUMENT_SERVER_REDIS) and the same store as the servers.
    """
    import logging

    from pystrument.server.scale.worker import run_worker

    settings = obj.settings(log_level=log_level)
    if not settings.redis:
        raise click.ClickException("the worker needs Redis: pass --redis redis://host:6379/0 (or set PYSTRUMENT_SERVER_REDIS); "
                                   "without Redis, 'serve' runs analysis jobs in its own process")
    try:
        require_redis_extra()
    except SettingsError as exc:
        raise click.ClickException(str(exc)) from None
    logging.basicConfig(level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    names = [q.strip() for q in queues.split(",") if q.strip()] if queues else None
    click.echo(f"pystrument-server worker: store {settings.store_label()}, redis {settings.redis.rsplit('@', 1)[-1]}, stream {settings.redis_stream}", err=True)
    try:
        summary = run_worker(settings, names, burst=burst, name=name, stream=not no_stream, periodic=not no_periodic)
    except (SettingsError, StoreError) as exc:
        raise click.ClickException(str(exc)) from None
    if burst:
        click.echo(f"worker {summary['name']}: stream {summary['stream']}, periodic {summary['periodic']}")
