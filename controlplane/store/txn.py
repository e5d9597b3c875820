"""Multi-key compare-and-set, for writes that must land together.

A create writes the resource, its idempotency record and (for keys) a global
index entry, and must fail if the parent vanished meanwhile: one transaction.
Both EtcdStore and InMemoryStore implement `TxnStore`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from controlplane.store.base import Store


@dataclass(frozen=True, slots=True)
class KeyOnly:
    """A condition or op that names one key and nothing else; its class says what.

    Subclasses declare `__slots__ = ()` so they stay slotted like the base; equality
    still tells them apart (a dataclass compares only with its own class).
    """

    key: str


class Absent(KeyOnly):
    __slots__ = ()


class Present(KeyOnly):
    __slots__ = ()


@dataclass(frozen=True, slots=True)
class PrefixEmpty:
    prefix: str


@dataclass(frozen=True, slots=True)
class AtRevision:
    key: str
    mod_revision: int


Condition = Absent | Present | AtRevision | PrefixEmpty


@dataclass(frozen=True, slots=True)
class Put:
    key: str
    value: bytes


class Delete(KeyOnly):
    __slots__ = ()


Op = Put | Delete


class TxnStore(Store, Protocol):
    async def commit(self, conditions: Sequence[Condition], ops: Sequence[Op]) -> int:
        """Apply `ops` atomically iff every condition holds; returns the new revision.

        Raises RevisionConflict when a condition fails (callers re-read to explain why).
        """
        ...

    async def compact(self, revision: int) -> None:
        """Drop history before `revision` (watches starting earlier get WatchCompacted)."""
        ...
