"""State and helpers every resource's RPCs share (composed by AdminServicer)."""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

import grpc
from google.protobuf.field_mask_pb2 import FieldMask
from google.protobuf.message import Message

from controlplane.api import convert
from controlplane.api.audit import AuditLog, Render
from controlplane.api.config_check import ConfigCheck
from controlplane.api.repository import AuditHook, Created, Guard, Mutation, Repository
from controlplane.api.resources.child import ChildResource
from controlplane.api.status import grpc_errors
from controlplane.api.usage_queries import UsageQueries
from controlplane.domain import fieldmask, validation
from controlplane.domain.errors import InvalidArgument
from controlplane.domain.ids import RandomSource, new_id
from controlplane.domain.layout import Layout
from controlplane.publisher import HeldWorkspace, NodeStatus
from controlplane.store.base import Item
from controlplane.store.txn import Op, TxnStore
from oggy.contract.names import (
    ChildName,
    Collection,
    WorkspaceName,
    parse_child_name,
    parse_workspace_name,
    validate_id,
)
from oggy.v1 import snapshot_pb2

Ctx = grpc.aio.ServicerContext
M = TypeVar("M")


@dataclass(frozen=True, slots=True)
class NewChild:
    """What a Create request asks for: the resource's name, and its idempotency token."""

    name: ChildName
    request_id: str
    explicit_id: bool  # the id was given, not generated


class Cipher(Protocol):
    """What the servicer needs of controlplane.secrets.EnvelopeCipher: secrets are
    encrypted on the way in, and decrypted to compile a write's candidate config."""

    def encrypt(self, plaintext: bytes) -> bytes: ...

    def decrypt(self, blob: bytes) -> bytes: ...


class Fleet(Protocol):
    """What the admin API shows of controlplane.publisher.ConfigPublisher."""

    @property
    def snapshot(self) -> snapshot_pb2.Snapshot | None: ...

    def nodes(self) -> list[NodeStatus]: ...

    def held(self) -> list[HeldWorkspace]: ...


class ServicerBase:
    def __init__(
        self,
        store: TxnStore,
        cipher: Cipher,
        *,
        prefix: str = "/oggy/",
        usage_store: object | None = None,
        clock: Callable[[], float] = time.time,
        rng: RandomSource | None = None,
        audit_ids: Callable[[], str] | None = None,
        usage_queries: object | None = None,
        kek_rotation: object | None = None,
        fleet: Fleet | None = None,
        quota: Any = None,
    ) -> None:
        self._store = store
        layout = Layout(prefix)
        self._repo = Repository(store, layout, ConfigCheck(store, layout, cipher))
        self._layout = layout
        self._cipher = cipher
        self._usage = usage_store
        self._clock = clock
        self._rng: RandomSource = rng or secrets.SystemRandom()
        self.audit_log = AuditLog(self._layout, clock, audit_ids)
        # Other modules' RPCs, delegated to (see resources/delegated.py).
        self._usage_queries = usage_queries
        self._kek_rotation = kek_rotation
        # The config publisher's view of data planes (ListDataPlanes).
        self._fleet = fleet
        # The quota allocation (controlplane.quota.leader.QuotaAllocation): budget status.
        self._quota = quota
        # ListUsageEvents and SummarizeUsage over `usage_store` (resources/usage.py).
        self._store_queries = UsageQueries(usage_store, clock=clock)  # type: ignore[arg-type]

    def __repr__(self) -> str:
        return f"{type(self).__name__}(prefix={self._layout.prefix!r})"

    def _resource_id(
        self, given: str, field: str, collection: Collection | None = None
    ) -> tuple[str, bool]:
        if given:
            return validate_id(given, field, collection), True
        return new_id(self._rng), False

    def _child(self, parent: str, collection: Collection, given_id: str, field: str) -> ChildName:
        workspace = parse_workspace_name(parent, "parent")
        resource_id, _ = self._resource_id(given_id, field, collection)
        return workspace.child(collection, resource_id)

    async def _existing_workspace(self, name: str, field: str) -> WorkspaceName:
        """The workspace `name`; NOT_FOUND when it does not exist, so a mistyped one
        is an error rather than an empty answer."""
        workspace = parse_workspace_name(name, field)
        await self._repo.get(str(workspace))
        return workspace

    @grpc_errors
    async def _check_filter_workspace(self, request: Any, context: Ctx) -> None:
        """A usage query's `filter.workspace` exists (NOT_FOUND otherwise); for RPCs that
        pass the request on to a method with its own error mapping."""
        await self._existing_workspace(request.filter.workspace, "filter.workspace")

    def _same_workspace_ref(
        self, ref: str, collection: Collection, workspace: WorkspaceName, field: str
    ) -> Guard:
        name = parse_child_name(ref, collection, field)
        if name.parent != workspace:
            raise InvalidArgument(f"{field} must be in {workspace}")
        return self._repo.reference_exists(ref, field)

    def _audit(self, method: str, resource: str, render: Render, request_id: str = "") -> AuditHook:
        return self.audit_log.hook(method, resource, render, request_id)

    async def _list_children(
        self, request: Any, collection: Collection, out: Callable[[Item], M]
    ) -> tuple[list[M], str]:
        """A page of `request.parent`'s resources in `collection`, as `out` returns them,
        and the next page's token."""
        workspace = parse_workspace_name(request.parent, "parent")
        items, token = await self._repo.list(
            workspace.collection_prefix(collection), request.page_size, request.page_token, depth=3
        )
        return [out(i) for i in items], token

    async def _delete(self, method: str, name: str, etag: str, render: Render, **kw: Any) -> None:
        """Delete `name` (`Repository.delete`; `kw`: its guards and extra ops), audited as
        RPC `method`, the deleted resource shown by `render`."""
        await self._repo.delete(name, etag, audit=self._audit(method, name, render), **kw)

    def _new_child(self, resource: ChildResource, request: Any) -> NewChild:
        """The resource a Create `request` names (id given or generated), and its request id."""
        given = getattr(request, resource.create_id_field)
        name = self._child(request.parent, resource.collection, given, resource.create_id_field)
        return NewChild(name, validation.request_id(request.request_id), bool(given))

    async def _create_child(
        self,
        resource: ChildResource,
        new: NewChild,
        value: bytes,
        *,
        guards: Sequence[Guard] = (),
        extra_ops: Sequence[Op] = (),
    ) -> Created:
        """Create `new` in its workspace (which must exist), audited as its Create RPC."""
        method, name = resource.rpc("Create"), str(new.name)
        return await self._repo.create(
            method=method,
            name=name,
            value=value,
            request_id=new.request_id,
            explicit_id=new.explicit_id,
            guards=[self._repo.parent_exists(str(new.name.parent)), *guards],
            extra_ops=extra_ops,
            audit=self._audit(method, name, resource.render, new.request_id),
        )

    async def _update(
        self, method: str, name: str, etag: str, mutate: Mutation, render: Render, **kw: Any
    ) -> Item:
        """Compare-and-set `mutate` on `name` (`Repository.update`; `kw`: its extra ops),
        audited as RPC `method`, the updated resource shown by `render`."""
        return await self._repo.update(
            name, etag, mutate, audit=self._audit(method, name, render), **kw
        )

    async def _update_child(
        self,
        resource: ChildResource,
        request: Any,
        updatable: Iterable[str],
        mutation: Callable[[ChildName, tuple[str, ...]], Mutation],
    ) -> Message:
        """A masked Update RPC of `resource`: `mutation(name, fields)` (where field checks
        that need no stored value belong) builds the compare-and-set of the stored item."""
        patch = getattr(request, resource.field)
        name = parse_child_name(patch.name, resource.collection, f"{resource.field}.name")
        fields = masked_fields(request.update_mask, patch, updatable)
        mutate = mutation(name, fields)
        method = resource.rpc("Update")
        item = await self._update(method, str(name), patch.etag, mutate, resource.render)
        return resource.reply("Update", item)


def masked_fields(mask: FieldMask, patch: Message, updatable: Iterable[str]) -> tuple[str, ...]:
    """The fields an Update changes: those `mask` names, or `patch`'s populated ones when
    the mask is empty (AIP-134)."""
    return fieldmask.resolve_mask(list(mask.paths), updatable, convert.populated_fields(patch))
