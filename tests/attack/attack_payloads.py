"""Payloads of the attack suite, built cheaply: gzip bombs, deep JSON, slow raw-socket clients."""

from __future__ import annotations

import struct
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
