from __future__ import annotations

import logging
import subprocess
import sys

from pystrument.core import Client, flush, hookimpl, list_plugins, plugins
from pystrument.core.memory_sink import records


def test_example_plugin_found_through_its_entry_point():
    infos = {p.name: p for p in list_plugins()}
    example = infos["example"]
    assert example.distribution == "pystrument-example"
    assert example.provides["sinks"] == ["example"]
    assert "register_enrichers" in example.hooks
    assert infos["memory"].provides["sinks"] == ["memory"]
    assert infos["pyinstrument"].provides["collectors"] == ["pyinstrument"]


def test_example_sink_and_enricher_receive_records():
    import pystrument_example

    client = Client(sinks=["example://t1"], async_send=False)
    unit = client.start("block", "b")
    client.finish(unit)
    (record,) = pystrument_example.SENT["t1"]
    assert record.name == "b" and record.tags["enriched_by"] == "pystrument-example"


def test_broken_plugin_is_skipped_and_reported():
    infos = {p.name: p for p in list_plugins()}
    assert "broken on purpose" in infos["broken"].error
    # logged once, by a fresh process, with its name; the process goes on
    code = "import logging; logging.basicConfig(); from pystrument.core import Client; Client(sinks=['memory://x']); Client(sinks=['memory://y']); print('alive')"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() == "alive"
    assert out.stderr.count("plugin 'broken'") == 1, out.stderr


def test_load_and_disable_env(monkeypatch):
    code = "from pystrument.core import list_plugins; print(sorted(p.name for p in list_plugins()))"
    only = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                          env={**__import__("os").environ, "PYSTRUMENT_LOAD_PLUGINS": "memory,pyinstrument"})
    assert only.stdout.strip() == "['memory', 'pyinstrument']"
    off = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                         env={**__import__("os").environ, "PYSTRUMENT_DISABLED_PLUGINS": "example,broken"})
    names = eval(off.stdout.strip())
    assert "example" not in names and "broken" not in names and "memory" in names


def test_plugin_registered_in_code_and_a_raising_hook_is_isolated(caplog):
    class Good:
        @hookimpl
        def register_enrichers(self, register):
            register(lambda r: r.tags.__setitem__("good", "yes"))

    class Bad:
        @hookimpl
        def register_enrichers(self, register):
            raise RuntimeError("bad hook")

    undo_good = plugins.register(Good(), name="good-test")
    undo_bad = plugins.register(Bad(), name="bad-test")
    try:
        with caplog.at_level(logging.ERROR):
            client = Client(sinks=["memory://code-plugin"], async_send=False)
        unit = client.start("block", "x")
        client.finish(unit)
        assert records("code-plugin")[0].tags["good"] == "yes"
        assert "'bad-test' failed in hook register_enrichers" in caplog.text
    finally:
        undo_good()
        undo_bad()
    assert flush(1.0)
