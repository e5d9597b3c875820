"""AdminServicer on an InMemoryStore: races and idempotency, without gRPC."""

from __future__ import annotations

import asyncio
import random

import grpc
import pytest

from controlplane.api.admin_servicer import AdminServicer
from controlplane.secrets import EnvelopeCipher, Kek
from controlplane.store.memory import InMemoryStore
from oggy.v1 import admin_service_pb2 as pb
from oggy.v1 import provider_pb2


class Aborted(Exception):
    def __init__(self, code: grpc.StatusCode, details: str) -> None:
        super().__init__(code, details)
        self.code, self.details = code, details


class FakeContext:
    async def abort(self, code: grpc.StatusCode, details: str) -> None:
        raise Aborted(code, details)


@pytest.fixture
def store() -> InMemoryStore:
    return InMemoryStore()


@pytest.fixture
def admin(store: InMemoryStore) -> AdminServicer:
    return AdminServicer(
        store, EnvelopeCipher(Kek.generate()), clock=lambda: 1_700_000_000.0, rng=random.Random(3)
    )


async def call(method, request):
    return await method(request, FakeContext())


async def test_concurrent_retries_with_one_request_id_create_once(
    admin: AdminServicer, store: InMemoryStore
) -> None:
    req = pb.CreateWorkspaceRequest(request_id="same")
    results = await asyncio.gather(*(call(admin.CreateWorkspace, req) for _ in range(5)))
    assert len({r.workspace.name for r in results}) == 1
    items, _ = await store.list_prefix("/oggy/workspaces/")
    assert len(items) == 1


async def test_timestamps_come_from_the_clock(admin: AdminServicer) -> None:
    ws = (await call(admin.CreateWorkspace, pb.CreateWorkspaceRequest(workspace_id="a"))).workspace
    assert ws.create_time.seconds == 1_700_000_000


async def test_child_racing_workspace_delete_never_orphans(
    admin: AdminServicer, store: InMemoryStore
) -> None:
    await call(admin.CreateWorkspace, pb.CreateWorkspaceRequest(workspace_id="w"))
    results = await asyncio.gather(
        call(admin.DeleteWorkspace, pb.DeleteWorkspaceRequest(name="workspaces/w")),
        call(admin.CreateActor, pb.CreateActorRequest(parent="workspaces/w", actor_id="a")),
        return_exceptions=True,
    )
    ws = await store.get("/oggy/workspaces/w")
    actor = await store.get("/oggy/workspaces/w/actors/a")
    assert actor is None or ws is not None, results


async def test_error_messages_never_carry_the_api_key(admin: AdminServicer) -> None:
    await call(admin.CreateWorkspace, pb.CreateWorkspaceRequest(workspace_id="w"))
    body = provider_pb2.ProviderCredential(
        kind=provider_pb2.ProviderCredential.KIND_OPENAI,
        base_url="https://user:sk-secret-in-url@example.com",
        models=["m"],
        api_key="sk-real-secret-1234",
    )
    with pytest.raises(Aborted) as info:
        await call(
            admin.CreateProviderCredential,
            pb.CreateProviderCredentialRequest(parent="workspaces/w", provider_credential=body),
        )
    assert info.value.code == grpc.StatusCode.INVALID_ARGUMENT
    assert "sk-real-secret" not in info.value.details
    assert "sk-secret-in-url" not in info.value.details


async def test_not_found_and_unavailable_usage(admin: AdminServicer) -> None:
    with pytest.raises(Aborted) as info:
        await call(admin.GetActor, pb.GetActorRequest(name="workspaces/w/actors/a"))
    assert info.value.code == grpc.StatusCode.NOT_FOUND
    with pytest.raises(Aborted) as info:
        await call(
            admin.ListUsageEvents,
            pb.ListUsageEventsRequest(filter=pb.UsageFilter(workspace="workspaces/w")),
        )
    assert info.value.code == grpc.StatusCode.NOT_FOUND  # no such workspace
    await call(admin.CreateWorkspace, pb.CreateWorkspaceRequest(workspace_id="w"))
    with pytest.raises(Aborted) as info:
        await call(
            admin.ListUsageEvents,
            pb.ListUsageEventsRequest(filter=pb.UsageFilter(workspace="workspaces/w")),
        )
    assert info.value.code == grpc.StatusCode.UNAVAILABLE
