"""Payloads of the attack suite, built cheaply: gzip bombs, deep JSON, slow raw-socket clients."""

from __future__ import annotations

import asyncio
import struct
import time
import zlib

BLOCK = 4 * 1024 * 1024


def gzip_bomb(uncompressed: int) -> bytes:
    """A valid gzip member of ``uncompressed`` zero bytes (a multiple of 4 MiB), built without compressing them
    all: after a full flush deflate's output for the same input block is the same bytes, so it is repeated."""
    assert uncompressed % BLOCK == 0
    zeros = bytes(BLOCK)
    c = zlib.compressobj(9, zlib.DEFLATED, -15)
    first = c.compress(zeros) + c.flush(zlib.Z_FULL_FLUSH)
    block = c.compress(zeros) + c.flush(zlib.Z_FULL_FLUSH)
    end = c.flush(zlib.Z_FINISH)
    blocks = uncompressed // BLOCK
    crc = 0
    for _ in range(blocks):  # the trailer's CRC does cover every byte (about 1 s per GiB)
        crc = zlib.crc32(zeros, crc)
    header = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x02\xff"
    return header + first + block * (blocks - 1) + end + struct.pack("<II", crc & 0xFFFFFFFF, uncompressed & 0xFFFFFFFF)


def deep_tree(depth: int) -> str:
    """A call tree nested ``depth`` levels, as JSON text (built without recursion)."""
    node = '{"function":"f","file":"a.py","line":1,"time_ms":1.0,"self_ms":0.0,"children":['
    return node * depth + '{"function":"leaf","time_ms":1.0,"self_ms":1.0}' + "]}" * depth


async def slow_client(port: int, head: bytes, trickle: bytes, every: float, give_up: float) -> tuple[float | None, bytes]:
    """Send ``head`` at once, then ``trickle`` one byte per ``every`` seconds; return (seconds until the server
    closed the connection, or None if it was still open after ``give_up`` seconds; what it answered)."""
    started = time.monotonic()
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    answer = b""

    async def read_until_closed() -> None:
        nonlocal answer
        while chunk := await reader.read(65536):
            answer += chunk

    reading = asyncio.ensure_future(read_until_closed())
    try:
        if head:
            writer.write(head)
        for byte in trickle:
            writer.write(bytes([byte]))
            try:
                await asyncio.wait_for(asyncio.shield(reading), every)
                break  # closed by the server
            except asyncio.TimeoutError:
                pass
            if time.monotonic() - started > give_up:
                break
        try:
            await asyncio.wait_for(reading, max(0.1, give_up - (time.monotonic() - started)))
        except asyncio.TimeoutError:
            return None, answer
        except (ConnectionError, OSError):
            pass
        return round(time.monotonic() - started, 2), answer
    except (ConnectionError, OSError):
        return round(time.monotonic() - started, 2), answer
    finally:
        reading.cancel()
        writer.close()


def status_of(answer: bytes) -> int | None:
    """The status code of a raw HTTP answer, or None when there was none."""
    parts = answer.split(b" ", 2)
    return int(parts[1]) if len(parts) > 2 and parts[0].startswith(b"HTTP/") and parts[1].isdigit() else None
