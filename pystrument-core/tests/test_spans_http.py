"""HTTP spans from requests, httpx (sync and async) and urllib3 against a local HTTP server."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler

import pytest
from pystrument_testing.http_servers import LoopbackHTTPServer
from spans_helpers import record_of


class _Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        status = 404 if self.path.startswith("/missing") else 200
        body = b"ok"
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    with LoopbackHTTPServer(_Handler) as httpd:
        yield httpd.url


def test_requests_call_is_one_span_not_two(server: str) -> None:
    import requests

    def work() -> None:
        requests.get(f"{server}/items/7?token=secret", timeout=5)
        with requests.Session() as session:
            session.get(f"{server}/missing", timeout=5)

    first, second = record_of(work).spans  # not four: urllib3 under requests files nothing
    host = server.removeprefix("http://")
    assert (first.kind, first.method, first.url, first.host, first.status) == (
        "http", "GET", f"{server}/items/7?token=?", host, 200)
    assert second.status == 404 and second.function == "work" and second.file == __file__
    assert "secret" not in repr(first)


def test_httpx_sync_and_async(server: str) -> None:
    import httpx

    async def fetch() -> None:
        async with httpx.AsyncClient() as client:
            await client.get(f"{server}/async")

    def work() -> None:
        with httpx.Client() as client:
            client.get(f"{server}/sync")
        asyncio.run(fetch())

    sync, async_ = record_of(work).spans
    assert sync.url == f"{server}/sync" and sync.status == 200
    assert async_.url == f"{server}/async" and async_.status == 200 and async_.function == "fetch"


def test_urllib3_alone_and_a_refused_connection(server: str) -> None:
    import urllib3

    def work() -> None:
        pool = urllib3.PoolManager(retries=False)
        pool.request("GET", f"{server}/plain?a=1")
        with pytest.raises(urllib3.exceptions.HTTPError):
            pool.request("GET", "http://127.0.0.1:9/refused")

    ok, refused = record_of(work).spans
    assert ok.url == f"{server}/plain?a=?" and ok.status == 200
    assert refused.error and refused.status == 0 and refused.host == "127.0.0.1:9"
