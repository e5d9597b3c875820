"""AdminService end to end: a real grpc.aio server (create_server, port 0) on a real etcd."""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import grpc
import pytest
from google.protobuf.field_mask_pb2 import FieldMask
from grpc_health.v1 import health_pb2, health_pb2_grpc

from controlplane.secrets import EnvelopeCipher, load_or_create_kek
from controlplane.server import ControlPlaneServer, create_server
from controlplane.settings import Settings
from controlplane.store.etcd import EtcdStore
from oggy.contract.key_text import parse_key
from oggy.v1 import actor_pb2, key_pb2, policy_pb2, provider_pb2, snapshot_pb2, usage_pb2
from oggy.v1 import admin_service_pb2 as pb
from oggy.v1 import admin_service_pb2_grpc as admin_grpc
from oggy.v1 import workspace_pb2 as ws_pb
from tests.support.etcd import etcd_endpoint_fixture, unique_prefix  # noqa: F401

API_KEY = "sk-test-0123456789abcdefSECRET"


@dataclass
class Env:
    cp: ControlPlaneServer
    stub: admin_grpc.AdminServiceStub
    channel: grpc.aio.Channel
    md: tuple[tuple[str, str], ...]
    prefix: str
    store: EtcdStore
    state_dir: Path


@pytest.fixture
async def env(etcd_endpoint: str, tmp_path: Path) -> AsyncIterator[Env]:
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
    try:
        yield Env(
            cp,
            admin_grpc.AdminServiceStub(channel),
            channel,
            (("authorization", f"Bearer {cp.admin_token}"),),
            prefix,
            store,
            settings.state_dir,
        )
    finally:
        await channel.close()
        await store.close()
        await cp.stop(None)


async def code_of(awaitable) -> grpc.StatusCode:
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await awaitable
    return info.value.code()


async def make_ws(e: Env, ws_id: str = "acme") -> ws_pb.Workspace:
    resp = await e.stub.CreateWorkspace(
        pb.CreateWorkspaceRequest(workspace_id=ws_id, workspace=ws_pb.Workspace(display_name="A")),
        metadata=e.md,
    )
    return resp.workspace


# --- auth and health ------------------------------------------------------------------


async def test_admin_requires_admin_token(env: Env) -> None:
    req = pb.ListWorkspacesRequest()
    assert await code_of(env.stub.ListWorkspaces(req)) == grpc.StatusCode.UNAUTHENTICATED
    wrong = (("authorization", "Bearer nope"),)
    assert await code_of(env.stub.ListWorkspaces(req, metadata=wrong)) == (
        grpc.StatusCode.UNAUTHENTICATED
    )
    node = (("authorization", f"Bearer {env.cp.node_token}"),)
    assert await code_of(env.stub.ListWorkspaces(req, metadata=node)) == (
        grpc.StatusCode.UNAUTHENTICATED
    )
    await env.stub.ListWorkspaces(req, metadata=env.md)


async def test_health_is_open_and_serving(env: Env) -> None:
    stub = health_pb2_grpc.HealthStub(env.channel)
    for service in ("", "oggy.v1.AdminService", "oggy.v1.ConfigDiscoveryService"):
        resp = await stub.Check(health_pb2.HealthCheckRequest(service=service))
        assert resp.status == health_pb2.HealthCheckResponse.SERVING


async def test_state_files_are_private(env: Env) -> None:
    for name in ("kek", "admin_token", "node_token"):
        assert (env.state_dir / name).stat().st_mode & 0o777 == 0o600


# --- workspaces -----------------------------------------------------------------------


async def test_workspace_crud(env: Env) -> None:
    ws = await make_ws(env)
    assert ws.name == "workspaces/acme"
    assert ws.display_name == "A"
    assert ws.create_time.seconds > 0 and ws.etag
    got = (
        await env.stub.GetWorkspace(pb.GetWorkspaceRequest(name=ws.name), metadata=env.md)
    ).workspace
    assert got == ws
    assert await code_of(make_ws(env)) == grpc.StatusCode.ALREADY_EXISTS
    bad = pb.CreateWorkspaceRequest(workspace_id="Bad_Id")
    assert await code_of(env.stub.CreateWorkspace(bad, metadata=env.md)) == (
        grpc.StatusCode.INVALID_ARGUMENT
    )
    missing = pb.GetWorkspaceRequest(name="workspaces/nope")
    assert await code_of(env.stub.GetWorkspace(missing, metadata=env.md)) == (
        grpc.StatusCode.NOT_FOUND
    )
    generated = await env.stub.CreateWorkspace(pb.CreateWorkspaceRequest(), metadata=env.md)
    assert generated.workspace.name.startswith("workspaces/")

    stale = pb.DeleteWorkspaceRequest(name=ws.name, etag="1")
    assert await code_of(env.stub.DeleteWorkspace(stale, metadata=env.md)) == (
        grpc.StatusCode.ABORTED
    )
    await env.stub.DeleteWorkspace(
        pb.DeleteWorkspaceRequest(name=ws.name, etag=ws.etag), metadata=env.md
    )
    assert await code_of(
        env.stub.GetWorkspace(pb.GetWorkspaceRequest(name=ws.name), metadata=env.md)
    ) == (grpc.StatusCode.NOT_FOUND)


async def test_create_is_idempotent_by_request_id(env: Env) -> None:
    req = pb.CreateWorkspaceRequest(request_id="req-1")
    first = await env.stub.CreateWorkspace(req, metadata=env.md)
    again = await env.stub.CreateWorkspace(req, metadata=env.md)
    assert again.workspace == first.workspace
    other = pb.CreateActorRequest(parent=first.workspace.name, request_id="req-1")
    assert await code_of(env.stub.CreateActor(other, metadata=env.md)) == (
        grpc.StatusCode.INVALID_ARGUMENT
    )


async def test_list_pages(env: Env) -> None:
    for i in range(5):
        await make_ws(env, f"w{i}")
    await env.stub.CreateActor(
        pb.CreateActorRequest(parent="workspaces/w0", actor_id="a"), metadata=env.md
    )
    names, token = [], ""
    while True:
        resp = await env.stub.ListWorkspaces(
            pb.ListWorkspacesRequest(page_size=2, page_token=token), metadata=env.md
        )
        names += [w.name for w in resp.workspaces]
        token = resp.next_page_token
        if not token:
            break
    assert names == [f"workspaces/w{i}" for i in range(5)]  # children are not workspaces
    bad = pb.ListWorkspacesRequest(page_token="garbage!")
    assert await code_of(env.stub.ListWorkspaces(bad, metadata=env.md)) == (
        grpc.StatusCode.INVALID_ARGUMENT
    )
    # A token from one collection is refused by another.
    resp = await env.stub.ListWorkspaces(pb.ListWorkspacesRequest(page_size=1), metadata=env.md)
    cross = pb.ListActorsRequest(parent="workspaces/w0", page_token=resp.next_page_token)
    assert await code_of(env.stub.ListActors(cross, metadata=env.md)) == (
        grpc.StatusCode.INVALID_ARGUMENT
    )
    negative = pb.ListWorkspacesRequest(page_size=-1)
    assert await code_of(env.stub.ListWorkspaces(negative, metadata=env.md)) == (
        grpc.StatusCode.INVALID_ARGUMENT
    )


async def test_children_need_parent_and_block_its_delete(env: Env) -> None:
    orphan = pb.CreateActorRequest(parent="workspaces/ghost", actor_id="a")
    assert await code_of(env.stub.CreateActor(orphan, metadata=env.md)) == (
        grpc.StatusCode.NOT_FOUND
    )
    ws = await make_ws(env)
    await env.stub.CreateActor(pb.CreateActorRequest(parent=ws.name, actor_id="a"), metadata=env.md)
    delete = pb.DeleteWorkspaceRequest(name=ws.name)
    assert await code_of(env.stub.DeleteWorkspace(delete, metadata=env.md)) == (
        grpc.StatusCode.FAILED_PRECONDITION
    )
    await env.stub.DeleteActor(pb.DeleteActorRequest(name=f"{ws.name}/actors/a"), metadata=env.md)
    await env.stub.DeleteWorkspace(delete, metadata=env.md)


# --- gateway keys ---------------------------------------------------------------------


async def test_gateway_key_lifecycle(env: Env) -> None:
    ws = await make_ws(env)
    await env.stub.CreateActor(
        pb.CreateActorRequest(
            parent=ws.name, actor_id="bob", actor=actor_pb2.Actor(kind=actor_pb2.Actor.KIND_USER)
        ),
        metadata=env.md,
    )
    resp = await env.stub.CreateGatewayKey(
        pb.CreateGatewayKeyRequest(
            parent=ws.name,
            gateway_key=key_pb2.GatewayKey(display_name="ci", actor=f"{ws.name}/actors/bob"),
            request_id="key-req",
        ),
        metadata=env.md,
    )
    key = resp.gateway_key
    parsed = parse_key(resp.key_text)
    assert parsed is not None and parsed.environment == "live"
    assert key.name == f"{ws.name}/keys/{parsed.key_id}"
    assert key.key_prefix == f"oggy_live_{parsed.key_id}"
    assert key.state == key_pb2.GatewayKey.STATE_ACTIVE

    # Only the hash is stored, plus the global key-id index.
    raw = await env.store.get(env.prefix + key.name)
    assert raw is not None and resp.key_text.encode() not in raw.value
    material = snapshot_pb2.KeyMaterial.FromString(raw.value)
    assert material.secret_sha256 == hashlib.sha256(parsed.secret.encode()).digest()
    assert await env.store.get(f"{env.prefix}index/keys/{parsed.key_id}") is not None

    replay = await env.stub.CreateGatewayKey(
        pb.CreateGatewayKeyRequest(parent=ws.name, request_id="key-req"), metadata=env.md
    )
    assert replay.gateway_key.name == key.name and replay.key_text == ""

    revoked = (
        await env.stub.RevokeGatewayKey(pb.RevokeGatewayKeyRequest(name=key.name), metadata=env.md)
    ).gateway_key
    assert revoked.state == key_pb2.GatewayKey.STATE_REVOKED
    assert revoked.revoke_time.seconds > 0 and revoked.etag != key.etag
    again = (
        await env.stub.RevokeGatewayKey(pb.RevokeGatewayKeyRequest(name=key.name), metadata=env.md)
    ).gateway_key
    assert again.revoke_time == revoked.revoke_time

    listed = await env.stub.ListGatewayKeys(
        pb.ListGatewayKeysRequest(parent=ws.name), metadata=env.md
    )
    assert [k.name for k in listed.gateway_keys] == [key.name]
    await env.stub.DeleteGatewayKey(pb.DeleteGatewayKeyRequest(name=key.name), metadata=env.md)
    assert await env.store.get(f"{env.prefix}index/keys/{parsed.key_id}") is None


async def test_gateway_key_rejects_unknown_actor_and_bad_env(env: Env) -> None:
    ws = await make_ws(env)
    for body in (
        key_pb2.GatewayKey(actor=f"{ws.name}/actors/ghost"),
        key_pb2.GatewayKey(actor="workspaces/other/actors/a"),
        key_pb2.GatewayKey(environment="Prod_1"),
    ):
        req = pb.CreateGatewayKeyRequest(parent=ws.name, gateway_key=body)
        assert await code_of(env.stub.CreateGatewayKey(req, metadata=env.md)) == (
            grpc.StatusCode.INVALID_ARGUMENT
        )
    missing = pb.RevokeGatewayKeyRequest(name=f"{ws.name}/keys/abcdefghijklmnop")
    assert await code_of(env.stub.RevokeGatewayKey(missing, metadata=env.md)) == (
        grpc.StatusCode.NOT_FOUND
    )


# --- provider credentials -------------------------------------------------------------


def provider(**overrides) -> provider_pb2.ProviderCredential:
    fields = {
        "kind": provider_pb2.ProviderCredential.KIND_OPENAI,
        "base_url": "https://api.openai.com/v1",
        "models": ["gpt-4o*"],
        "api_key": API_KEY,
    }
    fields.update(overrides)
    return provider_pb2.ProviderCredential(**fields)


async def test_provider_secret_is_encrypted_and_never_returned(
    env: Env, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    ws = await make_ws(env)
    created = (
        await env.stub.CreateProviderCredential(
            pb.CreateProviderCredentialRequest(
                parent=ws.name, provider_id="openai", provider_credential=provider()
            ),
            metadata=env.md,
        )
    ).provider_credential
    assert created.api_key == ""
    assert created.api_key_hint == API_KEY[-4:]
    assert created.api_key_fingerprint == hashlib.sha256(API_KEY.encode()).hexdigest()[:12]
    got = (
        await env.stub.GetProviderCredential(
            pb.GetProviderCredentialRequest(name=created.name), metadata=env.md
        )
    ).provider_credential
    assert got == created

    items, _ = await env.store.list_prefix(env.prefix)
    assert all(API_KEY.encode() not in i.value for i in items)
    blob = await env.store.get(f"{env.prefix}secrets/{created.name}")
    assert blob is not None
    cipher = EnvelopeCipher(load_or_create_kek(env.state_dir, {}))
    assert cipher.decrypt(blob.value) == API_KEY.encode()
    assert API_KEY not in caplog.text

    await env.stub.DeleteProviderCredential(
        pb.DeleteProviderCredentialRequest(name=created.name), metadata=env.md
    )
    assert await env.store.get(f"{env.prefix}secrets/{created.name}") is None


@pytest.mark.parametrize(
    "overrides",
    [
        {"api_key": ""},
        {"base_url": "ftp://example.com"},
        {"base_url": "https://user:pw@example.com/v1"},
        {"base_url": "not a url"},
        {"models": []},
        {"kind": provider_pb2.ProviderCredential.KIND_UNSPECIFIED},
    ],
)
async def test_provider_validation(env: Env, overrides: dict) -> None:
    ws = await make_ws(env)
    req = pb.CreateProviderCredentialRequest(
        parent=ws.name, provider_credential=provider(**overrides)
    )
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await env.stub.CreateProviderCredential(req, metadata=env.md)
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert API_KEY not in (info.value.details() or "")


# --- policies -------------------------------------------------------------------------


async def test_policy_target_update_mask_and_etag(env: Env) -> None:
    ws = await make_ws(env)
    ghost = pb.CreatePolicyRequest(
        parent=ws.name, policy=policy_pb2.Policy(target=f"{ws.name}/actors/ghost")
    )
    assert await code_of(env.stub.CreatePolicy(ghost, metadata=env.md)) == (
        grpc.StatusCode.INVALID_ARGUMENT
    )
    pol = (
        await env.stub.CreatePolicy(
            pb.CreatePolicyRequest(
                parent=ws.name,
                policy_id="base",
                policy=policy_pb2.Policy(target=ws.name, allowed_models=["gpt-*"], shadow=True),
            ),
            metadata=env.md,
        )
    ).policy
    assert pol.update_time == pol.create_time

    patch = policy_pb2.Policy(name=pol.name, etag=pol.etag, max_output_tokens=512, shadow=False)
    updated = (
        await env.stub.UpdatePolicy(
            pb.UpdatePolicyRequest(
                policy=patch, update_mask=FieldMask(paths=["max_output_tokens"])
            ),
            metadata=env.md,
        )
    ).policy
    assert updated.max_output_tokens == 512
    assert updated.shadow is True  # not in the mask
    assert list(updated.allowed_models) == ["gpt-*"]
    assert updated.etag != pol.etag

    stale = pb.UpdatePolicyRequest(policy=patch, update_mask=FieldMask(paths=["shadow"]))
    assert await code_of(env.stub.UpdatePolicy(stale, metadata=env.md)) == grpc.StatusCode.ABORTED
    bad_mask = pb.UpdatePolicyRequest(
        policy=policy_pb2.Policy(name=pol.name), update_mask=FieldMask(paths=["create_time"])
    )
    assert await code_of(env.stub.UpdatePolicy(bad_mask, metadata=env.md)) == (
        grpc.StatusCode.INVALID_ARGUMENT
    )
    bad_cidr = pb.UpdatePolicyRequest(
        policy=policy_pb2.Policy(name=pol.name, allowed_cidrs=["10.0.0.0/33"]),
        update_mask=FieldMask(paths=["allowed_cidrs"]),
    )
    assert await code_of(env.stub.UpdatePolicy(bad_cidr, metadata=env.md)) == (
        grpc.StatusCode.INVALID_ARGUMENT
    )
    missing = pb.UpdatePolicyRequest(policy=policy_pb2.Policy(name=f"{ws.name}/policies/nope"))
    assert await code_of(env.stub.UpdatePolicy(missing, metadata=env.md)) == (
        grpc.StatusCode.NOT_FOUND
    )


async def test_concurrent_updates_with_one_etag_one_wins(env: Env) -> None:
    ws = await make_ws(env)
    pol = (
        await env.stub.CreatePolicy(
            pb.CreatePolicyRequest(parent=ws.name, policy=policy_pb2.Policy(target=ws.name)),
            metadata=env.md,
        )
    ).policy
    calls = [
        env.stub.UpdatePolicy(
            pb.UpdatePolicyRequest(
                policy=policy_pb2.Policy(name=pol.name, etag=pol.etag, max_output_tokens=i + 1),
                update_mask=FieldMask(paths=["max_output_tokens"]),
            ),
            metadata=env.md,
        )
        for i in range(5)
    ]
    results = await asyncio.gather(*calls, return_exceptions=True)
    wins = [r for r in results if not isinstance(r, BaseException)]
    assert len(wins) == 1
    assert all(
        r.code() == grpc.StatusCode.ABORTED for r in results if isinstance(r, grpc.aio.AioRpcError)
    )


# --- usage ----------------------------------------------------------------------------


async def test_usage_queries(env: Env) -> None:
    await make_ws(env)
    no_ws = pb.ListUsageEventsRequest()
    assert await code_of(env.stub.ListUsageEvents(no_ws, metadata=env.md)) == (
        grpc.StatusCode.INVALID_ARGUMENT
    )
    event = usage_pb2.UsageEvent(
        event_id="0190d7d0-0000-7000-8000-000000000001",
        workspace="workspaces/acme",
        model="gpt-4o-mini",
        prompt_tokens=3,
        completion_tokens=4,
        total_tokens=7,
    )
    event.start_time.GetCurrentTime()
    await env.cp.usage_store.insert([event])  # type: ignore[attr-defined]
    filt = pb.UsageFilter(workspace="workspaces/acme")
    listed = await env.stub.ListUsageEvents(pb.ListUsageEventsRequest(filter=filt), metadata=env.md)
    assert [e.event_id for e in listed.usage_events] == [event.event_id]
    summary = await env.stub.SummarizeUsage(
        pb.SummarizeUsageRequest(filter=filt, group_by=[usage_pb2.USAGE_GROUP_BY_MODEL]),
        metadata=env.md,
    )
    assert [(list(r.group), r.requests, r.total_tokens) for r in summary.rows] == [
        (["gpt-4o-mini"], 1, 7)
    ]
