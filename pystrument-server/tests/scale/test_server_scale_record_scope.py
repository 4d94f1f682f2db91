"""The Redis stream consumer keeps a record_id unique per project: two projects' records with one id are both
stored, and a redelivered record is a duplicate within its project only."""

from __future__ import annotations

import uuid

import msgspec
import redis
from pystrument.server import ServerSettings
from pystrument.server.api.routes.projects import create_project
from pystrument.server.scale.stream_consumer import StreamConsumer
from pystrument.server.stores.sqlite import SQLiteStore


def test_the_stream_consumer_dedupes_per_project(scale_env, make_record):
    settings = ServerSettings(store=scale_env["PYSTRUMENT_SERVER_STORE"], redis=scale_env["PYSTRUMENT_SERVER_REDIS"],
                              redis_prefix=scale_env["PYSTRUMENT_SERVER_REDIS_PREFIX"], redis_stream=scale_env["PYSTRUMENT_SERVER_REDIS_STREAM"])
    conn = redis.Redis.from_url(settings.redis)
    store = SQLiteStore(settings.store)
    try:
        a, b = create_project(store, "stream-a"), create_project(store, "stream-b")
        consumer = StreamConsumer(conn, store, settings, "scope")
        consumer.ensure_group()
        shared = uuid.uuid4().hex
        for project in (a, b, a, b):  # each project's record twice (a sink retry), with the same id
            rec = make_record(name=f"GET /{project['name']}", record_id=shared)
            rec["project_key"] = project["project_key"]
            conn.xadd(settings.redis_stream, {"record": msgspec.json.encode(rec), "record_id": shared})
        while consumer.step(block_ms=None):
            pass
        assert (consumer.counts.accepted, consumer.counts.duplicates) == (2, 2)
        assert store.get_record(shared, a["id"])[1].name == "GET /stream-a"
        assert store.get_record(shared, b["id"])[1].name == "GET /stream-b"
    finally:
        store.close()
