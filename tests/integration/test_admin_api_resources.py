"""AdminService issue-3/4 RPCs against a real grpc.aio server (create_server) on real etcd:
signing keys, routes, prices, actor/provider updates, key rotation, audit, effective policy."""

from __future__ import annotations

import hashlib
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import grpc
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519
from google.protobuf.duration_pb2 import Duration
from google.protobuf.field_mask_pb2 import FieldMask

from controlplane.server import ControlPlaneServer, create_server
from controlplane.settings import Settings
from controlplane.store.etcd import EtcdStore
from oggy.contract.price_book import catalog_version
from oggy.v1 import (
    actor_pb2,
    audit_pb2,
    key_pb2,
    policy_pb2,
    price_pb2,
    provider_pb2,
    route_pb2,
    signing_key_pb2,
)
from oggy.v1 import admin_service_pb2 as pb
from oggy.v1 import admin_service_pb2_grpc as admin_grpc
from oggy.v1 import workspace_pb2 as ws_pb
from tests.support.etcd import etcd_endpoint_fixture, unique_prefix  # noqa: F401

W = "workspaces/acme"
API_KEY = "sk-int-0123456789abcdefSECRET"
HMAC = "h" * 24 + "SECRETHMAC" + "h" * 6
SK = signing_key_pb2.SigningKey
ED_PEM = (
    ed25519.Ed25519PrivateKey.generate()
    .public_key()
    .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    .decode()
)


@dataclass
class Env:
    cp: ControlPlaneServer
    stub: admin_grpc.AdminServiceStub
    md: tuple[tuple[str, str], ...]
    prefix: str
    store: EtcdStore


@pytest.fixture
async def env(etcd_endpoint: str, tmp_path: Path) -> AsyncIterator[Env]:
    async with admin_env(etcd_endpoint, tmp_path) as e:
        yield e


@asynccontextmanager
async def admin_env(etcd_endpoint: str, tmp_path: Path) -> AsyncIterator[Env]:
    """A control plane on a fresh etcd prefix with workspace `acme` (other modules'
    `env` fixtures use it too)."""
    prefix = unique_prefix()
    settings = Settings.from_flags(
        state_dir=tmp_path / "state",
        etcd=etcd_endpoint,
        grpc="127.0.0.1:0",
        etcd_prefix=prefix,
        environ={},
    )
    cp, port = await create_server(settings)
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{port}")
    store = EtcdStore(etcd_endpoint)
    md = (("authorization", f"Bearer {cp.admin_token}"),)
    e = Env(cp, admin_grpc.AdminServiceStub(channel), md, prefix, store)
    await e.stub.CreateWorkspace(
        pb.CreateWorkspaceRequest(workspace_id="acme", workspace=ws_pb.Workspace()), metadata=md
    )
    try:
        yield e
    finally:
        await channel.close()
        await store.close()
        await cp.stop(None)


async def code_of(awaitable) -> grpc.StatusCode:
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await awaitable
    return info.value.code()


async def provider(e: Env, pid: str = "local", **kw) -> provider_pb2.ProviderCredential:
    body = provider_pb2.ProviderCredential(
        kind=provider_pb2.ProviderCredential.KIND_OPENAI_COMPATIBLE,
        base_url="http://127.0.0.1:9/v1",
        models=["m*"],
        api_key=API_KEY,
        allow_private_network=True,
    )
    for k, v in kw.items():
        if isinstance(v, provider_pb2.UpstreamTimeouts):
            body.timeouts.CopyFrom(v)
        else:
            setattr(body, k, v)
    resp = await e.stub.CreateProviderCredential(
        pb.CreateProviderCredentialRequest(parent=W, provider_id=pid, provider_credential=body),
        metadata=e.md,
    )
    return resp.provider_credential


async def audits(e: Env, parent: str = "", page_size: int = 0) -> list[audit_pb2.AuditEvent]:
    resp = await e.stub.ListAuditEvents(
        pb.ListAuditEventsRequest(parent=parent, page_size=page_size), metadata=e.md
    )
    return list(resp.audit_events)


# --- signing keys ------------------------------------------------------------------------


async def test_signing_key_crud_and_hmac_secret_never_returned(env: Env) -> None:
    stub, md = env.stub, env.md
    ed = (
        await stub.CreateSigningKey(
            pb.CreateSigningKeyRequest(
                parent=W,
                signing_key_id="Ed.Key-1",
                signing_key=SK(algorithm=SK.ALGORITHM_EDDSA, public_key_pem=ED_PEM),
            ),
            metadata=md,
        )
    ).signing_key
    assert ed.name == f"{W}/signingKeys/Ed.Key-1" and ed.public_key_pem == ED_PEM
    assert ed.fingerprint == hashlib.sha256(ED_PEM.encode()).hexdigest()[:12]
    hs = (
        await stub.CreateSigningKey(
            pb.CreateSigningKeyRequest(
                parent=W,
                signing_key_id="hs",
                signing_key=SK(algorithm=SK.ALGORITHM_HS256, hmac_secret=HMAC),
            ),
            metadata=md,
        )
    ).signing_key
    assert hs.hmac_secret == "" and hs.fingerprint == hashlib.sha256(HMAC.encode()).hexdigest()[:12]
    got = (await stub.GetSigningKey(pb.GetSigningKeyRequest(name=hs.name), metadata=md)).signing_key
    assert got.hmac_secret == "" and got.etag == hs.etag
    listed = await stub.ListSigningKeys(pb.ListSigningKeysRequest(parent=W), metadata=md)
    assert [k.name for k in listed.signing_keys] == [ed.name, hs.name]
    # The secret is envelope-encrypted under secrets/, the record holds none.
    record = await env.store.get(env.prefix + hs.name)
    secret = await env.store.get(f"{env.prefix}secrets/{hs.name}")
    assert record is not None and secret is not None
    assert b"SECRETHMAC" not in record.value and b"SECRETHMAC" not in secret.value
    # Errors.
    dup = pb.CreateSigningKeyRequest(
        parent=W,
        signing_key_id="hs",
        signing_key=SK(algorithm=SK.ALGORITHM_HS256, hmac_secret=HMAC),
    )
    assert await code_of(stub.CreateSigningKey(dup, metadata=md)) == grpc.StatusCode.ALREADY_EXISTS
    short = pb.CreateSigningKeyRequest(
        parent=W, signing_key=SK(algorithm=SK.ALGORITHM_HS256, hmac_secret="too-short")
    )
    assert await code_of(stub.CreateSigningKey(short, metadata=md)) == (
        grpc.StatusCode.INVALID_ARGUMENT
    )
    wrong_curve = pb.CreateSigningKeyRequest(
        parent=W, signing_key=SK(algorithm=SK.ALGORITHM_ES256, public_key_pem=ED_PEM)
    )
    assert await code_of(stub.CreateSigningKey(wrong_curve, metadata=md)) == (
        grpc.StatusCode.INVALID_ARGUMENT
    )
    orphan = pb.CreateSigningKeyRequest(
        parent="workspaces/nope",
        signing_key=SK(algorithm=SK.ALGORITHM_EDDSA, public_key_pem=ED_PEM),
    )
    assert await code_of(stub.CreateSigningKey(orphan, metadata=md)) == grpc.StatusCode.NOT_FOUND
    stale = pb.DeleteSigningKeyRequest(name=hs.name, etag=str(int(hs.etag) - 1))
    assert await code_of(stub.DeleteSigningKey(stale, metadata=md)) == grpc.StatusCode.ABORTED
    await stub.DeleteSigningKey(pb.DeleteSigningKeyRequest(name=hs.name, etag=hs.etag), metadata=md)
    assert await env.store.get(f"{env.prefix}secrets/{hs.name}") is None
    missing = pb.GetSigningKeyRequest(name=hs.name)
    assert await code_of(stub.GetSigningKey(missing, metadata=md)) == grpc.StatusCode.NOT_FOUND
    no_auth = pb.ListSigningKeysRequest(parent=W)
    assert await code_of(stub.ListSigningKeys(no_auth)) == grpc.StatusCode.UNAUTHENTICATED


# --- actors and keys ---------------------------------------------------------------------


async def test_update_actor_mask_and_etag(env: Env) -> None:
    stub, md = env.stub, env.md
    team = (
        await stub.CreateActor(
            pb.CreateActorRequest(
                parent=W, actor_id="team", actor=actor_pb2.Actor(kind=actor_pb2.Actor.KIND_TEAM)
            ),
            metadata=md,
        )
    ).actor
    alice = (
        await stub.CreateActor(
            pb.CreateActorRequest(parent=W, actor_id="alice", actor=actor_pb2.Actor()),
            metadata=md,
        )
    ).actor
    patch = actor_pb2.Actor(
        name=alice.name, display_name="Alice", teams=[team.name], disabled=True, etag=alice.etag
    )
    updated = (
        await stub.UpdateActor(
            pb.UpdateActorRequest(actor=patch, update_mask=FieldMask(paths=["teams", "disabled"])),
            metadata=md,
        )
    ).actor
    assert list(updated.teams) == [team.name] and updated.disabled
    assert updated.display_name == ""  # not in the mask
    stale = pb.UpdateActorRequest(actor=patch)
    assert await code_of(stub.UpdateActor(stale, metadata=md)) == grpc.StatusCode.ABORTED
    bad_team = pb.UpdateActorRequest(
        actor=actor_pb2.Actor(name=alice.name, teams=[f"{W}/actors/ghost"])
    )
    assert await code_of(stub.UpdateActor(bad_team, metadata=md)) == (
        grpc.StatusCode.INVALID_ARGUMENT
    )
    bad_mask = pb.UpdateActorRequest(
        actor=actor_pb2.Actor(name=alice.name), update_mask=FieldMask(paths=["kind"])
    )
    assert await code_of(stub.UpdateActor(bad_mask, metadata=md)) == (
        grpc.StatusCode.INVALID_ARGUMENT
    )
    missing = pb.UpdateActorRequest(actor=actor_pb2.Actor(name=f"{W}/actors/nobody", disabled=True))
    assert await code_of(stub.UpdateActor(missing, metadata=md)) == grpc.StatusCode.NOT_FOUND


async def test_rotate_gateway_key_over_grpc(env: Env) -> None:
    stub, md = env.stub, env.md
    created = await stub.CreateGatewayKey(pb.CreateGatewayKeyRequest(parent=W), metadata=md)
    name = created.gateway_key.name
    rotated = await stub.RotateGatewayKey(
        pb.RotateGatewayKeyRequest(name=name, grace=Duration(seconds=300)), metadata=md
    )
    assert rotated.key_text != created.key_text
    assert rotated.key_text.rsplit("_", 1)[0] == created.key_text.rsplit("_", 1)[0]
    key = rotated.gateway_key
    assert key.name == name and key.HasField("rotate_time")
    assert key.previous_secret_expire_time.seconds - key.rotate_time.seconds == 300
    await stub.RevokeGatewayKey(pb.RevokeGatewayKeyRequest(name=name), metadata=md)
    again = pb.RotateGatewayKeyRequest(name=name)
    assert await code_of(stub.RotateGatewayKey(again, metadata=md)) == (
        grpc.StatusCode.FAILED_PRECONDITION
    )


# --- providers -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "allow"),
    [
        ("http://169.254.169.254/latest", True),
        ("http://[fe80::1]/v1", True),
        ("https://user:pass@api.example.com/v1", False),
        ("ftp://example.com/v1", False),
        ("http://10.0.0.1/v1", False),
        ("http://metadata.google.internal/", True),
    ],
)
async def test_provider_base_url_refused(env: Env, url: str, allow: bool) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await provider(env, base_url=url, allow_private_network=allow)
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "pass" not in (info.value.details() or "")


@pytest.mark.parametrize(
    ("field", "seconds", "nanos"),
    [("connect", -1, 0), ("first_byte", 3601, 0), ("idle", 0, -5)],
)
async def test_provider_timeouts_refused(env: Env, field: str, seconds: int, nanos: int) -> None:
    timeouts = provider_pb2.UpstreamTimeouts()
    getattr(timeouts, field).seconds = seconds
    getattr(timeouts, field).nanos = nanos
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await provider(env, timeouts=timeouts)
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert f"provider_credential.timeouts.{field}" in (info.value.details() or "")


async def test_provider_timeouts_kept(env: Env) -> None:
    timeouts = provider_pb2.UpstreamTimeouts()
    timeouts.first_byte.seconds = 300
    p = await provider(env, timeouts=timeouts)
    assert p.timeouts == timeouts


async def test_update_provider_credential(env: Env) -> None:
    stub, md = env.stub, env.md
    p = await provider(env, base_url="http://10.0.0.1/v1")
    assert p.allow_private_network
    patch = provider_pb2.ProviderCredential(
        name=p.name,
        display_name="Azure",
        models=["gpt-4o*"],
        api_version="2024-10-21",
        deployments={"gpt-4o": "prod-4o"},
        api_key="sk-rotated-key-9876ABCD",
        etag=p.etag,
    )
    updated = (
        await stub.UpdateProviderCredential(
            pb.UpdateProviderCredentialRequest(provider_credential=patch), metadata=md
        )
    ).provider_credential
    assert updated.display_name == "Azure" and list(updated.models) == ["gpt-4o*"]
    assert updated.api_version == "2024-10-21" and dict(updated.deployments) == {
        "gpt-4o": "prod-4o"
    }
    assert updated.api_key == "" and updated.api_key_hint == "ABCD"
    assert updated.base_url == "http://10.0.0.1/v1"
    secret = await env.store.get(f"{env.prefix}secrets/{p.name}")
    assert secret is not None and b"9876ABCD" not in secret.value
    stale = pb.UpdateProviderCredentialRequest(provider_credential=patch)
    assert await code_of(stub.UpdateProviderCredential(stale, metadata=md)) == (
        grpc.StatusCode.ABORTED
    )
    metadata_url = pb.UpdateProviderCredentialRequest(
        provider_credential=provider_pb2.ProviderCredential(
            name=p.name, base_url="http://169.254.169.254/"
        )
    )
    assert await code_of(stub.UpdateProviderCredential(metadata_url, metadata=md)) == (
        grpc.StatusCode.INVALID_ARGUMENT
    )
    missing = pb.UpdateProviderCredentialRequest(
        provider_credential=provider_pb2.ProviderCredential(
            name=f"{W}/providers/ghost", display_name="x"
        )
    )
    assert await code_of(stub.UpdateProviderCredential(missing, metadata=md)) == (
        grpc.StatusCode.NOT_FOUND
    )
    events = [e for e in await audits(env, W) if e.method == "UpdateProviderCredential"]
    assert len(events) == 1
    assert "9876ABCD" not in events[0].after_json and API_KEY not in events[0].before_json
    assert json.loads(events[0].after_json)["apiKeyHint"] == "ABCD"


# --- routes --------------------------------------------------------------------------------


async def test_route_crud(env: Env) -> None:
    stub, md = env.stub, env.md
    p1 = await provider(env, "p1")
    p2 = await provider(env, "p2")
    body = route_pb2.Route(
        model="gpt-fast",
        targets=[
            route_pb2.RouteTarget(provider=p1.name, model="m-large"),
            route_pb2.RouteTarget(provider=p2.name),
        ],
    )
    route = (
        await stub.CreateRoute(
            pb.CreateRouteRequest(parent=W, route_id="fast", route=body), metadata=md
        )
    ).route
    assert route.name == f"{W}/routes/fast" and len(route.targets) == 2
    got = (await stub.GetRoute(pb.GetRouteRequest(name=route.name), metadata=md)).route
    assert got == route
    listed = await stub.ListRoutes(pb.ListRoutesRequest(parent=W), metadata=md)
    assert [r.name for r in listed.routes] == [route.name]
    same_model = pb.CreateRouteRequest(parent=W, route_id="fast2", route=body)
    assert await code_of(stub.CreateRoute(same_model, metadata=md)) == (
        grpc.StatusCode.ALREADY_EXISTS
    )
    ghost = route_pb2.Route(
        model="x", targets=[route_pb2.RouteTarget(provider=f"{W}/providers/ghost")]
    )
    assert await code_of(
        stub.CreateRoute(pb.CreateRouteRequest(parent=W, route=ghost), metadata=md)
    ) == (grpc.StatusCode.INVALID_ARGUMENT)
    empty = pb.CreateRouteRequest(parent=W, route=route_pb2.Route(model="x"))
    assert await code_of(stub.CreateRoute(empty, metadata=md)) == grpc.StatusCode.INVALID_ARGUMENT
    elsewhere = route_pb2.Route(
        model="x", targets=[route_pb2.RouteTarget(provider="workspaces/nope/providers/p")]
    )
    orphan = pb.CreateRouteRequest(parent="workspaces/nope", route=elsewhere)
    assert await code_of(stub.CreateRoute(orphan, metadata=md)) == grpc.StatusCode.NOT_FOUND
    # A provider a route uses cannot be deleted from under it.
    del_p = pb.DeleteProviderCredentialRequest(name=p1.name)
    assert await code_of(stub.DeleteProviderCredential(del_p, metadata=md)) == (
        grpc.StatusCode.FAILED_PRECONDITION
    )
    await stub.DeleteRoute(pb.DeleteRouteRequest(name=route.name), metadata=md)
    await stub.DeleteProviderCredential(del_p, metadata=md)
    # The model is free again once its route is gone.
    body2 = route_pb2.Route(model="gpt-fast", targets=[route_pb2.RouteTarget(provider=p2.name)])
    await stub.CreateRoute(pb.CreateRouteRequest(parent=W, route=body2), metadata=md)
    missing = pb.DeleteRouteRequest(name=route.name)
    assert await code_of(stub.DeleteRoute(missing, metadata=md)) == grpc.StatusCode.NOT_FOUND


# --- prices --------------------------------------------------------------------------------


async def test_prices_catalog_overrides_and_estimates(env: Env) -> None:
    stub, md = env.stub, env.md
    catalog = await stub.ListModelPrices(pb.ListModelPricesRequest(page_size=1000), metadata=md)
    assert len(catalog.model_prices) > 20  # seeded on first start
    # Content-addressed, the same way the data plane stamps costs.
    assert catalog.catalog_version == catalog_version(catalog.model_prices)
    set_catalog = await stub.SetModelPrice(
        pb.SetModelPriceRequest(
            model_price=price_pb2.ModelPrice(
                provider="openai_compatible",
                model="m*",
                input_per_mtok=1_000_000,
                output_per_mtok=2_000_000,
            )
        ),
        metadata=md,
    )
    price = set_catalog.model_price
    assert price.name.startswith("prices/") and price.HasField("effective_time")
    assert set_catalog.catalog_version.startswith("c-")
    assert set_catalog.catalog_version != catalog.catalog_version
    override = (
        await stub.SetModelPrice(
            pb.SetModelPriceRequest(
                parent=W,
                model_price=price_pb2.ModelPrice(
                    provider="*", model="m-large", input_per_mtok=500_000, output_per_mtok=500_000
                ),
            ),
            metadata=md,
        )
    ).model_price
    assert override.name.startswith(f"{W}/prices/")
    listed = await stub.ListModelPrices(pb.ListModelPricesRequest(parent=W), metadata=md)
    assert [p.name for p in listed.model_prices] == [override.name]
    assert listed.catalog_version.startswith(set_catalog.catalog_version + "+w-")
    req = pb.EstimateCostRequest(
        model="m-large", provider="openai_compatible", input_tokens=1000, output_tokens=1000
    )
    assert (await stub.EstimateCost(req, metadata=md)).cost_micro_usd == 3000
    req.workspace = W
    est = await stub.EstimateCost(req, metadata=md)
    assert est.cost_micro_usd == 1000 and est.model_price.name == override.name
    # Replace by name keeps the name; a stale etag is ABORTED.
    replaced = (
        await stub.SetModelPrice(
            pb.SetModelPriceRequest(
                model_price=price_pb2.ModelPrice(
                    name=price.name,
                    provider="openai_compatible",
                    model="m*",
                    input_per_mtok=3,
                    output_per_mtok=4,
                    etag=price.etag,
                )
            ),
            metadata=md,
        )
    ).model_price
    assert replaced.name == price.name and replaced.input_per_mtok == 3
    stale = pb.SetModelPriceRequest(
        model_price=price_pb2.ModelPrice(
            name=price.name, provider="openai", model="m*", etag=price.etag
        )
    )
    assert await code_of(stub.SetModelPrice(stale, metadata=md)) == grpc.StatusCode.ABORTED
    negative = pb.SetModelPriceRequest(
        model_price=price_pb2.ModelPrice(provider="openai", model="x", input_per_mtok=-1)
    )
    assert await code_of(stub.SetModelPrice(negative, metadata=md)) == (
        grpc.StatusCode.INVALID_ARGUMENT
    )
    bad_provider = pb.SetModelPriceRequest(
        model_price=price_pb2.ModelPrice(provider="google", model="x")
    )
    assert await code_of(stub.SetModelPrice(bad_provider, metadata=md)) == (
        grpc.StatusCode.INVALID_ARGUMENT
    )
    await stub.DeleteModelPrice(pb.DeleteModelPriceRequest(name=override.name), metadata=md)
    gone = pb.DeleteModelPriceRequest(name=override.name)
    assert await code_of(stub.DeleteModelPrice(gone, metadata=md)) == grpc.StatusCode.NOT_FOUND
    unpriced = pb.EstimateCostRequest(model="nobody-prices-this", input_tokens=1)
    assert await code_of(stub.EstimateCost(unpriced, metadata=md)) == grpc.StatusCode.NOT_FOUND


# --- audit ---------------------------------------------------------------------------------


async def test_audit_log_newest_first_filtered_paged_and_atomic(env: Env) -> None:
    stub, md = env.stub, env.md
    await stub.CreateWorkspace(pb.CreateWorkspaceRequest(workspace_id="other"), metadata=md)
    actor = (
        await stub.CreateActor(
            pb.CreateActorRequest(parent=W, actor_id="bob", request_id="req-bob"), metadata=md
        )
    ).actor
    await stub.UpdateActor(
        pb.UpdateActorRequest(actor=actor_pb2.Actor(name=actor.name, display_name="Bob")),
        metadata=md,
    )
    everything = await audits(env)
    principal = "admin-token:" + hashlib.sha256(env.cp.admin_token.encode()).hexdigest()[:12]
    assert [e.method for e in everything[:3]] == ["UpdateActor", "CreateActor", "CreateWorkspace"]
    assert all(e.principal == principal for e in everything[:3])
    assert env.cp.admin_token not in "".join(e.principal for e in everything)
    assert everything[1].request_id == "req-bob" and everything[1].resource == actor.name
    update = everything[0]
    assert json.loads(update.before_json)["name"] == actor.name
    assert json.loads(update.after_json)["displayName"] == "Bob"
    in_w = await audits(env, W)
    assert {e.workspace for e in in_w} == {W}
    assert "workspaces/other" not in {e.resource for e in in_w}
    # Pages: newest first, no overlap, complete.
    seen: list[str] = []
    token = ""
    while True:
        resp = await stub.ListAuditEvents(
            pb.ListAuditEventsRequest(page_size=2, page_token=token), metadata=md
        )
        seen += [e.name for e in resp.audit_events]
        token = resp.next_page_token
        if not token:
            break
    assert seen == [e.name for e in everything]
    bad = pb.ListAuditEventsRequest(parent="nope")
    assert await code_of(stub.ListAuditEvents(bad, metadata=md)) == (
        grpc.StatusCode.INVALID_ARGUMENT
    )
    # A failed compare-and-set writes no event.
    before = len(await audits(env, page_size=1000))
    stale = pb.DeleteActorRequest(name=actor.name, etag="1")
    assert await code_of(stub.DeleteActor(stale, metadata=md)) == grpc.StatusCode.ABORTED
    assert len(await audits(env, page_size=1000)) == before


# --- effective policy ----------------------------------------------------------------------


async def test_effective_policy_of_a_key(env: Env) -> None:
    stub, md = env.stub, env.md
    team = (
        await stub.CreateActor(pb.CreateActorRequest(parent=W, actor_id="team"), metadata=md)
    ).actor
    alice = (
        await stub.CreateActor(
            pb.CreateActorRequest(
                parent=W, actor_id="alice", actor=actor_pb2.Actor(teams=[team.name])
            ),
            metadata=md,
        )
    ).actor
    key = (
        await stub.CreateGatewayKey(
            pb.CreateGatewayKeyRequest(parent=W, gateway_key=key_pb2.GatewayKey(actor=alice.name)),
            metadata=md,
        )
    ).gateway_key

    async def policy(pid: str, **kw) -> None:
        await stub.CreatePolicy(
            pb.CreatePolicyRequest(parent=W, policy_id=pid, policy=policy_pb2.Policy(**kw)),
            metadata=md,
        )

    await policy("p-key", target=key.name, max_output_tokens=100)
    await policy("p-ws", target=W, denied_models=["o1*"], max_output_tokens=1000)
    await policy("p-team", target=team.name, allowed_models=["gpt-*"], require_actor_token=True)
    await policy("p-alice", target=alice.name, denied_models=["gpt-4"])
    await policy("p-shadow", target=alice.name, shadow=True, allowed_models=["gpt-4o-mini"])
    resp = await stub.GetEffectivePolicy(pb.GetEffectivePolicyRequest(target=key.name), metadata=md)
    assert list(resp.sources) == [
        f"{W}/policies/p-ws",
        f"{W}/policies/p-team",
        f"{W}/policies/p-alice",
        f"{W}/policies/p-shadow",
        f"{W}/policies/p-key",
    ]
    p = resp.policy
    assert p.target == key.name and p.max_output_tokens == 100
    assert list(p.denied_models) == ["o1*", "gpt-4"] and list(p.allowed_models) == ["gpt-*"]
    assert p.require_actor_token
    assert resp.shadow_policy.shadow and list(resp.shadow_policy.allowed_models) == ["gpt-4o-mini"]
    ws_only = await stub.GetEffectivePolicy(pb.GetEffectivePolicyRequest(target=W), metadata=md)
    assert list(ws_only.sources) == [f"{W}/policies/p-ws"] and not ws_only.HasField("shadow_policy")
    missing = pb.GetEffectivePolicyRequest(target=f"{W}/keys/nokeyhere")
    assert await code_of(stub.GetEffectivePolicy(missing, metadata=md)) == (
        grpc.StatusCode.NOT_FOUND
    )
    bad = pb.GetEffectivePolicyRequest(target=f"{W}/providers/p")
    assert await code_of(stub.GetEffectivePolicy(bad, metadata=md)) == (
        grpc.StatusCode.INVALID_ARGUMENT
    )


async def test_record_labels_grant_stored_updated_and_summarized(env: Env) -> None:
    stub, md = env.stub, env.md
    P = policy_pb2.Policy
    key = (
        await stub.CreateGatewayKey(pb.CreateGatewayKeyRequest(parent=W), metadata=md)
    ).gateway_key
    bad = pb.CreatePolicyRequest(
        parent=W,
        policy_id="p-bad",
        policy=P(target=W, record_labels=7),  # type: ignore[arg-type]
    )
    assert await code_of(stub.CreatePolicy(bad, metadata=md)) == grpc.StatusCode.INVALID_ARGUMENT
    for pid, policy in (
        ("p-ws", P(target=W, allowed_models=["gpt-*"])),  # says nothing about labels
        ("p-key", P(target=key.name, record_labels=P.GRANT_ALLOW)),
    ):
        await stub.CreatePolicy(
            pb.CreatePolicyRequest(parent=W, policy_id=pid, policy=policy), metadata=md
        )

    async def effective() -> int:
        request = pb.GetEffectivePolicyRequest(target=key.name)
        return (await stub.GetEffectivePolicy(request, metadata=md)).policy.record_labels

    assert await effective() == P.GRANT_ALLOW
    deny = pb.UpdatePolicyRequest(
        policy=P(name=f"{W}/policies/p-ws", record_labels=P.GRANT_DENY),
        update_mask=FieldMask(paths=["record_labels"]),
    )
    updated = (await stub.UpdatePolicy(deny, metadata=md)).policy
    assert updated.record_labels == P.GRANT_DENY and list(updated.allowed_models) == ["gpt-*"]
    assert await effective() == P.GRANT_DENY
