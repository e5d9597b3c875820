"""Usage batches built from events serialized once, at emit.

A ReportUsageRequest on the wire is its fields one after the other, and a
repeated message field is one `tag | length | bytes` entry per element, in any
order relative to the other fields. So a batch is the serialized header
(batch_id, dataplane_id) followed by one entry per already-serialized event: a
join of bytes, instead of copying every event into a new message on the event
loop and serializing it again for the spool and again for the stream.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

from oggy.v1 import usage_service_pb2

_EVENTS_TAG = b"\x12"  # field 2 (`events`), wire type 2 (length-delimited)
_BACKLOG_TAG = b"\x20"  # field 4 (`backlog_events`), wire type 0 (varint)


@dataclass(frozen=True, slots=True)
class EncodedBatch:
    """A serialized ReportUsageRequest, with what the reporter needs to know of it."""

    batch_id: str
    events: int
    payload: bytes


Batch = EncodedBatch | usage_service_pb2.ReportUsageRequest


def encoded(batch: Batch) -> EncodedBatch:
    """Any batch as an EncodedBatch (serializing a message once)."""
    if isinstance(batch, EncodedBatch):
        return batch
    return EncodedBatch(batch.batch_id, len(batch.events), batch.SerializeToString())


def serialize(batch: Batch) -> bytes:
    """The request serializer of the ReportUsage stream: bytes as they are."""
    return batch.payload if isinstance(batch, EncodedBatch) else batch.SerializeToString()


def with_backlog(batch: Batch, backlog: int) -> EncodedBatch:
    """`batch` stamped with `backlog_events` as it is sent. Appended: for a scalar field
    the last value on the wire wins, so a batch spooled once can be stamped anew on
    every send without decoding it."""
    batch = encoded(batch)
    if backlog <= 0:
        return batch
    return EncodedBatch(
        batch.batch_id, batch.events, batch.payload + _BACKLOG_TAG + _varint(backlog)
    )


def encode_batches(
    events: list[bytes],
    *,
    dataplane_id: str,
    new_batch_id: Callable[[], str],
    max_events: int,
    max_bytes: int,
) -> list[EncodedBatch]:
    """Serialized UsageEvents cut into batches (see `chunks`), in order."""
    out = []
    for chunk in chunks(events, max_events, max_bytes):
        batch_id = new_batch_id()
        header = usage_service_pb2.ReportUsageRequest(
            batch_id=batch_id, dataplane_id=dataplane_id
        ).SerializeToString()
        payload = b"".join([header, *(_EVENTS_TAG + _varint(len(e)) + e for e in chunk)])
        out.append(EncodedBatch(batch_id, len(chunk), payload))
    return out


def chunks(events: list[bytes], size: int, max_bytes: int) -> Iterator[list[bytes]]:
    """Runs of at most `size` events and about `max_bytes` (an event is never split)."""
    chunk: list[bytes] = []
    chunk_bytes = 0
    for event in events:
        if chunk and (len(chunk) >= size or chunk_bytes + len(event) > max_bytes):
            yield chunk
            chunk, chunk_bytes = [], 0
        chunk.append(event)
        chunk_bytes += len(event)
    if chunk:
        yield chunk


def _varint(n: int) -> bytes:
    if n < 0x80:
        return bytes((n,))
    out = bytearray()
    while n >= 0x80:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)
