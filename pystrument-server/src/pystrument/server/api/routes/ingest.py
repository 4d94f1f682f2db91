"""Ingestion: ``POST /performance/collect`` and ``POST /performance/batch`` (project key, gzip, size limit,
per-record validation and partial acceptance)."""

from __future__ import annotations

import datetime as dt
import math
import re
import zlib
from typing import Any

import msgspec
from pystrument.core.record import Record
from pystrument.server.api.context import Context, api
from pystrument.server.api.envelope import INVALID_PROJECT_KEY, PARAMETER_ERROR, PERFORMANCE_DATA_INVALID, ApiError, ok
from pystrument.server.ingest.cardinality import apply_limits
from pystrument.server.ingest.types import IngestRecord
from starlette.requests import ClientDisconnect, Request
from starlette.routing import Route

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


async def read_body(request: Request, limit: int) -> bytes:
    """The request body, gunzipped when ``Content-Encoding: gzip``; 413 beyond ``limit`` bytes either way."""
    too_big = ApiError(PARAMETER_ERROR, f"request body larger than {limit} bytes: split the batch (limit set by max_body_bytes)", status=413)
    length = request.headers.get("content-length")
    if length and length.isdigit() and int(length) > limit:
        raise too_big
    chunks, size = [], 0
    try:
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise too_big
            chunks.append(chunk)
    except ClientDisconnect:  # nobody is left to answer: not an error of ours
        raise ApiError(PARAMETER_ERROR, "the client closed the connection before its body was complete", status=400) from None
    body = b"".join(chunks)
    encoding = request.headers.get("content-encoding", "").lower().strip()
    if encoding in ("gzip", "x-gzip"):
        d = zlib.decompressobj(wbits=47)
        try:
            body = d.decompress(body, limit + 1)
        except zlib.error as exc:
            raise ApiError(PARAMETER_ERROR, f"Content-Encoding is gzip but the body does not decompress: {exc}") from None
        if len(body) > limit or d.unconsumed_tail:
            raise too_big
    elif encoding not in ("", "identity"):
        raise ApiError(PARAMETER_ERROR, f"Content-Encoding {encoding!r} is not supported: send gzip or plain JSON", status=415)
    return body


def _path_error(prefix: str, exc: msgspec.ValidationError | msgspec.DecodeError) -> str:
    text = str(exc)
    reason, sep, where = text.rpartition(" - at `")
    if not sep:
        return f"{prefix}: {text}"
    path = where.rstrip("`")
    if path.startswith("key` in `"):  # a dict's key: msgspec names the dict after it
        path, reason = path[len("key` in `"):], f"a key: {reason}"
    return f"{prefix}{path[1:]}: {reason}"


def _check(record: Record, prefix: str) -> str | None:
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
        return None, _path_error(prefix, exc)
    except msgspec.DecodeError as exc:
        return None, _json_error(prefix, raw, exc)
    except RecursionError:
        return None, f"{prefix}: {TOO_DEEP}"
    problem = _check(record, prefix)
    return (None, problem) if problem else (record, None)


_TOKENS = re.compile(rb'"(?:[^"\\]|\\.)*"|[\[\]{},]', re.S)


def split_records(body: bytes, is_list: bool) -> list[bytes] | None:
    """The raw elements of the batch's record array, found by a flat scan (no recursion): for batches nested
    too deeply for the decoder, so that their good records are still kept. None: no record array found."""
    depth, start, last_string, items = 0, -1, b"", []
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


def _record_id(raw: bytes) -> str | None:
    try:
        rid = _id_decoder.decode(raw).record_id
        return rid if isinstance(rid, str) else None
    except (msgspec.ValidationError, msgspec.DecodeError, RecursionError):
        return None


def invalid_key(ctx: Context) -> ApiError:
    """The hint names the store this server uses: a key made with the CLI in another store is the usual cause.
    A server with a token (one others can reach) names only the kind of store, not its path or host."""
    settings = ctx.settings
    if settings.token:
        kind = settings.store_url().split("://", 1)[0]
        return ApiError(INVALID_PROJECT_KEY, f"invalid project key: no project in this server's {kind} store has it; on the "
                        "server, `pystrument-server check-config` names the store and `projects list` shows its keys")
    store = settings.store_label()
    flag = f"--store {store}" if settings.store else f"--data-dir {store.removeprefix('sqlite:///').rsplit('/', 1)[0]}"
    return ApiError(INVALID_PROJECT_KEY, f"invalid project key: no project in this server's store ({store}) has it; "
                    f"see its keys with `pystrument-server {flag} projects list`")


async def _projects_for(ctx: Context, request: Request, records: list[tuple[int, Record]]) -> dict[str, dict[str, Any] | None]:
    header = request.headers.get("x-project-key", "").strip()
    keys = {header} if header else {r.project_key for _i, r in records}
    out: dict[str, dict[str, Any] | None] = {}
    for key in keys:
        out[key] = (await ctx.run(ctx.store.get_project_by_key, key)) if key else None
    if not any(out.values()):
        if not header and keys <= {""}:
            raise ApiError(INVALID_PROJECT_KEY, "no project key: send the X-Project-Key header (or project_key in each record)")
        raise invalid_key(ctx)
    for key, project in out.items():
        if project is not None:
            ctx.limiter.check(key)
    return out


def _auto_analyse(ctx: Context, projects: dict[str, dict[str, Any] | None], project_id: str, records: list[Record], accepted: list[str]) -> None:
    """Slow new records to the automatic analysis (autoanalysis.py): a filter in memory, no store query."""
    if ctx.auto is not None:
        ctx.auto.after_ingest(next(p for p in projects.values() if p is not None and p["id"] == project_id), records, accepted)


async def ingest(ctx: Context, request: Request, raws: list[bytes], prefix: str, decoded: list[Record] | None = None) -> dict[str, Any]:
    """Validate (per record), resolve the project key(s), store. ``decoded``: the batch already decoded in one go."""
    rejected: list[dict[str, Any]] = []
    good: list[tuple[int, Record]] = []
    if decoded is not None:
        for i, record in enumerate(decoded):
            problem = _check(record, f"{prefix}[{i}]")
            if problem:
                rejected.append({"index": i, "record_id": record.record_id or None, "code": PERFORMANCE_DATA_INVALID, "error": problem})
            else:
                good.append((i, record))
    for i, raw in enumerate(raws):
        record, problem = decode_one(raw, f"{prefix}[{i}]" if prefix else "")
        if record is None:
            rejected.append({"index": i, "record_id": _record_id(raw), "code": PERFORMANCE_DATA_INVALID, "error": problem.lstrip(".") if not prefix else problem})
        else:
            good.append((i, record))
    header = request.headers.get("x-project-key", "").strip()
    by_project: dict[str, list[tuple[int, Record]]] = {}
    if good:
        projects = await _projects_for(ctx, request, good)
        for i, record in good:
            project = projects.get(header or record.project_key)
            if project is None:
                rejected.append({"index": i, "record_id": record.record_id, "code": INVALID_PROJECT_KEY,
                                 "error": f"{prefix}[{i}].project_key: not a valid project key" if prefix else "project_key: not a valid project key"})
                continue
            by_project.setdefault(project["id"], []).append((i, record))
    elif header:
        # nothing valid to store; still tell a wrong key apart from bad data
        if await ctx.run(ctx.store.get_project_by_key, header) is None:
            raise invalid_key(ctx)
    accepted = duplicates = 0
    ids: list[str] = []
    folded: list[dict[str, Any]] = []
    for project_id, items in by_project.items():
        records = await ctx.run(_admit, ctx, project_id, items, prefix, rejected, folded)
        if not records:
            continue
        result = await ctx.run(ctx.store.insert_records, project_id, records)
        accepted += len(result.accepted)
        duplicates += len(result.duplicates)
        ids += result.accepted
        _auto_analyse(ctx, projects, project_id, records, result.accepted)
    rejected.sort(key=lambda r: r["index"])
    out = {"accepted": accepted, "duplicates": duplicates, "rejected": rejected, "_ids": ids}
    if folded:  # only then: some trees were beyond a cardinality limit
        out["folded"] = sorted(folded, key=lambda r: r["index"])
    return out


def _label(prefix: str, i: int) -> str:
    return f"{prefix}[{i}]" if prefix else "record"


def _admit(ctx: Context, project_id: str, items: list[tuple[int, Record]], prefix: str,
           rejected: list[dict[str, Any]], folded: list[dict[str, Any]]) -> list[Record]:
    """The cardinality limits (cardinality.py): runs in the thread pool, as it may read the store or walk big trees."""
    kept, refused, folds = apply_limits(ctx.names, ctx.settings, project_id, [r for _i, r in items], [_label(prefix, i) for i, _r in items])
    for k, message in refused.items():
        i, record = items[k]
        rejected.append({"index": i, "record_id": record.record_id, "code": PERFORMANCE_DATA_INVALID, "error": message})
    for k, message in folds.items():
        i, record = items[k]
        folded.append({"index": i, "record_id": record.record_id, "message": message})
    return [r for _k, r in kept]


async def collect(request: Request, ctx: Context):
    body = await read_body(request, ctx.settings.max_body_bytes)
    result = await ingest(ctx, request, [body], "")
    if result["rejected"]:
        r = result["rejected"][0]
        if r["code"] == INVALID_PROJECT_KEY:
            raise invalid_key(ctx)
        raise ApiError(PERFORMANCE_DATA_INVALID, f"performance data invalid: {r['error'].lstrip(': ')}", data={"record_id": r["record_id"]})
    record_id = result["_ids"][0] if result["_ids"] else _record_id(body)
    answer = {"record_id": record_id, "duplicate": result["duplicates"] > 0}
    if result.get("folded"):  # only then: the tree was beyond a cardinality limit
        answer["folded"] = result["folded"][0]["message"]
    return ok(answer)


def decode_batch(body: bytes, is_list: bool) -> list[IngestRecord] | None:
    """The fast path: the whole batch is valid (the common case) and decodes in one call; else None (then each
    record is decoded alone, so that the good ones are kept). The benchmark's in-process floor calls this too."""
    try:
        return _typed_list.decode(body) if is_list else _typed_batch.decode(body).records
    except (msgspec.ValidationError, msgspec.DecodeError, RecursionError):
        return None


async def batch(request: Request, ctx: Context):
    body = await read_body(request, ctx.settings.max_body_bytes)
    is_list = body.lstrip()[:1] == b"["
    decoded = decode_batch(body, is_list)
    if decoded is not None:
        if not decoded:
            raise ApiError(PARAMETER_ERROR, "empty batch: send at least one record")
        result = await ingest(ctx, request, [], "records", decoded)
        result.pop("_ids")
        if result["accepted"] + result["duplicates"] == 0:
            raise ApiError(PERFORMANCE_DATA_INVALID, f"every record was rejected; first: {result['rejected'][0]['error']}", data=result, status=422)
        return ok(result)
    try:
        raws = _raw_list.decode(body) if is_list else _raw_batch.decode(body).records
    except RecursionError:
        raws = split_records(body, is_list)
        if raws is None:
            raise ApiError(PERFORMANCE_DATA_INVALID, f"batch body: {TOO_DEEP}", status=422) from None
    except msgspec.ValidationError as exc:
        raise ApiError(PERFORMANCE_DATA_INVALID, f"batch body: {_path_error('', exc)}; "
                       "send {\"records\": [record, ...]} or a JSON array of records", status=422) from None
    except msgspec.DecodeError as exc:
        # a record that is not JSON (NaN, Infinity) does not lose its neighbours: the flat scan finds the records
        raws = split_records(body, is_list)
        if not raws:
            raise ApiError(PERFORMANCE_DATA_INVALID, f"batch body: {exc}; "
                           "send {\"records\": [record, ...]} or a JSON array of records", status=422) from None
    if not raws:
        raise ApiError(PARAMETER_ERROR, "empty batch: send at least one record")
    result = await ingest(ctx, request, [bytes(r) for r in raws], "records")
    result.pop("_ids")
    if result["accepted"] + result["duplicates"] == 0:
        first = result["rejected"][0]["error"] if result["rejected"] else ""
        raise ApiError(PERFORMANCE_DATA_INVALID, f"every record was rejected; first: {first}", data=result, status=422)
    return ok(result)


routes = [
    Route("/api/v1/performance/collect", api(collect, auth="key"), methods=["POST"]),
    Route("/api/v1/performance/batch", api(batch, auth="key"), methods=["POST"]),
]
