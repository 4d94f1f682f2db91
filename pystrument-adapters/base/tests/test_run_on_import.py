"""pystrument-run instruments a framework when the application imports it, and imports none itself.

The bootstrap only registers post-import hooks, so a process started under the runner has no framework
(and no anyio, no pystrument.server) in ``sys.modules`` until it imports one, and a test runner started
under it (pytest) can still rewrite the assertions of every plugin and test module."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

BIN = Path(sys.executable).parent
NOT_AT_START = ("flask", "werkzeug", "django", "asgiref", "starlette", "fastapi", "anyio", "uvicorn", "gunicorn",
                "waitress", "pystrument.server", "pystrument.ai", "asyncio", "wrapt", "ssl", "subprocess", "pyinstrument")


def _runner() -> str:
    found = shutil.which("pystrument-run", path=str(BIN))
    if found is None:
        pytest.fail("pystrument-run is not installed in the test environment (pystrument-adapter-base)")
    return found


def _env(sink: Path) -> dict[str, str]:
    env = {**os.environ, "PYSTRUMENT_SINKS": f"standin-file://{sink}", "PYSTRUMENT_FLUSH_INTERVAL": "0.1",
           "PYSTRUMENT_PROFILING_MODE": "detailed",  # the tests count request records (no continuous aggregates)
           "PYTHONUNBUFFERED": "1"}
    env.pop("PYTHONPATH", None)
    env.pop("PYTEST_ADDOPTS", None)
    return env


def test_nothing_is_imported_at_start_and_flask_is_instrumented_on_import(tmp_path, file_records):
    sink = tmp_path / "records.jsonl"
    code = textwrap.dedent(f"""
        import sys
        early = [m for m in {NOT_AT_START!r} if m in sys.modules]
        assert not early, f"imported before the app asked: {{early}}"
        import flask
        assert getattr(flask.Flask.__call__, "_pystrument", False), "Flask was not instrumented on import"
        app = flask.Flask("probe")

        @app.get("/users/<int:user_id>")
        def user(user_id):
            return {{"user": user_id}}

        response = app.test_client().get("/users/7")
        assert response.json == {{"user": 7}}
        response.close()  # the unit ends when the WSGI response is closed
        print("ok")
    """)
    out = subprocess.run([_runner(), sys.executable, "-W", "error", "-c", code], env=_env(sink), cwd=tmp_path,
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stdout + out.stderr
    (record,) = file_records(sink, 1)
    assert record["name"] == "GET /users/{user_id}" and record["app"]["framework"] == "flask"


FLASK_PROJECT = {
    "shop/__init__.py": """
        from flask import Flask

        def create_app():
            app = Flask(__name__)

            @app.get("/items/<int:item_id>")
            def item(item_id):
                return {"item": item_id}

            return app
    """,
    "tests/conftest.py": """
        import pytest
        from shop import create_app

        @pytest.fixture
        def client():
            return create_app().test_client()
    """,
    "tests/test_items.py": """
        def test_item(client):
            response = client.get("/items/3")
            assert response.json == {"item": 3}
            response.close()  # the unit ends when the WSGI response is closed
    """,
    "pyproject.toml": """
        [tool.pytest.ini_options]
        testpaths = ["tests"]
        pythonpath = ["."]
        filterwarnings = ["error"]
        asyncio_default_fixture_loop_scope = "function"  # pytest-asyncio is installed here: it warns without it
    """,
}


def test_pytest_under_the_runner_rewrites_assertions_and_records(tmp_path, file_records):
    for name, text in FLASK_PROJECT.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))
    sink = tmp_path / "records.jsonl"
    out = subprocess.run([_runner(), sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"],
                         env=_env(sink), cwd=tmp_path, capture_output=True, text=True, timeout=120)
    output = out.stdout + out.stderr
    assert "PytestAssertRewriteWarning" not in output, output
    assert out.returncode == 0 and "1 passed" in output, output
    (record,) = file_records(sink, 1)
    assert record["name"] == "GET /items/{item_id}" and record["app"]["framework"] == "flask"
