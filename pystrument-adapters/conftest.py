"""Fixtures shared by the adapter tests: memory-sink configs, real loopback servers, raw HTTP."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import shutil
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from pystrument_testing.http_servers import start_uvicorn, stop_uvicorn
from pystrument_testing.processes import stop_process

NORMALISED = {b"date", b"server"}
FIXTURES = Path(__file__).resolve().parents[1] / "tests" / "fixtures"


@pytest.fixture
def sink_name() -> Iterator[str]:
    from pystrument.core import memory_sink

    name = "adapters-" + uuid.uuid4().hex[:8]
    yield name
    memory_sink.clear(name)


@pytest.fixture
def make_config(sink_name: str) -> Callable[..., dict[str, Any]]:
    """A config dict delivering synchronously to this test's memory sink, every request profiled in detail
    (detailed mode: the default, both, would add continuous aggregates to the records the tests count)."""

    def make(**overrides: Any) -> dict[str, Any]:
        config = {"sinks": [f"memory://{sink_name}"], "async_send": False, "sampling_rate": 1.0, "profiling_mode": "detailed",
                  "exclude_paths": ["/health"], "app_name": "adapters-test"}
        config.update(overrides)
        return config

    return make


@pytest.fixture
def records(sink_name: str) -> Callable[[], list[Any]]:
    from pystrument.core import memory_sink

    return lambda: list(memory_sink.records(sink_name))


@pytest.fixture
def no_profiler_errors(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    """The logs hold no error from pystrument (the root conftest also fails on swallowed errors)."""
    caplog.set_level(logging.WARNING)
    yield
    bad = [r for r in caplog.records if r.name.startswith("pystrument") and r.levelno >= logging.ERROR]
    assert not bad, [r.getMessage() for r in bad]


# -- raw HTTP over loopback -----------------------------------------------------------------------
def _read_response(sock: socket.socket) -> bytes:
    chunks = []
    while True:
        data = sock.recv(65536)
        if not data:
            break
        chunks.append(data)
    return b"".join(chunks)


def split_response(raw: bytes) -> tuple[bytes, list[tuple[bytes, bytes]], bytes]:
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    headers = []
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() not in NORMALISED:
            headers.append((name.strip().lower(), value.strip()))
    return lines[0], headers, body


@pytest.fixture
def raw_http() -> Callable[..., tuple[bytes, list[tuple[bytes, bytes]], bytes]]:
    """``raw_http(port, method, path, headers={})`` -> (status line, headers minus Date/Server, body bytes as sent)."""

    def request(port: int, method: str, path: str, headers: dict[str, str] | None = None, body: bytes = b"") -> Any:
        lines = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1", "Connection: close"]
        lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
        if body:
            lines.append(f"Content-Length: {len(body)}")
        with socket.create_connection(("127.0.0.1", port), timeout=15) as sock:
            sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode() + body)
            return split_response(_read_response(sock))

    return request


# -- real servers, in this process so the memory sink sees their records ---------------------------
@contextlib.contextmanager
def _waitress(app: Any) -> Iterator[int]:
    from waitress.server import create_server

    server = create_server(app, host="127.0.0.1", port=0, threads=8)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        yield server.effective_port  # type: ignore[union-attr]
    finally:
        server.close()
        thread.join(5)


@contextlib.contextmanager
def _uvicorn(app: Any, **options: Any) -> Iterator[int]:
    import uvicorn

    config = uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", **options)
    server = uvicorn.Server(config)
    thread = start_uvicorn(server, 15)
    try:
        yield server.servers[0].sockets[0].getsockname()[1]
    finally:
        stop_uvicorn(server, thread, 10)


@pytest.fixture
def wsgi_server() -> Callable[[Any], Any]:
    """``with wsgi_server(app) as port:`` a waitress server on a free loopback port."""
    return _waitress


@pytest.fixture
def asgi_server() -> Callable[..., Any]:
    """``with asgi_server(app) as port:`` a uvicorn server on a free loopback port."""
    return _uvicorn


# -- gunicorn: a process-based server, so the app runs in a subprocess and records go to a file ---------
@contextlib.contextmanager
def _gunicorn(spec: str, cwd: Path, records_file: Path | None = None) -> Iterator[int]:
    """gunicorn (one sync worker) serving ``spec`` (``module:factory(args)``) from ``cwd``; with
    ``records_file``, the process-wide configuration sends every request's record there
    (``standin-file://``). Fails the test if the log shows an internal pystrument error."""
    gunicorn = shutil.which("gunicorn", path=str(Path(sys.executable).parent)) or shutil.which("gunicorn")
    if gunicorn is None:
        pytest.fail("gunicorn is not installed in the test environment (it is in TEST_DEPS in noxfile.py)")
    # One hash seed for both processes: Flask builds its 405 ``Allow`` header from a set of strings,
    # whose order follows the (per-process random) string hashes, so two bare servers would differ.
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "PYTHONHASHSEED": "0"}
    # the app is a test module's factory: it imports the shared test helpers (tests/fixtures/pystrument_testing)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(FIXTURES), os.environ.get("PYTHONPATH")]))
    if records_file is not None:
        env.update(PYSTRUMENT_SINKS=f"standin-file://{records_file}", PYSTRUMENT_FLUSH_INTERVAL="0.1",
                   PYSTRUMENT_SAMPLING_RATE="1.0", PYSTRUMENT_APP_NAME="adapters-test")
    proc = subprocess.Popen([gunicorn, "-w", "1", "-b", "127.0.0.1:0", "--chdir", str(cwd), spec], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    log: list[str] = []
    port: list[int] = []
    ready = threading.Event()

    def drain() -> None:  # keep reading so the pipe never fills
        for line in proc.stderr:  # type: ignore[union-attr]
            log.append(line)
            match = re.search(r"Listening at: http://127\.0\.0\.1:(\d+)", line)
            if match and not port:
                port.append(int(match.group(1)))
                ready.set()
        ready.set()

    reader = threading.Thread(target=drain, daemon=True)
    reader.start()
    try:
        if not ready.wait(30) or not port:
            raise AssertionError("gunicorn did not start:\n" + "".join(log))
        # the arbiter listens before its worker has imported the app: wait for a first answer
        deadline = time.monotonic() + 30
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port[0]), timeout=10) as sock:
                    sock.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                    if sock.recv(16):
                        break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        yield port[0]
    finally:
        stop_process(proc, 20, kill_timeout=None)
        reader.join(5)
    assert "pystrument: internal error" not in "".join(log), "".join(log)


@pytest.fixture
def gunicorn_server() -> Callable[..., Any]:
    """``with gunicorn_server("module:factory(True)", cwd, records_file) as port:`` (see ``_gunicorn``)."""
    return _gunicorn


def read_records(path: Path, count: int, timeout: float = 20) -> list[dict[str, Any]]:
    """The JSON records a subprocess wrote to ``path`` (``standin-file://``), once there are ``count``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists():
            found = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
            if len(found) >= count:
                return found
        time.sleep(0.1)
    raise AssertionError(f"fewer than {count} records arrived in {path}")


@pytest.fixture
def file_records() -> Callable[..., list[dict[str, Any]]]:
    """``file_records(path, count)``: see ``read_records``."""
    return read_records
