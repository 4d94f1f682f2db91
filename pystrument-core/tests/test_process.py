"""Process-level behaviour: interpreter exit, fork, and bounded memory with every sink down."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest


def run_script(code: str, tmp_path, timeout=120) -> subprocess.CompletedProcess:
    script = tmp_path / "script.py"
    script.write_text(textwrap.dedent(code))
    return subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=timeout, cwd=tmp_path)


class_file_sink = '''
import json, os
from pystrument.core import hookimpl, plugins

class JsonlSink:
    """Appends record names to a file (stands in for the file sink, which lives in another distribution)."""
    def __init__(self, url, config):
        self.name = url
        self.path = url.split("://", 1)[1]
    def send(self, batch):
        with open(self.path, "a") as fh:
            for r in batch:
                fh.write(json.dumps({"name": r.name, "pid": r.app.pid}) + "\\n")
    def close(self):
        pass

class P:
    @hookimpl
    def register_sinks(self, register):
        register("jsonl", JsonlSink)

plugins.register(P(), name="jsonl-test")
'''


def test_script_exiting_right_after_one_unit_still_delivers(tmp_path):
    out = tmp_path / "out.jsonl"
    result = run_script(class_file_sink + f'''
from pystrument.core import configure, monitor_performance
configure(sinks=["jsonl://{out}"], flush_interval=60, profiling_mode="detailed")

@monitor_performance
def once():
    return sum(range(1000))

once()
''', tmp_path)
    assert result.returncode == 0, result.stderr
    assert [json.loads(line)["name"] for line in out.read_text().splitlines()] == ["__main__.once"]


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_forked_child_records_arrive(tmp_path):
    out = tmp_path / "out.jsonl"
    result = run_script(class_file_sink + f'''
import os
from pystrument.core import configure, monitor_performance, flush
configure(sinks=["jsonl://{out}"], flush_interval=0.05, profiling_mode="detailed")

@monitor_performance(name="work")
def work():
    return sum(range(1000))

work(); flush(5)          # the parent's dispatcher thread is running before the fork
pid = os.fork()
if pid == 0:
    work()
    os._exit(0 if flush(5) else 3)
_, status = os.waitpid(pid, 0)
assert os.waitstatus_to_exitcode(status) == 0
''', tmp_path)
    assert result.returncode == 0, result.stderr
    pids = [json.loads(line)["pid"] for line in out.read_text().splitlines()]
    assert len(pids) == 2 and len(set(pids)) == 2


def test_rss_bounded_with_every_sink_failing(tmp_path):
    result = run_script('''
import gc, json, psutil
from pystrument.core import Client, hookimpl, plugins

class DownSink:
    """Every send fails: the target is down."""
    name = "down"
    def __init__(self, url, config): pass
    def send(self, batch): raise ConnectionError("down")
    def close(self): pass

class P:
    @hookimpl
    def register_sinks(self, register):
        register("down", DownSink)

plugins.register(P(), name="down")
client = Client(sinks=["down://1", "down://2"], max_queue_size=1000, sink_retries=1, flush_interval=0.05,
                profiling_mode="detailed")

def handler(i):
    return sum(range(200))

proc = psutil.Process()
def one(i):
    unit = client.start("request", "GET /x")
    handler(i)
    client.finish(unit)

for i in range(2000):
    one(i)
gc.collect()
before = proc.memory_info().rss
for i in range(100_000):
    one(i)
client.flush(10)
gc.collect()
after = proc.memory_info().rss
client.close()  # what still waits in the sinks' retry queues (memory) is given up: counted as failed
stats = client.stats()
failed = sum(s["failed"] for s in stats["sinks"].values())
print(json.dumps({"growth_mb": (after - before) / 2**20, "stats": stats, "failed": failed}))
''', tmp_path, timeout=280)
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout.strip().splitlines()[-1])
    stats = data["stats"]
    assert data["growth_mb"] <= 30, data
    built = stats["built"]
    dropped = sum(stats["dropped"].values())
    # every unit is accounted for: built then failed at each sink, or dropped at the queue
    assert built + dropped == stats["enqueued_total"] == 102_000
    for sink in stats["sinks"].values():
        assert sink["failed"] == built and sink["sent"] == 0
