"""The exit, in fresh interpreters: units still open are ended and delivered within shutdown_timeout,
a host's own SIGTERM handler still runs (after the queue is delivered), nothing is printed."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

ENV = {**os.environ, "PYSTRUMENT_DISABLED_PLUGINS": "broken"}  # tests/plugins/pystrument-broken would log


def run(tmp_path: Path, body: str, timeout: float = 60) -> tuple[subprocess.CompletedProcess, list[dict], float]:
    out = tmp_path / "records.jsonl"
    script = tmp_path / "script.py"
    script.write_text(textwrap.dedent(body))
    started = time.monotonic()
    proc = subprocess.run([sys.executable, str(script), str(out)], capture_output=True, text=True, env=ENV, timeout=timeout)
    took = time.monotonic() - started
    records = [json.loads(line) for line in out.read_text().splitlines()] if out.exists() else []
    return proc, records, took


def test_units_open_at_exit_are_ended_and_delivered_within_the_timeout(tmp_path):
    proc, records, took = run(tmp_path, '''
        import sys, threading, time
        from pystrument.core import Client

        client = Client(sinks=[f"file://{sys.argv[1]}"], shutdown_timeout=1.0, max_overhead_pct=None,
                        profiling_mode="detailed")
        started = threading.Event()

        def stuck():  # a request that never ends (a daemon thread the interpreter abandons)
            unit = client.start("request", "GET /stuck")
            started.set()
            while True:
                time.sleep(0.01)

        threading.Thread(target=stuck, daemon=True).start()
        started.wait(10)
        done = client.start("request", "GET /done")
        client.finish(done)
        left_open = client.start("function", "main-thread-unit")  # never finished, in the exiting thread
    ''')
    assert proc.returncode == 0 and proc.stderr == "" and proc.stdout == "", proc.stderr
    by_name = {r["name"]: r for r in records}
    assert set(by_name) == {"GET /stuck", "GET /done", "main-thread-unit"}, by_name
    assert by_name["GET /stuck"]["tags"]["pystrument.ended"] == "shutdown"
    assert by_name["main-thread-unit"]["tags"]["pystrument.ended"] == "shutdown"
    assert "pystrument.ended" not in by_name["GET /done"]["tags"]
    assert took < 20  # bounded: at most shutdown_timeout (1 s) on top of the interpreter's start


def test_a_hosts_sigterm_handler_runs_after_the_queue_is_delivered(tmp_path):
    proc, records, _ = run(tmp_path, '''
        import os, signal, sys
        from pystrument.core import Client

        def host_handler(signum, frame):
            sys.stdout.write("host handler ran\\n")
            sys.stdout.flush()
            os._exit(3)  # a host that leaves at once: only what was delivered before counts

        signal.signal(signal.SIGTERM, host_handler)
        client = Client(sinks=[f"file://{sys.argv[1]}"], flush_interval=60, max_overhead_pct=None,
                        profiling_mode="detailed")
        for i in range(3):
            client.finish(client.start("request", f"GET /{i}"))
        os.kill(os.getpid(), signal.SIGTERM)
    ''')
    assert proc.returncode == 3 and proc.stdout == "host handler ran\n" and proc.stderr == "", proc.stderr
    assert sorted(r["name"] for r in records) == ["GET /0", "GET /1", "GET /2"]
