"""The MongoDB sink against nx-27017 started by a fixture (or the MongoDB of PYSTRUMENT_TEST_MONGODB_URI)."""

from __future__ import annotations

import msgspec
import pymongo
import pytest
from pystrument.core import PerformanceCollector
from pystrument.core.documents import INDEXES, from_document, to_document
from pystrument.core.sinks import create_sink
from pystrument.sinks.mongo import MongoSink
from pystrument_testing.polling import wait_for
from pystrument_testing.units import collect_units, produce_until_stored


def collection(uri, name="records"):
    client = pymongo.MongoClient(uri, serverSelectionTimeoutMS=5000)
    return client.get_default_database()[name]


def test_documents_are_stored_in_the_shared_shape(mongodb_uri, make_record):
    sink = MongoSink(mongodb_uri, None)
    batch = [make_record(name=f"r{i}", failed=i == 3, size=3000) for i in range(20)]
    sink.send(batch)
    coll = collection(mongodb_uri)
    stored = {doc["_id"]: doc for doc in coll.find()}
    assert set(stored) == {r.record_id for r in batch}
    for record in batch:
        doc = stored[record.record_id]
        assert set(doc) == set(to_document(record))
        # BSON dates hold milliseconds: the stored started_at is the record's, truncated to the millisecond
        ms = record.started_at.replace(microsecond=record.started_at.microsecond // 1000 * 1000)
        assert from_document(doc) == msgspec.structs.replace(record, started_at=ms)
    assert sink.stats()["inserted"] == 20
    sink.close()


def test_a_duplicate_is_a_success(mongodb_uri, make_record):
    sink = MongoSink(f"{mongodb_uri}?collection=dups", None)
    batch = [make_record() for _ in range(5)]
    sink.send(batch)
    fresh = make_record()
    sink.send(batch[:3] + [fresh])  # sent again (a retry after a lost answer): no error
    coll = collection(mongodb_uri, "dups")
    assert coll.count_documents({}) == 6
    stats = sink.stats()
    assert stats["duplicates"] == 3 and stats["inserted"] == 6
    sink.close()


def test_indexes_are_created_once(mongodb_uri, make_record):
    sink = MongoSink(mongodb_uri, None)
    for _ in range(3):
        sink.send([make_record()])
    info = collection(mongodb_uri).index_information()
    # Compared by fields: nx-27017 reports every direction as 1 (a real MongoDB reports -1 where asked)
    index_fields = [[field for field, _order in spec["key"]] for spec in info.values()]
    for keys, _options in INDEXES:
        assert [field for field, _order in keys] in index_fields, keys
    assert sink.stats()["indexes_created"] == len(INDEXES)
    sink.close()


def test_through_the_client_as_a_plugin(mongodb_uri):
    collector = PerformanceCollector(profiling_mode="detailed", sinks=[mongodb_uri], flush_interval=0.05)
    collect_units(collector, "job", 6)
    assert collector.flush(10)
    names = sorted(doc["name"] for doc in collection(mongodb_uri).find({}, {"name": 1}))
    assert names == [f"job-{i}" for i in range(6)]
    collector.close()


@pytest.mark.parametrize("url, message", [
    ("mongodb://127.0.0.1:1/db?collection=", "not a usable collection name"),
    ("mongodb://127.0.0.1:1/db?create_indexes=maybe", "option create_indexes='maybe' is invalid"),
    ("mongodb://127.0.0.1:notaport/db", "mongodb sink URL"),
    ("mongodb://127.0.0.1/db?colection=x", "Unknown option.*our options: collection, create_indexes"),
])
def test_bad_urls_are_explained(url, message):
    with pytest.raises(ValueError, match=message):
        create_sink(url, None)


def test_a_killed_and_restarted_server_gets_the_outages_records(private_mongodb, tmp_path):
    uri = f"{private_mongodb.uri}/outage"
    collector = PerformanceCollector(profiling_mode="detailed", sinks=[uri], flush_interval=0.05, sink_retries=1, sink_timeout=1.0,
                                     spool_dir=str(tmp_path))
    coll = collection(uri)

    def produce(prefix, n):
        collect_units(collector, prefix, n)
        collector.flush(15)

    def stored():
        return {doc["name"] for doc in coll.find({}, {"name": 1})}

    produce("before", 10)
    assert coll.count_documents({}) == 10
    private_mongodb.kill()
    produce("during", 10)  # the host carries on; these wait in the sink's spool (sink_retries is for memory only)
    assert next(iter(collector.stats()["sinks"].values()))["spool_records"] == 10
    private_mongodb.start()  # a new, empty server on the same port (in memory)
    arrived = produce_until_stored(produce, stored, 60)
    assert arrived, collector.stats()
    assert wait_for(lambda: {f"during-{i}" for i in range(10)} <= stored(), 30, 0.1), collector.stats()
    stats = next(iter(collector.stats()["sinks"].values()))
    assert stats["failed"] == 0 and stats["replayed"] >= 10 and stats["sink"]["errors_connection"] >= 1
    collector.close()


@pytest.fixture
def cuttable_link(mongodb_server):
    """A TCP relay on loopback in front of the test MongoDB whose open connections the test can cut
    (as a restarted server or a network blip does), while the server itself stays up."""
    import socket
    import threading
    from urllib.parse import urlsplit

    target = urlsplit(mongodb_server.split(",")[0])
    listener = socket.create_server(("127.0.0.1", 0))
    live: list[socket.socket] = []

    def pump(src, dst):
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def accept():
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            upstream = socket.create_connection((target.hostname, target.port or 27017))
            live.extend([client, upstream])
            threading.Thread(target=pump, args=(client, upstream), daemon=True).start()
            threading.Thread(target=pump, args=(upstream, client), daemon=True).start()

    threading.Thread(target=accept, daemon=True).start()

    def cut():
        for s in live:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        live.clear()

    yield listener.getsockname()[1], cut
    cut()
    listener.close()


def test_a_write_on_a_cut_connection_is_retried_at_once_not_lost(cuttable_link, mongodb_uri, make_record):
    from urllib.parse import urlsplit, urlunsplit

    port, cut = cuttable_link
    parts = urlsplit(mongodb_uri)  # the same database and credentials, through the relay
    userinfo = parts.netloc.rsplit("@", 1)[0] + "@" if "@" in parts.netloc else ""
    query = "&".join(q for q in [parts.query, "directConnection=true"] if q)
    sink = MongoSink(urlunsplit(("mongodb", f"{userinfo}127.0.0.1:{port}", parts.path, query, "")), None)
    sink.send([make_record()])
    cut()  # the pooled connection is dead, as after a server restart
    batch = [make_record() for _ in range(4)]
    sink.send(batch)  # AutoReconnect on the dead connection, then sent again at once on a new one
    assert collection(mongodb_uri).count_documents({}) == 5
    stats = sink.stats()
    assert stats["inserted"] == 5 and stats["reconnect_retries"] == 1
    sink.close()
