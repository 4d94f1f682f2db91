import datetime as dt

from pystrument.core.documents import from_document, to_document
from pystrument.core.record import CallNode, ErrorInfo, Record


def deep_tree(depth: int) -> CallNode:
    node = CallNode(function=f"f{depth}", time_ms=1.0, self_ms=1.0)
    for d in range(depth - 1, -1, -1):
        node = CallNode(function=f"f{d}", time_ms=1.0, children=[node])
    return node


def test_document_round_trip_with_a_tree_deeper_than_bson_allows():
    record = Record(record_id="r-1", name="GET /a/{id}", kind="request", method="GET", path="/a/1", status_code=500,
                    started_at=dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.timezone.utc), duration_ms=12.5,
                    error=ErrorInfo(type="ValueError", message="x"), call_tree=deep_tree(300), tags={"k": "v"})
    doc = to_document(record)
    assert doc["_id"] == "r-1" and isinstance(doc["started_at"], dt.datetime) and isinstance(doc["call_tree_z"], bytes)
    assert "call_tree" not in doc
    assert from_document(doc) == record
    # a store may hand back a naive UTC datetime (pymongo without tz_aware)
    doc["started_at"] = doc["started_at"].replace(tzinfo=None)
    assert from_document(doc).started_at == record.started_at
    assert from_document(doc, with_tree=False).call_tree is None
