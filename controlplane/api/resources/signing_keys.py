"""Signing key RPCs (actor-token verification keys, `workspaces/{w}/signingKeys/{kid}`).

Public keys are stored as given (after parsing); an HS256 secret is encrypted
into `<prefix>secrets/<name>` in the same transaction and never returned.
"""

from __future__ import annotations

from controlplane.api import convert
from controlplane.api.repository import Guard
from controlplane.api.resources.base import Ctx, ServicerBase
from controlplane.api.status import grpc_errors
from controlplane.domain import signing_keys, validation
from controlplane.domain.errors import AlreadyExists
from controlplane.store.txn import Absent, Delete, Op, Put
from oggy.contract.names import Collection, parse_child_name
from oggy.v1 import admin_service_pb2 as pb


class SigningKeyRpcs(ServicerBase):
    @grpc_errors
    async def CreateSigningKey(self, request: pb.CreateSigningKeyRequest, context: Ctx):
        name = self._child(
            request.parent, Collection.SIGNING_KEYS, request.signing_key_id, "signing_key_id"
        )
        material = signing_keys.validate(request.signing_key)
        rid = validation.request_id(request.request_id)
        secret_key = self._layout.secret(str(name))
        extra_ops: list[Op] = []
        if material.hmac_secret:
            extra_ops.append(Put(secret_key, self._cipher.encrypt(material.hmac_secret)))
        value = convert.new_signing_key(
            request.signing_key,
            str(name),
            material.public_key_pem,
            material.fingerprint,
            self._clock(),
        )
        created = await self._create_child(
            "CreateSigningKey",
            name,
            value,
            request_id=rid,
            explicit_id=bool(request.signing_key_id),
            render=convert.signing_key_out,
            guards=[Guard(Absent(secret_key), AlreadyExists(f"{name} already exists"))],
            extra_ops=extra_ops,
        )
        return pb.CreateSigningKeyResponse(signing_key=convert.signing_key_out(created.item))

    @grpc_errors
    async def GetSigningKey(self, request: pb.GetSigningKeyRequest, context: Ctx):
        key = await self._get_child(request.name, Collection.SIGNING_KEYS, convert.signing_key_out)
        return pb.GetSigningKeyResponse(signing_key=key)

    @grpc_errors
    async def ListSigningKeys(self, request: pb.ListSigningKeysRequest, context: Ctx):
        keys, token = await self._list_children(
            request, Collection.SIGNING_KEYS, convert.signing_key_out
        )
        return pb.ListSigningKeysResponse(signing_keys=keys, next_page_token=token)

    @grpc_errors
    async def DeleteSigningKey(self, request: pb.DeleteSigningKeyRequest, context: Ctx):
        name = str(parse_child_name(request.name, Collection.SIGNING_KEYS))
        await self._delete(
            "DeleteSigningKey",
            name,
            request.etag,
            convert.signing_key_out,
            extra_ops=[Delete(self._layout.secret(name))],
        )
        return pb.DeleteSigningKeyResponse()
