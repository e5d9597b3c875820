"""The admin API's config check on an InMemoryStore: every write that changes config, of
every resource kind, is checked before it commits (and commits nothing when refused), and
the real check refuses what the data plane's compiler would reject."""

from __future__ import annotations

import random
from collections.abc import Sequence

import grpc
import pytest
from google.protobuf.field_mask_pb2 import FieldMask

from controlplane.api.admin_servicer import AdminServicer
from controlplane.api.config_check import ConfigCheck
from controlplane.domain.errors import InvalidArgument
from controlplane.secrets import EnvelopeCipher, Kek
from controlplane.store.memory import InMemoryStore
from controlplane.store.txn import Op
from oggy.v1 import (
    actor_pb2,
    key_pb2,
    policy_pb2,
    price_pb2,
    provider_pb2,
    route_pb2,
    signing_key_pb2,
)
from oggy.v1 import admin_service_pb2 as pb

W = "workspaces/w"
PROVIDER = f"{W}/providers/p"
KEY = f"{W}/keys/kkkkkkkkkkkkkkkk"
SK = signing_key_pb2.SigningKey
HMAC = "0123456789abcdef0123456789abcdef"


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
    return AdminServicer(store, EnvelopeCipher(Kek.generate()), rng=random.Random(11))


async def call(admin: AdminServicer, method: str, request: object) -> object:
    return await getattr(admin, method)(request, FakeContext())


def provider_body(*models: str) -> provider_pb2.ProviderCredential:
    return provider_pb2.ProviderCredential(
        kind=provider_pb2.ProviderCredential.KIND_OPENAI_COMPATIBLE,
        base_url="http://127.0.0.1:9/v1",
        models=list(models) or ["m*"],
        api_key="sk-check-0123456789",
        allow_private_network=True,
    )


async def seed(admin: AdminServicer) -> None:
    """One of every resource kind in workspace `w` (each write checked, and accepted)."""
    await call(admin, "CreateWorkspace", pb.CreateWorkspaceRequest(workspace_id="w"))
    await call(admin, "CreateWorkspace", pb.CreateWorkspaceRequest(workspace_id="empty"))
    await call(admin, "CreateActor", pb.CreateActorRequest(parent=W, actor_id="a"))
    await call(
        admin,
        "CreateGatewayKey",
        pb.CreateGatewayKeyRequest(
            parent=W, key_id="kkkkkkkkkkkkkkkk", gateway_key=key_pb2.GatewayKey()
        ),
    )
    await call(
        admin,
        "CreateProviderCredential",
        pb.CreateProviderCredentialRequest(
            parent=W, provider_id="p", provider_credential=provider_body()
        ),
    )
    await call(
        admin,
        "CreatePolicy",
        pb.CreatePolicyRequest(
            parent=W, policy_id="pol", policy=policy_pb2.Policy(target=W, allowed_models=["m*"])
        ),
    )
    await call(
        admin,
        "CreateSigningKey",
        pb.CreateSigningKeyRequest(
            parent=W,
            signing_key_id="sk",
            signing_key=SK(algorithm=SK.ALGORITHM_HS256, hmac_secret=HMAC),
        ),
    )
    await call(
        admin,
        "CreateRoute",
        pb.CreateRouteRequest(
            parent=W,
            route_id="r",
            route=route_pb2.Route(model="fast", targets=[route_pb2.RouteTarget(provider=PROVIDER)]),
        ),
    )
    for parent in ("", W):
        await call(
            admin,
            "SetModelPrice",
            pb.SetModelPriceRequest(
                parent=parent,
                model_price=price_pb2.ModelPrice(
                    name=f"{parent + '/' if parent else ''}prices/mp", provider="openai", model="m1"
                ),
            ),
        )


# Every admin write that changes config, and the resource key it writes.
WRITES: list[tuple[str, object, str]] = [
    ("CreateWorkspace", pb.CreateWorkspaceRequest(workspace_id="new"), "workspaces/new"),
    ("DeleteWorkspace", pb.DeleteWorkspaceRequest(name="workspaces/empty"), "workspaces/empty"),
    (
        "CreateGatewayKey",
        pb.CreateGatewayKeyRequest(parent=W, key_id="kkkkkkkkkkkkkkk2"),
        f"{W}/keys/kkkkkkkkkkkkkkk2",
    ),
    ("RevokeGatewayKey", pb.RevokeGatewayKeyRequest(name=KEY), KEY),
    ("RotateGatewayKey", pb.RotateGatewayKeyRequest(name=KEY), KEY),
    ("DeleteGatewayKey", pb.DeleteGatewayKeyRequest(name=KEY), KEY),
    ("CreateActor", pb.CreateActorRequest(parent=W, actor_id="a2"), f"{W}/actors/a2"),
    (
        "UpdateActor",
        pb.UpdateActorRequest(
            actor=actor_pb2.Actor(name=f"{W}/actors/a", disabled=True),
            update_mask=FieldMask(paths=["disabled"]),
        ),
        f"{W}/actors/a",
    ),
    ("DeleteActor", pb.DeleteActorRequest(name=f"{W}/actors/a"), f"{W}/actors/a"),
    (
        "CreateProviderCredential",
        pb.CreateProviderCredentialRequest(
            parent=W, provider_id="p2", provider_credential=provider_body()
        ),
        f"{W}/providers/p2",
    ),
    (
        "UpdateProviderCredential",
        pb.UpdateProviderCredentialRequest(
            provider_credential=provider_pb2.ProviderCredential(name=PROVIDER, models=["x*"]),
            update_mask=FieldMask(paths=["models"]),
        ),
        PROVIDER,
    ),
    (
        "CreatePolicy",
        pb.CreatePolicyRequest(parent=W, policy_id="p2", policy=policy_pb2.Policy(target=W)),
        f"{W}/policies/p2",
    ),
    (
        "UpdatePolicy",
        pb.UpdatePolicyRequest(
            policy=policy_pb2.Policy(name=f"{W}/policies/pol", allowed_models=["x*"]),
            update_mask=FieldMask(paths=["allowed_models"]),
        ),
        f"{W}/policies/pol",
    ),
    ("DeletePolicy", pb.DeletePolicyRequest(name=f"{W}/policies/pol"), f"{W}/policies/pol"),
    (
        "CreateSigningKey",
        pb.CreateSigningKeyRequest(
            parent=W,
            signing_key_id="sk2",
            signing_key=SK(algorithm=SK.ALGORITHM_HS256, hmac_secret=HMAC),
        ),
        f"{W}/signingKeys/sk2",
    ),
    (
        "DeleteSigningKey",
        pb.DeleteSigningKeyRequest(name=f"{W}/signingKeys/sk"),
        f"{W}/signingKeys/sk",
    ),
    (
        "CreateRoute",
        pb.CreateRouteRequest(
            parent=W,
            route_id="r2",
            route=route_pb2.Route(model="slow", targets=[route_pb2.RouteTarget(provider=PROVIDER)]),
        ),
        f"{W}/routes/r2",
    ),
    ("DeleteRoute", pb.DeleteRouteRequest(name=f"{W}/routes/r"), f"{W}/routes/r"),
    (
        "SetModelPrice",
        pb.SetModelPriceRequest(
            model_price=price_pb2.ModelPrice(name="prices/mp2", provider="openai", model="m2")
        ),
        "prices/mp2",
    ),
    (
        "SetModelPrice",
        pb.SetModelPriceRequest(
            parent=W,
            model_price=price_pb2.ModelPrice(
                name=f"{W}/prices/mp", provider="openai", model="m1", input_per_mtok=5
            ),
        ),
        f"{W}/prices/mp",
    ),
    ("DeleteModelPrice", pb.DeleteModelPriceRequest(name="prices/mp"), "prices/mp"),
    ("DeleteModelPrice", pb.DeleteModelPriceRequest(name=f"{W}/prices/mp"), f"{W}/prices/mp"),
]


@pytest.mark.parametrize(("method", "request_", "name"), WRITES, ids=[w[0] for w in WRITES])
async def test_every_config_write_is_checked_and_a_refusal_commits_nothing(
    admin: AdminServicer,
    store: InMemoryStore,
    monkeypatch: pytest.MonkeyPatch,
    method: str,
    request_: object,
    name: str,
) -> None:
    await seed(admin)
    checked: list[list[str]] = []

    async def refuse(self: ConfigCheck, ops: Sequence[Op]) -> None:
        checked.append([op.key for op in ops])
        raise InvalidArgument("refused by the test")

    monkeypatch.setattr(ConfigCheck, "__call__", refuse)
    revision = store.revision
    with pytest.raises(Aborted) as caught:
        await call(admin, method, request_)
    assert (caught.value.code, caught.value.details) == (
        grpc.StatusCode.INVALID_ARGUMENT,
        "refused by the test",
    )
    assert checked and f"/oggy/{name}" in checked[0]
    assert store.revision == revision  # nothing committed, not even an audit event


@pytest.mark.parametrize("glob", ["gpt-[4", "gpt=4o"])
async def test_a_glob_the_compiler_rejects_is_refused_with_its_message(
    admin: AdminServicer, store: InMemoryStore, glob: str
) -> None:
    await seed(admin)
    revision = store.revision
    with pytest.raises(Aborted) as caught:
        await call(
            admin,
            "CreatePolicy",
            pb.CreatePolicyRequest(
                parent=W, policy_id="bad", policy=policy_pb2.Policy(target=W, allowed_models=[glob])
            ),
        )
    assert caught.value.code == grpc.StatusCode.INVALID_ARGUMENT
    assert caught.value.details.startswith(f"{W} would not compile with this change: ")
    assert repr(glob) in caught.value.details
    assert store.revision == revision


async def test_a_workspace_already_broken_around_the_api_takes_writes_to_repair_it(
    admin: AdminServicer, store: InMemoryStore
) -> None:
    await seed(admin)
    bad = policy_pb2.Policy(name=f"{W}/policies/etcdctl", target=W, allowed_models=["gpt-[4"])
    await store.put(f"/oggy/{bad.name}", bad.SerializeToString())
    # Still broken after this write, but not by it: accepted (revoking must always work).
    await call(admin, "RevokeGatewayKey", pb.RevokeGatewayKeyRequest(name=KEY))
    await call(admin, "DeletePolicy", pb.DeletePolicyRequest(name=bad.name))
    # Repaired: the check is back to refusing breakage.
    with pytest.raises(Aborted):
        await call(
            admin,
            "UpdatePolicy",
            pb.UpdatePolicyRequest(
                policy=policy_pb2.Policy(name=f"{W}/policies/pol", allowed_models=["gpt-[4"]),
                update_mask=FieldMask(paths=["allowed_models"]),
            ),
        )


async def test_deleting_the_actor_a_key_is_bound_to_is_refused(admin: AdminServicer) -> None:
    await seed(admin)
    await call(
        admin,
        "CreateGatewayKey",
        pb.CreateGatewayKeyRequest(
            parent=W,
            key_id="boundboundbound1",
            gateway_key=key_pb2.GatewayKey(actor=f"{W}/actors/a"),
        ),
    )
    with pytest.raises(Aborted) as caught:
        await call(admin, "DeleteActor", pb.DeleteActorRequest(name=f"{W}/actors/a"))
    assert caught.value.code == grpc.StatusCode.INVALID_ARGUMENT
    assert f"key {W}/keys/boundboundbound1" in caught.value.details
