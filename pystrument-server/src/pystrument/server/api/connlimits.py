"""Limits on connections and request bodies, so that slow or many clients cannot hold the server.

Two layers, both configured by ``ServerSettings`` (docs/server.md, "Connection limits and timeouts"):

- ``guarded_protocol(settings)``: a subclass of uvicorn's ``H11Protocol`` (handed to ``uvicorn.run(http=...)``)
  that closes a connection whose request line and headers do not arrive within ``header_timeout_s`` (also
  a connection that sends nothing, and one still sending the body of a request already answered), and
  refuses connections beyond ``max_connections`` with a 503 envelope. uvicorn has neither.
- ``BodyGuard``: ASGI middleware around the app that bounds the time to receive a body
  (``body_timeout_s``: 408 and the connection is closed) and the bytes of bodies being received or handled
  at once (``body_bytes_in_flight``): a body that does not fit waits up to ``body_wait_s``, then gets a 503
  envelope with ``Retry-After``.
"""

from __future__ import annotations

import asyncio
import math
from typing import Any

import anyio
import h11
import msgspec
from pystrument.server.api.envelope import PARAMETER_ERROR, RATE_LIMIT_ERROR, ApiError, error
from pystrument.server.settings import ServerSettings
from uvicorn.protocols.http.h11_impl import H11Protocol

Scope = dict[str, Any]
Message = dict[str, Any]


def _raw_response(status: int, reason: str, code: int, msg: str, retry_after: int | None = None) -> bytes:
    """A complete HTTP/1.1 envelope answer written straight to a transport (no request was parsed yet)."""
    body = msgspec.json.encode({"code": code, "msg": msg, "data": {}})
    head = [f"HTTP/1.1 {status} {reason}", "content-type: application/json", f"content-length: {len(body)}", "connection: close"]
    if retry_after is not None:
        head.append(f"retry-after: {retry_after}")
    return ("\r\n".join(head) + "\r\n\r\n").encode("ascii") + body


class _GuardedH11Protocol(H11Protocol):
    """uvicorn's h11 protocol with a header read timeout and a connection cap (class attributes set by
    ``guarded_protocol``)."""

    header_timeout_s: float = 10.0
    max_connections: int = 1000
    _busy = b""
    _header_timeout = b""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._header_timer: asyncio.TimerHandle | None = None
        self._refused = len(self.server_state.connections) >= self.max_connections
        if self._refused:
            self.transport = transport  # type: ignore[assignment]
            transport.write(self._busy)  # type: ignore[attr-defined]
            transport.close()
            return
        super().connection_made(transport)  # type: ignore[arg-type]
        self._arm_header_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_header_timer()
        if not self._refused:
            super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._refused:
            return
        waiting_for_headers = self.cycle is None or self.cycle.response_complete
        if waiting_for_headers and self._header_timer is None:
            # the first byte of the next request (or of the rest of a body already answered, being drained)
            self._arm_header_timer()
        super().data_received(data)
        if self._header_timer is not None and self.cycle is not None and not self.cycle.response_complete:
            self._cancel_header_timer()  # the headers of a new request are in: the body timeout (BodyGuard) takes over

    def _arm_header_timer(self) -> None:
        self._cancel_header_timer()
        self._header_timer = self.loop.call_later(self.header_timeout_s, self._on_header_timeout)

    def _cancel_header_timer(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _on_header_timeout(self) -> None:
        self._header_timer = None
        if self.transport.is_closing():
            return
        if self.conn.our_state is h11.IDLE and self.conn.their_state is h11.IDLE:
            self.transport.write(self._header_timeout)  # nothing answered yet on this connection's current request
        self.transport.close()


def guarded_protocol(settings: ServerSettings) -> type[H11Protocol]:
    """The protocol class for ``uvicorn.run(http=...)``, with this server's limits."""
    return type("GuardedH11Protocol", (_GuardedH11Protocol,), {
        "header_timeout_s": settings.header_timeout_s,
        "max_connections": settings.max_connections,
        "_busy": _raw_response(503, "Service Unavailable", RATE_LIMIT_ERROR,
                               f"server busy: more than {settings.max_connections} open connections (max_connections); retry later", 1),
        "_header_timeout": _raw_response(408, "Request Timeout", PARAMETER_ERROR,
                                         f"request line and headers not received within {settings.header_timeout_s:g} s (header_timeout_s)"),
    })


def uvicorn_options(settings: ServerSettings) -> dict[str, Any]:
    """The keyword arguments of ``uvicorn.run`` that carry the connection limits."""
    return {
        "http": guarded_protocol(settings),
        "timeout_keep_alive": settings.keep_alive_timeout_s,
        "h11_max_incomplete_event_size": settings.max_header_bytes,
    }


class _Budget:
    """Bytes of request bodies held at once; ``take`` waits up to ``wait_s`` for room."""

    def __init__(self, total: int) -> None:
        self.total = total
        self.used = 0
        self._freed: asyncio.Event | None = None

    async def take(self, n: int, wait_s: float) -> bool:
        if self._freed is None:
            self._freed = asyncio.Event()
        with anyio.move_on_after(wait_s):
            while self.used + n > self.total:
                self._freed.clear()
                await self._freed.wait()
            self.used += n
            return True
        return False

    def give(self, n: int) -> None:
        if n:
            self.used -= n
            if self._freed is not None:
                self._freed.set()


def _declared_length(scope: Scope) -> int | None:
    """Content-Length as sent, or None (chunked, or no body declared)."""
    for name, value in scope.get("headers", ()):
        if name == b"content-length" and value.isdigit():
            return int(value)
    return None


def _has_body(scope: Scope) -> bool:
    length = _declared_length(scope)
    if length is not None:
        return length > 0
    return any(name == b"transfer-encoding" for name, _v in scope.get("headers", ()))


class BodyGuard:
    """ASGI middleware: a request line and headers larger than ``max_header_bytes`` get 431, a body framed by
    both Content-Length and Transfer-Encoding 400 (both close the connection); a body must arrive within ``body_timeout_s`` of its first read (else 408, the
    connection closed); the bodies received or being handled hold at most ``budget_bytes`` together (a body
    that does not fit waits ``wait_s``, then 503 with Retry-After). Both errors are raised from ``receive()``
    as ``ApiError``, so the app answers them in the envelope like any other."""

    def __init__(self, app: Any, *, body_timeout_s: float, budget_bytes: int, wait_s: float, max_body_bytes: int,
                 max_header_bytes: int) -> None:
        self.app = app
        self.max_header_bytes = max_header_bytes
        self.body_timeout_s = body_timeout_s
        self.wait_s = wait_s
        self.max_body_bytes = max_body_bytes
        self.budget = _Budget(budget_bytes)

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        refused = self._refuse_head(scope)
        if refused is not None:
            await error(refused)(scope, receive, send)
            return
        if not _has_body(scope):
            await self.app(scope, receive, send)
            return
        held = 0
        deadline: float | None = None
        declared = _declared_length(scope)

        async def hold(n: int, wait_s: float) -> None:
            nonlocal held
            if not await self.budget.take(n, wait_s):
                raise ApiError(RATE_LIMIT_ERROR, f"server busy: {self.budget.total} bytes of request bodies in flight "
                               f"(body_bytes_in_flight); send again after the Retry-After seconds", status=503,
                               headers={"Retry-After": str(max(1, math.ceil(self.wait_s))), "Connection": "close"})
            held += n

        async def guarded_receive() -> Message:
            nonlocal deadline
            if deadline is None:
                if declared:  # reserve the whole declared body at once: no two bodies each wait for the other's bytes
                    await hold(min(declared, self.max_body_bytes + 1), self.wait_s)
                deadline = anyio.current_time() + self.body_timeout_s
            try:
                with anyio.fail_after(max(0.0, deadline - anyio.current_time())):
                    message: Message = await receive()
            except TimeoutError:
                raise ApiError(PARAMETER_ERROR, f"request body not received within {self.body_timeout_s:g} s (body_timeout_s): "
                               "send it faster or in smaller batches", status=408, headers={"Connection": "close"}) from None
            extra = len(message.get("body", b"")) if message["type"] == "http.request" else 0
            if declared is None and extra and held <= self.max_body_bytes:
                # chunked: counted as it comes, up to the body limit; a body that outgrows the room left is refused at once,
                # which frees its bytes for the others (were they all to wait for room, none would get it)
                await hold(min(extra, self.max_body_bytes + 1 - held), self.wait_s if not held else 0.0)
            return message

        try:
            await self.app(scope, guarded_receive, send)
        finally:
            self.budget.give(held)

    def _refuse_head(self, scope: Scope) -> ApiError | None:
        """A request line and headers that arrived whole in one read but are larger than ``max_header_bytes``
        (h11 bounds only the ones still incomplete); a body framed twice, by Content-Length and by
        Transfer-Encoding (RFC 9112 6.1: a smuggling attempt, the connection must close)."""
        headers = scope.get("headers", ())
        size = len(scope.get("raw_path", b"")) + len(scope.get("query_string", b"")) + sum(len(n) + len(v) + 4 for n, v in headers)
        if size > self.max_header_bytes:
            return ApiError(PARAMETER_ERROR, f"request line and headers of {size} bytes, more than {self.max_header_bytes} "
                            "(max_header_bytes)", status=431, headers={"Connection": "close"})
        names = {n for n, _v in headers}
        if b"transfer-encoding" in names and b"content-length" in names:
            return ApiError(PARAMETER_ERROR, "both Content-Length and Transfer-Encoding: send one of them", status=400,
                            headers={"Connection": "close"})
        return None
