"""Fixtures of the pystrument-ai tests: profiling through the real SDK, and a stand-in provider."""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections import deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest


@pytest.fixture
def profile():
    """``profile(func, *args, capture_source=False, **decorator_settings) -> Record``: run ``func`` (sync or
    async) once under ``pystrument.core.monitor_performance`` with a private ``memory://`` sink."""
    import asyncio
    import inspect

    from pystrument.core import monitor_performance
    from pystrument.core.memory_sink import clear, records

    names: list[str] = []

    def run(func, *args, capture_source: bool = False, **settings: Any):
        name = f"ai-{uuid.uuid4().hex[:8]}"
        names.append(name)
        wrapped = monitor_performance(sinks=[f"memory://{name}"], async_send=False, sampling_rate=1.0,
                                      project_key="test", capture_source=capture_source, **settings)(func)
        if inspect.iscoroutinefunction(func):
            asyncio.run(wrapped(*args))
        else:
            wrapped(*args)
        got = records(name)
        assert len(got) == 1, f"expected one record, got {len(got)}"
        return got[0]

    yield run
    for name in names:
        clear(name)


def _completion(content: str, model: str) -> dict[str, Any]:
    return {
        "id": f"chatcmpl-{uuid.uuid4().hex[:12]}", "object": "chat.completion", "created": int(time.time()), "model": model,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 10, "completion_tokens": 10, "total_tokens": 20},
    }


class OpenAICompatibleStandIn:
    """A stand-in for the providers' OpenAI-compatible chat-completions API (OpenAI, DashScope, DeepSeek
    cannot be reached from the test machines): real HTTP on loopback, recording every request it gets and
    answering from a script (``reply``/``fail``/``hang``); with an empty script it answers ``default``."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.script: deque[tuple[str, Any]] = deque()
        self.default = json.dumps({"summary": "ok", "findings": []})
        stand_in = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length") or 0))
                payload = json.loads(body or b"{}")
                stand_in.requests.append({"path": self.path, "headers": {k.lower(): v for k, v in self.headers.items()}, "json": payload, "raw": body.decode()})
                action, arg = stand_in.script.popleft() if stand_in.script else ("reply", stand_in.default)
                try:
                    if action == "hang":
                        time.sleep(arg)
                        self._send(200, _completion(stand_in.default, payload.get("model", "")))
                    elif action == "fail":
                        status, error = arg
                        self._send(status, {"error": error})
                    else:
                        self._send(200, _completion(arg, payload.get("model", "")))
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (a timeout test)

            def _send(self, status: int, data: dict[str, Any]) -> None:
                raw = json.dumps(data).encode()
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/v1"

    def reply(self, content: str) -> None:
        self.script.append(("reply", content))

    def fail(self, status: int, message: str, code: str = "") -> None:
        self.script.append(("fail", (status, {"message": message, "type": "invalid_request_error", "code": code or None})))

    def hang(self, seconds: float) -> None:
        self.script.append(("hang", seconds))

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def provider_stand_in():
    server = OpenAICompatibleStandIn()
    yield server
    server.close()
