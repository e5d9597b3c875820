"""UsageReporter: the data plane's UsageSink, delivering usage at least once.

emit() appends the event to an in-memory buffer and queues it for the
write-ahead journal (journal.py: one os.write, no fsync, done by the journal
writer's thread, journal_writer.py, so the event loop never waits on the disk);
the future it returns is done once the event is journaled, and a caller that
awaits it before answering knows the event survives a SIGKILL of the process.
A flusher cuts the buffer into batches (≤ max_batch_events, or whatever
arrived within flush_interval) and appends them to the disk spool — one fsync
per flush — before anything is sent.
A single sender then streams spooled batches, oldest first, on a long-lived
ReportUsage call and deletes them from the spool only on `stored = true`. A
failed stream or `stored = false` closes the call; after a jittered backoff the
sender reopens it and resends every unacknowledged batch in order. At each flush
the journal is rotated together with the buffer; a sealed journal segment is
deleted once its events are fsynced in the spool (or, if the spool would not
take them, once they are acknowledged). Batches left in the spool by an earlier
process, then journaled events the spool lacks (recovery.py), are queued ahead
of live traffic at start, so replay and live events share one ordered path.
Resending is safe: the control plane's store is idempotent on event_id.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections import OrderedDict, deque
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, TypeVar

import grpc

from dataplane.backoff import Backoff
from dataplane.grpc_client import auth_metadata, open_channel
from dataplane.settings import Settings
from dataplane.stream_attempt import StateLog, StreamFailed, attempt_stream
from dataplane.usage.batch import (
    Batch,
    EncodedBatch,
    encode_batches,
    encoded,
    serialize,
    with_backlog,
)
from dataplane.usage.journal import Journal
from dataplane.usage.journal_writer import JournalWriter
from dataplane.usage.recovery import recover
from dataplane.usage.spool import BatchRef, Spool, SpoolError, SpoolFull
from oggy.v1 import usage_pb2, usage_service_pb2

log = logging.getLogger(__name__)

T = TypeVar("T")

# Batches stay well under the control plane's gRPC message limit even when
# events carry prompt text (up to 256 KiB a side with `full` logging).
MAX_BATCH_BYTES = 8 * 1024 * 1024
_REPORT_USAGE = "/oggy.v1.UsageService/ReportUsage"


@dataclass(slots=True)
class _JournalHold:
    """Journal segments kept until these many in-memory-only batches are acknowledged."""

    segments: list[int]
    batches: int


@dataclass(slots=True)
class _Pending:
    """An unacknowledged batch: on disk (ref), in memory (request), or both."""

    batch_id: str
    events: int
    ref: BatchRef | None
    request: Batch | None
    hold: _JournalHold | None = None
    # Its events' ids, when someone listens for acknowledgements (`on_acknowledged`).
    event_ids: Sequence[str] = ()


class UsageReporter:
    def __init__(
        self,
        settings: Settings,
        *,
        channel: grpc.aio.Channel | None = None,
        spool: Spool | None = None,
        journal: Journal | None = None,
        backoff: Backoff | None = None,
        max_batch_events: int = 500,
        flush_interval_s: float = 0.2,
        max_inflight_batches: int = 32,
        # Live batches beyond this many unacked ones are kept as disk refs only,
        # so a long outage costs disk, not memory.
        max_batches_in_memory: int = 64,
        new_batch_id: Callable[[], str] = lambda: uuid.uuid4().hex,
        # Told the event ids of each batch this process emitted once it is acknowledged
        # (the quota table's budget `acknowledged` figures). Costs an id per unacked event.
        on_acknowledged: Callable[[Sequence[str]], None] | None = None,
    ) -> None:
        self._settings = settings
        self._own_channel = channel is None
        self._channel = channel
        self._spool = spool or Spool(settings.spool_dir, max_bytes=settings.spool_max_bytes)
        self._journal = journal or Journal(settings.spool_dir / "journal")
        self._journal_writer = JournalWriter(self._journal)
        self._backoff = backoff or Backoff(0.1, 5.0)
        self._max_batch = max_batch_events
        self._flush_interval = flush_interval_s
        self._max_inflight = max_inflight_batches
        self._max_in_memory = max_batches_in_memory
        self._new_batch_id = new_batch_id
        self._on_acknowledged = on_acknowledged

        # Emitted events, serialized once (journal, spool and stream take the bytes).
        self._buffer: list[bytes] = []
        # The buffered events' ids, in step with `_buffer` (only with `on_acknowledged`).
        self._buffer_ids: list[str] = []
        # Events taken from the buffer by a flush that is still writing them to disk.
        self._flushing = 0
        self._has_events = asyncio.Event()
        self._buffer_full = asyncio.Event()
        self._pending: OrderedDict[str, _Pending] = OrderedDict()
        self._pending_events = 0
        self._in_memory = 0
        self._idle = asyncio.Event()
        self._idle.set()
        # Per open stream: batch ids still to write on it, in order.
        self._send_queue: deque[str] | None = None
        self._sender_wake = asyncio.Event()
        # Flushes must not interleave, or batches could reach the spool out of order.
        self._flush_lock = asyncio.Lock()
        # One thread for all spool I/O keeps appends and acks in order and off the loop.
        self._io = ThreadPoolExecutor(max_workers=1, thread_name_prefix="usage-spool")
        self._tasks: list[asyncio.Task[None]] = []
        self._stopping = False
        self._spool_failing = False
        self._state_log = StateLog(log)
        self.connected = False

    # -- UsageSink -------------------------------------------------------------

    def emit(self, event: usage_pb2.UsageEvent) -> asyncio.Future[None] | None:
        """Buffer one event and queue it for the journal; never blocks, never raises.

        Await the returned future (None: nothing to wait for) before answering the
        client: it is done once the event is journaled."""
        try:
            payload = event.SerializeToString()
            self._buffer.append(payload)
            if self._on_acknowledged is not None:
                self._buffer_ids.append(event.event_id)
            journaled = self._journal_writer.append(payload, event.event_id)
            self._idle.clear()
            self._has_events.set()
            if len(self._buffer) >= self._max_batch:
                self._buffer_full.set()
            return journaled
        except Exception:  # pragma: no cover - a sink must not break a request
            log.exception("usage emit failed")
            return None

    def note(self, event: usage_pb2.UsageEvent) -> asyncio.Future[None] | None:
        """Journal a provisional event for a request still open; never raises. Only
        journaled (never sent): recovery emits it if this process dies first."""
        try:
            return self._journal_writer.note(event.event_id, event.SerializeToString())
        except Exception:  # pragma: no cover - a sink must not break a request
            log.exception("usage note failed")
            return None

    # -- metrics ---------------------------------------------------------------

    def queue_depth(self) -> int:
        """Events not yet acknowledged by the control plane (buffered + spooled)."""
        return len(self._buffer) + self._flushing + self._pending_events

    def spool_bytes(self) -> int:
        return self._spool.size_bytes()

    def spool_usage_ratio(self) -> float:
        return self._spool.usage_ratio()

    # -- lifecycle -------------------------------------------------------------

    async def start(self) -> None:
        found = await self._in_io(recover, self._spool, self._journal, self._make_batches)
        for ref in found.refs:
            self._add_pending(_Pending(ref.batch_id, ref.events, ref, None))
        hold = _JournalHold(found.held_segments, len(found.unspooled))
        for batch in map(encoded, found.unspooled):
            self._add_pending(_Pending(batch.batch_id, batch.events, None, batch, hold))
        self._journal_writer.start()
        if self._channel is None:
            self._channel = open_channel(self._settings)
        self._tasks = [
            asyncio.create_task(self._flush_loop(), name="usage-flush"),
            asyncio.create_task(self._send_loop(), name="usage-send"),
        ]

    async def flush(self) -> None:
        """Spool everything emitted so far now, without waiting for the flush interval."""
        await self._flush()

    async def wait_idle(self) -> None:
        """Return once every emitted event has been acknowledged."""
        await self._idle.wait()

    async def stop(self, grace_s: float | None = None) -> None:
        """Spool everything buffered, give the sender `grace_s` to deliver, then stop.

        What is not acknowledged by then stays in the spool for the next start.
        """
        grace = self._settings.shutdown_grace_s if grace_s is None else grace_s
        self._stopping = True
        self._has_events.set()
        self._buffer_full.set()
        flusher, sender = self._tasks or (None, None)
        if flusher is not None:
            await asyncio.gather(flusher, return_exceptions=True)
        await self._flush()  # events emitted while the flusher was finishing
        if sender is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._idle.wait(), grace)
            sender.cancel()
            await asyncio.gather(sender, return_exceptions=True)
        self._tasks = []
        if self._pending:
            lost = sum(p.events for p in self._pending.values() if p.ref is None)
            log.info(
                "usage reporter stopped with %d batches unacknowledged; spooled ones are "
                "replayed on next start",
                len(self._pending),
            )
            if lost:
                log.error(
                    "%d usage events were never spooled (spool full); they are replayed from "
                    "the usage journal on next start, unless it could not be written either",
                    lost,
                )
        if self._own_channel and self._channel is not None:
            await self._channel.close()
            self._channel = None
        await self._in_io(self._spool.close)
        self._io.shutdown(wait=True)
        # Writes what is queued; a later emit is not journaled (it is held in memory).
        self._journal_writer.close()

    # -- flushing --------------------------------------------------------------

    async def _flush_loop(self) -> None:
        while not self._stopping:
            await self._has_events.wait()
            if not self._stopping and len(self._buffer) < self._max_batch:
                # Wait for a full batch, but not longer than the flush interval.
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._buffer_full.wait(), self._flush_interval)
            await self._flush()

    async def _flush(self) -> None:
        async with self._flush_lock:
            await self._flush_locked()

    async def _flush_locked(self) -> None:
        events, self._buffer = self._buffer, []
        ids, self._buffer_ids = self._buffer_ids, []
        # In the same step, so the sealed segment holds just these events.
        sealing = self._journal_writer.rotate()
        self._has_events.clear()
        self._buffer_full.clear()
        if not events:
            # The sealed segment, if any, held only notes, carried into the next one.
            self._io.submit(self._drop_sealed, sealing)
            self._update_idle()
            return
        batches = self._encode_batches(events)
        refs: Sequence[BatchRef | None]
        hold = None
        self._flushing += len(events)
        try:
            refs = await self._in_io(self._spool_batches, batches, sealing)
            if self._spool_failing:
                self._spool_failing = False
                log.info("usage spool accepting batches again")
        except (SpoolFull, SpoolError, OSError) as e:
            # Never drop usage: keep it in memory and still send it; its journal
            # segment stays until it is acknowledged, for a crash before that.
            if not self._spool_failing:
                self._spool_failing = True
                log.error("cannot spool usage, holding it in memory: %s", e)
            refs = [None] * len(batches)
            sealed = await asyncio.wrap_future(sealing)
            if sealed is not None:
                hold = _JournalHold([sealed], len(batches))
        finally:
            self._flushing -= len(events)
        offset = 0
        for batch, ref in zip(batches, refs, strict=True):
            keep = ref is None or self._in_memory < self._max_in_memory
            batch_ids = ids[offset : offset + batch.events]
            offset += batch.events
            self._add_pending(
                _Pending(
                    batch.batch_id, batch.events, ref, batch if keep else None, hold, batch_ids
                )
            )

    def _encode_batches(self, events: list[bytes]) -> list[EncodedBatch]:
        return encode_batches(
            events,
            dataplane_id=self._settings.node_id,
            new_batch_id=self._new_batch_id,
            max_events=self._max_batch,
            max_bytes=MAX_BATCH_BYTES,
        )

    def _make_batches(self, events: list[usage_pb2.UsageEvent]) -> list[EncodedBatch]:
        """(Recovery) batches of journaled events."""
        return self._encode_batches([e.SerializeToString() for e in events])

    def _spool_batches(
        self, batches: list[EncodedBatch], sealing: Future[int | None]
    ) -> list[BatchRef]:
        """(I/O thread) Spool durably, then drop the journal segment they came from."""
        refs = self._spool.append(batches)
        self._drop_sealed(sealing)
        return refs

    def _drop_sealed(self, sealing: Future[int | None]) -> None:
        """(I/O thread) Delete a sealed segment whose events are safe elsewhere."""
        sealed = sealing.result()  # the journal writer has sealed it (written and closed)
        if sealed is not None:
            self._journal.remove([sealed])

    def _add_pending(self, p: _Pending) -> None:
        self._pending[p.batch_id] = p
        self._pending_events += p.events
        if p.request is not None:
            self._in_memory += 1
        if self._send_queue is not None:
            self._send_queue.append(p.batch_id)
        self._idle.clear()
        self._sender_wake.set()

    def _remove_pending(self, batch_id: str) -> _Pending | None:
        p = self._pending.pop(batch_id, None)
        if p is not None:
            self._pending_events -= p.events
            if p.request is not None:
                self._in_memory -= 1
            if p.hold is not None:
                p.hold.batches -= 1
                if p.hold.batches == 0:
                    self._io.submit(self._journal.remove, p.hold.segments)
            self._update_idle()
        return p

    def _update_idle(self) -> None:
        if not self._pending and not self._buffer and not self._flushing:
            self._idle.set()

    # -- sending ---------------------------------------------------------------

    async def _send_loop(self) -> None:
        while True:
            while not self._pending:
                self._sender_wake.clear()
                await self._sender_wake.wait()
            await attempt_stream(self._stream_once, self._disconnected, self._backoff, log, "usage")

    async def _stream_once(self) -> None:
        assert self._channel is not None
        # The generated stub's serializer, except that batches serialized at flush go as
        # they are.
        report_usage = self._channel.stream_stream(
            _REPORT_USAGE,
            request_serializer=serialize,
            response_deserializer=usage_service_pb2.ReportUsageResponse.FromString,
        )
        # As for config: the channel's reconnect backoff, not a second one of ours.
        call = report_usage(metadata=auth_metadata(self._settings.node_token), wait_for_ready=True)
        # Every unacknowledged batch, oldest first; new ones are appended by _add_pending.
        self._send_queue = deque(self._pending)
        sent: set[str] = set()
        tasks = [
            asyncio.create_task(self._write_loop(call, self._send_queue, sent)),
            asyncio.create_task(self._read_loop(call, sent)),
        ]
        try:
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                task.result()  # re-raise the failure that ended the stream
        finally:
            self._send_queue = None
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            call.cancel()

    async def _write_loop(self, call: Any, queue: deque[str], sent: set[str]) -> None:
        while True:
            while not queue or len(sent) >= self._max_inflight:
                self._sender_wake.clear()
                await self._sender_wake.wait()
            batch_id = queue.popleft()
            p = self._pending.get(batch_id)
            if p is None:
                continue
            request = p.request
            if request is None:
                assert p.ref is not None
                try:
                    request = await self._in_io(self._spool.read, p.ref)
                except SpoolError as e:
                    log.error("dropping unreadable spooled usage batch: %s", e)
                    self._remove_pending(batch_id)
                    continue
            sent.add(batch_id)
            # What else is waiting once this batch is on its way (the control plane's
            # view of how far behind this data plane's usage is).
            backlog = self.queue_depth() - sum(
                self._pending[b].events for b in sent if b in self._pending
            )
            await call.write(with_backlog(request, backlog))

    async def _read_loop(self, call: Any, sent: set[str]) -> None:
        while True:
            response = await call.read()
            if response is grpc.aio.EOF:
                raise StreamFailed("EOF", "stream closed by the control plane")
            if response.batch_id not in sent:
                continue  # not from this stream; stale or unknown
            if not response.stored:
                raise StreamFailed("NOT_STORED", response.error_detail or "batch not stored")
            sent.discard(response.batch_id)
            self._connected()
            p = self._pending.get(response.batch_id)
            if p is not None and p.ref is not None:
                # Off the disk first, so "idle" also means the spool is clean.
                await self._in_io(self._spool.ack, response.batch_id)
            acked = self._remove_pending(response.batch_id)
            if acked is not None and acked.event_ids and self._on_acknowledged is not None:
                try:
                    self._on_acknowledged(acked.event_ids)
                except Exception:  # a listener's bug must not stop delivery
                    log.exception("usage acknowledgement listener failed")
            self._sender_wake.set()

    # -- helpers ---------------------------------------------------------------

    async def _in_io(self, fn: Callable[..., T], *args: Any) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._io, fn, *args)

    def _connected(self) -> None:
        self.connected = True
        self._backoff.reset()
        self._state_log.connected("usage stream connected to %s", self._settings.control_plane)

    def _disconnected(self, code: str, detail: str) -> None:
        self.connected = False
        self._state_log.disconnected(
            code,
            "usage stream to %s down (%s: %s); %d events queued, retrying",
            self._settings.control_plane,
            code,
            detail,
            self.queue_depth(),
        )
