"""The pytest hooks of the CI gate (entry point ``pytest11``: loaded by every pytest of an environment where
pystrument-pytest is installed, inert unless ``--pystrument`` or ``PYSTRUMENT_GATE=1``).

Exit status: the run's own when tests failed; else 1 (``TESTS_FAILED``) when an endpoint regressed, and 4
(``USAGE_ERROR``) when the gate could not judge (server unreachable, records not delivered, no data): a gate that
cannot compare never passes silently.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

import pytest

from . import options
from .run import GateRun

RUN = pytest.StashKey[GateRun]()


def pytest_addoption(parser: pytest.Parser) -> None:
    options.add_options(parser)


@pytest.hookimpl(trylast=True)
def pytest_configure(config: pytest.Config) -> None:
    if not options.enabled(config) or hasattr(config, "workerinput"):
        return
    if getattr(config.option, "numprocesses", None):
        raise pytest.UsageError("--pystrument profiles the run in this process: run it without pytest-xdist's -n")
    if config.option.collectonly:
        return
    config.stash[RUN] = GateRun.start(options.read(config))


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Generator[None, Any, Any]:
    run = item.config.stash.get(RUN, None)
    if run is None:
        return (yield)
    unit = run.start_test(item.nodeid)
    try:
        result = yield
    except BaseException as exc:
        run.end_test(unit, exc)
        raise
    run.end_test(unit)
    return result


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    run = session.config.stash.get(RUN, None)
    if run is None:
        return
    run.finish()
    if session.exitstatus == pytest.ExitCode.OK:
        session.exitstatus = run.exit_status


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    run = config.stash.get(RUN, None)
    if run is None or not run.lines:
        return
    failed = run.exit_status != pytest.ExitCode.OK
    terminalreporter.section("pystrument gate", red=failed, green=not failed)
    for line in run.lines:
        terminalreporter.write_line(line)
