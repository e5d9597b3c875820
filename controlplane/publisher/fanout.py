"""Fan-out of snapshot updates to subscribers without letting one slow stream block others.

Each subscriber owns a bounded buffer of deltas. Publishing never awaits: when a
buffer would overflow the subscriber is switched to "needs a full snapshot" and
its buffered deltas are dropped, because one full snapshot replaces them all.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from oggy.v1 import snapshot_pb2


@dataclass(frozen=True, slots=True)
class Update:
    """One message for a data plane: exactly one of `snapshot` / `delta` is set."""

    snapshot: snapshot_pb2.Snapshot | None = None
    delta: snapshot_pb2.SnapshotDelta | None = None

    @property
    def revision(self) -> int:
        if self.snapshot is not None:
            return self.snapshot.revision
        assert self.delta is not None
        return self.delta.revision


class SubscriptionClosed(Exception):
    """The publisher stopped or the subscriber unsubscribed."""


class Subscription:
    def __init__(
        self, current: Callable[[], snapshot_pb2.Snapshot | None], max_pending: int
    ) -> None:
        self._current = current
        self._max_pending = max_pending
        self._pending: deque[snapshot_pb2.SnapshotDelta] = deque()
        # A new subscriber always starts from a full snapshot.
        self._needs_full = True
        self._full_on_next_change = False
        self._closed = False
        self._wake = asyncio.Event()

    def push_delta(self, delta: snapshot_pb2.SnapshotDelta) -> None:
        if self._closed or self._needs_full:
            return  # the full snapshot it will get includes this delta
        if self._full_on_next_change or len(self._pending) >= self._max_pending:
            self.request_full()
            return
        self._pending.append(delta)
        self._wake.set()

    def request_full(self) -> None:
        """Send the current full snapshot next, dropping buffered deltas."""
        self._needs_full = True
        self._full_on_next_change = False
        self._pending.clear()
        self._wake.set()

    def full_on_next_change(self) -> None:
        """After a NACK: don't resend now (it would be rejected again); use a full
        snapshot instead of the next delta."""
        self._full_on_next_change = True

    def wake(self) -> None:
        self._wake.set()

    def close(self) -> None:
        self._closed = True
        self._wake.set()

    @property
    def closed(self) -> bool:
        return self._closed

    async def next(self) -> Update:
        """The next update; raises SubscriptionClosed once closed."""
        while True:
            if self._closed:
                raise SubscriptionClosed
            if self._needs_full:
                snapshot = self._current()
                if snapshot is not None:
                    # Deltas published before this point are in `snapshot`; any published
                    # later are based on its revision (publishing never awaits in between).
                    self._needs_full = False
                    self._pending.clear()
                    return Update(snapshot=snapshot)
            elif self._pending:
                return Update(delta=self._pending.popleft())
            self._wake.clear()
            await self._wake.wait()
