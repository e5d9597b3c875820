"""A snapshot with actors, signing keys (EdDSA, ES256, HS256) and keys, for identity tests.

Keys (all with secret SECRET, environment `live`):
- kws       workspace key (no bound actor)
- kalice    bound to alice (team ml)
- kover     bound to alice; policy lets `team` and `workflow` claims override
- kreq      workspace key; policy requires an actor token
- klabels   workspace key; policy allows labels (X-Oggy-Tags, X-Oggy-Workflow)
- kreplay   workspace key; policy requires replay protection (single-use jti)
- kcidr     workspace key; only 10.0.0.0/8, X-Forwarded-For believed from 192.168.0.0/16
- kshadow   workspace key; a shadow policy requires a token and denies model `gpt-4o`
- kcarol    bound to carol, who is disabled
Actor policies: bob may not use `gpt-4o`; team lab (dave) only from 10.0.0.0/8; erin
only from 10.0.0.0/8, behind a proxy on loopback (127.0.0.0/8) that her policy trusts;
frank's tokens are single use (replay protection).
"""

from __future__ import annotations

from collections.abc import Iterable

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from oggy.contract.key_text import hash_secret
from oggy.v1 import (
    actor_pb2,
    key_pb2,
    policy_pb2,
    provider_pb2,
    signing_key_pb2,
    snapshot_pb2,
    workspace_pb2,
)

WS = "workspaces/acme"
SECRET = "A" * 20 + "b" * 23
ED = Ed25519PrivateKey.generate()
ES = ec.generate_private_key(ec.SECP256R1())
HS = b"hmac-signing-secret-for-tests-0123456789"
SK = signing_key_pb2.SigningKey


def actor(name: str) -> str:
    return f"{WS}/actors/{name}"


def key_text(key_id: str) -> str:
    return f"oggy_live_{key_id}_{SECRET}"


def _pem(private: Ed25519PrivateKey | ec.EllipticCurvePrivateKey) -> str:
    return (
        private.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


def signing_keys(workspace: str = WS) -> list[snapshot_pb2.SigningKeyMaterial]:
    return [
        snapshot_pb2.SigningKeyMaterial(
            signing_key=SK(
                name=f"{workspace}/signingKeys/ed",
                algorithm=SK.ALGORITHM_EDDSA,
                public_key_pem=_pem(ED),
            )
        ),
        snapshot_pb2.SigningKeyMaterial(
            signing_key=SK(
                name=f"{workspace}/signingKeys/es",
                algorithm=SK.ALGORITHM_ES256,
                public_key_pem=_pem(ES),
            )
        ),
        snapshot_pb2.SigningKeyMaterial(
            signing_key=SK(name=f"{workspace}/signingKeys/hs", algorithm=SK.ALGORITHM_HS256),
            hmac_secret=HS,
        ),
    ]


def _key(key_id: str, **kw: object) -> snapshot_pb2.KeyMaterial:
    return snapshot_pb2.KeyMaterial(
        key=key_pb2.GatewayKey(
            name=f"{WS}/keys/{key_id}",
            state=key_pb2.GatewayKey.STATE_ACTIVE,
            environment="live",
            **kw,  # type: ignore[arg-type]
        ),
        secret_sha256=hash_secret(SECRET),
    )


def _policy(name: str, target: str, **kw: object) -> policy_pb2.Policy:
    return policy_pb2.Policy(name=f"{WS}/policies/{name}", target=target, **kw)  # type: ignore[arg-type]


def identity_snapshot(
    upstream_base_url: str = "http://127.0.0.1:9/v1",
    *,
    extra_keys: Iterable[snapshot_pb2.KeyMaterial] = (),
    extra_policies: Iterable[policy_pb2.Policy] = (),
) -> snapshot_pb2.Snapshot:
    A = actor_pb2.Actor
    return snapshot_pb2.Snapshot(
        revision=3,
        workspaces=[
            workspace_pb2.Workspace(name=WS),
            workspace_pb2.Workspace(name="workspaces/other"),
        ],
        actors=[
            A(name=actor("alice"), kind=A.KIND_USER, teams=[actor("ml"), actor("ops")]),
            A(name=actor("bob"), kind=A.KIND_USER),
            A(name=actor("carol"), kind=A.KIND_USER, disabled=True),
            A(name=actor("ml"), kind=A.KIND_TEAM),
            A(name=actor("ops"), kind=A.KIND_TEAM),
            A(name=actor("dave"), kind=A.KIND_USER, teams=[actor("lab")]),
            A(name=actor("lab"), kind=A.KIND_TEAM),
            A(name=actor("erin"), kind=A.KIND_USER),
            A(name=actor("frank"), kind=A.KIND_USER),
            A(name="workspaces/other/actors/mallory", kind=A.KIND_USER),
        ],
        signing_keys=signing_keys(),
        keys=[
            _key("kws"),
            _key("kalice", actor=actor("alice")),
            _key("kover", actor=actor("alice")),
            _key("kreq"),
            _key("klabels"),
            _key("kreplay"),
            _key("kcidr"),
            _key("kshadow"),
            _key("kcarol", actor=actor("carol")),
            *extra_keys,
        ],
        providers=[
            snapshot_pb2.ProviderMaterial(
                provider=provider_pb2.ProviderCredential(
                    name=f"{WS}/providers/fake",
                    kind=provider_pb2.ProviderCredential.KIND_OPENAI_COMPATIBLE,
                    base_url=upstream_base_url,
                    models=["gpt-4o-mini", "gpt-4o"],
                ),
                api_key="sk-upstream-secret",
            )
        ],
        policies=[
            _policy("over", f"{WS}/keys/kover", actor_claim_overrides=["team", "workflow"]),
            _policy("req", f"{WS}/keys/kreq", require_actor_token=True),
            _policy("labels", f"{WS}/keys/klabels", record_labels=policy_pb2.Policy.GRANT_ALLOW),
            _policy("replay", f"{WS}/keys/kreplay", replay_protection=True),
            _policy(
                "cidr",
                f"{WS}/keys/kcidr",
                allowed_cidrs=["10.0.0.0/8"],
                trusted_proxy_cidrs=["192.168.0.0/16"],
            ),
            _policy(
                "shadow",
                f"{WS}/keys/kshadow",
                shadow=True,
                require_actor_token=True,
                denied_models=["gpt-4o"],
            ),
            # Actor and team policies: they apply to workspace keys used with a token too.
            _policy("bob-models", actor("bob"), denied_models=["gpt-4o"]),
            _policy("lab-net", actor("lab"), allowed_cidrs=["10.0.0.0/8"]),
            _policy(
                "erin-net",
                actor("erin"),
                allowed_cidrs=["10.0.0.0/8"],
                trusted_proxy_cidrs=["127.0.0.0/8"],
            ),
            _policy("frank-replay", actor("frank"), replay_protection=True),
            *extra_policies,
        ],
    )
