"""The one mapping between API protos and what is stored.

Stored values are the resource protos themselves (a gateway key is stored as
KeyMaterial), with output-only fields set by the server and `etag` left empty:
the etag is the store's mod revision, filled in on the way out.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, TypeVar

from google.protobuf.message import DecodeError, Message
from google.protobuf.timestamp_pb2 import Timestamp

from controlplane.domain.errors import InvalidArgument
from controlplane.store.base import Item
from oggy.v1 import (
    actor_pb2,
    audit_pb2,
    budget_pb2,
    key_pb2,
    limit_pb2,
    policy_pb2,
    price_pb2,
    provider_pb2,
    route_pb2,
    signing_key_pb2,
    snapshot_pb2,
    workspace_pb2,
)

if TYPE_CHECKING:
    from controlplane.domain import signing_keys

HINT_MIN_KEY_LENGTH = 8  # shorter keys get no hint: four characters would be half the key


class CorruptRecord(Exception):
    """A stored value does not parse as the proto its key says it is."""


def timestamp(unix_seconds: float) -> Timestamp:
    ts = Timestamp()
    ts.FromNanoseconds(int(unix_seconds * 1e9))
    return ts


M = TypeVar("M", bound=Message)
# The resources with create and update times (and a name and an etag).
V = TypeVar("V", policy_pb2.Policy, limit_pb2.Limit, budget_pb2.Budget)


def _parse(cls: type[M], item: Item) -> M:
    try:
        return cls.FromString(item.value)
    except DecodeError:
        raise CorruptRecord(f"{item.key} does not hold a {cls.__name__}") from None


def _created(
    cls: type[M], request: M, name: str, now: float, copied: Iterable[str], **set_: Any
) -> M:
    """A new stored resource: named `name`, created at `now`, with the `copied` fields
    taken from the request and the `set_` ones given here."""
    fields = {field: getattr(request, field) for field in copied}
    return cls(name=name, create_time=timestamp(now), **fields, **set_)


def _out(cls: type[M], item: Item) -> M:
    """The stored resource as the API returns it: its etag is the store's mod revision."""
    message = _parse(cls, item)
    message.etag = str(item.mod_revision)  # type: ignore[attr-defined]
    return message


# --- workspaces -----------------------------------------------------------------------


def new_workspace(request: workspace_pb2.Workspace, name: str, now: float) -> bytes:
    ws = _created(
        workspace_pb2.Workspace, request, name, now, ["display_name"], update_time=timestamp(now)
    )
    return ws.SerializeToString()


def workspace_out(item: Item) -> workspace_pb2.Workspace:
    return _out(workspace_pb2.Workspace, item)


# --- gateway keys ---------------------------------------------------------------------


def new_key_material(
    request: key_pb2.GatewayKey,
    *,
    name: str,
    environment: str,
    key_prefix: str,
    secret_sha256: bytes,
    now: float,
) -> bytes:
    key = _created(
        key_pb2.GatewayKey,
        request,
        name,
        now,
        ["display_name", "actor"],
        state=key_pb2.GatewayKey.STATE_ACTIVE,
        key_prefix=key_prefix,
        environment=environment,
    )
    if request.HasField("expire_time"):
        key.expire_time.CopyFrom(request.expire_time)
    return snapshot_pb2.KeyMaterial(key=key, secret_sha256=secret_sha256).SerializeToString()


def key_material(item: Item) -> snapshot_pb2.KeyMaterial:
    return _parse(snapshot_pb2.KeyMaterial, item)


def gateway_key_out(item: Item) -> key_pb2.GatewayKey:
    """The public part only: the secret's hash never leaves the store through the API."""
    key = key_pb2.GatewayKey()
    key.CopyFrom(key_material(item).key)
    key.etag = str(item.mod_revision)
    return key


def rotated(
    material: snapshot_pb2.KeyMaterial, new_sha256: bytes, now: float, grace_s: float
) -> bytes:
    """The key with a new secret hash; the old one stays valid for `grace_s` seconds.

    Only one previous secret is kept: rotating again ends the grace of the one before.
    """
    previous = material.secret_sha256
    material.secret_sha256 = new_sha256
    if grace_s > 0:
        material.previous_secret_sha256 = previous
    else:
        material.ClearField("previous_secret_sha256")
    material.key.rotate_time.CopyFrom(timestamp(now))
    material.key.previous_secret_expire_time.CopyFrom(timestamp(now + max(grace_s, 0.0)))
    material.key.etag = ""
    return material.SerializeToString()


def revoked(material: snapshot_pb2.KeyMaterial, now: float) -> bytes:
    material.key.state = key_pb2.GatewayKey.STATE_REVOKED
    material.key.revoke_time.CopyFrom(timestamp(now))
    material.key.etag = ""
    return material.SerializeToString()


# --- actors ---------------------------------------------------------------------------


def new_actor(request: actor_pb2.Actor, name: str, now: float) -> bytes:
    actor = _created(
        actor_pb2.Actor, request, name, now, ["display_name", "kind", "teams", "disabled"]
    )
    return actor.SerializeToString()


def actor_out(item: Item) -> actor_pb2.Actor:
    return _out(actor_pb2.Actor, item)


# --- provider credentials -------------------------------------------------------------


def api_key_hint(api_key: str) -> str:
    return api_key[-4:] if len(api_key) >= HINT_MIN_KEY_LENGTH else ""


def api_key_fingerprint(api_key: str) -> str:
    return hashlib.sha256(api_key.encode("utf-8")).hexdigest()[:12]


def new_provider(
    request: provider_pb2.ProviderCredential, name: str, api_key: str, now: float
) -> bytes:
    """The stored credential: never the API key itself (that goes to the secrets tree)."""
    copied = [
        "display_name",
        "kind",
        "base_url",
        "models",
        "api_version",
        "deployments",
        "allow_private_network",
    ]
    provider = _created(
        provider_pb2.ProviderCredential,
        request,
        name,
        now,
        copied,
        api_key_hint=api_key_hint(api_key),
        api_key_fingerprint=api_key_fingerprint(api_key),
        timeouts=request.timeouts if request.HasField("timeouts") else None,
    )
    return provider.SerializeToString()


def provider(item: Item) -> provider_pb2.ProviderCredential:
    return _parse(provider_pb2.ProviderCredential, item)


def apply_provider_update(
    stored: provider_pb2.ProviderCredential,
    patch: provider_pb2.ProviderCredential,
    fields: Iterable[str],
) -> provider_pb2.ProviderCredential:
    """`stored` with the masked fields replaced; a new api_key only updates hint/fingerprint."""
    fields = tuple(fields)
    updated = apply_mask(stored, patch, [f for f in fields if f != "api_key"])
    if "api_key" in fields:
        updated.api_key_hint = api_key_hint(patch.api_key)
        updated.api_key_fingerprint = api_key_fingerprint(patch.api_key)
    updated.api_key = ""
    return updated


def provider_out(item: Item) -> provider_pb2.ProviderCredential:
    provider = _out(provider_pb2.ProviderCredential, item)
    provider.api_key = ""  # belt and braces: responses never carry a key
    return provider


# --- policies -------------------------------------------------------------------------


def new_versioned(request: V, name: str, now: float) -> V:
    """A copy of a created resource with `create_time`/`update_time` (a Policy, Limit,
    Budget): the request's fields kept, the server's own set."""
    created = type(request)()
    created.CopyFrom(request)
    created.name = name
    created.etag = ""
    created.create_time.CopyFrom(timestamp(now))
    created.update_time.CopyFrom(timestamp(now))
    return created


def policy(item: Item) -> policy_pb2.Policy:
    return _parse(policy_pb2.Policy, item)


def policy_out(item: Item) -> policy_pb2.Policy:
    return _out(policy_pb2.Policy, item)


def populated_fields(message: Message) -> list[str]:
    return [fd.name for fd, _ in message.ListFields()]


def apply_versioned_update(stored: V, patch: V, fields: Iterable[str], now: float) -> V:
    """`stored` with each named field replaced by the patch's value (lists replaced whole),
    its `update_time` now."""
    updated = apply_mask(stored, patch, fields)
    updated.update_time.CopyFrom(timestamp(now))
    return updated


def apply_mask(stored: M, patch: M, fields: Iterable[str]) -> M:
    """A copy of `stored` with each named field replaced whole by the patch's value."""
    updated = type(stored)()
    updated.CopyFrom(stored)
    for field in fields:
        descriptor = updated.DESCRIPTOR.fields_by_name[field]
        if descriptor.message_type is not None and descriptor.message_type.GetOptions().map_entry:
            container = getattr(updated, field)
            container.clear()
            container.update(getattr(patch, field))
        elif descriptor.is_repeated:
            container = getattr(updated, field)
            del container[:]
            container.extend(getattr(patch, field))
        elif descriptor.message_type is not None:
            if patch.HasField(field):
                getattr(updated, field).CopyFrom(getattr(patch, field))
            else:
                updated.ClearField(field)
        else:
            setattr(updated, field, getattr(patch, field))
    if "etag" in updated.DESCRIPTOR.fields_by_name:
        updated.etag = ""  # type: ignore[attr-defined]
    return updated


# --- actors (updates) ------------------------------------------------------------------


def actor(item: Item) -> actor_pb2.Actor:
    return _parse(actor_pb2.Actor, item)


# --- signing keys -----------------------------------------------------------------------


def new_signing_key(
    request: signing_key_pb2.SigningKey, name: str, material: signing_keys.Material, now: float
) -> bytes:
    """Stored without the HMAC secret (that goes to the secrets tree, encrypted)."""
    key = _created(
        signing_key_pb2.SigningKey,
        request,
        name,
        now,
        ["algorithm"],
        public_key_pem=material.public_key_pem,
        fingerprint=material.fingerprint,
    )
    return key.SerializeToString()


def signing_key_out(item: Item) -> signing_key_pb2.SigningKey:
    key = _out(signing_key_pb2.SigningKey, item)
    key.hmac_secret = ""  # belt and braces: responses never carry the secret
    return key


# --- routes -----------------------------------------------------------------------------


def new_route(request: route_pb2.Route, name: str, now: float) -> bytes:
    route = _created(route_pb2.Route, request, name, now, ["model", "targets"])
    return route.SerializeToString()


def route_out(item: Item) -> route_pb2.Route:
    return _out(route_pb2.Route, item)


# --- prices -----------------------------------------------------------------------------


def new_price(request: price_pb2.ModelPrice, name: str, now: float) -> bytes:
    price = price_pb2.ModelPrice()
    price.CopyFrom(request)
    price.name = name
    price.etag = ""
    if not price.HasField("effective_time"):
        price.effective_time.CopyFrom(timestamp(int(now)))
    return price.SerializeToString()


def price_out(item: Item) -> price_pb2.ModelPrice:
    return _out(price_pb2.ModelPrice, item)


# --- limits and budgets ------------------------------------------------------------------


def limit(item: Item) -> limit_pb2.Limit:
    return _parse(limit_pb2.Limit, item)


def limit_out(item: Item) -> limit_pb2.Limit:
    return _out(limit_pb2.Limit, item)


def budget(item: Item) -> budget_pb2.Budget:
    return _parse(budget_pb2.Budget, item)


def budget_out(item: Item) -> budget_pb2.Budget:
    return _out(budget_pb2.Budget, item)


# --- audit ------------------------------------------------------------------------------


def audit_event(item: Item) -> audit_pb2.AuditEvent:
    return _parse(audit_pb2.AuditEvent, item)


# --- idempotency records --------------------------------------------------------------


def request_record(method: str, name: str) -> bytes:
    return json.dumps({"method": method, "name": name}, separators=(",", ":")).encode()


def parse_request_record(value: bytes) -> tuple[str, str]:
    try:
        data = json.loads(value)
        return str(data["method"]), str(data["name"])
    except (ValueError, KeyError, TypeError):
        raise InvalidArgument("request_id refers to an unreadable record; use a new one") from None
