"""On-disk spool of usage batches not yet acknowledged by the control plane.

Append-only segment files `<seq>.seg`, each a run of records (framing.py):
    u32 length | u32 crc32(payload) | payload (a serialized ReportUsageRequest)
big-endian. A batch is appended and fsynced before it is sent, so a batch the
control plane has not acknowledged survives a crash. A crash mid-append leaves a
torn tail record; recovery detects it (short read or CRC mismatch), logs it and
truncates it away — that batch was never sent, since sending follows the fsync.
A segment file is deleted once every batch in it is acknowledged; acks are not
written down, so after a crash a few acked batches may be sent again (the store
is idempotent on event_id).

Blocking file I/O: call it from one worker thread, not the event loop. A lock
keeps it safe anyway.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from google.protobuf.message import DecodeError

from dataplane.usage.batch import Batch, encoded
from dataplane.usage.framing import HEADER as _HEADER
from dataplane.usage.framing import frame, unframe
from dataplane.usage.numbered_files import numbered_files, numbered_path
from oggy.contract.files import fsync_dir
from oggy.v1 import usage_service_pb2

log = logging.getLogger(__name__)

_SUFFIX = ".seg"
DEFAULT_MAX_BYTES = 1024**3
DEFAULT_SEGMENT_BYTES = 16 * 1024 * 1024
DEFAULT_WARN_RATIO = 0.8


class SpoolError(Exception):
    """Base of spool failures."""


class SpoolFull(SpoolError):
    """Appending would exceed the spool's size cap; nothing was written."""


class SpoolReadError(SpoolError):
    """A spooled batch cannot be read back."""


@dataclass(frozen=True, slots=True)
class BatchRef:
    """Where one spooled batch lives, so memory holds refs rather than payloads."""

    batch_id: str
    events: int
    segment: int
    offset: int
    length: int


@dataclass(slots=True)
class _Segment:
    seq: int
    path: Path
    size: int
    unacked: set[str] = field(default_factory=set)


class Spool:
    def __init__(
        self,
        directory: Path,
        *,
        max_bytes: int = DEFAULT_MAX_BYTES,
        segment_bytes: int = DEFAULT_SEGMENT_BYTES,
        warn_ratio: float = DEFAULT_WARN_RATIO,
    ) -> None:
        self._dir = directory
        self._max_bytes = max_bytes
        self._segment_bytes = segment_bytes
        self._warn_ratio = warn_ratio
        self._lock = threading.Lock()
        self._segments: dict[int, _Segment] = {}
        self._where: dict[str, _Segment] = {}
        self._active: _Segment | None = None
        self._active_file: BinaryIO | None = None
        self._next_seq = 1
        self._size = 0
        self._warned = False
        self._recovered = False

    # -- metrics ---------------------------------------------------------------

    def size_bytes(self) -> int:
        return self._size

    def usage_ratio(self) -> float:
        return self._size / self._max_bytes

    def unacked_batches(self) -> int:
        return len(self._where)

    # -- lifecycle -------------------------------------------------------------

    def recover(self) -> list[BatchRef]:
        """Open the spool; return every batch left from earlier runs, oldest first."""
        with self._lock:
            if self._recovered:
                raise SpoolError("recover() called twice")
            self._recovered = True
            self._dir.mkdir(parents=True, exist_ok=True, mode=0o700)
            refs: list[BatchRef] = []
            for seq, path in sorted(numbered_files(self._dir, _SUFFIX)):
                self._next_seq = max(self._next_seq, seq + 1)
                seg_refs, size = _scan_segment(seq, path)
                if not seg_refs:
                    path.unlink(missing_ok=True)
                    continue
                seg = _Segment(seq, path, size, {r.batch_id for r in seg_refs})
                self._segments[seq] = seg
                self._size += size
                for ref in seg_refs:
                    self._where[ref.batch_id] = seg
                refs.extend(seg_refs)
            self._check_usage()
            if refs:
                log.info(
                    "usage spool: %d unacknowledged batches (%d events) to replay",
                    len(refs),
                    sum(r.events for r in refs),
                )
            return refs

    def close(self) -> None:
        with self._lock:
            self._close_active()

    # -- operations ------------------------------------------------------------

    def append(self, batches: Sequence[Batch]) -> list[BatchRef]:
        """Durably append batches (one fsync for all); raise SpoolFull if over the cap."""
        if not self._recovered:
            raise SpoolError("recover() must run before append()")
        batches = [encoded(b) for b in batches]
        added = sum(_HEADER.size + len(b.payload) for b in batches)
        with self._lock:
            if self._size + added > self._max_bytes:
                raise SpoolFull(
                    f"usage spool at {self._size} of {self._max_bytes} bytes; "
                    f"cannot take {added} more"
                )
            seg, f = self._writable_segment()
            refs = []
            for batch in batches:
                payload = batch.payload
                ref = BatchRef(batch.batch_id, batch.events, seg.seq, seg.size, len(payload))
                f.write(frame(payload))
                seg.size += _HEADER.size + len(payload)
                seg.unacked.add(batch.batch_id)
                self._where[batch.batch_id] = seg
                refs.append(ref)
            f.flush()
            os.fsync(f.fileno())
            self._size += added
            if seg.size >= self._segment_bytes:
                self._close_active()
            self._check_usage()
            return refs

    def read(self, ref: BatchRef) -> usage_service_pb2.ReportUsageRequest:
        with self._lock:
            seg = self._segments.get(ref.segment)
            if seg is None:
                raise SpoolReadError(f"segment {ref.segment} of batch {ref.batch_id} is gone")
            path = seg.path
        try:
            with open(path, "rb") as f:
                f.seek(ref.offset)
                data = f.read(_HEADER.size + ref.length)
        except OSError as e:
            raise SpoolReadError(f"cannot read batch {ref.batch_id}: {e}") from e
        request = _decode(data, 0)
        if request is None or request[0].batch_id != ref.batch_id:
            raise SpoolReadError(f"batch {ref.batch_id} is damaged on disk")
        return request[0]

    def ack(self, batch_id: str) -> None:
        """Forget a stored batch; delete its segment once all its batches are acked."""
        with self._lock:
            seg = self._where.pop(batch_id, None)
            if seg is None:
                return  # already acked, or never spooled (spool was full)
            seg.unacked.discard(batch_id)
            if seg.unacked:
                return
            if seg is self._active:
                self._close_active()
            del self._segments[seg.seq]
            seg.path.unlink(missing_ok=True)
            self._size -= seg.size
            self._check_usage()

    # -- internals -------------------------------------------------------------

    def _writable_segment(self) -> tuple[_Segment, BinaryIO]:
        if self._active is None or self._active_file is None:
            seq = self._next_seq
            self._next_seq += 1
            path = numbered_path(self._dir, seq, _SUFFIX)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
            self._active_file = os.fdopen(fd, "ab")
            self._active = _Segment(seq, path, 0)
            self._segments[seq] = self._active
            fsync_dir(self._dir)  # the new file's directory entry must survive a crash too
        return self._active, self._active_file

    def _close_active(self) -> None:
        if self._active_file is not None:
            self._active_file.close()
        self._active_file = None
        self._active = None

    def _check_usage(self) -> None:
        ratio = self.usage_ratio()
        if ratio > self._warn_ratio and not self._warned:
            self._warned = True
            log.warning(
                "usage spool %s is %.0f%% full (%d of %d bytes): the control plane is not "
                "acknowledging usage; at 100%% new usage stays in memory only",
                self._dir,
                ratio * 100,
                self._size,
                self._max_bytes,
            )
        elif ratio <= self._warn_ratio and self._warned:
            self._warned = False
            log.info("usage spool back under %.0f%% full", self._warn_ratio * 100)


def _decode(data: bytes, offset: int) -> tuple[usage_service_pb2.ReportUsageRequest, int] | None:
    """The record at `offset` and the offset after it; None if torn or damaged."""
    record = unframe(data, offset)
    if record is None:
        return None
    payload, end = record
    try:
        return usage_service_pb2.ReportUsageRequest.FromString(payload), end
    except DecodeError:
        return None


def _scan_segment(seq: int, path: Path) -> tuple[list[BatchRef], int]:
    """Refs of the good records in a segment; truncates a torn tail away."""
    data = path.read_bytes()
    refs: list[BatchRef] = []
    offset = 0
    while offset < len(data):
        decoded = _decode(data, offset)
        if decoded is None:
            # Length-prefixed records cannot resync past damage, so everything
            # from here on is dropped. After a crash this is the one batch whose
            # fsync never finished, which was therefore never sent.
            log.warning(
                "usage spool %s: torn or damaged record at byte %d of %d; skipping the rest",
                path.name,
                offset,
                len(data),
            )
            os.truncate(path, offset)
            break
        request, end = decoded
        refs.append(
            BatchRef(
                request.batch_id, len(request.events), seq, offset, end - offset - _HEADER.size
            )
        )
        offset = end
    return refs, offset
