"""Continuous aggregates that arrive through the Redis stream are absorbed by the consumer like ingested ones."""

from __future__ import annotations

import msgspec
import redis
from pystrument.server import ServerSettings
from pystrument.server.api.routes.projects import create_project
from pystrument.server.scale.stream_consumer import StreamConsumer
from pystrument.server.stats import continuous
from pystrument.server.stores.base import Filters
from pystrument.server.stores.sqlite import SQLiteStore


def test_stream_consumer_absorbs_aggregates_once(aggregate, scale_env, make_record):
    settings = ServerSettings(store=scale_env["PYSTRUMENT_SERVER_STORE"], redis=scale_env["PYSTRUMENT_SERVER_REDIS"],
                              redis_prefix=scale_env["PYSTRUMENT_SERVER_REDIS_PREFIX"], redis_stream=scale_env["PYSTRUMENT_SERVER_REDIS_STREAM"])
    conn = redis.Redis.from_url(settings.redis)
    store = SQLiteStore(settings.store)
    try:
        project = create_project(store, "continuous")
        consumer = StreamConsumer(conn, store, settings, "one")
        consumer.ensure_group()
        a = aggregate(count=40, errors=4)
        for rec in (a, a, aggregate(count=2, errors=0), make_record()):  # a sent twice (at least once delivery)
            rec["project_key"] = project["project_key"]
            conn.xadd(settings.redis_stream, {"record": msgspec.json.encode(rec), "record_id": rec["record_id"]})
        consumer.drain()
        assert consumer.counts.accepted == 3
        totals = continuous.endpoint_counts(store, project["id"], Filters())["GET /items/{id}"]
        assert (totals["count"], totals["errors"], totals["sample_count"]) == (42, 4, 80)
        assert store.query_records(project["id"], Filters(), 1, 50, "-started_at")[1] == 1
    finally:
        store.close()
