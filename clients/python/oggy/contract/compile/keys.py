"""One workspace's gateway keys → CompiledKeys, each with its merged policy.

A key gets the policies of its workspace, of its bound actor's teams, of the
actor and its own (most restrictive wins, contract/policy.py; prompt logging
from the same set, contract/prompt_logging.py); keys with the same set share
one compiled policy and its memo.
"""

from __future__ import annotations

from collections.abc import Sequence

from google.protobuf.timestamp_pb2 import Timestamp

from oggy.contract.compile import refs
from oggy.contract.compile.model import CompiledKey, CompiledWorkspace, ConfigError
from oggy.contract.compile.policies import WorkspacePolicies
from oggy.contract.identity import WorkspaceIdentity
from oggy.contract.names import Collection
from oggy.v1 import key_pb2, snapshot_pb2

SECRET_SHA256_LEN = 32


def compile_keys(
    workspace: CompiledWorkspace,
    keys: Sequence[snapshot_pb2.KeyMaterial],
    identity: WorkspaceIdentity,
    policies: WorkspacePolicies,
) -> dict[str, CompiledKey]:
    """Keys by key id (the last name segment: the id the key text carries)."""
    out: dict[str, CompiledKey] = {}
    for material in keys:
        key = material.key
        key_id = refs.child(key.name, Collection.KEYS, "key name").resource_id
        if key_id in out:
            raise ConfigError(f"key {key.name} appears twice")
        if len(material.secret_sha256) != SECRET_SHA256_LEN:
            raise ConfigError(f"key {key.name}: secret_sha256 must be {SECRET_SHA256_LEN} bytes")
        bound = identity.actors.get(key.actor) if key.actor else None
        if key.actor and (bound is None or bound.name != key.actor):  # (also by bare id)
            refs.reference(key.actor, Collection.ACTORS, workspace.name, f"key {key.name}: actor")
            raise ConfigError(f"key {key.name}: actor {key.actor} is not in the snapshot")
        teams = bound.teams if bound else ()
        names = policies.names_for((workspace.name, *teams, key.actor, key.name))
        merged = policies.merged(names)
        out[key_id] = CompiledKey(
            name=key.name,
            key_id=key_id,
            workspace=workspace,
            display_name=key.display_name,
            actor=key.actor,
            environment=key.environment,
            revoked=key.state == key_pb2.GatewayKey.STATE_REVOKED,
            expire_s=_seconds(key.expire_time) if key.HasField("expire_time") else None,
            secret_sha256=bytes(material.secret_sha256),
            policy=merged.policy,
            actor_disabled=bound.disabled if bound else False,
            **_previous_secret(material),
            identity=identity,
            policy_names=names,
            bound_actor=bound,
            prompt_logging=merged.prompt_logging,
        )
    return out


def _previous_secret(material: snapshot_pb2.KeyMaterial) -> dict[str, object]:
    """The pre-rotation secret hash and its deadline; without a deadline it never works."""
    previous = material.previous_secret_sha256
    if not previous:
        return {}
    if len(previous) != SECRET_SHA256_LEN:
        raise ConfigError(
            f"key {material.key.name}: previous_secret_sha256 must be {SECRET_SHA256_LEN} bytes"
        )
    if not material.key.HasField("previous_secret_expire_time"):
        return {}
    return {
        "previous_secret_sha256": bytes(previous),
        "previous_expire_s": _seconds(material.key.previous_secret_expire_time),
    }


def _seconds(ts: Timestamp) -> float:
    return ts.seconds + ts.nanos / 1e9
