"""Write-ahead journal of emitted usage events: nothing answered is lost to a crash.

The spool (spool.py) only sees events when the reporter flushes, up to a flush
interval after they were emitted. The journal closes that window: `append`
writes each event, as it is emitted, as one framed record (framing.py) with a
single `os.write` on an O_APPEND descriptor. No fsync: once `write` returns the
record is in the OS page cache, which outlives a SIGKILL or a crash of the
process. (Power loss is the spool's concern: it fsyncs at every flush.)

Segment files `<seq>.wal` in the journal directory. At each flush the reporter
takes its buffer and queues `rotate` behind that buffer's appends in the same
step, so the sealed segment holds exactly the events of that flush (plus, after a failure,
fewer). Once those events are fsynced in the spool the segment is `remove`d.
On start, `recover` returns the events of every surviving segment; the reporter
spools the ones the spool does not already hold.

Notes: besides emitted events, a segment holds notes on admitted requests that
have not ended yet (dataplane/http/inflight.py): each note is the request's
provisional `dataplane_interrupted` event, what recovery emits should the
process die before the request's own event is journaled (interrupted.py pairs
them by event id). A note's payload is a zero byte and then the event: no
serialized protobuf message starts with a zero byte (field number 0 is
invalid), so events stay as they were and old segments read as before. The
writer carries the notes of requests still open into each new segment at
`rotate` (`carry`), so deleting a sealed segment never loses one.

`append` and `rotate` run in the journal writer's thread (journal_writer.py: the
event loop never waits on this disk), `close` after that thread has stopped;
`recover` and `remove` in the reporter's I/O thread (`remove` only touches
sealed segments).
"""

from __future__ import annotations

import contextlib
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path

from google.protobuf.message import DecodeError

from dataplane.usage.framing import frame, unframe
from dataplane.usage.numbered_files import numbered_files, numbered_path
from oggy.v1 import usage_pb2

log = logging.getLogger(__name__)

_SUFFIX = ".wal"
_NOTE = b"\x00"


def note_record(event: bytes) -> bytes:
    """The journal payload of a note on a request still open (see the module docstring)."""
    return _NOTE + event


@dataclass(frozen=True, slots=True)
class JournalSegment:
    """A segment left by an earlier process: its events, and its notes, in order."""

    seq: int
    events: list[usage_pb2.UsageEvent]
    notes: list[usage_pb2.UsageEvent] = field(default_factory=list)


class Journal:
    def __init__(self, directory: Path) -> None:
        self._dir = directory
        self._fd = -1
        self._seq = 0  # the active segment; 0 when there is none
        self._bytes = 0  # written to the active segment
        self._carried = 0  # of which carried over by `rotate`
        self._next_seq = 1
        self._recovered = False
        self._failing = False

    @property
    def directory(self) -> Path:
        return self._dir

    @property
    def writing(self) -> bool:
        """Whether appends reach the disk (False before recover() and after a failure)."""
        return self._fd >= 0

    # -- hot path --------------------------------------------------------------

    def append(self, event: usage_pb2.UsageEvent) -> None:
        """Journal one event; never raises. On a write failure the journal stops
        (events are then held in memory only) until the next rotate."""
        self.append_serialized([event.SerializeToString()])

    def append_serialized(self, payloads: list[bytes]) -> None:
        """Journal serialized events with one write (a torn tail loses only the last
        of them); never raises, like `append`."""
        if self._fd < 0:
            return
        record = b"".join([frame(p) for p in payloads])
        try:
            written = os.write(self._fd, record)
        except OSError as e:
            self._fail(e)
            return
        self._bytes += written
        if written != len(record):
            self._fail(OSError(f"short write ({written} of {len(record)} bytes)"))

    # -- lifecycle -------------------------------------------------------------

    def recover(self) -> list[JournalSegment]:
        """Read what earlier processes left, oldest first, then open a fresh segment.

        An unusable directory is logged, not raised: the reporter then runs without a
        journal (rotate() keeps retrying)."""
        if self._recovered:
            raise RuntimeError("Journal.recover() called twice")
        self._recovered = True
        try:
            self._dir.mkdir(parents=True, exist_ok=True, mode=0o700)
            files = sorted(numbered_files(self._dir, _SUFFIX))
        except OSError as e:
            self._fail(e)
            return []
        found: list[JournalSegment] = []
        for seq, path in files:
            self._next_seq = max(self._next_seq, seq + 1)
            read = _read_segment(path)
            if read is not None and (read[0] or read[1]):
                found.append(JournalSegment(seq, *read))
            elif read is not None:
                path.unlink(missing_ok=True)
        self._open_next()
        if found:
            log.info(
                "usage journal: %d segments (%d events) left by an earlier process",
                len(found),
                sum(len(s.events) for s in found),
            )
        return found

    def rotate(self, carry: list[bytes] | None = None) -> int | None:
        """Seal the active segment and start the next, beginning with the `carry`
        payloads (notes on requests still open); the sealed one's seq, or None when
        nothing was written since the last rotate (nothing to carry changed either)."""
        if not self._recovered:
            return None
        if self._fd >= 0 and self._bytes == self._carried:
            return None  # keep using the segment: it holds nothing new
        sealed = self._seq or None
        self._close_active()
        self._open_next()
        if carry:
            self.append_serialized(carry)
            self._carried = self._bytes
        return sealed

    def remove(self, seqs: list[int]) -> None:
        """Delete sealed segments whose events are safe elsewhere (spooled or acked)."""
        for seq in seqs:
            try:
                self._path(seq).unlink(missing_ok=True)
            except OSError as e:  # its events would be replayed once more: harmless
                log.warning("cannot delete usage journal segment %d: %s", seq, e)

    def close(self) -> None:
        """Stop appending; an empty active segment is deleted, a written one kept."""
        seq, written = self._seq, self._bytes
        self._close_active()
        if seq and not written:
            self.remove([seq])

    # -- internals -------------------------------------------------------------

    def _path(self, seq: int) -> Path:
        return numbered_path(self._dir, seq, _SUFFIX)

    def _open_next(self) -> None:
        seq = self._next_seq
        self._next_seq += 1
        try:
            fd = os.open(self._path(seq), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        except OSError as e:
            self._fail(e)
            return
        self._seq, self._bytes = seq, 0
        self._fd = fd  # last: append() may run on the loop while recover() opens it
        if self._failing:
            self._failing = False
            log.warning("usage journal %s writable again", self._dir)

    def _close_active(self) -> None:
        fd, self._fd = self._fd, -1
        self._seq = self._bytes = self._carried = 0
        _close_quietly(fd)

    def _fail(self, error: OSError) -> None:
        # Stop writing to this segment: a torn record mid-file would hide the ones after
        # it. The segment stays active (sealed at the next rotate, which retries opening).
        fd, self._fd = self._fd, -1
        _close_quietly(fd)
        if not self._failing:
            self._failing = True
            log.error(
                "cannot write the usage journal in %s (%s): until it recovers, usage events "
                "are held in memory until flushed to the spool, and a crash may lose them",
                self._dir,
                error,
            )


def _close_quietly(fd: int) -> None:
    if fd >= 0:
        with contextlib.suppress(OSError):
            os.close(fd)


def _read_segment(
    path: Path,
) -> tuple[list[usage_pb2.UsageEvent], list[usage_pb2.UsageEvent]] | None:
    """The good records of a segment, events and notes (a torn or damaged tail is
    skipped); None if unreadable."""
    try:
        data = path.read_bytes()
    except OSError as e:
        log.error("cannot read usage journal segment %s (kept for later): %s", path.name, e)
        return None
    events: list[usage_pb2.UsageEvent] = []
    notes: list[usage_pb2.UsageEvent] = []
    offset = 0
    while offset < len(data):
        record = unframe(data, offset)
        payload = record[0] if record is not None else b""
        is_note = payload[:1] == _NOTE
        event = _parse(payload[1:] if is_note else payload) if record is not None else None
        if record is None or event is None:
            # After a crash: the one record whose write was cut short (never answered).
            log.warning(
                "usage journal %s: torn or damaged record at byte %d of %d; skipping the rest",
                path.name,
                offset,
                len(data),
            )
            break
        (notes if is_note else events).append(event)
        offset = record[1]
    return events, notes


def _parse(payload: bytes) -> usage_pb2.UsageEvent | None:
    try:
        return usage_pb2.UsageEvent.FromString(payload)
    except DecodeError:
        return None
