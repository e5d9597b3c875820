"""The one mapping between API protos and what is stored.

Stored values are the resource protos themselves (a gateway key is stored as
KeyMaterial), with output-only fields set by the server and `etag` left empty:
the etag is the store's mod revision, filled in on the way out.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable

from google.protobuf.message import DecodeError
from google.protobuf.timestamp_pb2 import Timestamp

from controlplane.domain.errors import InvalidArgument
from controlplane.store.base import Item
from oggy.v1 import actor_pb2, key_pb2, policy_pb2, provider_pb2, snapshot_pb2, workspace_pb2

HINT_MIN_KEY_LENGTH = 8  # shorter keys get no hint: four characters would be half the key


class CorruptRecord(Exception):
    """A stored value does not parse as the proto its key says it is."""


def timestamp(unix_seconds: float) -> Timestamp:
    ts = Timestamp()
    ts.FromNanoseconds(int(unix_seconds * 1e9))
    return ts


def _parse(cls, item: Item):
    try:
        return cls.FromString(item.value)
    except DecodeError:
        raise CorruptRecord(f"{item.key} does not hold a {cls.__name__}") from None


# --- workspaces -----------------------------------------------------------------------


def new_workspace(request: workspace_pb2.Workspace, name: str, now: float) -> bytes:
    ws = workspace_pb2.Workspace(
        name=name,
        display_name=request.display_name,
        create_time=timestamp(now),
        update_time=timestamp(now),
    )
    return ws.SerializeToString()


def workspace_out(item: Item) -> workspace_pb2.Workspace:
    ws = _parse(workspace_pb2.Workspace, item)
    ws.etag = str(item.mod_revision)
    return ws


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
    key = key_pb2.GatewayKey(
        name=name,
        display_name=request.display_name,
        actor=request.actor,
        state=key_pb2.GatewayKey.STATE_ACTIVE,
        key_prefix=key_prefix,
        create_time=timestamp(now),
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


def revoked(material: snapshot_pb2.KeyMaterial, now: float) -> bytes:
    material.key.state = key_pb2.GatewayKey.STATE_REVOKED
    material.key.revoke_time.CopyFrom(timestamp(now))
    material.key.etag = ""
    return material.SerializeToString()


# --- actors ---------------------------------------------------------------------------


def new_actor(request: actor_pb2.Actor, name: str, now: float) -> bytes:
    actor = actor_pb2.Actor(
        name=name,
        display_name=request.display_name,
        kind=request.kind,
        teams=list(request.teams),
        disabled=request.disabled,
        create_time=timestamp(now),
    )
    return actor.SerializeToString()


def actor_out(item: Item) -> actor_pb2.Actor:
    actor = _parse(actor_pb2.Actor, item)
    actor.etag = str(item.mod_revision)
    return actor


# --- provider credentials -------------------------------------------------------------


def api_key_hint(api_key: str) -> str:
    return api_key[-4:] if len(api_key) >= HINT_MIN_KEY_LENGTH else ""


def api_key_fingerprint(api_key: str) -> str:
    return hashlib.sha256(api_key.encode("utf-8")).hexdigest()[:12]


def new_provider(
    request: provider_pb2.ProviderCredential, name: str, api_key: str, now: float
) -> bytes:
    """The stored credential: never the API key itself (that goes to the secrets tree)."""
    provider = provider_pb2.ProviderCredential(
        name=name,
        display_name=request.display_name,
        kind=request.kind,
        base_url=request.base_url,
        models=list(request.models),
        api_key_hint=api_key_hint(api_key),
        api_key_fingerprint=api_key_fingerprint(api_key),
        create_time=timestamp(now),
    )
    return provider.SerializeToString()


def provider_out(item: Item) -> provider_pb2.ProviderCredential:
    provider = _parse(provider_pb2.ProviderCredential, item)
    provider.api_key = ""  # belt and braces: responses never carry a key
    provider.etag = str(item.mod_revision)
    return provider


# --- policies -------------------------------------------------------------------------


def new_policy(request: policy_pb2.Policy, name: str, now: float) -> policy_pb2.Policy:
    policy = policy_pb2.Policy()
    policy.CopyFrom(request)
    policy.name = name
    policy.etag = ""
    policy.create_time.CopyFrom(timestamp(now))
    policy.update_time.CopyFrom(timestamp(now))
    return policy


def policy(item: Item) -> policy_pb2.Policy:
    return _parse(policy_pb2.Policy, item)


def policy_out(item: Item) -> policy_pb2.Policy:
    p = policy(item)
    p.etag = str(item.mod_revision)
    return p


def populated_fields(message: policy_pb2.Policy) -> list[str]:
    return [fd.name for fd, _ in message.ListFields()]


def apply_policy_update(
    stored: policy_pb2.Policy, patch: policy_pb2.Policy, fields: Iterable[str], now: float
) -> policy_pb2.Policy:
    """`stored` with each named field replaced by the patch's value (lists replaced whole)."""
    updated = policy_pb2.Policy()
    updated.CopyFrom(stored)
    for field in fields:
        descriptor = policy_pb2.Policy.DESCRIPTOR.fields_by_name[field]
        if descriptor.is_repeated:
            container = getattr(updated, field)
            del container[:]
            container.extend(getattr(patch, field))
        else:
            setattr(updated, field, getattr(patch, field))
    updated.update_time.CopyFrom(timestamp(now))
    updated.etag = ""
    return updated


# --- idempotency records --------------------------------------------------------------


def request_record(method: str, name: str) -> bytes:
    return json.dumps({"method": method, "name": name}, separators=(",", ":")).encode()


def parse_request_record(value: bytes) -> tuple[str, str]:
    try:
        data = json.loads(value)
        return str(data["method"]), str(data["name"])
    except (ValueError, KeyError, TypeError):
        raise InvalidArgument("request_id refers to an unreadable record; use a new one") from None
