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
class Absent:
    key: str


@dataclass(frozen=True, slots=True)
class Present:
    key: str


@dataclass(frozen=True, slots=True)
class AtRevision:
    key: str
    mod_revision: int


@dataclass(frozen=True, slots=True)
class PrefixEmpty:
    prefix: str


Condition = Absent | Present | AtRevision | PrefixEmpty


@dataclass(frozen=True, slots=True)
class Put:
    key: str
    value: bytes


@dataclass(frozen=True, slots=True)
class Delete:
    key: str


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
