"""The stream consumer in this process, against the private redis-server: claiming a dead consumer's
entries and forgetting it afterwards."""

from __future__ import annotations

import time

import msgspec
import redis
from pystrument.server import ServerSettings
from pystrument.server.api.routes.projects import create_project
from pystrument.server.scale.stream_consumer import StreamConsumer
from pystrument.server.stores.sqlite import SQLiteStore


def test_claims_a_dead_consumers_entries_then_forgets_it(scale_env, make_record, tmp_path):
    settings = ServerSettings(store=scale_env["PYSTRUMENT_SERVER_STORE"], redis=scale_env["PYSTRUMENT_SERVER_REDIS"],
                              redis_prefix=scale_env["PYSTRUMENT_SERVER_REDIS_PREFIX"], redis_stream=scale_env["PYSTRUMENT_SERVER_REDIS_STREAM"],
                              stream_claim_idle_s=0.1, stream_batch=10)
    conn = redis.Redis.from_url(settings.redis)
    store = SQLiteStore(settings.store)
    try:
        project = create_project(store, "consumer")
        heir = StreamConsumer(conn, store, settings, "heir")
        heir.ensure_group()
        for _ in range(5):
            rec = make_record()
            rec["project_key"] = project["project_key"]
            conn.xadd(settings.redis_stream, {"record": msgspec.json.encode(rec), "record_id": rec["record_id"]})
        # a consumer that read the entries and died before XACK
        got = conn.xreadgroup(heir.group, "ghost", {settings.redis_stream: ">"}, count=10)
        assert len(got[0][1]) == 5
        assert heir.step(block_ms=None) == 0  # too fresh to claim
        time.sleep(0.15)
        heir._next_claim = 0.0
        assert heir.step(block_ms=None) == 5 and heir.counts.claimed == 5 and heir.counts.accepted == 5
        assert conn.xpending(settings.redis_stream, heir.group)["pending"] == 0
        assert "ghost" in {c["name"].decode() for c in conn.xinfo_consumers(settings.redis_stream, heir.group)}
        time.sleep(1.05)  # 10 claim periods idle, holding nothing
        assert heir.forget_dead() == ["ghost"]
        assert {c["name"].decode() for c in conn.xinfo_consumers(settings.redis_stream, heir.group)} == {"heir"}
    finally:
        store.close()
