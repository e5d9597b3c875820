"""Stored bytes → snapshot resources. Pure: the secret lookup happens in the caller."""

from __future__ import annotations

from google.protobuf.message import DecodeError, Message

from oggy.contract.snapshot import Kind, parse_name
from oggy.v1.actor_pb2 import Actor
from oggy.v1.budget_pb2 import Budget
from oggy.v1.limit_pb2 import Limit
from oggy.v1.policy_pb2 import Policy
from oggy.v1.price_pb2 import ModelPrice
from oggy.v1.provider_pb2 import ProviderCredential
from oggy.v1.route_pb2 import Route
from oggy.v1.signing_key_pb2 import SigningKey
from oggy.v1.snapshot_pb2 import KeyMaterial, ProviderMaterial, SigningKeyMaterial
from oggy.v1.workspace_pb2 import Workspace

# What each resource kind is stored as under `<prefix>workspaces/...` (and `prices/`).
_STORED_TYPE: dict[Kind, type[Message]] = {
    Kind.WORKSPACE: Workspace,
    Kind.KEY: KeyMaterial,
    Kind.ACTOR: Actor,
    Kind.PROVIDER: ProviderCredential,
    Kind.POLICY: Policy,
    Kind.SIGNING_KEY: SigningKey,
    Kind.ROUTE: Route,
    Kind.PRICE: ModelPrice,
    Kind.LIMIT: Limit,
    Kind.BUDGET: Budget,
}


class UndecodableResource(ValueError):
    """Stored bytes are not the proto their resource name says."""


def strip_prefix(key: str, prefix: str) -> str:
    """Resource name of a store key (stores may or may not hand back their prefix)."""
    return key[len(prefix) :] if prefix and key.startswith(prefix) else key


def decode_resource(name: str, value: bytes, mod_revision: int) -> Message | None:
    """The stored resource, with etag set; None for keys the snapshot does not carry.

    Providers come back as a ProviderCredential and signing keys as a SigningKey;
    wrap them with `provider_material` / `signing_key_material`.
    """
    parsed = parse_name(name)
    if parsed is None:
        return None
    try:
        resource = _STORED_TYPE[parsed.kind].FromString(value)
    except DecodeError as exc:
        raise UndecodableResource(f"{name}: {exc}") from None
    etag = str(mod_revision)
    # etag mirrors what the admin API reports; the name is forced to the key so a
    # value copied between keys cannot impersonate another resource.
    if isinstance(resource, KeyMaterial):
        resource.key.name = name
        resource.key.etag = etag
    else:
        resource.name = name  # type: ignore[attr-defined]
        resource.etag = etag  # type: ignore[attr-defined]
    if isinstance(resource, ProviderCredential):
        resource.api_key = ""  # never trust a plaintext that slipped into the record
    if isinstance(resource, SigningKey):
        resource.hmac_secret = ""  # the secret travels only in SigningKeyMaterial
    return resource


def provider_material(provider: ProviderCredential, api_key: str) -> ProviderMaterial:
    return ProviderMaterial(provider=provider, api_key=api_key)


def signing_key_material(key: SigningKey, hmac_secret: bytes) -> SigningKeyMaterial:
    return SigningKeyMaterial(signing_key=key, hmac_secret=hmac_secret)
