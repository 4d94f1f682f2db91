"""The guide's Flask usage through Flask's test client, each case in a fresh interpreter: one record per
request however the body is consumed (read, streamed then closed, closed unread, never touched), nothing
printed at exit, nothing the host could observe (stdlib json/logging/warnings calls, threads before the
first record), and no pystrument frame at the top of a record's call tree."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

PRELUDE = textwrap.dedent('''
    import sys, time
    from flask import Flask, Response
    from pystrument.adapters.flask import PerformanceMiddleware

    app = Flask(__name__)

    def busy(ms):
        end = time.perf_counter() + ms / 1000
        while time.perf_counter() < end:
            pass

    @app.get("/users/<int:user_id>")
    def user(user_id):
        busy(3)
        return f"user {user_id}"

    @app.get("/stream")
    def stream():
        def chunks():
            for i in range(5):
                busy(1)
                yield f"chunk {i}\\n"
        return Response(chunks())

    def instrument():
        app.wsgi_app = PerformanceMiddleware(app.wsgi_app, {"sampling_rate": 1.0, "max_overhead_pct": None, "profiling_mode": sys.argv[2],
                                                              "sinks": [f"file://{sys.argv[1]}"]})
''')

# plugins load by need; tests/plugins installs one broken on purpose, which would log
ENV = {**os.environ, "PYSTRUMENT_DISABLED_PLUGINS": "broken"}  # tests/plugins/pystrument-broken would log


def run(tmp_path: Path, body: str, mode: str = "detailed") -> tuple[list[dict], str, str]:
    """The app's request records (not the continuous mode's aggregates), stdout and stderr."""
    out = tmp_path / "records.jsonl"
    script = tmp_path / "app.py"
    script.write_text(PRELUDE + textwrap.dedent(body))
    proc = subprocess.run([sys.executable, str(script), str(out), mode], capture_output=True, text=True, env=ENV, timeout=120)
    assert proc.returncode == 0, proc.stderr
    lines = out.read_text().splitlines() if out.exists() else []
    records = [r for r in map(json.loads, lines) if r.get("kind") != "aggregate"]
    return records, proc.stdout, proc.stderr


def top_files(node: dict, depth: int = 2) -> list[str]:
    """The files of the tree's top ``depth`` levels (where the tree starts: the root, and its children in
    case the root is a synthetic node; our signal handler deeper down, under Flask's, is truthfully ours)."""
    if depth == 0:
        return []
    files = [node.get("file") or ""]
    for child in node.get("children", []):
        files += top_files(child, depth - 1)
    return files


def assert_app_on_top(records: list[dict]) -> None:
    for record in records:
        ours = [f for f in top_files(record["call_tree"]) if f"{os.sep}pystrument{os.sep}" in f]
        assert not ours, (record["name"], ours)


@pytest.mark.parametrize("read", ["c.get(f'/users/{i}').data", "c.get(f'/users/{i}').status_code"],
                         ids=["body-read", "status-only"])
@pytest.mark.parametrize("mode", ["detailed", "both"])  # "both": the default, continuous on every request
def test_one_record_per_request_and_nothing_printed_at_exit(tmp_path, read, mode):
    records, stdout, stderr = run(tmp_path, f'''
        instrument()
        c = app.test_client()
        for i in range(20):
            {read}
    ''', mode)
    assert stderr == "" and stdout == ""
    assert len(records) == 20 and {r["name"] for r in records} == {"GET /users/{user_id}"}
    assert {r["status_code"] for r in records} == {200}
    if mode == "detailed":  # ended by the request, not by the exit
        # Known gap in "both" (issue 16): with only the status read, a body the test client never closes now and
        # then outlives its request until the exit (a main-thread frame holding it stays referenced), and its unit
        # is ended there: the record is delivered (checked above), tagged pystrument.ended=shutdown.
        assert all("pystrument.ended" not in r["tags"] for r in records)
    assert all(r["duration_ms"] < 1000 for r in records)
    assert_app_on_top(records)


def test_streamed_body_read_partly_then_closed_and_closed_unread(tmp_path):
    records, stdout, stderr = run(tmp_path, '''
        instrument()
        c = app.test_client()
        partly = c.get("/stream", buffered=False)
        first = next(partly.response)
        assert first == b"chunk 0\\n", first
        partly.close()
        unread = c.get("/stream", buffered=False)
        unread.close()
        whole = c.get("/stream")
        assert whole.data.count(b"chunk") == 5
    ''')
    assert stdout == "" and stderr == ""
    assert [r["name"] for r in records] == ["GET /stream"] * 3 and all(r["status_code"] == 200 for r in records)
    assert all("pystrument.ended" not in r["tags"] for r in records)
    assert_app_on_top(records)


@pytest.mark.parametrize("mode", ["detailed", "both"])  # "both": the default, continuous on every request
def test_construction_and_requests_touch_nothing_the_host_can_observe(tmp_path, mode):
    records, stdout, stderr = run(tmp_path, '''
        import collections, json, logging, logging.config, threading, warnings
        calls = collections.Counter()

        def counted(module, name):
            original = getattr(module, name)

            def wrapper(*args, **kwargs):
                calls[f"{module.__name__}.{name}"] += 1
                return original(*args, **kwargs)
            setattr(module, name, wrapper)

        for module, names in ((json, ("dumps", "loads", "dump", "load")),
                              (logging, ("basicConfig", "getLogger", "captureWarnings", "disable")),
                              (logging.config, ("dictConfig", "fileConfig")),
                              (warnings, ("warn", "simplefilter", "filterwarnings", "showwarning")),
                              (sys, ("setprofile", "settrace")), (threading, ("setprofile", "settrace"))):
            for name in names:
                counted(module, name)
        before = set(threading.enumerate())
        instrument()
        c = app.test_client()
        threads = []
        for i in range(10):
            assert c.get(f"/users/{i}").data == f"user {i}".encode()
            threads.append(sorted(t.name for t in set(threading.enumerate()) - before))
        print(json.dumps(dict(calls)), json.dumps(threads), sep="\\n")
    ''', mode)
    calls, threads = (json.loads(line) for line in stdout.splitlines()[-2:])
    assert calls == {}, calls
    # nothing started at construction; the background thread once the first record was queued (and in continuous
    # mode the sampling thread, from the first request on)
    ours = ["pystrument-dispatcher"] + (["pystrument-continuous-sampler"] if mode == "both" else [])
    assert threads == [sorted(ours)] * 10, threads
    assert stderr == "" and len(records) == 10
