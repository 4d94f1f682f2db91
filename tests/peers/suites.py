"""The peer suites: other projects' own tests, run without and with pystrument by driver.py.

To add one: a ``Peer`` with the PyPI name and pinned version of the sdist that ships the tests, what
to install (paths starting with ``.`` are inside the unpacked sdist), which of our distributions, and
how pystrument is inserted (``script`` names a runner of ``plugins/`` for a suite that is not
pytest's, as Django's, which gets ``pytest_args`` and does both), ``runner=True`` runs ``pystrument-run python -m pytest`` (the way users
start an app), ``plugins`` are pytest plugins from ``plugins/`` loaded with ``-p`` in the run with
pystrument (they wrap the apps the suite builds in our middleware), ``env_with`` is the environment of
that run (``{records}`` is replaced by a file the run may write records to). ``check`` looks at the run
with pystrument and returns problems.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class RunResult:
    mode: str
    outcomes: dict[str, str]
    internal_errors: list[dict[str, str]]
    notes: dict[str, Any]
    seconds: float
    output: str
    tail: str
    records_file: Path
    returncode: int


@dataclass(frozen=True)
class Peer:
    name: str
    dist: str
    version: str
    workdir: str = "."
    install: tuple[str, ...] = ()
    ours: tuple[str, ...] = ()
    pytest_args: tuple[str, ...] = ()
    runner: bool = False
    plugins: tuple[str, ...] = ()
    env_with: dict[str, str] = field(default_factory=dict)
    check: Callable[[RunResult], list[str]] | None = None
    subset: str = ""
    script: str = ""  # a suite pytest does not run: this script of plugins/ runs it (both runs) and writes the outcomes


def _record_names(path: Path) -> Counter[str]:
    if not path.exists():
        return Counter()
    # request records: the default profiling_mode (both) also ships one continuous aggregate per endpoint
    rows = (json.loads(line) for line in path.read_text().splitlines() if line.strip())
    return Counter(row["name"] for row in rows if row.get("kind") != "aggregate")


def one_record_per_request(result: RunResult) -> list[str]:
    """Every request the tests made (named by ``peer_flask_requests`` from Flask's matched rule) has
    exactly one record of that name in the file sink, and there is no other record."""
    expected = Counter(result.notes.get("requests", {}))
    got = _record_names(result.records_file)
    if not expected:
        return ["the tests made no request that peer_flask_requests saw: the check would prove nothing"]
    if got == expected:
        return []
    missing = expected - got
    extra = got - expected
    return [f"records do not match the requests: missing {dict(missing)}, unexpected {dict(extra)} "
            f"({sum(got.values())} records in {result.records_file}, {sum(expected.values())} requests)"]


def every_request_recorded(result: RunResult) -> list[str]:
    """The memory sink got one record per request our middleware was handed outside a profiled request
    (``peer_counting``, used by the plugins that wrap a suite's apps)."""
    requests, records = result.notes.get("http_requests", 0), result.notes.get("records", 0)
    if not requests:
        return ["no HTTP request went through PerformanceMiddleware: the plugin did not wrap the apps"]
    if records != requests:
        return [f"{requests} requests went through PerformanceMiddleware but the sink got {records} records; "
                f"requests without a record: {result.notes.get('unrecorded')}, in tests {result.notes.get('unrecorded_in')}"]
    return []


FLASK_VERSION = "3.1.3"
STARLETTE_VERSION = "1.10.0"
FASTAPI_VERSION = "0.165.0"
DJANGO_VERSION = "5.2.19"
# Django's test apps that serve requests through a handler (the test client's, ASGI's, the live server's)
DJANGO_APPS = ("admin_views", "asgi", "conditional_processing", "csrf_tests", "decorators", "file_uploads", "generic_views", "handlers", "i18n", "logging_tests",
               "messages_tests", "middleware", "middleware_exceptions", "requests_tests", "responses", "servers",
               "sessions_tests", "shortcuts", "staticfiles_tests", "test_client", "test_client_regress", "urlpatterns",
               "view_tests")

SUITES: list[Peer] = [
    Peer(
        name="flask-tutorial",
        dist="flask",
        version=FLASK_VERSION,
        workdir="examples/tutorial",
        install=(".", "./examples/tutorial", "pytest"),
        ours=("pystrument-flask", "pystrument-sink-file"),
        runner=True,
        plugins=("peer_flask_requests",),
        env_with={"PYSTRUMENT_SINKS": "file://{records}", "PYSTRUMENT_SAMPLING_RATE": "1.0",
                  "PYSTRUMENT_PROJECT_KEY": "peers-flask-tutorial",
                  "PYSTRUMENT_MAX_OVERHEAD_PCT": "100"},  # every request profiled: each is checked for its record
        check=one_record_per_request,
    ),
    Peer(
        name="starlette",
        dist="starlette",
        version=STARLETTE_VERSION,
        install=(".[full]", "httpx2[zstd]", "blockbuster", "importlib-metadata", "opentelemetry-sdk", "pytest", "trio"),
        ours=("pystrument-asgi",),
        pytest_args=("tests",),
        plugins=("peer_asgi",),
        check=every_request_recorded,
    ),
    Peer(
        name="flask",
        dist="flask",
        version=FLASK_VERSION,
        # the sdist's `tests` dependency group; pytest as its uv.lock pins it (its test_cli imports
        # _pytest.monkeypatch.notset, gone in later pytest)
        install=(".", "asgiref", "greenlet", "pytest==9.0.2", "python-dotenv"),
        ours=("pystrument-flask",),
        pytest_args=("tests",),
        plugins=("peer_flask_wsgi",),
        check=every_request_recorded,
    ),
    Peer(
        name="fastapi",
        dist="fastapi",
        version=FASTAPI_VERSION,
        # the sdist's `tests` dependency group, without its linters, type checkers, benchmarks and telemetry services
        install=(".[all]", "anyio[trio]", "dirty-equals", "flask", "inline-snapshot", "pwdlib[argon2]", "pyjwt", "pytest>=9.0,<9.2",
                 "pytest-timeout", "pytest-xdist", "pytest-codspeed", "pyyaml", "sqlmodel", "strawberry-graphql", "typer", "a2wsgi", "httpx", "python-slugify"),
        ours=("pystrument-fastapi",),
        # not run: its telemetry tests (they need logfire's and OpenTelemetry's SDKs, and take 80 s a run) and its
        # CLI test (it needs the fastapi-cli package and runs a server of its own)
        pytest_args=("tests", "--ignore=tests/test_telemetry", "--ignore=tests/test_fastapi_cli.py"),
        plugins=("peer_fastapi",),
        check=every_request_recorded,
    ),
    Peer(
        name="django",
        dist="django",
        version=DJANGO_VERSION,
        workdir="tests",
        # what tests/requirements/py3.txt lists that these apps import (no memcached, Selenium, GeoIP or watchman)
        install=(".", "argon2-cffi", "bcrypt", "docutils", "jinja2", "Pillow", "PyYAML", "sqlparse", "tblib", "tzdata"),
        ours=("pystrument-django",),
        script="peer_django.py",
        pytest_args=("--parallel", "1", "--noinput", *DJANGO_APPS),
        check=every_request_recorded,
        subset=f"{len(DJANGO_APPS)} of its test apps: the ones that serve requests",
    ),
]
