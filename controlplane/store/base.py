"""The Store role: versioned key/value storage with compare-and-set and watch.

Keys are resource names (`workspaces/w1/keys/k1`); values are serialized protos.
Revisions are the store's global revision (etcd's), so a watch can resume from
where a snapshot was read and a data plane can be told which version it serves.
`etcd.py` is the only module that talks to etcd.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True, slots=True)
class Item:
    key: str
    value: bytes
    mod_revision: int
    # The revision that created the key (leader election orders candidates by it).
    create_revision: int = 0


@dataclass(frozen=True, slots=True)
class Change:
    """One watch event: `value is None` means the key was deleted."""

    key: str
    value: bytes | None
    mod_revision: int


@dataclass(frozen=True, slots=True)
class ChangeBatch:
    """All changes of one store revision, in order."""

    revision: int
    changes: tuple[Change, ...]


# Every store failure a caller sees starts with this, so a client can tell "the control
# plane answered: its store is down" from "the control plane cannot be reached".
STORE_MESSAGE_PREFIX = "configuration store"


class StoreError(Exception):
    """Base of store failures."""


class StoreUnavailable(StoreError):
    """The backing store cannot be reached."""


class StoreOutOfSpace(StoreError):
    """The store refuses writes for lack of space (etcd: quota reached, NOSPACE alarm)."""


class RevisionConflict(StoreError):
    """A compare-and-set found a different revision than expected."""


class WatchCompacted(StoreError):
    """The watch start revision was compacted away; resync from a full read."""

    def __init__(self, compact_revision: int) -> None:
        super().__init__(f"revision compacted at {compact_revision}")
        self.compact_revision = compact_revision


class Store(Protocol):
    async def get(self, key: str) -> Item | None: ...

    async def list_prefix(self, prefix: str) -> tuple[list[Item], int]:
        """All items under `prefix` in key order, and the store revision of the read."""
        ...

    async def create(self, key: str, value: bytes) -> int:
        """Put only if absent; returns the new revision. Raises RevisionConflict if present."""
        ...

    async def update(self, key: str, value: bytes, expected_revision: int) -> int:
        """Put only if the key's mod revision is `expected_revision` (0: any existing)."""
        ...

    async def put(self, key: str, value: bytes) -> int:
        """Unconditional put; returns the new revision."""
        ...

    async def delete(self, key: str, expected_revision: int = 0) -> int:
        """Delete (CAS when `expected_revision` > 0); raises KeyError if absent."""
        ...

    def watch_prefix(self, prefix: str, start_revision: int) -> AsyncIterator[ChangeBatch]:
        """Changes after `start_revision - 1`, grouped by revision; raises WatchCompacted."""
        ...

    async def close(self) -> None: ...


class LeaseStore(Store, Protocol):
    """Keys that live only as long as a lease the owner keeps alive (etcd leases)."""

    async def grant_lease(self, ttl_s: int) -> int:
        """A new lease of `ttl_s` seconds; returns its id."""
        ...

    async def keep_alive(self, lease_id: int) -> int:
        """Renew the lease; returns its TTL in seconds, 0 when it has expired."""
        ...

    async def revoke_lease(self, lease_id: int) -> None:
        """End the lease now, deleting its keys."""
        ...

    async def put_with_lease(self, key: str, value: bytes, lease_id: int) -> int:
        """Put `key`, deleted when the lease ends; returns the new revision."""
        ...
