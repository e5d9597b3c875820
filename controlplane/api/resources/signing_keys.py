"""Signing key RPCs (actor-token verification keys, `workspaces/{w}/signingKeys/{kid}`).

Public keys are stored as given (after parsing); an HS256 secret is encrypted
into `<prefix>secrets/<name>` in the same transaction and never returned.
"""

from __future__ import annotations

from controlplane.api import convert
from controlplane.api.repository import Guard
from controlplane.api.resources.base import Ctx, ServicerBase
from controlplane.api.resources.child import ChildResource, serves
from controlplane.api.status import grpc_errors
from controlplane.domain import signing_keys
from controlplane.domain.errors import AlreadyExists
from controlplane.store.txn import Absent, Delete, Op, Put
from oggy.contract.names import Collection
from oggy.v1 import admin_service_pb2 as pb

SIGNING_KEY = ChildResource(
    "SigningKey", "SigningKeys", Collection.SIGNING_KEYS, convert.signing_key_out
)


@serves(
    SIGNING_KEY,
    "Get",
    "List",
    "Delete",
    delete_effects=lambda rpcs, name: {"extra_ops": [Delete(rpcs._layout.secret(str(name)))]},
)
class SigningKeyRpcs(ServicerBase):
    @grpc_errors
    async def CreateSigningKey(self, request: pb.CreateSigningKeyRequest, context: Ctx):
        new = self._new_child(SIGNING_KEY, request)
        name = str(new.name)
        material = signing_keys.validate(request.signing_key)
        secret_key = self._layout.secret(name)
        extra_ops: list[Op] = []
        if material.hmac_secret:
            extra_ops.append(Put(secret_key, self._cipher.encrypt(material.hmac_secret)))
        value = convert.new_signing_key(request.signing_key, name, material, self._clock())
        created = await self._create_child(
            SIGNING_KEY,
            new,
            value,
            guards=[Guard(Absent(secret_key), AlreadyExists(f"{name} already exists"))],
            extra_ops=extra_ops,
        )
        return SIGNING_KEY.reply("Create", created.item)
