"""What Limit and Budget RPCs share: both count a Scope of a workspace's traffic.

A write is normalised (controlplane.domain.quota_specs), compiled on its own with
the data plane's compiler for a precise INVALID_ARGUMENT, and guarded by the
existence of every resource its scope names, in the write's transaction. The
workspace-wide config check (`Repository`) then runs as for every write.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any, TypeVar

from google.protobuf.message import Message

from controlplane.api import convert
from controlplane.api.repository import Guard, Mutation
from controlplane.api.resources.base import ServicerBase
from controlplane.api.resources.child import ChildResource
from controlplane.domain import quota_specs
from controlplane.store.base import Item
from oggy.contract.names import ChildName, WorkspaceName
from oggy.v1 import budget_pb2, limit_pb2

Q = TypeVar("Q", limit_pb2.Limit, budget_pb2.Budget)


class ScopedRpcs(ServicerBase):
    def _checked(self, resource: Q, workspace: WorkspaceName, kind: quota_specs.Kind) -> bytes:
        """`resource` (named, normalised) compiled as data planes will; its stored bytes."""
        kind.check(resource, workspace)
        return resource.SerializeToString()

    def _scope_guards(self, resource: Q, workspace: WorkspaceName) -> list[Guard]:
        """Every resource the scope names exists, in `workspace`."""
        return [
            self._same_workspace_ref(str(ref), ref.collection, workspace, field)
            for field, ref in quota_specs.scope_references(resource.scope)
        ]

    async def _create_scoped(
        self, resource: ChildResource, request: Any, kind: quota_specs.Kind
    ) -> Message:
        new = self._new_child(resource, request)
        body = getattr(request, resource.field)
        stored = convert.new_versioned(body, str(new.name), self._clock())
        kind.normalise(stored, new.name.parent, convert.populated_fields(body))
        value = self._checked(stored, new.name.parent, kind)
        guards = self._scope_guards(stored, new.name.parent)
        created = await self._create_child(resource, new, value, guards=guards)
        return resource.reply("Create", created.item)

    async def _update_scoped(
        self,
        resource: ChildResource,
        request: Any,
        updatable: Iterable[str],
        parse: Callable[[Item], Q],
        kind: quota_specs.Kind,
    ) -> Message:
        patch = getattr(request, resource.field)

        def mutation(name: ChildName, fields: tuple[str, ...]) -> Mutation:
            def update(item: Item) -> tuple[bytes, Sequence[Guard]]:
                updated = convert.apply_versioned_update(parse(item), patch, fields, self._clock())
                kind.normalise(updated, name.parent, fields)
                value = self._checked(updated, name.parent, kind)
                return value, self._scope_guards(updated, name.parent)

            return update

        return await self._update_child(resource, request, updatable, mutation)
