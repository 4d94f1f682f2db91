"""Decoding what a client sent into checked records, the same for every way in (the HTTP routes, the Redis-stream
consumer, the importer): msgspec into the bounded ingest types (types.py), then the checks the types cannot express.
A bad record gets one message naming its field as a path (``records[3].call_tree.children[0].self_ms: ...``);
a batch too deeply nested for the decoder is split by a flat scan so that its good records are still kept."""

from __future__ import annotations

import datetime as dt
import math
import re

import msgspec
from pystrument.core.record import Record
from pystrument.server.ingest.types import IngestRecord

EARLIEST = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)
LATEST = dt.datetime(2200, 1, 1, tzinfo=dt.timezone.utc)
_decoder = msgspec.json.Decoder(IngestRecord)
_raw_list = msgspec.json.Decoder(list[msgspec.Raw])


class _Batch(msgspec.Struct):
    records: list[msgspec.Raw]


class _TypedBatch(msgspec.Struct):
    records: list[IngestRecord]


_raw_batch = msgspec.json.Decoder(_Batch)
_typed_batch = msgspec.json.Decoder(_TypedBatch)
_typed_list = msgspec.json.Decoder(list[IngestRecord])


def path_error(prefix: str, exc: msgspec.ValidationError | msgspec.DecodeError) -> str:
    text = str(exc)
    reason, sep, where = text.rpartition(" - at `")
    if not sep:
        return f"{prefix}: {text}"
    path = where.rstrip("`")
    if path.startswith("key` in `"):  # a dict's key: msgspec names the dict after it
        path, reason = path[len("key` in `"):], f"a key: {reason}"
    return f"{prefix}{path[1:]}: {reason}"


def check(record: Record, prefix: str) -> str | None:
    """Semantic checks msgspec's types cannot express."""
    if not record.record_id or len(record.record_id) > 200:
        return f"{prefix}.record_id: must be a non-empty string of at most 200 characters"
    if not record.name:
        return f"{prefix}.name: must not be empty (for requests 'METHOD /route/{{template}}')"
    if not math.isfinite(record.duration_ms) or record.duration_ms < 0:
        return f"{prefix}.duration_ms: must be a finite number >= 0, got {record.duration_ms}"
    stats = record.requests
    if stats is not None and stats.errors > stats.count:
        return f"{prefix}.requests.errors: {stats.errors} errors of {stats.count} requests: errors are counted among the requests (errors <= count)"
    started = record.started_at if record.started_at.tzinfo else record.started_at.replace(tzinfo=dt.timezone.utc)
    if not EARLIEST <= started < LATEST:
        return f"{prefix}.started_at: {record.started_at.isoformat()} is outside 1970-01-01 to 2200-01-01: send the start time in UTC (ISO 8601)"
    return None


_AT_BYTE = re.compile(r"\(byte (\d+)\)")
_KEY_BEFORE = re.compile(rb'"((?:[^"\\]|\\.){1,200})"\s*:\s*-?$')


def _json_error(prefix: str, raw: bytes, exc: msgspec.DecodeError) -> str:
    """Not JSON: the key whose value is not (most often NaN or Infinity, which Python's json module writes)."""
    found = _AT_BYTE.search(str(exc))
    if found:
        pos = int(found.group(1))
        key = _KEY_BEFORE.search(raw[max(0, pos - 400):pos])
        if key:
            value = raw[pos:pos + 12].decode("utf-8", "replace")
            return (f"{prefix}: not valid JSON: the value of {key.group(1).decode('utf-8', 'replace')!r} at byte {pos} ({value!r}...) is not "
                    "a JSON value (NaN and Infinity are not JSON numbers: send finite numbers)")
    return f"{prefix}: not valid JSON: {exc}"


TOO_DEEP = ("nested too deeply to decode (a call tree some hundreds of levels deep, or JSON nested as deeply): "
            "prune the call tree and send the record again")


def decode_one(raw: bytes, prefix: str) -> tuple[Record | None, str | None]:
    try:
        record = _decoder.decode(raw)
    except msgspec.ValidationError as exc:
        return None, path_error(prefix, exc)
    except msgspec.DecodeError as exc:
        return None, _json_error(prefix, raw, exc)
    except RecursionError:
        return None, f"{prefix}: {TOO_DEEP}"
    problem = check(record, prefix)
    return (None, problem) if problem else (record, None)


_TOKENS = re.compile(rb'"(?:[^"\\]|\\.)*"|[\[\]{},]', re.S)


def split_records(body: bytes, is_list: bool) -> list[bytes] | None:
    """The raw elements of the batch's record array, found by a flat scan (no recursion): for batches nested
    too deeply for the decoder, so that their good records are still kept. None: no record array found."""
    depth, start, last_string = 0, -1, b""
    items: list[bytes] = []
    level = 1 if is_list else 2  # the depth inside the record array
    for m in _TOKENS.finditer(body):
        tok = m.group()
        if tok[:1] == b'"':
            if depth == 1:
                last_string = tok
            continue
        if tok in (b"[", b"{"):
            depth += 1
            if depth == level and tok == b"[" and start < 0 and (is_list or last_string == b'"records"'):
                start = m.end()
        elif tok in (b"]", b"}"):
            if depth == level and start >= 0:
                piece = body[start:m.start()].strip()
                if piece or items:
                    items.append(piece)
                return items
            depth -= 1
        elif depth == level and start >= 0:
            items.append(body[start:m.start()].strip())
            start = m.end()
    return None


class _OnlyId(msgspec.Struct):
    record_id: object = None


_id_decoder = msgspec.json.Decoder(_OnlyId)  # the other fields skipped unconverted: a bad number elsewhere does not hide the id


def record_id_of(raw: bytes) -> str | None:
    try:
        rid = _id_decoder.decode(raw).record_id
        return rid if isinstance(rid, str) else None
    except (msgspec.ValidationError, msgspec.DecodeError, RecursionError):
        return None


def decode_batch(body: bytes, is_list: bool) -> list[IngestRecord] | None:
    """The fast path: the whole batch is valid (the common case) and decodes in one call; else None (then each
    record is decoded alone, so that the good ones are kept). The benchmark's in-process floor calls this too."""
    try:
        return _typed_list.decode(body) if is_list else _typed_batch.decode(body).records
    except (msgspec.ValidationError, msgspec.DecodeError, RecursionError):
        return None


class BadBatch(ValueError):
    """The body is not a batch of records; the message says what to send."""


_SHAPE = "send {\"records\": [record, ...]} or a JSON array of records"


def raw_records(body: bytes, is_list: bool) -> list[bytes]:
    """Each record's own JSON, for a batch that did not decode in one go (``decode_batch``), so that each record is
    decoded and judged alone. A record that is not JSON (NaN, Infinity) or is nested too deeply does not lose its
    neighbours: a flat scan finds the records. Raises BadBatch when no record array is there."""
    try:
        raws: list[msgspec.Raw] | list[bytes] = _raw_list.decode(body) if is_list else _raw_batch.decode(body).records
    except RecursionError:
        found = split_records(body, is_list)
        if found is None:
            raise BadBatch(f"batch body: {TOO_DEEP}") from None
        raws = found
    except msgspec.ValidationError as exc:
        raise BadBatch(f"batch body: {path_error('', exc)}; {_SHAPE}") from None
    except msgspec.DecodeError as exc:
        found = split_records(body, is_list)
        if not found:
            raise BadBatch(f"batch body: {exc}; {_SHAPE}") from None
        raws = found
    return [bytes(r) for r in raws]
