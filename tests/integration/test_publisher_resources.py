"""The publisher carries signing keys (HS256 secret decrypted), routes, prices
(catalog + workspace overrides), limits and budgets to data planes: real etcd, real
admin writes."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator
from dataclasses import dataclass

import grpc
import pytest

from controlplane.api.admin_servicer import AdminServicer, seed_default_prices
from controlplane.publisher import ConfigDiscoveryServicer, ConfigPublisher
from controlplane.publisher.fanout import Subscription, Update
from controlplane.secrets import EnvelopeCipher, Kek
from controlplane.store.etcd import EtcdStore
from oggy.v1 import admin_service_pb2 as pb
from oggy.v1 import (
    budget_pb2,
    config_service_pb2,
    config_service_pb2_grpc,
    limit_pb2,
    price_pb2,
    provider_pb2,
    route_pb2,
    scope_pb2,
    signing_key_pb2,
)
from tests.support.etcd import etcd_endpoint_fixture, unique_prefix  # noqa: F401

W = "workspaces/acme"
HMAC = "0123456789abcdef0123456789abcdef-hmac"
SK = signing_key_pb2.SigningKey
TIMEOUT_S = 10.0


class Aborted(Exception):
    pass


class Ctx:
    async def abort(self, code: grpc.StatusCode, details: str) -> None:
        raise Aborted(code, details)


@dataclass
class Env:
    prefix: str
    store: EtcdStore
    admin: AdminServicer
    publisher: ConfigPublisher
    cipher: EnvelopeCipher

    async def call(self, method: str, request):
        return await getattr(self.admin, method)(request, Ctx())


@pytest.fixture
async def env(etcd_endpoint: str) -> AsyncIterator[Env]:
    prefix = unique_prefix()
    store = EtcdStore(etcd_endpoint)
    cipher = EnvelopeCipher(Kek.generate())
    admin = AdminServicer(store, cipher, prefix=prefix, rng=random.Random(5))
    await seed_default_prices(store, prefix)
    e = Env(prefix, store, admin, ConfigPublisher(store, cipher, prefix), cipher)
    await e.call("CreateWorkspace", pb.CreateWorkspaceRequest(workspace_id="acme"))
    await e.call(
        "CreateProviderCredential",
        pb.CreateProviderCredentialRequest(
            parent=W,
            provider_id="local",
            provider_credential=provider_pb2.ProviderCredential(
                kind=provider_pb2.ProviderCredential.KIND_OPENAI_COMPATIBLE,
                base_url="http://127.0.0.1:9/v1",
                models=["m*"],
                api_key="sk-publisher-test-key",
                allow_private_network=True,
            ),
        ),
    )
    await e.call(
        "CreateSigningKey",
        pb.CreateSigningKeyRequest(
            parent=W,
            signing_key_id="hs-1",
            signing_key=SK(algorithm=SK.ALGORITHM_HS256, hmac_secret=HMAC),
        ),
    )
    await e.publisher.start()
    try:
        yield e
    finally:
        await e.publisher.stop()
        await store.close()


async def next_update(sub: Subscription) -> Update:
    return await asyncio.wait_for(sub.next(), TIMEOUT_S)


async def test_full_snapshot_has_signing_keys_routes_and_all_prices(env: Env) -> None:
    await env.call(
        "CreateRoute",
        pb.CreateRouteRequest(
            parent=W,
            route_id="fast",
            route=route_pb2.Route(
                model="fast", targets=[route_pb2.RouteTarget(provider=f"{W}/providers/local")]
            ),
        ),
    )
    await env.call(
        "SetModelPrice",
        pb.SetModelPriceRequest(
            parent=W,
            model_price=price_pb2.ModelPrice(provider="*", model="m1", input_per_mtok=1),
        ),
    )
    # Restart the publisher so the full read sees everything.
    await env.publisher.stop()
    env.publisher = ConfigPublisher(env.store, env.cipher, env.prefix)
    await env.publisher.start()
    snap = env.publisher.snapshot
    assert snap is not None
    [key] = snap.signing_keys
    assert key.signing_key.name == f"{W}/signingKeys/hs-1"
    assert key.hmac_secret == HMAC.encode() and key.signing_key.hmac_secret == ""
    assert [r.name for r in snap.routes] == [f"{W}/routes/fast"]
    names = [p.name for p in snap.prices]
    assert "prices/default-openai-gpt-4o" in names
    assert any(n.startswith(f"{W}/prices/") for n in names)
    assert len(names) > 20


async def test_deltas_carry_new_resources_and_skip_bookkeeping_keys(env: Env) -> None:
    sub = env.publisher.subscribe()
    first = await next_update(sub)
    assert first.snapshot is not None
    base = first.snapshot.revision
    await env.call(
        "CreateSigningKey",
        pb.CreateSigningKeyRequest(
            parent=W,
            signing_key_id="hs-2",
            signing_key=SK(algorithm=SK.ALGORITHM_HS256, hmac_secret=HMAC + "-2"),
        ),
    )
    update = await next_update(sub)
    assert update.delta is not None and update.delta.base_revision == base
    # One transaction wrote the key, its secret and its audit event: one change.
    [change] = update.delta.changes
    assert change.name == f"{W}/signingKeys/hs-2"
    assert change.signing_key.hmac_secret == (HMAC + "-2").encode()

    await env.call(
        "CreateRoute",
        pb.CreateRouteRequest(
            parent=W,
            route_id="r",
            route=route_pb2.Route(
                model="m-fast", targets=[route_pb2.RouteTarget(provider=f"{W}/providers/local")]
            ),
        ),
    )
    [change] = (await next_update(sub)).delta.changes
    assert change.WhichOneof("change") == "route" and change.route.model == "m-fast"

    price = (
        await env.call(
            "SetModelPrice",
            pb.SetModelPriceRequest(
                model_price=price_pb2.ModelPrice(provider="openai", model="new-model")
            ),
        )
    ).model_price
    [change] = (await next_update(sub)).delta.changes
    assert change.name == price.name and change.price.model == "new-model"
    await env.call("DeleteModelPrice", pb.DeleteModelPriceRequest(name=price.name))
    [change] = (await next_update(sub)).delta.changes
    assert change.name == price.name and change.deleted
    snap = env.publisher.snapshot
    assert snap is not None and price.name not in {p.name for p in snap.prices}
    assert {k.signing_key.name for k in snap.signing_keys} == {
        f"{W}/signingKeys/hs-1",
        f"{W}/signingKeys/hs-2",
    }


async def test_hmac_secret_reaches_a_data_plane_stream(env: Env) -> None:
    server = grpc.aio.server()
    config_service_pb2_grpc.add_ConfigDiscoveryServiceServicer_to_server(
        ConfigDiscoveryServicer(env.publisher), server
    )
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{port}")
    try:
        call = config_service_pb2_grpc.ConfigDiscoveryServiceStub(channel).StreamConfig()
        await call.write(
            config_service_pb2.StreamConfigRequest(node=config_service_pb2.Node(id="dp"))
        )
        response = await asyncio.wait_for(call.read(), TIMEOUT_S)
        [key] = response.snapshot.signing_keys
        assert key.hmac_secret == HMAC.encode()
        call.cancel()
    finally:
        await channel.close()
        await server.stop(None)


async def test_hs256_key_without_its_secret_is_left_out(env: Env) -> None:
    await env.store.delete(f"{env.prefix}secrets/{W}/signingKeys/hs-1")
    await env.publisher.stop()
    env.publisher = ConfigPublisher(env.store, env.cipher, env.prefix)
    await env.publisher.start()
    snap = env.publisher.snapshot
    assert snap is not None and not snap.signing_keys


async def test_limits_and_budgets_reach_snapshots_and_deltas(env: Env) -> None:
    sub = env.publisher.subscribe()
    base = (await next_update(sub)).snapshot
    assert base is not None and not base.limits and not base.budgets
    L = limit_pb2.Limit
    limit = (
        await env.call(
            "CreateLimit",
            pb.CreateLimitRequest(
                parent=W,
                limit_id="rpm",
                limit=L(metric=L.METRIC_REQUESTS, capacity=60, scope=scope_pb2.Scope(model="m*")),
            ),
        )
    ).limit
    [change] = (await next_update(sub)).delta.changes
    assert change.WhichOneof("change") == "limit" and change.limit.name == limit.name
    assert change.limit.window.seconds == 60 and change.limit.etag == limit.etag
    B = budget_pb2.Budget
    budget = (
        await env.call(
            "CreateBudget",
            pb.CreateBudgetRequest(
                parent=W,
                budget_id="month",
                budget=B(amount_micro_usd=5, period=B.PERIOD_MONTH, enforcement=B.ENFORCEMENT_HARD),
            ),
        )
    ).budget
    [change] = (await next_update(sub)).delta.changes
    assert change.WhichOneof("change") == "budget"
    assert list(change.budget.threshold_percents) == [50, 80, 100]
    snap = env.publisher.snapshot
    assert snap is not None
    assert [x.name for x in snap.limits] == [limit.name]
    assert [x.name for x in snap.budgets] == [budget.name]

    await env.call("DeleteBudget", pb.DeleteBudgetRequest(name=budget.name))
    [change] = (await next_update(sub)).delta.changes
    assert change.name == budget.name and change.deleted
    # A full read (a restarted publisher) carries what is left.
    await env.publisher.stop()
    env.publisher = ConfigPublisher(env.store, env.cipher, env.prefix)
    await env.publisher.start()
    snap = env.publisher.snapshot
    assert snap is not None and [x.name for x in snap.limits] == [limit.name]
    assert not snap.budgets and snap.schema_version == 2
