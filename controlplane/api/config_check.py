"""Refuse an admin write that would leave its workspace unable to compile.

Every config write goes through `Repository`, which calls `ConfigCheck` with
the operations it is about to commit. The workspace they touch is loaded from
the store with those operations on top, the way the publisher loads it
(secrets decrypted, catalog prices included), and compiled with the data
plane's own compiler. A write that turns a workspace that compiles into one
that does not is refused with the compiler's message (INVALID_ARGUMENT), so
what the API accepts, every data plane can serve. One workspace is compiled,
never the whole fleet.

A workspace that already does not compile (data written around the API) still
takes writes, so it can be repaired; the publisher holds it back meanwhile.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from controlplane.domain.errors import InvalidArgument
from controlplane.domain.layout import Layout
from controlplane.publisher.holdback import CATALOG, compile_error
from controlplane.publisher.loader import Read, ResourceLoader, SecretCipher
from controlplane.store.base import Item, Store
from controlplane.store.txn import Op, Put
from oggy.contract.snapshot import build_snapshot, parse_name

# Store key → the value a pending write leaves there (None: deleted).
Pending = Mapping[str, bytes | None]


class ConfigCheck:
    def __init__(self, store: Store, layout: Layout, cipher: SecretCipher) -> None:
        self._store = store
        self._layout = layout
        self._loader = ResourceLoader(cipher, layout.prefix)

    async def __call__(self, ops: Sequence[Op]) -> None:
        """Raise InvalidArgument when `ops` would break a workspace (or the catalog)."""
        pending = {op.key: op.value if isinstance(op, Put) else None for op in ops}
        for group in sorted({g for key in pending if (g := self._touched(key)) is not None}):
            stored = await self._read(group)
            candidate = self._overlay(stored, pending, group)
            error = await self._error(group, candidate, pending)
            if error is None:
                continue
            if await self._error(group, stored, {}) is not None:
                continue  # already broken: let writes repair it
            what = group or "the price catalog"
            raise InvalidArgument(f"{what} would not compile with this change: {error}")

    def _group_of(self, key: str) -> str | None:
        """The workspace (CATALOG for a catalog price) of the resource stored at `key`."""
        if not key.startswith(self._layout.prefix):
            return None
        parsed = parse_name(self._layout.name_of(key))
        return parsed.workspace if parsed is not None else None

    def _touched(self, key: str) -> str | None:
        """The group a write to `key` changes: a resource's, or that of a resource whose
        secret it is (a provider's API key, an HS256 signing key's secret)."""
        if key.startswith(self._layout.secrets):
            return self._group_of(self._layout.prefix + key[len(self._layout.secrets) :])
        return self._group_of(key)

    async def _read(self, group: str) -> dict[str, Item]:
        """What the group's compile needs: the catalog prices, and the workspace and its
        children (the same shapes the publisher reads)."""
        items, _ = await self._store.list_prefix(self._layout.catalog_prices)
        if group != CATALOG:
            workspace = await self._store.get(self._layout.resource(group))
            children, _ = await self._store.list_prefix(self._layout.resource(f"{group}/"))
            items = [*items, *children, *([workspace] if workspace is not None else [])]
        return {item.key: item for item in items}

    def _overlay(self, stored: Mapping[str, Item], pending: Pending, group: str) -> dict[str, Item]:
        """`stored` with the pending writes to the group's (and catalog) resources applied."""
        out = dict(stored)
        for key, value in pending.items():
            if self._group_of(key) not in (group, CATALOG):
                continue
            if value is None:
                out.pop(key, None)
            else:
                out[key] = Item(key, value, 0)
        return out

    async def _error(self, group: str, items: Mapping[str, Item], pending: Pending) -> str | None:
        if group != CATALOG and self._layout.resource(group) not in items:
            return None  # no workspace (being deleted): nothing of it is published
        read = self._reader(pending)
        resources = []
        for item in items.values():
            resource = await self._loader.load(item.key, item.value, item.mod_revision, read)
            if resource is not None:
                resources.append(resource)
        return compile_error(build_snapshot(0, resources))

    def _reader(self, pending: Pending) -> Read:
        """Reads secrets as they will be once the pending write commits."""

        async def read(key: str) -> Item | None:
            if key in pending:
                value = pending[key]
                return None if value is None else Item(key, value, 0)
            return await self._store.get(key)

        return read
