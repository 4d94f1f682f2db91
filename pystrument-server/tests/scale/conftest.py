"""Fixtures of the scale-out tests: a private redis-server on a free port, a key prefix per test, and
real ``pystrument-server`` subprocesses (``serve`` and ``worker``) sharing one store and one Redis."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from pystrument_testing.ports import free_port, wait_http
from pystrument_testing.redis_server import RedisServer

redis = pytest.importorskip("redis")
pytest.importorskip("rq")


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory):
    """A private redis-server (no persistence) for the session: RQ's own keys stay out of the shared Redis."""
    if shutil.which("redis-server") is None:
        pytest.skip("redis-server is not installed (apt-get install redis-server)")
    with RedisServer(free_port(), tmp_path_factory.mktemp("redis")).started() as server:
        yield server.url


@pytest.fixture
def scale_env(redis_url, tmp_path):
    """Settings every process of one test shares (as PYSTRUMENT_SERVER_* variables): its own store,
    key prefix and stream. Keys under the prefix are deleted afterwards."""
    prefix = f"t{uuid.uuid4().hex[:8]}:"
    env = {
        "PYSTRUMENT_SERVER_STORE": f"sqlite:///{tmp_path / 'store.db'}",
        "PYSTRUMENT_SERVER_DATA_DIR": str(tmp_path),
        "PYSTRUMENT_SERVER_REDIS": redis_url,
        "PYSTRUMENT_SERVER_REDIS_PREFIX": prefix,
        "PYSTRUMENT_SERVER_REDIS_STREAM": prefix + "records",
        "PYSTRUMENT_SERVER_LOG_LEVEL": "info",
    }
    yield env
    client = redis.Redis.from_url(redis_url)
    keys = list(client.scan_iter(match=prefix + "*")) + list(client.scan_iter(match=f"rq:*{prefix}*"))
    if keys:
        client.delete(*keys)


class Procs:
    """``pystrument-server`` subprocesses with their logs in files; every one is stopped at teardown."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.started: list[subprocess.Popen] = []
        self.exe = str(Path(sys.executable).parent / "pystrument-server")

    def start(self, env: dict[str, str], *args: str, log: str) -> subprocess.Popen:
        full = {**os.environ, **env, "PYTHONUNBUFFERED": "1"}
        proc = subprocess.Popen([self.exe, *args], env=full, stdout=open(self.folder / log, "ab"), stderr=subprocess.STDOUT)
        proc.log = self.folder / log  # type: ignore[attr-defined]
        self.started.append(proc)
        return proc

    def run(self, env: dict[str, str], *args: str, timeout: float = 60) -> subprocess.CompletedProcess:
        return subprocess.run([self.exe, *args], env={**os.environ, **env}, capture_output=True, text=True, timeout=timeout)

    def serve(self, env: dict[str, str], log: str) -> str:
        port = free_port()
        proc = self.start(env, "serve", "--port", str(port), log=log)
        url = f"http://127.0.0.1:{port}"
        wait_http(url + "/health", 30, proc=proc, log=proc.log, status=200, request_timeout=1)  # type: ignore[attr-defined]
        return url

    def wait_log(self, proc: subprocess.Popen, text: str, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while text not in proc.log.read_text():  # type: ignore[attr-defined]
            if proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"{text!r} not seen in {proc.log}: {proc.log.read_text()[-3000:]}")  # type: ignore[attr-defined]
            time.sleep(0.05)

    def stop_all(self) -> None:
        for proc in self.started:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.started:
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)


@pytest.fixture
def procs(tmp_path):
    p = Procs(tmp_path)
    yield p
    p.stop_all()


@pytest.fixture
def scale_project(procs, scale_env):
    """A project created with the CLI in the test's store: (id, key)."""
    done = procs.run(scale_env, "projects", "create", f"scale-{uuid.uuid4().hex[:6]}")
    assert done.returncode == 0, done.stderr
    lines = dict(line.split(": ", 1) for line in done.stdout.splitlines() if ": " in line)
    key = lines["project key"].strip()
    pid = done.stdout.split("(id ", 1)[1].split(")", 1)[0]
    return pid, key
