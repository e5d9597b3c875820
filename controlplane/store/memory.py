"""InMemoryStore: the Store semantics (revisions, CAS, watch, compaction) in a dict.

For unit tests of code that uses a Store. Revisions behave like etcd's: the
store starts at revision 1 and every successful write transaction adds one.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass

from controlplane.store.base import (
    Change,
    ChangeBatch,
    Item,
    RevisionConflict,
    StoreUnavailable,
    WatchCompacted,
)
from controlplane.store.txn import Absent, AtRevision, Condition, Delete, Op, Present, Put


@dataclass(frozen=True, slots=True)
class _Entry:
    value: bytes
    mod_revision: int
    create_revision: int = 0
    lease: int = 0


class InMemoryStore:
    def __init__(self) -> None:
        self._data: dict[str, _Entry] = {}
        self._revision = 1
        self._compacted = 0
        self._history: list[ChangeBatch] = []
        # Replaced on every change; watchers wait on the one they saw (no lost wake-ups).
        self._tick = asyncio.Event()
        self._closed = False
        # Lease id → (expiry on the monotonic clock, ttl); expired leases end lazily.
        self._leases: dict[int, tuple[float, int]] = {}
        self._next_lease = 1
        self._clock = time.monotonic

    @property
    def revision(self) -> int:
        return self._revision

    async def get(self, key: str) -> Item | None:
        self._check_open()
        self._end_expired_leases()
        entry = self._data.get(key)
        return Item(key, entry.value, entry.mod_revision, entry.create_revision) if entry else None

    async def list_prefix(self, prefix: str) -> tuple[list[Item], int]:
        self._check_open()
        self._end_expired_leases()
        items = [
            Item(k, e.value, e.mod_revision, e.create_revision)
            for k, e in sorted(self._data.items())
            if k.startswith(prefix)
        ]
        return items, self._revision

    async def create(self, key: str, value: bytes) -> int:
        return await self.commit([Absent(key)], [Put(key, value)])

    async def update(self, key: str, value: bytes, expected_revision: int) -> int:
        entry = self._data.get(key)
        if entry is None:
            raise KeyError(key)
        cond = AtRevision(key, expected_revision) if expected_revision else Present(key)
        return await self.commit([cond], [Put(key, value)])

    async def put(self, key: str, value: bytes) -> int:
        return await self.commit([], [Put(key, value)])

    async def delete(self, key: str, expected_revision: int = 0) -> int:
        self._check_open()
        if key not in self._data:
            raise KeyError(key)
        cond = AtRevision(key, expected_revision) if expected_revision else Present(key)
        return await self.commit([cond], [Delete(key)])

    async def commit(
        self, conditions: Sequence[Condition], ops: Sequence[Op], *, lease: int = 0
    ) -> int:
        self._check_open()
        # No await between check and apply: the event loop makes this atomic.
        if not all(self._holds(c) for c in conditions):
            raise RevisionConflict("transaction condition failed")
        revision = self._revision + 1
        changes: list[Change] = []
        for op in ops:
            if isinstance(op, Put):
                before = self._data.get(op.key)
                created = before.create_revision if before else revision
                self._data[op.key] = _Entry(op.value, revision, created, lease)
                changes.append(Change(op.key, op.value, revision))
            elif self._data.pop(op.key, None) is not None:
                changes.append(Change(op.key, None, revision))
        if not changes:
            return self._revision
        self._revision = revision
        self._history.append(ChangeBatch(revision, tuple(changes)))
        self._notify()
        return revision

    def _holds(self, cond: Condition) -> bool:
        if isinstance(cond, Absent):
            return cond.key not in self._data
        if isinstance(cond, Present):
            return cond.key in self._data
        if isinstance(cond, AtRevision):
            entry = self._data.get(cond.key)
            return entry is not None and entry.mod_revision == cond.mod_revision
        return not any(k.startswith(cond.prefix) for k in self._data)

    # -- leases (LeaseStore) ------------------------------------------------------------

    async def grant_lease(self, ttl_s: int) -> int:
        self._check_open()
        lease, self._next_lease = self._next_lease, self._next_lease + 1
        self._leases[lease] = (self._clock() + ttl_s, ttl_s)
        return lease

    async def keep_alive(self, lease_id: int) -> int:
        self._check_open()
        self._end_expired_leases()
        found = self._leases.get(lease_id)
        if found is None:
            return 0
        self._leases[lease_id] = (self._clock() + found[1], found[1])
        return found[1]

    async def revoke_lease(self, lease_id: int) -> None:
        self._check_open()
        self._leases.pop(lease_id, None)
        await self._delete_lease_keys({lease_id})

    async def put_with_lease(self, key: str, value: bytes, lease_id: int) -> int:
        self._end_expired_leases()
        if lease_id not in self._leases:
            raise StoreUnavailable("lease not found")
        return await self.commit([], [Put(key, value)], lease=lease_id)

    def _end_expired_leases(self) -> None:
        now = self._clock()
        ended = {lease for lease, (expiry, _) in self._leases.items() if expiry <= now}
        if ended:
            for lease in ended:
                del self._leases[lease]
            # Synchronous on purpose: reads see the keys gone at once.
            self._delete_keys([k for k, e in self._data.items() if e.lease in ended])

    async def _delete_lease_keys(self, leases: set[int]) -> None:
        self._delete_keys([k for k, e in self._data.items() if e.lease in leases])

    def _delete_keys(self, keys: list[str]) -> None:
        if not keys:
            return
        revision = self._revision + 1
        for key in keys:
            del self._data[key]
        self._revision = revision
        self._history.append(ChangeBatch(revision, tuple(Change(k, None, revision) for k in keys)))
        self._notify()

    async def compact(self, revision: int) -> None:
        self._check_open()
        if revision > self._revision:
            raise ValueError("cannot compact a future revision")
        self._compacted = max(self._compacted, revision)
        self._history = [b for b in self._history if b.revision >= revision]

    async def watch_prefix(self, prefix: str, start_revision: int) -> AsyncIterator[ChangeBatch]:
        self._check_open()
        next_revision = start_revision if start_revision > 0 else self._revision + 1
        if next_revision < self._compacted:
            raise WatchCompacted(self._compacted)
        while True:
            if next_revision < self._compacted:
                raise WatchCompacted(self._compacted)
            tick = self._tick
            for batch in [b for b in self._history if b.revision >= next_revision]:
                next_revision = batch.revision + 1
                changes = tuple(c for c in batch.changes if c.key.startswith(prefix))
                if changes:
                    yield ChangeBatch(batch.revision, changes)
            if self._revision < next_revision:
                await tick.wait()
            self._check_open()

    async def close(self) -> None:
        self._closed = True
        self._notify()

    def _notify(self) -> None:
        tick, self._tick = self._tick, asyncio.Event()
        tick.set()

    def _check_open(self) -> None:
        if self._closed:
            raise StoreUnavailable("store closed")
