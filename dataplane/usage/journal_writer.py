"""Journal writes in a thread of their own, so the event loop never waits on the disk.

A journal `os.write` is a page-cache copy, but on a journaling filesystem it can
wait milliseconds for a metadata commit (the spool's fsync, a segment created or
deleted): measured on ext4, one write or open per usage flush took 3-8 ms, on the
event loop, stalling every request in flight. Here the loop only queues the
serialized event and gets a future; the writer thread drains everything queued
into one `os.write` (group commit), then resolves the futures of that write on the
loop. A caller that must not answer before the event is journaled awaits that
future; other requests keep running meanwhile.

`rotate` is queued in the same order as the appends, so the segment it seals holds
exactly the events appended before it; its sealed seq arrives on a
concurrent.futures.Future (the reporter's I/O thread waits on it before deleting
the segment). A write failure still resolves the futures: the journal then stops
(journal.py), and the events are held in memory until spooled, as before.

Notes (journal.py) go through the same queue. The thread keeps the latest note of
each request whose event it has not written yet (events name their request's
event id), and `rotate` carries those into the new segment, before the sealed
one can be deleted.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import queue
import threading
from concurrent.futures import Future
from typing import Final

from dataplane.usage.journal import Journal, note_record

log = logging.getLogger(__name__)

_ROTATE: Final = object()
_STOP: Final = object()
# A queued payload: (what to write, its request's event id, whether it is a note).
_Payload = tuple[bytes, str, bool]


def _resolve(waiters: list[asyncio.Future[None]]) -> None:
    for w in waiters:
        if not w.done():  # a waiter is cancelled when its request is
            w.set_result(None)


class JournalWriter:
    def __init__(self, journal: Journal) -> None:
        self._journal = journal
        self._queue: queue.SimpleQueue[tuple[object, object]] = queue.SimpleQueue()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        # (Writer thread) event id → the latest note of a request whose event is not
        # written yet: carried into each new segment.
        self._open: dict[str, bytes] = {}

    @property
    def journal(self) -> Journal:
        return self._journal

    def start(self) -> None:
        """Start the writer (on the loop, after `journal.recover()`)."""
        if self._thread is not None:
            return
        self._loop = asyncio.get_running_loop()
        self._thread = threading.Thread(target=self._run, name="usage-journal", daemon=True)
        self._thread.start()

    # -- on the event loop -------------------------------------------------------

    def append(self, payload: bytes, event_id: str = "") -> asyncio.Future[None] | None:
        """Queue one serialized UsageEvent; the future is done once it is journaled.

        None when no writer runs (before start, after close): nothing to wait for."""
        return self._put((payload, event_id, False))

    def note(self, event_id: str, payload: bytes) -> asyncio.Future[None] | None:
        """Queue a note on the open request `event_id` (a serialized provisional
        UsageEvent; it replaces the request's earlier note), like `append`."""
        return self._put((note_record(payload), event_id, True))

    def _put(self, item: _Payload) -> asyncio.Future[None] | None:
        if self._thread is None or self._loop is None:
            return None
        waiter = self._loop.create_future()
        self._queue.put((item, waiter))
        return waiter

    def rotate(self) -> Future[int | None]:
        """Seal the active segment after everything queued so far (see Journal.rotate)."""
        sealed: Future[int | None] = Future()
        if self._thread is None:
            sealed.set_result(self._journal.rotate())
        else:
            self._queue.put((_ROTATE, sealed))
        return sealed

    def close(self) -> None:
        """Write what is queued, stop the thread, close the journal (blocks briefly)."""
        thread, self._thread = self._thread, None
        if thread is not None:
            self._queue.put((_STOP, None))
            thread.join()
        self._journal.close()

    # -- the writer thread -------------------------------------------------------

    def _run(self) -> None:
        while True:
            items = [self._queue.get()]
            while True:
                try:
                    items.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            try:
                if not self._write(items):
                    return
            except Exception:  # a bug must not stop journaling for the life of the process
                log.exception("usage journal writer failed")

    def _write(self, items: list[tuple[object, object]]) -> bool:
        """Handle one drained run of the queue, in order; False once told to stop."""
        payloads: list[bytes] = []
        waiters: list[asyncio.Future[None]] = []
        open_notes = self._open
        for what, arg in items:
            if isinstance(what, tuple):
                payload, event_id, is_note = what
                payloads.append(payload)
                waiters.append(arg)  # type: ignore[arg-type]
                if is_note:
                    open_notes[event_id] = payload
                elif event_id:
                    open_notes.pop(event_id, None)
                continue
            self._flush(payloads, waiters)
            payloads, waiters = [], []
            if what is _STOP:
                return False
            assert isinstance(arg, Future)
            arg.set_result(self._journal.rotate(list(open_notes.values())))
        self._flush(payloads, waiters)
        return True

    def _flush(self, payloads: list[bytes], waiters: list[asyncio.Future[None]]) -> None:
        if not payloads:
            return
        try:
            self._journal.append_serialized(payloads)
        finally:
            assert self._loop is not None
            # A closed loop (RuntimeError) has nobody waiting any more.
            with contextlib.suppress(RuntimeError):
                self._loop.call_soon_threadsafe(_resolve, waiters)
