"""Who pays is who a valid signature says (DESIGN invariant 4), end to end: actor tokens
(`X-Oggy-Actor`) minted by our helper and by PyJWT with Ed25519, ES256 and HS256 keys
registered through the admin API attribute requests; keys bound to an actor attribute to
it; unsigned headers never change who pays; every bad token is refused with its reason and
recorded as a blocked usage event."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from dataclasses import dataclass

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from oggy.v1 import actor_pb2, workspace_pb2
from oggy.v1 import admin_service_pb2 as admin_pb
from tests.e2e.conftest import Stack
from tests.e2e.identity.conftest import (
    SK,
    RecordingAdmin,
    SigningKeys,
    chat,
    chat_once,
    create_actor,
    create_policy,
    mint,
    new_key,
    public_pem,
    register_signing_keys,
    sdk,
    wait_outcome,
)
from tests.support.oggy_clients import Tenant, new_id, wait_for_requests

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(60)]

# Unsigned headers a client might hope would move the bill.
UNSIGNED_IDENTITY_HEADERS = {
    "X-Oggy-User": "bob",
    "X-Oggy-Team": "finance",
    "X-Oggy-App": "spoofed-app",
    "X-Oggy-Env": "spoofed-env",
    "X-User-Id": "bob",
}


@dataclass
class Identity:
    workspace: str
    other_workspace: str
    keys: SigningKeys
    team: str  # workspaces/w/actors/ml (kind team)
    alice: str  # user in team ml
    bob: str
    carol: str  # disabled
    ws_key: str  # workspace key text (no bound actor)
    alice_key_name: str
    alice_key: str
    require_key: str  # policy: require_actor_token
    replay_key: str  # policy: replay_protection


@pytest.fixture(scope="module")
def ident(
    stack: Stack, radmin: RecordingAdmin, tenant: Tenant, secret_registry: dict[str, str]
) -> Identity:
    ws = tenant.workspace
    keys = register_signing_keys(radmin, ws, secret_registry)
    team = create_actor(radmin, ws, "ml", kind=actor_pb2.Actor.KIND_TEAM)
    alice = create_actor(radmin, ws, "alice", kind=actor_pb2.Actor.KIND_USER, teams=[team])
    bob = create_actor(radmin, ws, "bob", kind=actor_pb2.Actor.KIND_USER)
    carol = create_actor(radmin, ws, "carol", kind=actor_pb2.Actor.KIND_USER, disabled=True)
    # Another workspace that trusts the very same Ed25519 key under the same kid: a token
    # minted for it must still not work here (audience binding).
    other = radmin.CreateWorkspace(
        admin_pb.CreateWorkspaceRequest(
            workspace_id=new_id("id-other"), workspace=workspace_pb2.Workspace()
        )
    ).workspace.name
    radmin.CreateSigningKey(
        admin_pb.CreateSigningKeyRequest(
            parent=other,
            signing_key_id=keys.ed_kid,
            signing_key=SK(algorithm=SK.ALGORITHM_EDDSA, public_key_pem=public_pem(keys.ed)),
        )
    )
    alice_key_name, alice_key = new_key(radmin, stack, ws, secret_registry, actor=alice)
    require_name, require_key = new_key(radmin, stack, ws, secret_registry)
    create_policy(radmin, ws, target=require_name, require_actor_token=True)
    replay_name, replay_key = new_key(radmin, stack, ws, secret_registry)
    create_policy(radmin, ws, target=replay_name, replay_protection=True)
    ident = Identity(
        ws,
        other,
        keys,
        team,
        alice,
        bob,
        carol,
        tenant.key_text,
        alice_key_name,
        alice_key,
        require_key,
        replay_key,
    )
    # Config is pushed asynchronously: wait until signing keys, actors and both policies
    # are on the data plane (one probe per piece).
    token = mint(keys.ed, keys.ed_kid, ws, alice)
    wait_outcome(
        lambda: chat_once(stack.dp.url, ident.ws_key, actor=token),
        lambda o: o.status == 200,
        "signing keys and actors on the data plane",
    )
    wait_outcome(
        lambda: chat_once(stack.dp.url, require_key),
        lambda o: o.code == "actor_token_required",
        "require_actor_token policy on the data plane",
    )
    wait_outcome(
        lambda: chat_once(
            stack.dp.url, replay_key, actor=mint(keys.ed, keys.ed_kid, ws, alice, jti=False)
        ),
        lambda o: o.status == 401,
        "replay_protection policy on the data plane",
    )
    return ident


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def raw_jwt(header: dict, claims: dict, sign: bytes | None) -> str:
    """A JWT assembled by hand (what an attacker would send)."""
    signing_input = f"{b64url(json.dumps(header).encode())}.{b64url(json.dumps(claims).encode())}"
    signature = (
        b"" if sign is None else hmac.new(sign, signing_input.encode(), hashlib.sha256).digest()
    )
    return f"{signing_input}.{b64url(signature)}"


def claims_for(workspace: str, subject: str) -> dict:
    now = int(time.time())
    return {"sub": subject, "aud": workspace, "iat": now, "exp": now + 300}


# --- attribution --------------------------------------------------------------------------


def alg_key(keys: SigningKeys, alg: str):
    return {
        "EdDSA": (keys.ed, keys.ed_kid),
        "ES256": (keys.es, keys.es_kid),
        "HS256": (keys.hs, keys.hs_kid),
    }[alg]


@pytest.mark.parametrize("alg", ["EdDSA", "ES256", "HS256"])
def test_signed_actor_pays_on_a_workspace_key(
    stack: Stack, radmin, ident: Identity, alg: str
) -> None:
    key, kid = alg_key(ident.keys, alg)
    token = mint(
        key,
        kid,
        ident.workspace,
        ident.alice,
        team="ml",
        app="billing",
        env="prod",
        workflow="nightly-close",
    )
    with sdk(stack.dp.url, ident.ws_key, actor=token) as client:
        outcome = chat(client, headers=UNSIGNED_IDENTITY_HEADERS)
    assert outcome.status == 200, outcome
    event = wait_for_requests(radmin, ident.workspace, [outcome.request_id])[outcome.request_id]
    assert event.actor == ident.alice
    assert event.team == ident.team  # the `team` claim names an actor of the workspace
    assert (event.app, event.environment, event.workflow) == ("billing", "prod", "nightly-close")
    assert (event.policy_reason, event.error_type) == ("", "")


@pytest.mark.parametrize("alg", ["EdDSA", "ES256", "HS256"])
def test_token_minted_with_pyjwt_is_accepted(
    stack: Stack, radmin, ident: Identity, alg: str
) -> None:
    key, kid = alg_key(ident.keys, alg)
    now = int(time.time())
    token = jwt.encode(
        {
            "sub": ident.bob.rsplit("/", 1)[1],  # a bare actor id works as well
            "aud": ident.workspace,
            "iat": now,
            "exp": now + 120,
            "app": f"pyjwt-{alg.lower()}",
        },
        key,
        algorithm=alg,
        headers={"kid": kid},
    )
    outcome = chat_once(stack.dp.url, ident.ws_key, actor=token)
    assert outcome.status == 200, outcome
    event = wait_for_requests(radmin, ident.workspace, [outcome.request_id])[outcome.request_id]
    assert (event.actor, event.app) == (ident.bob, f"pyjwt-{alg.lower()}")


def test_key_bound_to_an_actor_pays_and_unsigned_headers_change_nothing(
    stack: Stack, radmin, ident: Identity
) -> None:
    bound = chat_once(stack.dp.url, ident.alice_key, headers=UNSIGNED_IDENTITY_HEADERS)
    unbound = chat_once(stack.dp.url, ident.ws_key, headers=UNSIGNED_IDENTITY_HEADERS)
    # A token for alice on alice's key: fine, but without actor_claim_overrides its claims
    # do not replace alice's team.
    own = chat_once(
        stack.dp.url,
        ident.alice_key,
        actor=mint(ident.keys.es, ident.keys.es_kid, ident.workspace, ident.alice, team="bob"),
    )
    assert (bound.status, unbound.status, own.status) == (200, 200, 200), (bound, unbound, own)
    events = wait_for_requests(
        radmin, ident.workspace, [bound.request_id, unbound.request_id, own.request_id]
    )
    assert (events[bound.request_id].actor, events[bound.request_id].team) == (
        ident.alice,
        ident.team,
    )
    assert events[bound.request_id].key == ident.alice_key_name
    assert (events[unbound.request_id].actor, events[unbound.request_id].team) == ("", "")
    assert (events[own.request_id].actor, events[own.request_id].team) == (ident.alice, ident.team)
    for event in events.values():
        assert "bob" not in (event.actor + event.team + event.app + event.environment)


def test_token_for_another_actor_on_a_bound_key_is_refused(
    stack: Stack, radmin, ident: Identity
) -> None:
    token = mint(ident.keys.ed, ident.keys.ed_kid, ident.workspace, ident.bob)
    outcome = chat_once(stack.dp.url, ident.alice_key, actor=token)
    assert (outcome.status, outcome.code) == (401, "actor_token_invalid"), outcome
    assert "actor_mismatch" in outcome.message
    event = wait_for_requests(radmin, ident.workspace, [outcome.request_id])[outcome.request_id]
    assert event.policy_reason == "actor_token_invalid"
    assert event.actor != ident.bob


# --- bad tokens ---------------------------------------------------------------------------


def bad_tokens(ident: Identity) -> dict[str, tuple[str, str]]:
    """case → (token, reason the message must name)."""
    ws, keys = ident.workspace, ident.keys
    good = claims_for(ws, ident.alice)
    expired_at = time.time() - 3600
    return {
        "alg none": (
            raw_jwt({"alg": "none", "typ": "JWT", "kid": keys.ed_kid}, good, None),
            "alg_not_allowed",
        ),
        "unknown kid": (mint(keys.ed, "no-such-kid", ws, ident.alice), "unknown_kid"),
        "another workspace": (
            mint(keys.ed, keys.ed_kid, ident.other_workspace, ident.alice),
            "wrong_audience",
        ),
        "expired": (
            mint(keys.ed, keys.ed_kid, ws, ident.alice, now=expired_at, ttl_seconds=60),
            "expired",
        ),
        "malformed": ("this-is-not-a-jwt", "malformed"),
        "malformed json": ("e30.bm90IGpzb24.c2ln", "malformed"),
        "hs/es confusion": (
            raw_jwt(
                {"alg": "HS256", "typ": "JWT", "kid": keys.es_kid},
                good,
                keys.es_public_pem.encode(),
            ),
            "alg_mismatch",
        ),
        "oversized": (mint(keys.ed, keys.ed_kid, ws, ident.alice, app="x" * 5000), "too_large"),
        "forged signature": (
            mint(Ed25519PrivateKey.generate(), keys.ed_kid, ws, ident.alice),
            "bad_signature",
        ),
        "disabled actor": (mint(keys.hs, keys.hs_kid, ws, ident.carol), "actor_disabled"),
        "unknown actor": (
            mint(keys.hs, keys.hs_kid, ws, f"{ws}/actors/nobody"),
            "unknown_actor",
        ),
    }


BAD_TOKEN_CASES = [
    "alg none",
    "unknown kid",
    "another workspace",
    "expired",
    "malformed",
    "malformed json",
    "hs/es confusion",
    "oversized",
    "forged signature",
    "disabled actor",
    "unknown actor",
]


def test_every_bad_token_is_refused_with_its_reason(stack: Stack, radmin, ident: Identity) -> None:
    cases = bad_tokens(ident)
    assert sorted(cases) == sorted(BAD_TOKEN_CASES)
    outcomes = {}
    for case, (token, reason) in cases.items():
        outcome = chat_once(stack.dp.url, ident.ws_key, actor=token)
        outcomes[case] = outcome
        assert (outcome.status, outcome.code) == (401, "actor_token_invalid"), (case, outcome)
        assert f"({reason})" in outcome.message, (case, outcome.message)
        assert token not in outcome.message
    events = wait_for_requests(radmin, ident.workspace, [o.request_id for o in outcomes.values()])
    for case, outcome in outcomes.items():
        event = events[outcome.request_id]
        assert (event.http_status, event.error_type, event.policy_reason) == (
            401,
            "actor_token_invalid",
            "actor_token_invalid",
        ), case
        assert event.actor == "", f"{case}: a refused token still attributed to {event.actor}"
        assert event.provider == "" and event.total_tokens == 0, f"{case} reached the provider"


def test_required_token_missing_is_refused(stack: Stack, radmin, ident: Identity) -> None:
    missing = chat_once(stack.dp.url, ident.require_key, headers=UNSIGNED_IDENTITY_HEADERS)
    assert (missing.status, missing.code) == (401, "actor_token_required"), missing
    present = chat_once(
        stack.dp.url,
        ident.require_key,
        actor=mint(ident.keys.hs, ident.keys.hs_kid, ident.workspace, ident.alice),
    )
    assert present.status == 200, present
    events = wait_for_requests(radmin, ident.workspace, [missing.request_id, present.request_id])
    assert events[missing.request_id].policy_reason == "actor_token_required"
    assert events[present.request_id].actor == ident.alice


def test_replayed_token_is_refused_under_replay_protection(
    stack: Stack, radmin, ident: Identity
) -> None:
    token = mint(ident.keys.ed, ident.keys.ed_kid, ident.workspace, ident.alice)
    with sdk(stack.dp.url, ident.replay_key, actor=token) as client:
        first = chat(client)
        replayed = chat(client)
    assert first.status == 200, first
    assert (replayed.status, replayed.code) == (401, "actor_token_invalid"), replayed
    assert "(replayed)" in replayed.message
    no_jti = chat_once(
        stack.dp.url,
        ident.replay_key,
        actor=mint(ident.keys.ed, ident.keys.ed_kid, ident.workspace, ident.alice, jti=False),
    )
    assert (no_jti.status, no_jti.code) == (401, "actor_token_invalid"), no_jti
    assert "jti" in no_jti.message
    # Without replay protection the same token may be reused (it is memoised, not spent).
    again = chat_once(stack.dp.url, ident.ws_key, actor=token)
    assert again.status == 200, again
    events = wait_for_requests(radmin, ident.workspace, [first.request_id, replayed.request_id])
    assert events[first.request_id].actor == ident.alice
    assert events[replayed.request_id].policy_reason == "actor_token_invalid"
