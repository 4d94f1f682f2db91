"""A record_id is unique per project, not across projects: one project can neither probe for another's ids
(``duplicate: true`` was an existence oracle) nor claim an id before the other uses it (its record was dropped).
Through HTTP on both stores, a second server on the same SQLite file, the Redis stream consumer, and the
migration of databases written before the change."""

from __future__ import annotations

import datetime as dt
import sqlite3
import uuid

import msgspec
import pytest
from pystrument.core.documents import to_document
from pystrument.core.record import Record
from pystrument.server.api.routes.projects import create_project
from pystrument.server.stores.sqlite import SQLiteStore
from pystrument_testing.mongo import database_url


def data(response) -> dict:
    assert response.status_code < 300, response.text
    return response.json()["data"]


def new_project(api) -> dict:
    return data(api.post("/api/v1/projects", json={"name": f"scope-{uuid.uuid4().hex[:8]}"}))


def collect(api, project: dict, record: dict) -> dict:
    return data(api.post("/api/v1/performance/collect", json=record, headers={"X-Project-Key": project["project_key"]}))


def test_another_projects_id_is_stored_as_ones_own(api, make_record):
    a, b = new_project(api), new_project(api)
    shared = uuid.uuid4().hex
    assert collect(api, b, make_record(name="GET /b", record_id=shared)) == {"record_id": shared, "duplicate": False}
    # A sends B's id: no oracle (not a duplicate), and stored as A's own record
    assert collect(api, a, make_record(name="GET /a", record_id=shared)) == {"record_id": shared, "duplicate": False}
    assert data(api.get(f"/api/v1/records/{shared}", params={"project_id": a["id"]}))["name"] == "GET /a"
    assert data(api.get(f"/api/v1/records/{shared}", params={"project_id": b["id"]}))["name"] == "GET /b"
    # without ?project_id= the id is ambiguous: 409 naming both projects, never one of them silently
    r = api.get(f"/api/v1/records/{shared}")
    assert r.status_code == 409 and r.json()["code"] == 10001 and "project_id" in r.json()["msg"]
    assert sorted(r.json()["data"]["project_ids"]) == sorted([a["id"], b["id"]])
    assert api.get(f"/api/v1/records/{shared}/export", params={"format": "json", "project_id": a["id"]}).json()["name"] == "GET /a"
    # each project's listing holds its own record only
    listed = data(api.get(f"/api/v1/projects/{a['id']}/records"))["items"]
    assert [(x["record_id"], x["name"]) for x in listed] == [(shared, "GET /a")]
    # duplicates within one project still dedupe
    assert collect(api, a, make_record(name="GET /a", record_id=shared))["duplicate"] is True
    assert collect(api, b, make_record(name="GET /b", record_id=shared))["duplicate"] is True
    assert data(api.get(f"/api/v1/projects/{a['id']}"))["record_count"] == 1
    assert data(api.get(f"/api/v1/projects/{b['id']}"))["record_count"] == 1


def test_an_id_claimed_first_by_another_project_does_not_drop_the_owners_record(api, make_record):
    a, b = new_project(api), new_project(api)
    ids = [uuid.uuid4().hex for _ in range(3)]
    headers_a = {"X-Project-Key": a["project_key"]}
    batch = data(api.post("/api/v1/performance/batch", json=[make_record(name="GET /claim", record_id=i) for i in ids], headers=headers_a))
    assert batch["accepted"] == 3 and batch["duplicates"] == 0
    # B uses the ids later, in a batch that also repeats one of them: B's records are stored, B's repeat deduped
    records = [make_record(name="GET /owner", record_id=i) for i in [*ids, ids[0]]]
    batch = data(api.post("/api/v1/performance/batch", json=records, headers={"X-Project-Key": b["project_key"]}))
    assert batch["accepted"] == 3 and batch["duplicates"] == 1
    for i in ids:
        assert data(api.get(f"/api/v1/records/{i}", params={"project_id": b["id"]}))["name"] == "GET /owner"
    assert api.get(f"/api/v1/records/{ids[0]}", params={"project_id": uuid.uuid4().hex}).status_code == 404


def test_analyses_of_a_shared_id_stay_with_their_project(api, live, make_record):
    a, b = new_project(api), new_project(api)
    shared = uuid.uuid4().hex
    collect(api, a, make_record(name="GET /a", record_id=shared))
    collect(api, b, make_record(name="GET /b", record_id=shared))
    r = api.post(f"/api/v1/analysis/analyze/{shared}", json={})
    assert r.status_code == 409 and sorted(r.json()["data"]["project_ids"]) == sorted([a["id"], b["id"]])
    queued = data(api.post(f"/api/v1/analysis/analyze/{shared}", params={"project_id": b["id"]}, json={}))
    assert live.app.state.ctx.worker.wait_idle(30)
    done = data(api.get(f"/api/v1/analysis/{queued['analysis_id']}"))
    assert done["status"] == "done" and done["project_id"] == b["id"] and done["endpoint"] == "GET /b"
    # A's record can be analysed at the same time (the busy check is per project too)
    data(api.post(f"/api/v1/analysis/analyze/{shared}", params={"project_id": a["id"]}, json={}))
    assert live.app.state.ctx.worker.wait_idle(30)
    assert [x["project_id"] for x in data(api.get(f"/api/v1/records/{shared}/analyses", params={"project_id": b["id"]}))["items"]] == [b["id"]]
    assert len(data(api.get(f"/api/v1/records/{shared}/analyses"))["items"]) == 2


@pytest.mark.parametrize("kind", ["sqlite", "mongodb"])
def test_a_second_server_on_the_same_store_dedupes_per_project(start_server, make_record, kind):
    first = start_server(kind)
    second = start_server(kind, store_url=first.settings.store)
    with first.client() as one, second.client() as two:
        a, b = new_project(one), new_project(one)
        shared = uuid.uuid4().hex
        assert collect(one, a, make_record(record_id=shared))["duplicate"] is False
        assert collect(two, b, make_record(record_id=shared))["duplicate"] is False
        assert collect(two, a, make_record(record_id=shared))["duplicate"] is True
        assert collect(one, b, make_record(record_id=shared))["duplicate"] is True
        assert data(two.get(f"/api/v1/projects/{a['id']}"))["record_count"] == 1


def _record(make_record, record_id: str, name: str) -> Record:
    return msgspec.convert(make_record(name=name, record_id=record_id), Record)


OLD_RECORDS = """CREATE TABLE records (
    record_id TEXT PRIMARY KEY, project_id TEXT NOT NULL, name TEXT NOT NULL, method TEXT,
    status_code INTEGER, started_at REAL NOT NULL, duration_ms REAL NOT NULL, version TEXT NOT NULL,
    environment TEXT NOT NULL, is_error INTEGER NOT NULL, summary BLOB NOT NULL, tree_z BLOB, source BLOB
);
CREATE INDEX records_project_time ON records (project_id, started_at);
"""


def test_sqlite_migration_keeps_the_records_and_scopes_the_ids(tmp_path, make_record):
    path = tmp_path / "old.db"
    with sqlite3.connect(path) as conn:  # a records table as written before the change
        conn.executescript(OLD_RECORDS)
    store = SQLiteStore(f"sqlite:///{path}")
    a, b = create_project(store, "old-a"), create_project(store, "old-b")
    store.close()
    # put a record in the old table, as the old code stored it
    old = SQLiteStore._row(a["id"], _record(make_record, "kept", "GET /kept"))
    with sqlite3.connect(path) as conn:
        conn.execute("DROP TABLE records")
        conn.execute("DROP INDEX IF EXISTS records_project_record")
        conn.executescript(OLD_RECORDS)
        conn.execute("INSERT INTO records VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)", old)
        assert [c[1] for c in conn.execute("PRAGMA table_info(records)") if c[5]] == ["record_id"]
    store = SQLiteStore(f"sqlite:///{path}")  # migrates
    try:
        with sqlite3.connect(path) as conn:
            assert [c[1] for c in conn.execute("PRAGMA table_info(records)") if c[5]] == []
            indexes = {row[1]: row[2] for row in conn.execute("PRAGMA index_list(records)")}
            assert indexes["records_project_record"] == 1 and "records_project_time" in indexes
            assert not [n for n in indexes if n.startswith("sqlite_autoindex")]
        assert store.get_record("kept", a["id"])[1].name == "GET /kept"
        assert store.insert_records(a["id"], [_record(make_record, "kept", "GET /kept")]).duplicates == ["kept"]
        assert store.insert_records(b["id"], [_record(make_record, "kept", "GET /other")]).accepted == ["kept"]
        SQLiteStore._migrate_records(store._conn())  # a second run does nothing
        assert store.get_record("kept", b["id"])[1].name == "GET /other"
    finally:
        store.close()


def test_mongo_documents_of_before_keep_deduping(mongo_uri, make_record):
    from pystrument.server.stores.mongo import MongoStore

    store = MongoStore(database_url(mongo_uri, f"pystrument_scope_{uuid.uuid4().hex[:8]}"))  # a database of our own, dropped at the end
    try:
        a, b = create_project(store, "mold-a"), create_project(store, "mold-b")
        rec = _record(make_record, "kept", "GET /kept")
        old = to_document(rec)  # before the change: _id = record_id
        old.update(project_id=a["id"], is_error=False)
        store.db.records.insert_one(old)
        assert store.insert_records(a["id"], [rec]).duplicates == ["kept"]
        assert store.insert_records(b["id"], [_record(make_record, "kept", "GET /other")]).accepted == ["kept"]
        assert store.get_record("kept", b["id"])[1].name == "GET /other"
        unique = [i["key"] for i in store.db.records.index_information().values() if i.get("unique")]
        assert [("project_id", 1), ("record_id", 1)] in unique
    finally:
        store.client.drop_database(store.db.name)
        store.close()


def test_started_at_is_kept_through_the_sqlite_rebuild(tmp_path, make_record):
    """The copy is the rows as they are: a record's times and tree read back the same after the migration."""
    path = tmp_path / "old.db"
    started = dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.timezone.utc)
    rec = msgspec.convert(make_record(name="GET /t", record_id="t1", started=started), Record)
    with sqlite3.connect(path) as conn:
        conn.executescript(OLD_RECORDS)
        conn.execute("INSERT INTO records VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)", SQLiteStore._row("p1", rec))
    store = SQLiteStore(f"sqlite:///{path}")
    try:
        project_id, got = store.get_record("t1")
        assert project_id == "p1" and got.started_at == started and got.call_tree.children[0].function == "helper"
    finally:
        store.close()


def test_mongo_sink_documents_are_adopted_per_project(mongo_uri, make_record):
    """The MongoDB sink writes straight into the collection (``_id`` = record_id, no project_id yet); adopting
    a document whose id the project already holds (it also came through the API) deletes it as a duplicate."""
    from pystrument.server.stores.mongo import MongoStore

    store = MongoStore(database_url(mongo_uri, f"pystrument_scope_{uuid.uuid4().hex[:8]}"))
    try:
        a, b = create_project(store, "sink-a"), create_project(store, "sink-b")
        assert store.insert_records(a["id"], [_record(make_record, "both", "GET /api")]).accepted == ["both"]
        assert store.insert_records(b["id"], [_record(make_record, "new", "GET /b-api")]).accepted == ["new"]
        for record_id in ("both", "new"):  # as the sink writes them, with A's key
            doc = to_document(msgspec.structs.replace(_record(make_record, record_id, "GET /sink"), project_key=a["project_key"]))
            store.db.records.insert_one(doc)
        assert store.maintain() == 1
        assert store.get_record("both", a["id"])[1].name == "GET /api"  # A's copy from the API stays, once
        assert store.get_record("new", a["id"])[1].name == "GET /sink"  # adopted into A
        assert store.get_record("new", b["id"])[1].name == "GET /b-api"  # B's own record with that id untouched
        assert store.db.records.count_documents({"project_id": {"$exists": False}}) == 0
        assert store.get_project(a["id"])["record_count"] == 2
    finally:
        store.client.drop_database(store.db.name)
        store.close()
