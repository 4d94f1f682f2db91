"""Plugins by role, with every distribution installed: a process loads only the roles it uses, and a
third-party plugin of each role (tests/plugins/) works, in its role group or in the legacy group."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

HEAVY = ("numpy", "scipy", "pymongo", "redis", "litellm", "flask", "django", "starlette", "anyio",
         "pystrument.server", "pystrument.ai")


def _python(code: str, **env: str) -> subprocess.CompletedProcess[str]:
    environ = {**os.environ, **env}
    environ.pop("PYTHONPATH", None)
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True,
                          timeout=120, env=environ)


def test_the_sdk_with_an_http_sink_imports_no_server_ai_database_or_framework():
    out = _python(f"""
        import json, sys
        from pystrument.core import configure, monitor_performance

        configure(project_key="k", api_endpoint="http://127.0.0.1:9", flush_interval=60)

        @monitor_performance
        def work():
            return sum(range(1000))

        work()
        print(json.dumps([m for m in {HEAVY!r} if m in sys.modules]))
    """)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout.strip().splitlines()[-1]) == []


def test_a_process_loads_only_the_entry_points_of_the_schemes_it_uses():
    out = _python("""
        import json, sys
        from pystrument.core import Client

        client = Client(sinks=["thirdparty://x"], async_send=False)
        unit = client.start("block", "roles")
        client.finish(unit)
        from pystrument.sinks.thirdparty import RECEIVED

        print(json.dumps({
            "received": [r.name for r in RECEIVED],
            "loaded": sorted(m for m in ("pystrument.sinks.http", "pystrument.sinks.file", "pystrument.sinks.redis",
                                         "pystrument.sinks.mongo", "pystrument_standin_filesink",
                                         "pystrument_example_roles.store", "pystrument.adapters.flask.plugin",
                                         "pystrument.ai.plugin", "pystrument_example") if m in sys.modules),
        }))
    """)
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["received"] == ["roles"]  # the third-party sink of the sinks group delivered
    assert result["loaded"] == ["pystrument_example"]  # the legacy group loads whole; of the sinks, only 'thirdparty'
    assert out.stderr.count("plugin 'broken'") == 1, out.stderr  # the broken enricher: isolated, logged once


def test_legacy_group_sink_and_enricher():
    import pystrument_example
    from pystrument.core import Client

    client = Client(sinks=["example://roles"], async_send=False)
    client.finish(client.start("block", "legacy"))
    (record,) = pystrument_example.SENT["roles"]
    assert record.name == "legacy" and record.tags["enriched_by"] == "pystrument-example"


def test_third_party_profiler():
    from pystrument.core import Client, memory_sink
    from pystrument_example_roles.profiler import STARTED, CountingCollector

    client = Client(sinks=["memory://roles-profiler"], collector="example-counting", async_send=False)
    assert isinstance(client.collector, CountingCollector)
    client.finish(client.start("block", "counted"))
    assert STARTED == ["counted"]
    assert [r.name for r in memory_sink.records("roles-profiler")] == ["counted"]
    memory_sink.clear("roles-profiler")


def test_third_party_adapter_instruments_its_framework_when_the_app_imports_it(tmp_path):
    runner = shutil.which("pystrument-run", path=str(Path(sys.executable).parent))
    assert runner is not None, "pystrument-run is not installed (pystrument-adapter-base)"
    sink = tmp_path / "records.jsonl"
    code = """
        import sys
        assert "example_framework" not in sys.modules
        from example_framework import App

        app = App("toy")

        @app.route("/hello")
        def hello():
            return "hi"

        assert app.handle("/hello") == "hi"
    """
    env = {**os.environ, "PYSTRUMENT_SINKS": f"standin-file://{sink}", "PYSTRUMENT_FLUSH_INTERVAL": "0.1",
           "PYSTRUMENT_PROFILING_MODE": "detailed"}  # request records counted
    env.pop("PYTHONPATH", None)
    out = subprocess.run([runner, sys.executable, "-c", textwrap.dedent(code)], env=env, capture_output=True,
                         text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    deadline = time.monotonic() + 20
    while not (sink.exists() and sink.read_text().strip()) and time.monotonic() < deadline:
        time.sleep(0.1)
    (record,) = [json.loads(line) for line in sink.read_text().splitlines() if line.strip()]
    assert record["name"] == "toy /hello" and record["app"]["framework"] == "example-framework"


def test_third_party_store(tmp_path):
    from pystrument.server.api.routes.projects import create_project
    from pystrument.server.settings import ServerSettings
    from pystrument.server.stores import open_store
    from pystrument_example_roles.store import ExampleStore

    store = open_store(ServerSettings(store=f"example-sqlite:///{tmp_path / 'x.db'}"))
    try:
        assert isinstance(store, ExampleStore)
        create_project(store, "roles")
        assert store.created == ["roles"] and store.get_project_by_name("roles")["name"] == "roles"
    finally:
        store.close()


def test_third_party_analyser_and_ai_provider_reach_the_server_worker(tmp_path):
    from pystrument.server.analysis.worker import AnalysisWorker
    from pystrument.server.settings import ServerSettings
    from pystrument.server.stores import open_store

    settings = ServerSettings(store=f"sqlite:///{tmp_path / 'w.db'}")
    store = open_store(settings)
    worker = AnalysisWorker(store, settings)
    try:
        assert type(worker.analysers["example_errors"]).__module__ == "pystrument_example_analysis"
        assert type(worker.providers["example-echo"]).__module__ == "pystrument_example_analysis"
        assert {"hot_path", "n_plus_one"} <= set(worker.analysers)  # and ours, from the same analysers group
    finally:
        store.close()


def test_list_plugins_shows_each_role_group():
    from pystrument.core import list_plugins

    infos = {p.name: p for p in list_plugins()}
    assert infos["example-counting"].entry_points == ["pystrument.profilers:example-counting"]
    assert infos["example-framework"].provides["adapters"] == ["example-framework"]
    assert infos["example-sqlite"].provides["stores"] == ["example-sqlite"]
    assert infos["example"].entry_points == ["pystrument:example"]  # the legacy group
    assert "broken on purpose" in infos["broken"].error
    assert sorted(infos["http"].entry_points) == ["pystrument.sinks:http", "pystrument.sinks:https"]


@pytest.mark.parametrize("name", ["flask", "django", "fastapi", "starlette", "uvicorn", "gunicorn", "waitress"])
def test_every_first_party_adapter_is_in_the_adapters_group(name):
    from pystrument.core import plugins

    adapter = plugins.provided("register_adapters", [name])[name]
    assert adapter.name == name and adapter.on_import.split(".")[0] in (name, "django")
