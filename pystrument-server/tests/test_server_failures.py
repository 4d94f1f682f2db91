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
