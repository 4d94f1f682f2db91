from __future__ import annotations

import logging
import subprocess
import sys

import pytest
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


def test_one_rule_for_duplicate_names_first_wins_and_the_warning_names_both(caplog):
    class First:
        @hookimpl
        def register_sinks(self, register):
            register("dup-scheme", "first-factory")

    class Second:
        @hookimpl
        def register_sinks(self, register):
            register("dup-scheme", "second-factory")

    undo_second = plugins.register(Second(), name="second-test")
    undo_first = plugins.register(First(), name="first-test")  # registered in code later: takes precedence
    try:
        with caplog.at_level(logging.WARNING, logger="pystrument.plugins"):
            found = plugins.registered("register_sinks")
            plugins.registered("register_sinks")
        assert found["dup-scheme"].value == "first-factory" and found["dup-scheme"].plugin == "first-test"
        warnings = [r.getMessage() for r in caplog.records if "dup-scheme" in r.getMessage()]
        assert warnings == ["pystrument: sink 'dup-scheme' of plugin 'second-test' is ignored: plugin 'first-test' registered it first"]
    finally:
        undo_first()
        undo_second()


def test_roles_load_lazily_by_name_in_a_fresh_process():
    code = """
import json, sys
from pystrument.core import plugins
plugins.provided("register_sinks", ["memory"])
first = "pystrument.sinks.file" in sys.modules
plugins.provided("register_sinks", ["no-such-scheme"])  # no entry point of that name: the whole group loads
print(json.dumps([first, "pystrument.sinks.file" in sys.modules, "pystrument.core.profiling.plugin" in sys.modules]))
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[false, true, false]"  # the profilers group was never needed


def test_an_unknown_role_is_refused_with_the_list_of_roles():
    with pytest.raises(ValueError, match="unknown plugin role 'sink'; the roles are: sinks, profilers"):
        plugins.load("sink")


def test_disable_one_groups_entry_point_by_group_and_name():
    code = "from pystrument.core import list_plugins; print(sorted(e for p in list_plugins() for e in p.entry_points if 'mongodb' in e))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                         env={**__import__("os").environ, "PYSTRUMENT_DISABLED_PLUGINS": "pystrument.stores:mongodb"})
    assert out.returncode == 0, out.stderr
    # the sink named mongodb still loads; of the store, only its other scheme's entry point
    assert out.stdout.strip() == "['pystrument.sinks:mongodb', 'pystrument.sinks:mongodb+srv', 'pystrument.stores:mongodb+srv']"
