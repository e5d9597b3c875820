"""Start-up recovery of usage left by an earlier process: spool replay + journal replay.

Spooled batches are replayed as they are. Journal segments hold events emitted
since the last flush that finished, and possibly events that did reach the spool
(a crash between a flush's fsync and its segment's deletion). Those can only be
in the newest spooled batches, so the spool is read from its tail until a batch
holds no journaled event; every other journaled event is re-batched and spooled
before its segments are deleted. A stray duplicate would be harmless anyway (the
store is idempotent on event_id); this just keeps the duplicate count honest.
Requests the earlier process admitted and never finished get their interrupted
event from their journal notes (interrupted.py), spooled with the rest.

Blocking file I/O: runs in the reporter's I/O thread.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from dataplane.usage.batch import Batch
from dataplane.usage.interrupted import interrupted_events
from dataplane.usage.journal import Journal
from dataplane.usage.spool import BatchRef, Spool, SpoolError
from oggy.v1 import usage_pb2

log = logging.getLogger(__name__)

MakeBatches = Callable[[list[usage_pb2.UsageEvent]], Sequence[Batch]]


@dataclass(slots=True)
class Recovered:
    # Spooled batches to replay, oldest first (journal events spooled last).
    refs: list[BatchRef]
    # Journal events the spool would not take (full, or failing): held in memory...
    unspooled: Sequence[Batch]
    # ...and their journal segments, to delete once those batches are acknowledged.
    held_segments: list[int]


def recover(spool: Spool, journal: Journal, make_batches: MakeBatches) -> Recovered:
    refs = spool.recover()
    segments = journal.recover()
    if not segments:
        return Recovered(refs, [], [])
    seqs = [s.seq for s in segments]
    cut_off = interrupted_events(segments)
    events = [e for s in segments for e in s.events] + cut_off
    spooled = _spooled_ids(spool, refs, {e.event_id for e in events})
    events = [e for e in events if e.event_id not in spooled]
    if spooled:
        log.info("usage journal: %d events were already spooled", len(spooled))
    if cut_off:
        log.warning(
            "usage journal: %d requests were cut off by the end of an earlier process; "
            "recording them as interrupted, with estimated usage",
            sum(1 for e in cut_off if e.event_id not in spooled),
        )
    batches = make_batches(events)
    try:
        refs += spool.append(batches) if batches else []
    except (SpoolError, OSError) as e:
        log.error(
            "cannot spool %d journaled usage events, holding them in memory: %s", len(events), e
        )
        return Recovered(refs, batches, seqs)
    journal.remove(seqs)
    return Recovered(refs, [], [])


def _spooled_ids(spool: Spool, refs: Sequence[BatchRef], journaled: set[str]) -> set[str]:
    """Which `journaled` event ids the newest spooled batches already hold."""
    found: set[str] = set()
    for ref in reversed(refs):
        try:
            batch = spool.read(ref)
        except SpoolError:
            break
        hits = [e.event_id for e in batch.events if e.event_id in journaled]
        if not hits:
            break
        found.update(hits)
    return found
