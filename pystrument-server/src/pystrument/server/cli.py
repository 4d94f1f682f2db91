"""The ``pystrument-server`` command line (click), built by ``create_cli()``; plugins add commands
through the ``register_commands`` hook when the CLI is built, never at import."""

from __future__ import annotations

import gc
import json
import shlex
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import click
from pystrument.core.comparison import DEFAULT_MIN_CHANGE_PCT, DEFAULT_MIN_DELTA_MS, EXIT_USAGE
from pystrument.server.settings import ServerSettings, SettingsError, load_settings

if TYPE_CHECKING:
    from pystrument.server.stores.base import Store


class Obj:
    def __init__(self, config: str | None, flags: dict[str, Any]) -> None:
        self.config = config
        self.flags = flags
        self._store: Store | None = None

    def settings(self, **more: Any) -> ServerSettings:
        try:
            return load_settings(self.config, **{**self.flags, **more})
        except SettingsError as exc:
            raise click.ClickException(str(exc)) from None

    def store_flag(self) -> str:
        """The flag that names the store this command used, for a command line the user can copy."""
        settings = self.settings()
        if settings.store:
            return f"--store {settings.store_label()}"
        return f"--data-dir {Path(settings.data_dir).resolve()}"

    def store(self) -> Store:
        if self._store is None:
            from pystrument.server.stores import open_store
            from pystrument.server.stores.base import StoreError

            try:
                self._store = open_store(self.settings())
            except (SettingsError, StoreError) as exc:
                raise click.ClickException(str(exc)) from None
        return self._store


def _project(store: Store, ref: str) -> dict[str, Any]:
    project = store.get_project(ref) or store.get_project_by_name(ref)
    if project is None:
        names = ", ".join(p["name"] for p in store.list_projects()) or "none yet (pystrument-server projects create NAME)"
        raise click.ClickException(f"no project {ref!r}; projects: {names}")
    return project


def env_lines(settings: ServerSettings, project: dict[str, Any], store_flag: str, created: bool = True) -> str:
    """Shell lines for ``eval``: the SDK's settings for this project on the server these settings describe
    (a wildcard listen address is reached on loopback); what was done as comments."""
    host = settings.host if settings.host not in ("0.0.0.0", "::", "") else "127.0.0.1"
    host = f"[{host}]" if ":" in host else host
    done = "created project" if created else "project exists, reused:"
    return (f"# {done} {project['name']} (id {project['id']}) in the store {settings.store_label()}\n"
            f"# (serve this store: pystrument-server {store_flag} serve)\n"
            f"export PYSTRUMENT_PROJECT_KEY={shlex.quote(project['project_key'])}\n"
            f"export PYSTRUMENT_API_ENDPOINT={shlex.quote(f'http://{host}:{settings.port}')}")


def create_cli() -> click.Group:
    @click.group(context_settings={"help_option_names": ["-h", "--help"]})
    @click.option("--config", "config", type=click.Path(dir_okay=False), help="YAML or JSON settings file (below flags and PYSTRUMENT_SERVER_* variables).")
    @click.option("--store", default=None, help="Store URL: sqlite:///path.db or mongodb://host/db (default: SQLite in --data-dir).")
    @click.option("--data-dir", default=None, help="Folder of the embedded SQLite store (default .pystrument).")
    @click.option("--redis", default=None, help="Redis URL: share cache, rate limits and job queues between processes (default: none, embedded).")
    @click.pass_context
    def cli(ctx: click.Context, config: str | None, store: str | None, data_dir: str | None, redis: str | None) -> None:
        """pystrument server: store, aggregate and compare profiles; serve the API and the UI."""
        ctx.obj = Obj(config, {"store": store, "data_dir": data_dir, "redis": redis})

    @cli.command()
    @click.option("--host", default=None, help="Address to listen on (default 127.0.0.1; beyond loopback a token is required).")
    @click.option("--port", type=int, default=None, help="Port (default 8000).")
    @click.option("--token", default=None, help="Bearer token for every non-ingest endpoint.")
    @click.option("--cors-origins", default=None, help="Comma-separated origins allowed by CORS.")
    @click.option("--log-level", default=None)
    @click.pass_obj
    def serve(obj: Obj, host: str | None, port: int | None, token: str | None, cors_origins: str | None, log_level: str | None) -> None:
        """Run the API and the UI with uvicorn."""
        import uvicorn
        from pystrument.server.api.connlimits import uvicorn_options
        from pystrument.server.app import create_app
        from pystrument.server.ports import ensure_free

        settings = obj.settings(host=host, port=port, token=token, cors_origins=cors_origins, log_level=log_level)
        try:
            settings.check_listen()
        except SettingsError as exc:
            raise click.ClickException(str(exc)) from None
        ensure_free(settings.host, settings.port)
        app = create_app(settings, store=obj.store())
        click.echo(f"pystrument-server: store {settings.store_label()} (from {settings.origin('store') if settings.store else 'default'}), "
                   f"listening on http://{settings.host}:{settings.port}")
        # The heap built so far (modules, app, plugins) lives as long as the process: move it out of the cyclic
        # GC's reach, else every full collection walks it again while ingest allocates call trees (measured:
        # a third of the CPU per ingested record).
        gc.freeze()
        # uvicorn with our h11 protocol: header read timeout and connection cap (connlimits.py)
        uvicorn.run(app, host=settings.host, port=settings.port, log_level=settings.log_level, **uvicorn_options(settings))

    @cli.group()
    def projects() -> None:
        """Create, list and re-key projects."""

    @projects.command("create")
    @click.argument("name")
    @click.option("--description", default="")
    @click.option("--env", "as_env", is_flag=True,
                  help="Print shell lines that set PYSTRUMENT_PROJECT_KEY and PYSTRUMENT_API_ENDPOINT (for eval); "
                       "a project NAME that exists is reused, so the line can be run again.")
    @click.pass_obj
    def projects_create(obj: Obj, name: str, description: str, as_env: bool) -> None:
        """Create a project and print its ingestion key (--env: as the SDK's environment variables)."""
        from pystrument.server.api.routes.projects import create_project
        from pystrument.server.stores.base import DuplicateName

        existing = obj.store().get_project_by_name(name) if as_env else None
        if existing is not None:
            click.echo(env_lines(obj.settings(), existing, obj.store_flag(), created=False))
            return
        try:
            project = create_project(obj.store(), name, description)
        except DuplicateName:
            raise click.ClickException(f"a project named {name!r} exists in the store {obj.settings().store_label()}: "
                                       "choose another name, or see its key with `pystrument-server projects list`") from None
        if as_env:
            click.echo(env_lines(obj.settings(), project, obj.store_flag()))
            return
        click.echo(f"created project {project['name']} (id {project['id']}) in the store {obj.settings().store_label()}\n"
                   f"(serve this store: pystrument-server {obj.store_flag()} serve)\nproject key: {project['project_key']}")

    @projects.command("list")
    @click.option("--json", "as_json", is_flag=True)
    @click.pass_obj
    def projects_list(obj: Obj, as_json: bool) -> None:
        """List projects with their keys and record counts."""
        items = obj.store().list_projects()
        if as_json:
            click.echo(json.dumps(items, indent=2, default=str))
            return
        click.echo(f"store {obj.settings().store_label()}:")
        if not items:
            click.echo("no projects yet: pystrument-server projects create NAME")
        for p in items:
            click.echo(f"{p['id']}  {p['name']:<30} key {p['project_key']}  records {p['record_count']}  last seen {p['last_seen_at'] or '-'}")

    @projects.command("rotate-key")
    @click.argument("project")
    @click.pass_obj
    def projects_rotate(obj: Obj, project: str) -> None:
        """Give PROJECT (name or id) a new ingestion key; the old one stops working."""
        from pystrument.server.api.routes.projects import new_key

        store = obj.store()
        p = _project(store, project)
        updated = cast("dict[str, Any]", store.update_project(p["id"], {"project_key": new_key()}))  # None only if deleted meanwhile
        click.echo(f"store {obj.settings().store_label()}:\nnew project key for {updated['name']}: {updated['project_key']}")

    @cli.command("import")
    @click.argument("files", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path))
    @click.option("--project", default=None, help="Import every record into this project (name or id); default: by each record's project_key.")
    @click.pass_obj
    def import_cmd(obj: Obj, files: tuple[Path, ...], project: str | None) -> None:
        """Import the file sink's JSON Lines files (gzip too)."""
        from pystrument.server.ingest.importer import import_files

        store = obj.store()
        target = _project(store, project) if project else None
        total = sum(f.stat().st_size for f in files)
        with click.progressbar(length=total, label="importing", file=sys.stderr) as bar:
            summary = import_files(store, list(files), target, progress=bar.update, settings=obj.settings())
        click.echo(f"into the store {obj.settings().store_label()}: accepted {summary.accepted}, duplicate {summary.duplicates}, rejected {summary.rejected}")
        for err in summary.errors:
            click.echo(f"  rejected {err}", err=True)
        if summary.rejected and not summary.accepted and not summary.duplicates:
            sys.exit(1)

    @cli.command()
    def plugins() -> None:
        """List installed pystrument plugins and what each provides."""
        from pystrument.core import list_plugins

        for info in list_plugins():
            origin = f"{info.distribution} {info.version}".strip() or "registered in code"
            if info.error:
                click.echo(f"{info.name}: FAILED to load: {info.error}")
                continue
            provides = "; ".join(f"{k}: {', '.join(v)}" for k, v in sorted(info.provides.items())) or ", ".join(info.hooks) or "-"
            where = f" [{', '.join(info.entry_points)}]" if info.entry_points else ""
            click.echo(f"{info.name} ({origin}){where}: {provides}")

    @cli.command("check-config")
    @click.pass_obj
    def check_config(obj: Obj) -> None:
        """Print the effective settings and where each came from."""
        settings = obj.settings()
        for name in ServerSettings.model_fields:
            value = getattr(settings, name)
            if name in ("token", "read_token") and value:
                value = "***"
            if name == "ai" and value:
                value = {k: "***" for k in value}
            if name == "redis" and "@" in value:
                value = value.split("://", 1)[0] + "://***@" + value.rsplit("@", 1)[1]
            click.echo(f"{name} = {json.dumps(value, default=str)}  ({settings.origin(name)})")
        click.echo(f"effective store: {settings.store_label()}")
        try:
            settings.check_listen()
        except SettingsError as exc:
            click.echo(f"warning: {exc}")

    @cli.command()
    @click.option("--project", required=True, help="Project name or id.")
    @click.option("--base", required=True, help="The reference version (e.g. the commit of the main branch).")
    @click.option("--head", required=True, help="The version under test.")
    @click.option("--endpoint", default=None, help="Only this endpoint (METHOD /route/template).")
    @click.option("--environment", default=None, help="Only records of this environment.")
    @click.option("--fail-on-regression", "--min-change", "min_change", type=click.FloatRange(min=0), default=DEFAULT_MIN_CHANGE_PCT,
                  show_default=True, help="Exit 1 when an endpoint regressed significantly and its p50 grew by at least this many percent...")
    @click.option("--min-delta-ms", type=click.FloatRange(min=0), default=DEFAULT_MIN_DELTA_MS, show_default=True,
                  help="...and by at least this many milliseconds.")
    @click.option("--metric", type=click.Choice(["duration", "cpu", "cpu_calibrated"]), default="duration", show_default=True,
                  help="Compare endpoints on wall-clock duration, on the request thread's CPU time (steadier on shared CI machines), "
                       "or on the CPU time relative to the machine's speed beside each record (records uploaded by pytest --pystrument).")
    @click.option("--server", default=None, metavar="URL",
                  help="Compare on a running pystrument server over HTTP (no database access needed), e.g. http://ci-pystrument:8000.")
    @click.option("--token", default=None, envvar="PYSTRUMENT_TOKEN", help="The server's bearer token (with --server; env PYSTRUMENT_TOKEN).")
    @click.option("--json", "as_json", is_flag=True, help="Print the comparison as JSON (the verdict goes to stderr).")
    @click.pass_obj
    def compare(obj: Obj, project: str, base: str, head: str, endpoint: str | None, environment: str | None, min_change: float,
                min_delta_ms: float, metric: str, server: str | None, token: str | None, as_json: bool) -> None:
        """Compare two versions (Mann-Whitney U, Benjamini-Hochberg q < 0.01) per endpoint and per function.

        \b
        Exit codes, for CI:
          0  no endpoint regressed (significantly, and its p50 by --min-change % and --min-delta-ms)
          1  a regression was found (the report names the endpoint and the functions that got slower)
          2  the comparison could not be made: unknown project, a version or endpoint without records
             (the message lists those that exist), server unreachable or token refused
        """
        from pystrument.core.comparison import EXIT_REGRESSION, Thresholds, detail_lines, gate_lines, regressions

        thresholds = Thresholds(min_change, min_delta_ms)

        where = (project, base, head, endpoint, environment, metric)
        result = _compare_over_http(server, token, *where) if server else _compare_in_store(obj, *where)
        if as_json:
            click.echo(json.dumps(result, indent=2))
        else:
            click.echo(f"server {server}" if server else f"store {obj.settings().store_label()}")
            for line in detail_lines(result):
                click.echo(line)
            click.echo("")
        for line in gate_lines(result, thresholds):
            click.echo(line, err=as_json)
        if regressions(result, thresholds):
            sys.exit(EXIT_REGRESSION)

    from pystrument.server.scale.cli import worker_command

    cli.add_command(worker_command)

    from pystrument.core import plugins as core_plugins

    core_plugins.call("register_commands", cli=cli)
    if "demo" not in cli.commands:  # the demo is a plugin (pystrument-demo): say how to get it

        @cli.command(context_settings={"ignore_unknown_options": True, "allow_extra_args": True})
        def demo() -> None:
            """The demo (not installed: pip install 'pystrument-server[demo]')."""
            raise click.ClickException("the demo is not installed: pip install 'pystrument-server[demo]' (from a clone: nox -s demo)")

    return cli


class DataError(click.ClickException):
    """The comparison cannot be made (exit 2: not a regression, not a pass)."""

    exit_code = EXIT_USAGE


def _compare_in_store(obj: Obj, project: str, base: str, head: str, endpoint: str | None, environment: str | None,
                      metric: str) -> dict[str, Any]:
    from pystrument.server.stats.compare import Budget, NoData
    from pystrument.server.stats.compare import compare as run

    try:
        store = obj.store()
        p = _project(store, project)
        settings = obj.settings()
        return run(store, p["id"], base, head, endpoint=endpoint, environment=environment, limit=settings.sample_limit,
                   budget=Budget.from_settings(settings), metric=metric)
    except NoData as exc:
        raise DataError(f"{exc} (project {project!r}, store {obj.settings().store_label()})") from None
    except click.ClickException as exc:
        raise DataError(exc.message) from None


def _compare_over_http(server: str, token: str | None, project: str, base: str, head: str, endpoint: str | None,
                       environment: str | None, metric: str) -> dict[str, Any]:
    from pystrument.core.compare_client import CompareClient, GateError

    try:
        client = CompareClient(server, token)
        return client.compare(client.project(project)["id"], base, head, endpoint=endpoint, environment=environment, metric=metric)
    except GateError as exc:
        raise DataError(str(exc)) from None


def main() -> None:
    create_cli()(prog_name="pystrument-server")
