"""Gateway key RPCs: create (key text shown once), read, list, delete, revoke, rotate."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from controlplane.api import convert
from controlplane.api.key_activity import activity_source, merge_activity
from controlplane.api.repository import Guard
from controlplane.api.resources.base import Ctx, NewChild, ServicerBase
from controlplane.api.resources.child import ChildResource, serves
from controlplane.api.status import grpc_errors
from controlplane.domain import keys, validation
from controlplane.domain.errors import AlreadyExists, FailedPrecondition, InvalidArgument
from controlplane.domain.ids import new_id
from controlplane.store.base import Item
from controlplane.store.txn import Absent, Delete, Put
from oggy.contract import key_text
from oggy.contract.names import ChildName, Collection, parse_child_name, parse_workspace_name
from oggy.v1 import admin_service_pb2 as pb
from oggy.v1 import key_pb2

# The longest a rotated-out secret may keep working.
MAX_ROTATION_GRACE_S = 30 * 24 * 3600


GATEWAY_KEY = ChildResource(
    "GatewayKey", "GatewayKeys", Collection.KEYS, convert.gateway_key_out, id_field="key_id"
)


def _free_key_id(rpcs: ServicerBase, name: ChildName) -> dict[str, Any]:
    """Delete's extra op: the key id's index entry goes with the key."""
    return {"extra_ops": [Delete(rpcs._layout.key_index(name.resource_id))]}


# Get and List show each key's activity, so they are written out below.
@serves(GATEWAY_KEY, "Delete", delete_effects=_free_key_id)
class KeyRpcs(ServicerBase):
    async def _key_out(self, item: Item) -> key_pb2.GatewayKey:
        """The key as Get and List show it: with its last use and use count."""
        out = convert.gateway_key_out(item)
        await merge_activity(activity_source(self._usage), [out])
        return out

    @grpc_errors
    async def CreateGatewayKey(self, request: pb.CreateGatewayKeyRequest, context: Ctx):
        workspace = parse_workspace_name(request.parent, "parent")
        given = request.key_id
        key_id = keys.validate_key_id(given) if given else new_id(self._rng)
        child = workspace.child(Collection.KEYS, key_id)
        name = str(child)
        body = request.gateway_key
        environment = keys.validate_environment(body.environment or keys.DEFAULT_ENVIRONMENT)
        validation.display_name(body.display_name)
        rid = validation.request_id(request.request_id)
        now = self._clock()
        if body.HasField("expire_time") and body.expire_time.ToNanoseconds() <= now * 1e9:
            raise InvalidArgument("gateway_key.expire_time must be in the future")
        guards = []
        if body.actor:
            guards.append(
                self._same_workspace_ref(
                    body.actor, Collection.ACTORS, workspace, "gateway_key.actor"
                )
            )
        index_key = self._layout.key_index(key_id)
        guards.append(Guard(Absent(index_key), AlreadyExists(f"key id {key_id} is already in use")))
        secret = keys.new_secret(self._rng)
        value = convert.new_key_material(
            body,
            name=name,
            environment=environment,
            key_prefix=key_text.key_prefix(environment, key_id),
            secret_sha256=key_text.hash_secret(secret),
            now=now,
        )
        created = await self._create_child(
            GATEWAY_KEY,
            NewChild(child, rid, explicit_id=bool(given)),
            value,
            guards=guards,
            extra_ops=[Put(index_key, name.encode())],
        )
        out = convert.gateway_key_out(created.item)
        # A replay cannot show the key text: only its hash was kept.
        text = "" if created.replayed else key_text.format_key_text(environment, key_id, secret)
        return pb.CreateGatewayKeyResponse(gateway_key=out, key_text=text)

    @grpc_errors
    async def GetGatewayKey(self, request: pb.GetGatewayKeyRequest, context: Ctx):
        item = await self._repo.get(str(parse_child_name(request.name, Collection.KEYS)))
        return pb.GetGatewayKeyResponse(gateway_key=await self._key_out(item))

    @grpc_errors
    async def ListGatewayKeys(self, request: pb.ListGatewayKeysRequest, context: Ctx):
        out, token = await self._list_children(request, Collection.KEYS, convert.gateway_key_out)
        await merge_activity(activity_source(self._usage), out)  # one usage query per page
        return pb.ListGatewayKeysResponse(gateway_keys=out, next_page_token=token)

    @grpc_errors
    async def RevokeGatewayKey(self, request: pb.RevokeGatewayKeyRequest, context: Ctx):
        name = str(parse_child_name(request.name, Collection.KEYS))

        def revoke(item: Item) -> tuple[bytes, Sequence[Guard]] | None:
            material = convert.key_material(item)
            if material.key.state == key_pb2.GatewayKey.STATE_REVOKED:
                return None  # revoking twice keeps the first revoke_time
            return convert.revoked(material, self._clock()), ()

        item = await self._update("RevokeGatewayKey", name, "", revoke, convert.gateway_key_out)
        return pb.RevokeGatewayKeyResponse(gateway_key=await self._key_out(item))

    @grpc_errors
    async def RotateGatewayKey(self, request: pb.RotateGatewayKeyRequest, context: Ctx):
        name = parse_child_name(request.name, Collection.KEYS)
        grace_s = request.grace.ToNanoseconds() / 1e9 if request.HasField("grace") else 0.0
        if grace_s < 0:
            raise InvalidArgument("grace must not be negative")
        if grace_s > MAX_ROTATION_GRACE_S:
            raise InvalidArgument("grace must be at most 30 days")
        secret = keys.new_secret(self._rng)
        environment = ""

        def rotate(item: Item) -> tuple[bytes, Sequence[Guard]]:
            nonlocal environment
            material = convert.key_material(item)
            if material.key.state == key_pb2.GatewayKey.STATE_REVOKED:
                raise FailedPrecondition(f"{name} is revoked; create a new key instead")
            environment = material.key.environment or keys.DEFAULT_ENVIRONMENT
            return convert.rotated(
                material, key_text.hash_secret(secret), self._clock(), grace_s
            ), ()

        item = await self._update(
            "RotateGatewayKey", str(name), "", rotate, convert.gateway_key_out
        )
        text = key_text.format_key_text(environment, name.resource_id, secret)
        return pb.RotateGatewayKeyResponse(gateway_key=await self._key_out(item), key_text=text)
