"""Ingestion over HTTP: ``POST /performance/collect`` and ``POST /performance/batch``. What is HTTP's (the body, gzip,
the size limit, the X-Project-Key header, the answers in the envelope) is here; decoding, the project by key, the
limits and the store are the ingest service's (pystrument/server/ingest/service.py)."""

from __future__ import annotations

import zlib
from collections.abc import Sequence

from pystrument.core.record import Record
from pystrument.server.api.context import Context, api
from pystrument.server.api.envelope import INVALID_PROJECT_KEY, PARAMETER_ERROR, PERFORMANCE_DATA_INVALID, ApiError, ok
from pystrument.server.ingest.decode import BadBatch, decode_batch, raw_records, record_id_of
from pystrument.server.ingest.service import IngestResult, NoKey, UnknownKey
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.routing import Route


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


def _unknown(ctx: Context, exc: UnknownKey) -> ApiError:
    if isinstance(exc, NoKey):
        return ApiError(INVALID_PROJECT_KEY, "no project key: send the X-Project-Key header (or project_key in each record)")
    return invalid_key(ctx)


async def _ingest(ctx: Context, request: Request, raws: list[bytes], prefix: str, decoded: Sequence[Record] | None = None) -> IngestResult:
    """The ingest service, in the thread pool (it decodes, reads and writes the store)."""
    key = request.headers.get("x-project-key", "").strip()
    try:
        result: IngestResult = await ctx.run(ctx.ingest.batch, raws, prefix, decoded=decoded, key=key, admit_key=ctx.limiter.check)
    except UnknownKey as exc:
        raise _unknown(ctx, exc) from None
    return result


async def collect(request: Request, ctx: Context) -> Response:
    body = await read_body(request, ctx.settings.max_body_bytes)
    result = await _ingest(ctx, request, [body], "")
    if result.rejected:
        r = result.rejected[0]
        if r.code == INVALID_PROJECT_KEY:
            raise invalid_key(ctx)
        raise ApiError(PERFORMANCE_DATA_INVALID, f"performance data invalid: {r.error.lstrip(': ')}", data={"record_id": r.record_id})
    answer = {"record_id": result.accepted[0] if result.accepted else record_id_of(body), "duplicate": result.duplicates > 0}
    if result.folded:  # only then: the tree was beyond a cardinality limit
        answer["folded"] = result.folded[0].message
    return ok(answer)


async def batch(request: Request, ctx: Context) -> Response:
    body = await read_body(request, ctx.settings.max_body_bytes)
    is_list = body.lstrip()[:1] == b"["
    decoded = decode_batch(body, is_list)
    raws: list[bytes] = []
    if decoded is None:
        try:
            raws = raw_records(body, is_list)
        except BadBatch as exc:
            raise ApiError(PERFORMANCE_DATA_INVALID, str(exc), status=422) from None
    if not (raws or decoded):
        raise ApiError(PARAMETER_ERROR, "empty batch: send at least one record")
    result = await _ingest(ctx, request, raws, "records", decoded)
    answer = result.answer()
    if not result.accepted and result.duplicates == 0:
        first = result.rejected[0].error if result.rejected else ""
        raise ApiError(PERFORMANCE_DATA_INVALID, f"every record was rejected; first: {first}", data=answer, status=422)
    return ok(answer)


routes = [
    Route("/api/v1/performance/collect", api(collect, auth="key"), methods=["POST"]),
    Route("/api/v1/performance/batch", api(batch, auth="key"), methods=["POST"]),
]
