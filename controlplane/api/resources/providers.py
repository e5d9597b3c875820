"""Provider credential RPCs. The API key is encrypted into `<prefix>secrets/<name>`,
written in the same transaction as the credential, and never returned."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

from controlplane.api import convert
from controlplane.api.repository import Guard
from controlplane.api.resources.base import Ctx, ServicerBase, masked_fields
from controlplane.api.resources.child import ChildResource, serves
from controlplane.api.status import grpc_errors
from controlplane.domain import fieldmask, urls, validation
from controlplane.domain.errors import AlreadyExists, FailedPrecondition, InvalidArgument
from controlplane.store.base import Item
from controlplane.store.txn import Absent, Delete, Put
from oggy.contract.names import Collection, parse_child_name
from oggy.contract.timeouts import TimeoutsError, provider_timeouts
from oggy.v1 import admin_service_pb2 as pb
from oggy.v1 import provider_pb2, route_pb2

_API_VERSION = re.compile(r"[A-Za-z0-9._-]{1,64}")
_DEPLOYMENT = re.compile(r"[\x21-\x7e]{1,200}")
MAX_DEPLOYMENTS = 1000


def validate_provider(provider: provider_pb2.ProviderCredential) -> None:
    """Checks of the non-secret fields (the API key is checked on its own)."""
    validation.display_name(provider.display_name)
    urls.validate_base_url(provider.base_url, provider.allow_private_network)
    validation.model_globs(provider.models, "provider_credential.models", required=True)
    if provider.api_version and not _API_VERSION.fullmatch(provider.api_version):
        raise InvalidArgument("provider_credential.api_version must be [A-Za-z0-9._-]{1,64}")
    _deployments(provider.deployments)
    try:
        provider_timeouts(provider)  # the compiler's own check
    except TimeoutsError as e:
        raise InvalidArgument(f"provider_credential.{e}") from None


def _deployments(deployments: Mapping[str, str]) -> None:
    if len(deployments) > MAX_DEPLOYMENTS:
        raise InvalidArgument(f"provider_credential.deployments has over {MAX_DEPLOYMENTS} entries")
    for model, deployment in deployments.items():
        if not _DEPLOYMENT.fullmatch(model) or not _DEPLOYMENT.fullmatch(deployment):
            raise InvalidArgument(
                "provider_credential.deployments entries must be 1-200 printable characters"
            )


PROVIDER = ChildResource(
    "ProviderCredential",
    "ProviderCredentials",
    Collection.PROVIDERS,
    convert.provider_out,
    id_field="provider_id",
)


@serves(PROVIDER, "Get", "List")
class ProviderRpcs(ServicerBase):
    @grpc_errors
    async def CreateProviderCredential(
        self, request: pb.CreateProviderCredentialRequest, context: Ctx
    ):
        new = self._new_child(PROVIDER, request)
        name = str(new.name)
        body = request.provider_credential
        if body.kind == provider_pb2.ProviderCredential.KIND_UNSPECIFIED:
            raise InvalidArgument("provider_credential.kind is required")
        validate_provider(body)
        api_key = validation.api_key(body.api_key)
        secret_key = self._layout.secret(name)
        created = await self._create_child(
            PROVIDER,
            new,
            convert.new_provider(body, name, api_key, self._clock()),
            guards=[Guard(Absent(secret_key), AlreadyExists(f"{name} already exists"))],
            extra_ops=[Put(secret_key, self._cipher.encrypt(api_key.encode("utf-8")))],
        )
        return PROVIDER.reply("Create", created.item)

    @grpc_errors
    async def DeleteProviderCredential(
        self, request: pb.DeleteProviderCredentialRequest, context: Ctx
    ):
        name = parse_child_name(request.name, Collection.PROVIDERS)
        # Best effort (a route created concurrently can still slip in; the publisher
        # then leaves that route out): a route must not point at a missing provider.
        routes, _ = await self._store.list_prefix(
            self._layout.resource(name.parent.collection_prefix(Collection.ROUTES))
        )
        for item in routes:
            route = route_pb2.Route.FromString(item.value)
            if any(t.provider == str(name) for t in route.targets):
                raise FailedPrecondition(
                    f"{route.name} routes to {name}; delete or change it first"
                )
        await self._delete(
            "DeleteProviderCredential",
            str(name),
            request.etag,
            convert.provider_out,
            extra_ops=[Delete(self._layout.secret(str(name)))],
        )
        return pb.DeleteProviderCredentialResponse()

    @grpc_errors
    async def UpdateProviderCredential(
        self, request: pb.UpdateProviderCredentialRequest, context: Ctx
    ):
        patch = request.provider_credential
        name = str(parse_child_name(patch.name, Collection.PROVIDERS, "provider_credential.name"))
        fields = masked_fields(request.update_mask, patch, fieldmask.PROVIDER_UPDATABLE)
        extra_ops: list[Put] = []
        if "api_key" in fields:
            api_key = validation.api_key(patch.api_key)
            # Re-encrypted with a fresh data key; lands with the credential in one txn.
            extra_ops.append(
                Put(self._layout.secret(name), self._cipher.encrypt(api_key.encode("utf-8")))
            )

        def update(item: Item) -> tuple[bytes, Sequence[Guard]] | None:
            stored = convert.provider(item)
            updated = convert.apply_provider_update(stored, patch, fields)
            validate_provider(updated)
            if updated == stored and not extra_ops:
                return None
            return updated.SerializeToString(), ()

        item = await self._update(
            "UpdateProviderCredential",
            name,
            patch.etag,
            update,
            convert.provider_out,
            extra_ops=extra_ops,
        )
        return pb.UpdateProviderCredentialResponse(provider_credential=convert.provider_out(item))
