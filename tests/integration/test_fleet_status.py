"""The fleet against a real control plane (create_server) on real etcd: admin writes the data
plane's compiler would reject are refused, and ListDataPlanes shows each data plane's
applied revision, ACK/NACK, warnings and usage backlog, plus the held-back workspaces."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path

import grpc
import pytest
from google.protobuf.field_mask_pb2 import FieldMask

from controlplane.cli import main
from controlplane.server import ControlPlaneServer, create_server
from controlplane.settings import Settings
from controlplane.store.etcd import EtcdStore
from oggy.v1 import (
    actor_pb2,
    config_service_pb2,
    config_service_pb2_grpc,
    key_pb2,
    policy_pb2,
    provider_pb2,
    signing_key_pb2,
    usage_pb2,
    usage_service_pb2,
    usage_service_pb2_grpc,
)
from oggy.v1 import admin_service_pb2 as pb
from oggy.v1 import admin_service_pb2_grpc as admin_grpc
from tests.integration.test_admin_api_resources import provider
from tests.support.etcd import etcd_endpoint_fixture, unique_prefix  # noqa: F401

W = "workspaces/acme"
SK = signing_key_pb2.SigningKey
TIMEOUT_S = 10.0
POLICY = f"{W}/policies/models"


@dataclass
class Env:
    cp: ControlPlaneServer
    address: str
    channel: grpc.aio.Channel
    stub: admin_grpc.AdminServiceStub
    md: tuple[tuple[str, str], ...]
    prefix: str
    store: EtcdStore


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
    address = f"127.0.0.1:{port}"
    channel = grpc.aio.insecure_channel(address)
    store = EtcdStore(etcd_endpoint)
    md = (("authorization", f"Bearer {cp.admin_token}"),)
    e = Env(cp, address, channel, admin_grpc.AdminServiceStub(channel), md, prefix, store)
    await e.stub.CreateWorkspace(pb.CreateWorkspaceRequest(workspace_id="acme"), metadata=md)
    try:
        yield e
    finally:
        await channel.close()
        await store.close()
        await cp.stop(None)


async def refusal(awaitable) -> str:
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await awaitable
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    return info.value.details() or ""


def policy_write(glob: str) -> tuple[str, object]:
    return "CreatePolicy", pb.CreatePolicyRequest(
        parent=W, policy_id="bad", policy=policy_pb2.Policy(target=W, allowed_models=[glob])
    )


WRITES: dict[str, Callable[[], tuple[str, object]]] = {
    "policy glob gpt-[4": lambda: policy_write("gpt-[4"),
    "policy glob gpt=4o": lambda: policy_write("gpt=4o"),
    "policy update": lambda: (
        "UpdatePolicy",
        pb.UpdatePolicyRequest(
            policy=policy_pb2.Policy(name=POLICY, denied_models=["gpt-[4"]),
            update_mask=FieldMask(paths=["denied_models"]),
        ),
    ),
    "provider models": lambda: (
        "CreateProviderCredential",
        pb.CreateProviderCredentialRequest(
            parent=W,
            provider_id="bad",
            provider_credential=provider_pb2.ProviderCredential(
                kind=provider_pb2.ProviderCredential.KIND_OPENAI,
                base_url="https://api.openai.com/v1",
                models=["gpt=4o"],
                api_key="sk-fleet-0123456789",
            ),
        ),
    ),
    "provider update": lambda: (
        "UpdateProviderCredential",
        pb.UpdateProviderCredentialRequest(
            provider_credential=provider_pb2.ProviderCredential(
                name=f"{W}/providers/local", models=["gpt-[4"]
            ),
            update_mask=FieldMask(paths=["models"]),
        ),
    ),
    "actor a key is bound to": lambda: (
        "DeleteActor",
        pb.DeleteActorRequest(name=f"{W}/actors/alice"),
    ),
}


@pytest.mark.parametrize("case", list(WRITES))
async def test_writes_the_data_plane_could_not_compile_are_refused(env: Env, case: str) -> None:
    await provider(env)  # type: ignore[arg-type]  # the same stub and metadata fields
    await env.stub.CreatePolicy(
        pb.CreatePolicyRequest(
            parent=W, policy_id="models", policy=policy_pb2.Policy(target=W, allowed_models=["m*"])
        ),
        metadata=env.md,
    )
    await env.stub.CreateActor(
        pb.CreateActorRequest(parent=W, actor_id="alice", actor=actor_pb2.Actor()), metadata=env.md
    )
    await env.stub.CreateGatewayKey(
        pb.CreateGatewayKeyRequest(
            parent=W, gateway_key=key_pb2.GatewayKey(actor=f"{W}/actors/alice")
        ),
        metadata=env.md,
    )
    items_before, _ = await env.store.list_prefix(f"{env.prefix}workspaces/")

    method, request = WRITES[case]()
    details = await refusal(getattr(env.stub, method)(request, metadata=env.md))
    assert details.startswith(f"{W} would not compile with this change: ")

    items_after, _ = await env.store.list_prefix(f"{env.prefix}workspaces/")
    assert items_after == items_before  # nothing written
    assert env.cp.publisher.held() == []


# --- ListDataPlanes ------------------------------------------------------------------------


def node_md(env: Env) -> tuple[tuple[str, str], ...]:
    return (("authorization", f"Bearer {env.cp.node_token}"),)


async def config_stream(
    env: Env, channel: grpc.aio.Channel, node_id: str
) -> tuple[grpc.aio.StreamStreamCall, config_service_pb2.StreamConfigResponse]:
    call = config_service_pb2_grpc.ConfigDiscoveryServiceStub(channel).StreamConfig(
        metadata=node_md(env)
    )
    node = config_service_pb2.Node(id=node_id, hostname=f"host-{node_id}", version="9.9")
    await call.write(config_service_pb2.StreamConfigRequest(node=node))
    first = await asyncio.wait_for(call.read(), TIMEOUT_S)
    return call, first


async def list_all(env: Env, page_size: int = 1) -> tuple[list, pb.ListDataPlanesResponse]:
    planes, token = [], ""
    while True:
        page = await env.stub.ListDataPlanes(
            pb.ListDataPlanesRequest(page_size=page_size, page_token=token), metadata=env.md
        )
        planes.extend(page.data_planes)
        token = page.next_page_token
        if not token:
            return planes, page


async def wait_listed(env: Env, predicate: Callable[[list, pb.ListDataPlanesResponse], bool]):
    async def poll():
        while True:
            planes, last = await list_all(env)
            if predicate(planes, last):
                return planes, last
            await asyncio.sleep(0.02)

    return await asyncio.wait_for(poll(), TIMEOUT_S)


async def test_list_data_planes_shows_acks_nacks_warnings_backlog_and_held_workspaces(
    env: Env,
) -> None:
    channel = env.channel
    good, first = await config_stream(env, channel, "dp-a")
    await good.write(
        config_service_pb2.StreamConfigRequest(
            response_nonce=first.nonce, compile_warnings=["provider x: not routed"]
        )
    )
    bad, second = await config_stream(env, channel, "dp-b")
    await bad.write(
        config_service_pb2.StreamConfigRequest(
            response_nonce=second.nonce, error_detail="policy p: bad glob"
        )
    )
    usage = usage_service_pb2_grpc.UsageServiceStub(channel).ReportUsage(metadata=node_md(env))
    await usage.write(
        usage_service_pb2.ReportUsageRequest(
            batch_id="b1",
            dataplane_id="dp-a",
            backlog_events=7,
            events=[usage_pb2.UsageEvent(event_id="fleet-e1", workspace=W)],
        )
    )
    assert (await asyncio.wait_for(usage.read(), TIMEOUT_S)).stored

    # A bad policy written around the API: its workspace is held back.
    bad_policy = policy_pb2.Policy(name=f"{W}/policies/etcdctl", target=W, allowed_models=["x["])
    await env.store.put(env.prefix + bad_policy.name, bad_policy.SerializeToString())

    planes, last = await wait_listed(
        env,
        lambda ps, last: (
            len(ps) == 2
            and ps[0].applied_revision
            and ps[1].nack_count
            and ps[0].usage_backlog
            and last.held_workspaces
        ),
    )
    a, b = planes
    assert (a.name, a.node_id, a.hostname, a.version) == (
        "dataPlanes/dp-a",
        "dp-a",
        "host-dp-a",
        "9.9",
    )
    assert a.connected and a.peer and a.connect_time.seconds > 0
    assert a.sent_revision == a.applied_revision == first.snapshot.revision
    assert a.last_ack_time.seconds > 0 and not a.HasField("last_nack_time")
    assert list(a.compile_warnings) == ["provider x: not routed"]
    assert a.usage_backlog == 7 and a.last_usage_report_time.seconds > 0
    assert (b.applied_revision, b.last_nack_revision) == (0, second.snapshot.revision)
    assert (b.last_nack_reason, b.nack_count) == ("policy p: bad glob", 1)
    assert b.last_nack_time.seconds > 0 and not b.HasField("last_usage_report_time")

    [held] = last.held_workspaces
    assert (held.workspace, held.held_revision) == (W, first.snapshot.revision)
    assert "'x['" in held.error and held.failed_revision > held.held_revision
    assert last.published_revision == first.snapshot.revision

    # A closed stream stays listed, as disconnected.
    bad.cancel()
    planes, _ = await wait_listed(env, lambda ps, _: not ps[1].connected)
    assert planes[1].disconnect_time.seconds > 0
    for call in (good, bad, usage):
        call.cancel()


async def test_list_data_planes_refuses_a_bad_page_token(env: Env) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await env.stub.ListDataPlanes(
            pb.ListDataPlanesRequest(page_token="garbage"), metadata=env.md
        )
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT


async def test_oggy_dataplanes_list_prints_the_fleet_and_warns_of_held_workspaces(
    env: Env, capsys: pytest.CaptureFixture[str]
) -> None:
    call, first = await config_stream(env, env.channel, "dp-cli")
    await call.write(config_service_pb2.StreamConfigRequest(response_nonce=first.nonce))
    bad_policy = policy_pb2.Policy(name=f"{W}/policies/etcdctl", target=W, allowed_models=["x["])
    await env.store.put(env.prefix + bad_policy.name, bad_policy.SerializeToString())
    await wait_listed(env, lambda ps, last: ps[0].applied_revision and last.held_workspaces)
    cli_env = {"OGGY_ADMIN_ADDRESS": env.address, "OGGY_ADMIN_TOKEN": env.cp.admin_token}

    argv = ["dataplanes", "list", "--format", "json"]
    assert await asyncio.to_thread(main.run, argv, cli_env) == 0
    out, err = capsys.readouterr()
    [plane] = json.loads(out)
    assert (plane["node_id"], plane["applied_revision"]) == ("dp-cli", str(first.snapshot.revision))
    assert err.startswith(f"warning: {W} is held back at revision {first.snapshot.revision}: ")
    assert "'x['" in err

    assert await asyncio.to_thread(main.run, ["dataplanes", "list"], cli_env) == 0
    header, row = capsys.readouterr().out.splitlines()
    assert header.split()[:5] == ["NODE", "HOST", "VERSION", "STATE", "APPLIED"]
    assert row.split()[:5] == [
        "dp-cli",
        "host-dp-cli",
        "9.9",
        "connected",
        str(first.snapshot.revision),
    ]
    call.cancel()
