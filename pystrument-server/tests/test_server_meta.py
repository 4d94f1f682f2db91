"""/health, the OpenAPI document, the offline API docs and the UI (built or not)."""

from __future__ import annotations

import shutil

import pytest
from pystrument.server.api.routes import meta


def test_openapi_lists_every_route(start_server):
    server = start_server()
    with server.client() as c:
        doc = c.get("/api/v1/openapi.json").json()
    assert doc["openapi"].startswith("3.1")
    api_routes = {(m, r.path.replace("{version:path}", "{version}")) for r in server.app.routes for m in (getattr(r, "methods", None) or ())
                  if r.path.startswith("/api/v1/") and m != "HEAD" and r.path not in ("/api/v1/openapi.json", "/api/v1/health")
                  and not r.path.startswith("/api/v1/test-plugin/")}  # the test-only plugins' routes (tests/plugins) are not ours
    documented = {(m.upper(), p) for p, item in doc["paths"].items() for m in item}
    assert api_routes - documented == set()


def test_docs_page_works_offline(start_server):
    server = start_server()
    with server.client() as c:
        page = c.get("/docs")
        assert page.status_code == 200 and "/docs/docs.js" in page.text and "http" not in page.text.split("<body>")[1].replace("/api/v1/openapi.json", "")
        js = c.get("/docs/docs.js")
        assert js.status_code == 200 and "openapi.json" in js.text and "https://" not in js.text
        assert c.get("/docs/docs.css").status_code == 200
        r = c.get("/docs/nope.js")
        assert r.status_code == 404 and r.json()["code"] == 10001


@pytest.fixture
def ui_build(tmp_path, monkeypatch):
    ui = tmp_path / "ui"
    (ui / "assets").mkdir(parents=True)
    (ui / "index.html").write_text("<!doctype html><div id=app>pystrument ui</div>")
    (ui / "assets" / "app-1234.js").write_text("console.log('ui')")
    monkeypatch.setattr(meta, "UI", ui)
    return ui


def test_ui_missing_says_how_to_build(start_server, monkeypatch, tmp_path):
    monkeypatch.setattr(meta, "UI", tmp_path / "nothing")
    server = start_server()
    with server.client() as c:
        r = c.get("/")
        assert r.status_code == 200 and "nox -s ui" in r.text


def test_ui_served_with_spa_fallback_and_cache_headers(start_server, ui_build):
    server = start_server()
    with server.client() as c:
        r = c.get("/")
        assert "pystrument ui" in r.text and r.headers["cache-control"] == "no-cache"
        r = c.get("/projects/abc/endpoints")  # a client-side route
        assert r.status_code == 200 and "pystrument ui" in r.text
        r = c.get("/assets/app-1234.js")
        assert r.text == "console.log('ui')" and "immutable" in r.headers["cache-control"]
        assert c.get("/assets/missing.js").status_code == 404
        r = c.get("/api/v1/unknown")
        assert r.status_code == 404 and r.json()["code"] == 10001
    shutil.rmtree(ui_build)
