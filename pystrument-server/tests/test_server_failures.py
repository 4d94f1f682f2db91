"""The system and database codes through HTTP: 10000 (a plugin route that raises), 10005 (MongoDB down),
and the retry of the first write after an nx-27017 restart (AutoReconnect)."""

from __future__ import annotations

import pytest
from pystrument.core import hookimpl, plugins
from starlette.responses import JSONResponse
from starlette.routing import Route


class BrokenRoutePlugin:
    @staticmethod
    @hookimpl
    def register_routes(register):
        async def boom(request):
            raise RuntimeError("plugin bug")

        async def fine(request):
            return JSONResponse({"code": 0, "msg": "success", "data": {"from": "plugin"}})

        register(Route("/api/v1/test-plugin/boom", boom))
        register(Route("/api/v1/test-plugin/fine", fine))

    started: list = []

    @staticmethod
    @hookimpl
    def startup(app):
        BrokenRoutePlugin.started.append(app)


@pytest.mark.internal_errors_expected
def test_500_is_answered_in_the_envelope(start_server):
    unregister = plugins.register(BrokenRoutePlugin(), name="test-broken-route")
    try:
        server = start_server()
        with server.client() as c:
            assert BrokenRoutePlugin.started and BrokenRoutePlugin.started[-1] is server.app
            assert c.get("/api/v1/test-plugin/fine").json()["data"] == {"from": "plugin"}
            r = c.get("/api/v1/test-plugin/boom")
            assert r.status_code == 500 and r.json() == {"code": 10000, "msg": r.json()["msg"], "data": {}}
            assert "RuntimeError" in r.json()["msg"]
    finally:
        unregister()


def test_database_down_is_10005_and_first_write_after_restart_is_retried(start_server, nx_server, make_record):
    server = start_server("mongodb", mongo=nx_server.uri + "?serverSelectionTimeoutMS=1500")
    with server.client() as c:
        project = c.post("/api/v1/projects", json={"name": "db"}).json()["data"]
        key = {"X-Project-Key": project["project_key"]}
        assert c.post("/api/v1/performance/collect", json=make_record(), headers=key).json()["code"] == 0
        nx_server.stop()
        r = c.get(f"/api/v1/projects/{project['id']}")
        assert r.status_code == 503 and r.json()["code"] == 10005 and "MongoDB" in r.json()["msg"]
        nx_server.start()  # an in-memory server: data is gone, the project too; the first write must not fail
        r = c.post("/api/v1/projects", json={"name": "db-again"})
        assert r.status_code == 201, r.text
        assert c.get("/api/v1/projects").json()["data"]["total"] == 1


class _Decoded:
    """What a route builds from a request body: weakly referenced by the test to see whether it is freed."""

    def __init__(self, body: bytes) -> None:
        self.items = [body[i:i + 100] + b"" for i in range(0, len(body), 100)]  # ~4x the body in small objects


class FailingUploadPlugin:
    """A plugin route that decodes a large body, then fails with a bug: a 500 through the server's error handler."""

    decoded: list = []

    @staticmethod
    @hookimpl
    def register_routes(register):
        import weakref

        async def upload(request):
            held = _Decoded(await request.body())
            FailingUploadPlugin.decoded.append(weakref.ref(held))
            raise KeyError(f"plugin bug after decoding {len(held.items)} items")

        register(Route("/api/v1/test-plugin/upload", upload, methods=["POST"]))


def _rss_mb() -> float:
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmRSS:")) / 1024


@pytest.mark.internal_errors_expected
def test_failed_requests_leave_text_not_their_objects(start_server):
    """20 requests of 4 MB that fail with a bug: the failsafe keeps each error as text (type, message, traceback),
    every request's decoded objects are freed, and the process does not grow by the requests' size (20 x ~20 MB
    when an error pinned its frames). uvicorn's own log record of the 500 is kept by pytest's log capture, not
    by the server, so that logger does not propagate to the capture here."""
    import gc
    import logging
    import time

    from pystrument.core import failsafe

    unregister = plugins.register(FailingUploadPlugin(), name="test-failing-upload")
    uvicorn_log = logging.getLogger("uvicorn.error")
    propagate, uvicorn_log.propagate = uvicorn_log.propagate, False
    FailingUploadPlugin.decoded.clear()
    try:
        server = start_server()
        body = bytes(range(256)) * (4 * 1024 * 1024 // 256)
        with server.client(headers={"Connection": "close"}) as c:  # uvicorn closes a connection whose app raised
            r = c.post("/api/v1/test-plugin/upload", content=body)  # warm-up: allocator arenas, imports
            assert r.status_code == 500 and r.json()["code"] == 10000
            gc.collect()
            before = _rss_mb()
            for _ in range(20):
                assert c.post("/api/v1/test-plugin/upload", content=body).status_code == 500
        assert len(FailingUploadPlugin.decoded) == 21
        # the 500 is answered before the server has finished with the exception (the error middleware re-raises it
        # to uvicorn, which logs it): the last request's frame may live a moment longer
        deadline = time.monotonic() + 5
        while True:
            gc.collect()
            alive = [ref for ref in FailingUploadPlugin.decoded if ref() is not None]
            if not alive or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        grown = _rss_mb() - before
        assert not alive, f"{len(alive)} failed requests' objects are still referenced: {[gc.get_referrers(r()) for r in alive]!r:.300}"
        kept = [e for e in failsafe.internal_errors if e.where == "server POST /api/v1/test-plugin/upload"]
        assert kept and all(isinstance(e, failsafe.InternalError) for e in kept)
        assert kept[0].type == "KeyError" and "plugin bug after decoding" in kept[0].message and "in upload" in kept[0].traceback
        assert all(isinstance(field, str) for e in kept for field in e)
        assert grown < 60, f"RSS grew {grown:.0f} MB over 20 failed requests of 4 MB"
    finally:
        uvicorn_log.propagate = propagate
        unregister()


def test_a_closed_mongodb_client_is_a_store_error_while_aggregates_are_read(mongo_uri):
    """The upkeep's advice check read aggregates through a cursor whose reads were not wrapped: at shutdown (the
    client closed under it) pymongo's InvalidOperation surfaced as a bug of ours. Every read is a StoreError now."""
    import uuid

    from pystrument.server.stores.base import Filters, StoreError
    from pystrument.server.stores.mongo import MongoStore
    from pystrument_testing.mongo import database_url

    store = MongoStore(database_url(mongo_uri, f"pystrument_closed_{uuid.uuid4().hex[:8]}"))
    store.client.drop_database(store.db.name)
    store.close()
    with pytest.raises(StoreError, match="MongoDB"):
        list(store.aggregates.rows("p", Filters(endpoint="GET /x"), False))
