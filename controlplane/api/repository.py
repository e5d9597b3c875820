"""Resource CRUD over a TxnStore with AIP semantics shared by every resource kind.

Each write is one transaction whose conditions make it safe against concurrent
writers; before it, the same conditions are checked by reading so the caller
gets a precise error (NOT_FOUND parent, ALREADY_EXISTS, ...). When the
transaction still loses a race, the loop re-reads and re-checks. Every write's
operations also pass the config check (the data plane's compiler, see
config_check.py) before they commit: this is the one place config is written.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from controlplane.api import convert
from controlplane.domain import paging, validation
from controlplane.domain.errors import (
    Aborted,
    AlreadyExists,
    DomainError,
    InvalidArgument,
    NotFound,
)
from controlplane.domain.layout import Layout
from controlplane.store.base import Item, RevisionConflict
from controlplane.store.txn import (
    Absent,
    AtRevision,
    Condition,
    Delete,
    Op,
    PrefixEmpty,
    Present,
    Put,
    TxnStore,
)

MAX_ATTEMPTS = 5


@dataclass(frozen=True, slots=True)
class Guard:
    """A condition the write needs, and the error to report when it does not hold."""

    condition: Condition
    error: DomainError


@dataclass(frozen=True, slots=True)
class Created:
    item: Item
    # True when an earlier call with the same request_id created it.
    replayed: bool


# Builds the new value (and any extra guards) from the current item; None: no change.
Mutation = Callable[[Item], tuple[bytes, Sequence[Guard]] | None]
# The audit record of a change, written in the same transaction: (before, after) → op.
# `after` carries mod_revision 0 (its revision is only known once committed).
AuditHook = Callable[[Item | None, Item | None], Op]
# Raises a DomainError when the operations of a write may not commit (ConfigCheck).
ConfigCheckFn = Callable[[Sequence[Op]], Awaitable[None]]


class Repository:
    def __init__(self, store: TxnStore, layout: Layout, check: ConfigCheckFn) -> None:
        self._store = store
        self.layout = layout
        self._check_config = check

    async def get(self, name: str) -> Item:
        item = await self._store.get(self.layout.resource(name))
        if item is None:
            raise NotFound(f"{name} not found")
        return item

    async def list(
        self, name_prefix: str, page_size: int, page_token: str, depth: int
    ) -> tuple[list[Item], str]:
        """Resources named `name_prefix` + one more id (`depth` = slashes in their names)."""
        size = paging.page_size(page_size)
        items, _ = await self._store.list_prefix(self.layout.resource(name_prefix))
        direct = [i for i in items if self.layout.name_of(i.key).count("/") == depth]
        return paging.paginate(direct, lambda i: i.key, name_prefix, size, page_token)

    async def create(
        self,
        *,
        method: str,
        name: str,
        value: bytes,
        request_id: str,
        explicit_id: bool,
        guards: Sequence[Guard] = (),
        extra_ops: Sequence[Op] = (),
        audit: AuditHook | None = None,
    ) -> Created:
        key = self.layout.resource(name)
        request_key = self.layout.request(request_id) if request_id else ""
        all_guards = [*guards, Guard(Absent(key), _already_exists(name))]
        ops: list[Op] = [Put(key, value), *extra_ops]
        if audit is not None:
            ops.append(audit(None, Item(key, value, 0)))
        if request_key:
            all_guards.append(Guard(Absent(request_key), Aborted("retry")))
            ops.append(Put(request_key, convert.request_record(method, name)))
        for _ in range(MAX_ATTEMPTS):
            if request_key:
                replay = await self._replay(request_key, method, name if explicit_id else "")
                if replay is not None:
                    return Created(replay, replayed=True)
            await self._check(all_guards)
            await self._check_config(ops)
            try:
                revision = await self._store.commit([g.condition for g in all_guards], ops)
            except RevisionConflict:
                continue
            return Created(Item(key, value, revision), replayed=False)
        raise Aborted(f"{name}: too many concurrent changes; retry")

    async def _replay(self, request_key: str, method: str, explicit_name: str) -> Item | None:
        record = await self._store.get(request_key)
        if record is None:
            return None
        first_method, first_name = convert.parse_request_record(record.value)
        if first_method != method or (explicit_name and explicit_name != first_name):
            raise InvalidArgument("request_id was already used for a different request")
        item = await self._store.get(self.layout.resource(first_name))
        if item is None:
            raise NotFound(f"{first_name}, created by this request_id, has since been deleted")
        return item

    async def update(
        self,
        name: str,
        etag: str,
        mutate: Mutation,
        *,
        extra_ops: Sequence[Op] = (),
        audit: AuditHook | None = None,
    ) -> Item:
        """Compare-and-set `mutate(current)`; a given etag must match the stored one.

        `extra_ops` (e.g. a re-encrypted secret) land in the same transaction.
        """
        expected = validation.etag(etag)
        key = self.layout.resource(name)
        for _ in range(MAX_ATTEMPTS):
            item = await self.get(name)
            _check_etag(name, expected, item)
            change = mutate(item)
            if change is None:
                return item
            value, guards = change
            await self._check(guards)
            conditions = [AtRevision(key, item.mod_revision), *(g.condition for g in guards)]
            ops: list[Op] = [Put(key, value), *extra_ops]
            if audit is not None:
                ops.append(audit(item, Item(key, value, 0)))
            await self._check_config(ops)
            try:
                revision = await self._store.commit(conditions, ops)
            except RevisionConflict:
                continue
            return Item(key, value, revision)
        raise Aborted(f"{name}: too many concurrent changes; retry")

    async def delete(
        self,
        name: str,
        etag: str,
        *,
        guards: Sequence[Guard] = (),
        extra_ops: Sequence[Op] = (),
        ops_for: Callable[[Item], Sequence[Op]] | None = None,
        audit: AuditHook | None = None,
    ) -> Item:
        """Delete (CAS on the etag when given); returns what was deleted.

        `ops_for(item)` adds ops that depend on the deleted value (an index entry).
        """
        expected = validation.etag(etag)
        key = self.layout.resource(name)
        for _ in range(MAX_ATTEMPTS):
            item = await self.get(name)
            _check_etag(name, expected, item)
            await self._check(guards)
            conditions = [AtRevision(key, item.mod_revision), *(g.condition for g in guards)]
            ops: list[Op] = [Delete(key), *extra_ops]
            if ops_for is not None:
                ops.extend(ops_for(item))
            if audit is not None:
                ops.append(audit(item, None))
            await self._check_config(ops)
            try:
                await self._store.commit(conditions, ops)
            except RevisionConflict:
                continue
            return item
        raise Aborted(f"{name}: too many concurrent changes; retry")

    async def _check(self, guards: Sequence[Guard]) -> None:
        for guard in guards:
            if not await self._holds(guard.condition):
                raise guard.error

    async def _holds(self, cond: Condition) -> bool:
        if isinstance(cond, Absent):
            return await self._store.get(cond.key) is None
        if isinstance(cond, Present):
            return await self._store.get(cond.key) is not None
        if isinstance(cond, AtRevision):
            item = await self._store.get(cond.key)
            return item is not None and item.mod_revision == cond.mod_revision
        items, _ = await self._store.list_prefix(cond.prefix)
        return not items

    # Guards callers commonly need.

    def parent_exists(self, parent: str) -> Guard:
        return Guard(Present(self.layout.resource(parent)), NotFound(f"{parent} not found"))

    def reference_exists(self, name: str, field: str) -> Guard:
        return Guard(
            Present(self.layout.resource(name)),
            InvalidArgument(f"{field} names {name}, which does not exist"),
        )

    def no_children(self, prefix: str, error: DomainError) -> Guard:
        return Guard(PrefixEmpty(self.layout.resource(prefix)), error)


def _already_exists(name: str) -> DomainError:
    return AlreadyExists(f"{name} already exists")


def _check_etag(name: str, expected: int, item: Item) -> None:
    if expected and item.mod_revision != expected:
        raise Aborted(f"{name}: etag {expected} is stale (current {item.mod_revision})")
