"""AdminServicer's new RPCs on an InMemoryStore (no gRPC): audit atomicity, rotation,
masked updates, prices. The real-server path is in tests/integration/test_admin_api_*."""

from __future__ import annotations

import json
import random

import grpc
import pytest
from google.protobuf.duration_pb2 import Duration
from google.protobuf.field_mask_pb2 import FieldMask

from controlplane.api.admin_servicer import AdminServicer, seed_default_prices
from controlplane.api.principal import _PRINCIPAL
from controlplane.secrets import EnvelopeCipher, Kek
from controlplane.store.memory import InMemoryStore
from oggy.contract.key_text import hash_secret, parse_key
from oggy.v1 import actor_pb2, audit_pb2, provider_pb2, snapshot_pb2
from oggy.v1 import admin_service_pb2 as pb

NOW = 1_700_000_000.0
API_KEY = "sk-unit-0123456789SECRET"


class Aborted(Exception):
    def __init__(self, code: grpc.StatusCode, details: str) -> None:
        super().__init__(code, details)
        self.code, self.details = code, details


class FakeContext:
    async def abort(self, code: grpc.StatusCode, details: str) -> None:
        raise Aborted(code, details)


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def store() -> InMemoryStore:
    return InMemoryStore()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def admin(store: InMemoryStore, clock: Clock) -> AdminServicer:
    return AdminServicer(store, EnvelopeCipher(Kek.generate()), clock=clock, rng=random.Random(7))


async def call(method, request):
    return await method(request, FakeContext())


async def code_of(method, request) -> grpc.StatusCode:
    with pytest.raises(Aborted) as info:
        await call(method, request)
    return info.value.code


async def audit_events(store: InMemoryStore) -> list[audit_pb2.AuditEvent]:
    items, _ = await store.list_prefix("/oggy/audit/")
    return [audit_pb2.AuditEvent.FromString(i.value) for i in items]


async def setup_ws(admin: AdminServicer) -> None:
    await call(admin.CreateWorkspace, pb.CreateWorkspaceRequest(workspace_id="w"))


async def test_failed_cas_writes_no_audit_event(admin: AdminServicer, store) -> None:
    await setup_ws(admin)
    actor = (
        await call(
            admin.CreateActor,
            pb.CreateActorRequest(
                parent="workspaces/w", actor_id="a", actor=actor_pb2.Actor(display_name="A")
            ),
        )
    ).actor
    before = len(await audit_events(store))
    stale = actor_pb2.Actor(name=actor.name, display_name="B", etag=str(int(actor.etag) - 1))
    assert (
        await code_of(admin.UpdateActor, pb.UpdateActorRequest(actor=stale))
        == grpc.StatusCode.ABORTED
    )
    assert len(await audit_events(store)) == before == 2


async def test_principal_is_stamped_and_audit_json_has_no_secrets(
    admin: AdminServicer, store
) -> None:
    token = _PRINCIPAL.set("admin-token:abcdefabcdef")
    try:
        await setup_ws(admin)
        await call(
            admin.CreateProviderCredential,
            pb.CreateProviderCredentialRequest(
                parent="workspaces/w",
                provider_id="p",
                request_id="r-1",
                provider_credential=provider_pb2.ProviderCredential(
                    kind=provider_pb2.ProviderCredential.KIND_OPENAI,
                    base_url="https://api.openai.com/v1",
                    models=["gpt-*"],
                    api_key=API_KEY,
                ),
            ),
        )
    finally:
        _PRINCIPAL.reset(token)
    events = await audit_events(store)
    created = events[-1]
    assert created.principal == "admin-token:abcdefabcdef"
    assert created.method == "CreateProviderCredential"
    assert created.resource == "workspaces/w/providers/p"
    assert created.workspace == "workspaces/w" and created.request_id == "r-1"
    assert created.before_json == ""
    after = json.loads(created.after_json)
    assert after["apiKeyHint"] == "CRET" and "apiKey" not in after
    for e in events:
        assert "SECRET" not in e.SerializeToString().decode("utf-8", "replace")


async def test_rotate_keeps_name_and_previous_hash_for_grace(
    admin: AdminServicer, store, clock: Clock
) -> None:
    await setup_ws(admin)
    created = await call(admin.CreateGatewayKey, pb.CreateGatewayKeyRequest(parent="workspaces/w"))
    old = parse_key(created.key_text)
    assert old is not None
    name = created.gateway_key.name
    clock.now += 10
    rotated = await call(
        admin.RotateGatewayKey, pb.RotateGatewayKeyRequest(name=name, grace=Duration(seconds=60))
    )
    new = parse_key(rotated.key_text)
    assert new is not None and new.key_id == old.key_id and new.secret != old.secret
    assert rotated.gateway_key.name == name
    assert rotated.gateway_key.rotate_time.seconds == NOW + 10
    assert rotated.gateway_key.previous_secret_expire_time.seconds == NOW + 70
    material = snapshot_pb2.KeyMaterial.FromString((await store.get(f"/oggy/{name}")).value)
    assert material.secret_sha256 == hash_secret(new.secret)
    assert material.previous_secret_sha256 == hash_secret(old.secret)
    # Grace 0: the previous secret stops now.
    again = await call(admin.RotateGatewayKey, pb.RotateGatewayKeyRequest(name=name))
    material = snapshot_pb2.KeyMaterial.FromString((await store.get(f"/oggy/{name}")).value)
    assert material.previous_secret_sha256 == b""
    assert again.gateway_key.previous_secret_expire_time.seconds == NOW + 10
    assert [e.method for e in await audit_events(store)][-2:] == ["RotateGatewayKey"] * 2
    bad = pb.RotateGatewayKeyRequest(name=name, grace=Duration(seconds=-1))
    assert await code_of(admin.RotateGatewayKey, bad) == grpc.StatusCode.INVALID_ARGUMENT
    await call(admin.RevokeGatewayKey, pb.RevokeGatewayKeyRequest(name=name))
    assert (
        await code_of(admin.RotateGatewayKey, pb.RotateGatewayKeyRequest(name=name))
        == grpc.StatusCode.FAILED_PRECONDITION
    )
    missing = pb.RotateGatewayKeyRequest(name="workspaces/w/keys/nokey")
    assert await code_of(admin.RotateGatewayKey, missing) == grpc.StatusCode.NOT_FOUND


async def test_update_provider_reencrypts_in_the_same_transaction(
    admin: AdminServicer, store
) -> None:
    await setup_ws(admin)
    body = provider_pb2.ProviderCredential(
        kind=provider_pb2.ProviderCredential.KIND_OPENAI_COMPATIBLE,
        base_url="http://127.0.0.1:9/v1",
        models=["m"],
        api_key=API_KEY,
        allow_private_network=True,
    )
    created = (
        await call(
            admin.CreateProviderCredential,
            pb.CreateProviderCredentialRequest(
                parent="workspaces/w", provider_id="p", provider_credential=body
            ),
        )
    ).provider_credential
    secret_before = await store.get("/oggy/secrets/workspaces/w/providers/p")
    patch = provider_pb2.ProviderCredential(name=created.name, api_key="sk-new-key-abcdWXYZ")
    updated = (
        await call(
            admin.UpdateProviderCredential,
            pb.UpdateProviderCredentialRequest(provider_credential=patch),
        )
    ).provider_credential
    secret_after = await store.get("/oggy/secrets/workspaces/w/providers/p")
    assert updated.api_key == "" and updated.api_key_hint == "WXYZ"
    assert secret_after.value != secret_before.value
    assert secret_after.mod_revision == int(updated.etag)  # one transaction
    # Turning the private-network flag off with a loopback URL is refused.
    off = pb.UpdateProviderCredentialRequest(
        provider_credential=provider_pb2.ProviderCredential(name=created.name),
        update_mask=FieldMask(paths=["allow_private_network"]),
    )
    assert await code_of(admin.UpdateProviderCredential, off) == grpc.StatusCode.INVALID_ARGUMENT


async def test_seed_default_prices_once(store: InMemoryStore, clock: Clock) -> None:
    first = await seed_default_prices(store, "/oggy/", clock)
    assert first > 20
    assert await seed_default_prices(store, "/oggy/", clock) == 0
    items, _ = await store.list_prefix("/oggy/prices/")
    assert len(items) == first
    # An admin who empties the catalog keeps it empty across restarts.
    for item in items:
        await store.delete(item.key)
    assert await seed_default_prices(store, "/oggy/", clock) == 0
    events = await audit_events(store)
    assert [(e.method, e.principal) for e in events] == [("SeedDefaultPrices", "system")]


async def test_estimate_cost_uses_seeded_catalog(admin: AdminServicer, store, clock) -> None:
    await seed_default_prices(store, "/oggy/", clock)
    clock.now = 1_760_000_000  # the shipped prices are effective from 2025-01-01
    resp = await call(
        admin.EstimateCost,
        pb.EstimateCostRequest(
            model="gpt-4o-mini-2024-07-18", input_tokens=1_000_000, output_tokens=1_000_000
        ),
    )
    assert resp.cost_micro_usd == 150_000 + 600_000
    assert resp.model_price.name == "prices/default-openai-gpt-4o-mini-any"
    assert resp.catalog_version.startswith("c-")
    nope = pb.EstimateCostRequest(model="no-such-model", input_tokens=1)
    assert await code_of(admin.EstimateCost, nope) == grpc.StatusCode.NOT_FOUND


async def test_delegated_rpcs_are_unimplemented_without_a_delegate(admin: AdminServicer) -> None:
    for method, request in (
        (admin.ListPromptLogs, pb.ListPromptLogsRequest()),
        (admin.PurgePromptLogs, pb.PurgePromptLogsRequest()),
        (admin.ListUnpricedModels, pb.ListUnpricedModelsRequest()),
        (admin.RotateKeyEncryptionKey, pb.RotateKeyEncryptionKeyRequest()),
    ):
        assert await code_of(method, request) == grpc.StatusCode.UNIMPLEMENTED


async def test_delegated_rpcs_forward(store: InMemoryStore) -> None:
    class Usage:
        async def PurgePromptLogs(self, request, context):
            return pb.PurgePromptLogsResponse(purged=3)

    admin = AdminServicer(store, EnvelopeCipher(Kek.generate()), usage_queries=Usage())
    assert (await call(admin.PurgePromptLogs, pb.PurgePromptLogsRequest())).purged == 3
