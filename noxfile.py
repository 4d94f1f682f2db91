"""The one entry point for dev tasks: ``nox -s tests | lint | typecheck | bench | demo``.

Every first-party distribution is installed editable into one environment (mixing editable and
regular installs inside the ``pystrument`` namespace hides distributions: pypa/pip#11587).
"""

from __future__ import annotations

from pathlib import Path

import nox

nox.options.default_venv_backend = "uv|virtualenv"
nox.options.sessions = ["tests"]
nox.options.reuse_venv = "yes"

ROOT = Path(__file__).parent
PYTHONS = ["3.10", "3.11", "3.12", "3.13"]


def distributions() -> list[str]:
    """Every first-party distribution folder (core first), found by its pyproject.toml."""
    found = [p.parent for p in ROOT.glob("pystrument-*/**/pyproject.toml") if ".nox" not in p.parts and "node_modules" not in p.parts]
    found.sort(key=lambda p: (p.name != "pystrument-core", str(p)))
    return [str(p.relative_to(ROOT)) for p in found]


def example_plugins() -> list[str]:
    return sorted(str(p.parent.relative_to(ROOT)) for p in (ROOT / "tests" / "plugins").glob("*/pyproject.toml"))


TEST_DEPS = [
    "pytest>=8", "pytest-asyncio>=0.23", "pytest-timeout>=2.3", "pytest-xdist>=3.5", "psutil>=5.9",
    "httpx>=0.27", "nx-27017>=0.8", "build>=1.2", "schemathesis>=4.0",
]


def install_all(session: nox.Session) -> None:
    args: list[str] = []
    for path in distributions() + example_plugins():
        args += ["-e", path]
    session.install(*args, *TEST_DEPS)


@nox.session
def tests(session: nox.Session) -> None:
    """Install every first-party distribution and the example plugins, then run all tests."""
    install_all(session)
    session.run("python", "-m", "pytest", *(session.posargs or ["-q"]), env={"PYTHONDONTWRITEBYTECODE": "1"})


@nox.session(name="tests-all-pythons", python=PYTHONS)
def tests_all_pythons(session: nox.Session) -> None:
    """The test suite on every supported Python."""
    install_all(session)
    session.run("python", "-m", "pytest", *(session.posargs or ["-q"]))


@nox.session
def lint(session: nox.Session) -> None:
    session.install("ruff>=0.6")
    session.run("ruff", "check", ".")


@nox.session
def typecheck(session: nox.Session) -> None:
    install_all(session)
    session.install("mypy>=1.10", "types-PyYAML")
    session.run("mypy", "--strict", "pystrument-core/src/pystrument/core")


@nox.session
def bench(session: nox.Session) -> None:
    """Benchmarks: ratios measured side by side in one run (see docs/benchmarks.md)."""
    install_all(session)
    for script in sorted((ROOT / "bench").glob("bench_*.py")):
        session.run("python", str(script), *session.posargs)


@nox.session
def demo(session: nox.Session) -> None:
    """Start the server on the embedded default with a demo app and traffic."""
    install_all(session)
    if not any("pystrument-server" in d for d in distributions()):
        session.error("the demo needs pystrument-server, which is not built yet (issue 5): nothing to start")
    session.run("pystrument-server", "demo", *session.posargs)
