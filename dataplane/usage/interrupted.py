"""Requests a dead process admitted and never finished: their events, from the journal. Pure.

Before a request goes upstream, the data plane journals a note on it: the
provisional event it would have if the process died now (core/interruption.py;
flagged `dataplane_interrupted`, tokens estimated), renewed as a stream makes
progress (http/inflight.py). When the request ends, its own event is journaled
with the same event id. So, over the segments a process left, a request whose
latest note has no event is one the crash cut off, and that note is its event.

Why "no event in any surviving segment" is enough: the journal writer carries
the notes of open requests into each new segment, so a sealed segment is only
deleted (its events spooled) once every note in it is either finished there or
carried on. A finished request's event is never older than its last note.
Recovery also leaves out ids the spool already holds (a crash between spooling
an event and journaling it); the store's idempotent insert on event id remains
the last line of defence.
"""

from __future__ import annotations

from collections.abc import Iterable

from dataplane.usage.journal import JournalSegment
from oggy.v1 import usage_pb2


def interrupted_events(segments: Iterable[JournalSegment]) -> list[usage_pb2.UsageEvent]:
    """The latest note of every request with no event in `segments` (oldest segment
    first), in the order the requests were first noted."""
    latest: dict[str, usage_pb2.UsageEvent] = {}
    finished: set[str] = set()
    for segment in segments:
        for note in segment.notes:
            latest[note.event_id] = note  # a later note (progress, carried) replaces it
        finished.update(e.event_id for e in segment.events)
    return [note for event_id, note in latest.items() if event_id not in finished]
