"""Record framing shared by the usage spool and journal files.

A record is `u32 length | u32 crc32(payload) | payload`, big-endian. A reader
stops at the first record that is short or fails its CRC: a crash mid-append
leaves a torn tail, and length-prefixed records cannot resync past damage.
"""

from __future__ import annotations

import struct
import zlib

HEADER = struct.Struct(">II")


def frame(payload: bytes) -> bytes:
    return HEADER.pack(len(payload), zlib.crc32(payload)) + payload


def unframe(data: bytes, offset: int) -> tuple[bytes, int] | None:
    """The payload of the record at `offset` and the offset after it; None if torn or damaged."""
    if len(data) - offset < HEADER.size:
        return None
    length, crc = HEADER.unpack_from(data, offset)
    start = offset + HEADER.size
    payload = data[start : start + length]
    if len(payload) != length or zlib.crc32(payload) != crc:
        return None
    return payload, start + length
