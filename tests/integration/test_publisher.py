"""ConfigPublisher + ConfigDiscoveryServicer against a real etcd and a real gRPC stream."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import grpc
import pytest

from controlplane.publisher import (
    ConfigDiscoveryServicer,
    ConfigPublisher,
    HeldWorkspace,
    NodeStatus,
)
from controlplane.store.base import ChangeBatch, Item, StoreUnavailable
from controlplane.store.etcd import EtcdStore
from oggy.contract.snapshot import SCHEMA_VERSION
from oggy.v1 import (
    actor_pb2,
    config_service_pb2,
    config_service_pb2_grpc,
    key_pb2,
    policy_pb2,
    provider_pb2,
    snapshot_pb2,
    workspace_pb2,
)
from tests.support.etcd import start_etcd, stop_etcd, unique_prefix

W = "workspaces/acme"
API_KEY = "sk-live-0123456789abcdef"
READ_TIMEOUT_S = 10.0


class FakeCipher:
    """Same shape as EnvelopeCipher: the 'ciphertext' is the reversed plaintext."""

    @staticmethod
    def encrypt(plaintext: bytes) -> bytes:
        return plaintext[::-1]

    def decrypt(self, blob: bytes) -> bytes:
        return blob[::-1]


@dataclass
class FaultyStore:
    """A real store with faults on demand (our own Store protocol, so a fake is fair)."""

    inner: EtcdStore
    list_failures: int = 0
    after_list: Callable[[int], Awaitable[None]] | None = None
    _break_watch: asyncio.Event = field(default_factory=asyncio.Event)

    async def get(self, key: str) -> Item | None:
        return await self.inner.get(key)

    async def list_prefix(self, prefix: str) -> tuple[list[Item], int]:
        if self.list_failures:
            self.list_failures -= 1
            raise StoreUnavailable("etcd unavailable: injected")
        items, revision = await self.inner.list_prefix(prefix)
        if self.after_list is not None:
            hook, self.after_list = self.after_list, None
            await hook(revision)
        return items, revision

    def break_watch(self) -> None:
        self._break_watch.set()

    async def watch_prefix(self, prefix: str, start_revision: int) -> AsyncIterator[ChangeBatch]:
        broken = asyncio.ensure_future(self._break_watch.wait())
        watch = self.inner.watch_prefix(prefix, start_revision).__aiter__()
        batch: asyncio.Future[ChangeBatch] | None = None
        try:
            while True:
                batch = asyncio.ensure_future(anext(watch))
                done, _ = await asyncio.wait({batch, broken}, return_when=asyncio.FIRST_COMPLETED)
                if broken in done:
                    self._break_watch.clear()
                    raise StoreUnavailable("etcd watch lost: injected")
                yield batch.result()
        finally:
            broken.cancel()
            if batch is not None and not batch.done():
                batch.cancel()
                with contextlib.suppress(BaseException):
                    await batch
            await watch.aclose()


@pytest.fixture(scope="module")
def etcd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    # Our own etcd: the compaction test must not disturb other suites' history.
    process, url = start_etcd(tmp_path_factory.mktemp("publisher-etcd"))
    try:
        yield url
    finally:
        stop_etcd(process)


@dataclass
class Env:
    prefix: str
    etcd: EtcdStore
    store: FaultyStore
    publisher: ConfigPublisher
    stub: config_service_pb2_grpc.ConfigDiscoveryServiceStub

    async def put(self, name: str, value: bytes) -> int:
        return await self.etcd.put(self.prefix + name, value)

    async def delete(self, name: str) -> int:
        return await self.etcd.delete(self.prefix + name)


async def seed(etcd: EtcdStore, prefix: str) -> None:
    await etcd.put(prefix + W, workspace_pb2.Workspace(name=W).SerializeToString())
    key = snapshot_pb2.KeyMaterial(
        key=key_pb2.GatewayKey(name=f"{W}/keys/k1", state=key_pb2.GatewayKey.STATE_ACTIVE),
        secret_sha256=b"\x01" * 32,
    )
    await etcd.put(f"{prefix}{W}/keys/k1", key.SerializeToString())
    provider = provider_pb2.ProviderCredential(
        name=f"{W}/providers/openai", base_url="http://127.0.0.1:1", api_key_hint="cdef"
    )
    await etcd.put(f"{prefix}secrets/{W}/providers/openai", FakeCipher.encrypt(API_KEY.encode()))
    await etcd.put(f"{prefix}{W}/providers/openai", provider.SerializeToString())


@pytest.fixture
async def env(etcd: str) -> AsyncIterator[Env]:
    prefix = unique_prefix()
    real = EtcdStore(etcd)
    await seed(real, prefix)
    store = FaultyStore(real)
    publisher = ConfigPublisher(
        store, FakeCipher(), prefix, max_pending=4, retry_initial=0.01, retry_max=0.05
    )
    await publisher.start()
    server = grpc.aio.server()
    config_service_pb2_grpc.add_ConfigDiscoveryServiceServicer_to_server(
        ConfigDiscoveryServicer(publisher), server
    )
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{port}")
    try:
        yield Env(
            prefix,
            real,
            store,
            publisher,
            config_service_pb2_grpc.ConfigDiscoveryServiceStub(channel),
        )
    finally:
        await channel.close()
        await server.stop(grace=None)
        await publisher.stop()
        await real.close()


async def open_stream(env: Env, node_id: str = "dp-1") -> grpc.aio.StreamStreamCall:
    call = env.stub.StreamConfig()
    await call.write(
        config_service_pb2.StreamConfigRequest(
            node=config_service_pb2.Node(id=node_id, hostname="host-1", version="test")
        )
    )
    return call


async def read(call: grpc.aio.StreamStreamCall) -> config_service_pb2.StreamConfigResponse:
    response = await asyncio.wait_for(call.read(), READ_TIMEOUT_S)
    assert response is not grpc.aio.EOF
    return response


async def answer(
    call: grpc.aio.StreamStreamCall,
    response: config_service_pb2.StreamConfigResponse,
    error: str = "",
) -> None:
    await call.write(
        config_service_pb2.StreamConfigRequest(response_nonce=response.nonce, error_detail=error)
    )


def node(statuses: list[NodeStatus], node_id: str) -> NodeStatus | None:
    return next((s for s in statuses if s.node_id == node_id), None)


async def wait_node(env: Env, node_id: str, predicate: Callable[[NodeStatus], bool]) -> NodeStatus:
    statuses = await asyncio.wait_for(
        env.publisher.node_registry.wait_for(
            lambda ss: (s := node(ss, node_id)) is not None and predicate(s)
        ),
        READ_TIMEOUT_S,
    )
    status = node(statuses, node_id)
    assert status is not None
    return status


def actor_bytes(name: str) -> bytes:
    return actor_pb2.Actor(name=name, kind=actor_pb2.Actor.KIND_USER).SerializeToString()


async def test_full_snapshot_then_deltas_and_acks(
    env: Env, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    call = await open_stream(env)
    first = await read(call)
    assert first.WhichOneof("payload") == "snapshot" and first.nonce
    snap = first.snapshot
    assert snap.schema_version == SCHEMA_VERSION
    assert [w.name for w in snap.workspaces] == [W]
    assert [k.key.name for k in snap.keys] == [f"{W}/keys/k1"]
    assert snap.keys[0].secret_sha256 == b"\x01" * 32
    assert [(p.provider.name, p.api_key) for p in snap.providers] == [
        (f"{W}/providers/openai", API_KEY)
    ]
    assert snap.providers[0].provider.api_key == ""
    await answer(call, first)
    status = await wait_node(env, "dp-1", lambda s: s.last_acked_version == snap.revision)
    assert status.connected and status.hostname == "host-1"

    revision = await env.put(f"{W}/actors/alice", actor_bytes(f"{W}/actors/alice"))
    added = await read(call)
    assert added.WhichOneof("payload") == "delta" and added.nonce != first.nonce
    assert (added.delta.base_revision, added.delta.revision) == (snap.revision, revision)
    assert added.delta.schema_version == SCHEMA_VERSION
    [change] = added.delta.changes
    assert change.name == f"{W}/actors/alice" and change.WhichOneof("change") == "actor"
    assert change.actor.etag == str(revision)
    await answer(call, added)

    deleted_at = await env.delete(f"{W}/keys/k1")
    removed = await read(call)
    assert (removed.delta.base_revision, removed.delta.revision) == (revision, deleted_at)
    assert [(c.name, c.deleted) for c in removed.delta.changes] == [(f"{W}/keys/k1", True)]
    await answer(call, removed)
    await wait_node(env, "dp-1", lambda s: s.last_acked_version == deleted_at)

    # The publisher's own snapshot matches what the node was sent, step by step.
    assert env.publisher.snapshot is not None
    assert env.publisher.snapshot.revision == deleted_at
    assert [a.name for a in env.publisher.snapshot.actors] == [f"{W}/actors/alice"]
    assert not env.publisher.snapshot.keys

    await call.done_writing()
    assert await asyncio.wait_for(call.read(), READ_TIMEOUT_S) == grpc.aio.EOF
    await wait_node(env, "dp-1", lambda s: not s.connected)
    assert API_KEY not in caplog.text


async def test_provider_change_carries_decrypted_key(env: Env) -> None:
    call = await open_stream(env)
    await answer(call, await read(call))
    name = f"{W}/providers/openai"
    await env.put(f"secrets/{name}", FakeCipher.encrypt(b"sk-rotated"))
    provider = provider_pb2.ProviderCredential(name=name, base_url="http://127.0.0.1:2")
    await env.put(name, provider.SerializeToString())
    update = await read(call)
    [change] = update.delta.changes
    assert change.provider.api_key == "sk-rotated"
    assert change.provider.provider.base_url == "http://127.0.0.1:2"
    call.cancel()


async def test_nack_makes_next_push_a_full_snapshot(
    env: Env, caplog: pytest.LogCaptureFixture
) -> None:
    call = await open_stream(env, "dp-nack")
    await answer(call, await read(call))
    await env.put(f"{W}/actors/a1", actor_bytes(f"{W}/actors/a1"))
    delta = await read(call)
    assert delta.WhichOneof("payload") == "delta"
    await answer(call, delta, error="policy workspaces/acme/policies/p: bad CIDR")
    status = await wait_node(env, "dp-nack", lambda s: s.nacks == 1)
    assert status.last_nack_error == "policy workspaces/acme/policies/p: bad CIDR"
    assert status.last_nack_version == delta.delta.revision
    assert "bad CIDR" in caplog.text

    # Nothing is resent until something changes; then it is a full snapshot.
    revision = await env.put(f"{W}/actors/a2", actor_bytes(f"{W}/actors/a2"))
    full = await read(call)
    assert full.WhichOneof("payload") == "snapshot"
    assert full.snapshot.revision == revision
    assert [a.name for a in full.snapshot.actors] == [f"{W}/actors/a1", f"{W}/actors/a2"]
    await answer(call, full)
    # Back to deltas after an ACK.
    await env.put(f"{W}/actors/a3", actor_bytes(f"{W}/actors/a3"))
    assert (await read(call)).WhichOneof("payload") == "delta"
    call.cancel()


async def test_compaction_and_store_outage_resync_with_full_snapshot(env: Env) -> None:
    call = await open_stream(env, "dp-resync")
    first = await read(call)
    await answer(call, first)

    async def write_and_compact(read_revision: int) -> None:
        # Between the publisher's full read and its watch: changes, then history gone.
        await env.put("workspaces/beta", workspace_pb2.Workspace().SerializeToString())
        latest = await env.put(
            "workspaces/beta/actors/bob", actor_bytes("workspaces/beta/actors/bob")
        )
        assert latest > read_revision + 1
        await env.etcd.compact(latest)

    # Watch lost, then etcd unreachable for two attempts, then the real compaction.
    env.store.list_failures = 2
    env.store.after_list = write_and_compact
    env.store.break_watch()

    fulls = []
    while not fulls or not any(w.name == "workspaces/beta" for w in fulls[-1].workspaces):
        response = await read(call)  # the same stream stays open throughout
        assert response.WhichOneof("payload") == "snapshot"
        fulls.append(response.snapshot)
        await answer(call, response)
    assert fulls[-1].revision > first.snapshot.revision
    assert [a.name for a in fulls[-1].actors] == ["workspaces/beta/actors/bob"]
    assert env.publisher.resyncs >= 2  # the outage resync and the compaction resync

    # And deltas flow again from the new watch.
    revision = await env.put(f"{W}/actors/after", actor_bytes(f"{W}/actors/after"))
    delta = await read(call)
    assert delta.WhichOneof("payload") == "delta"
    assert delta.delta.revision == revision
    call.cancel()


async def test_slow_subscriber_gets_full_snapshot_others_unaffected(env: Env) -> None:
    fast = await open_stream(env, "dp-fast")
    await answer(fast, await read(fast))
    slow = env.publisher.subscribe()  # never read while the changes flow (max_pending=4)
    assert (await slow.next()).snapshot is not None

    last = 0
    for i in range(10):
        last = await env.put(f"{W}/actors/s{i}", actor_bytes(f"{W}/actors/s{i}"))
        update = await read(fast)
        assert update.WhichOneof("payload") == "delta"
        await answer(fast, update)
    assert update.delta.revision == last

    caught_up = await asyncio.wait_for(slow.next(), READ_TIMEOUT_S)
    assert caught_up.snapshot is not None and caught_up.snapshot.revision == last
    env.publisher.unsubscribe(slow)
    fast.cancel()


async def test_orphans_are_published_only_with_their_workspace(env: Env) -> None:
    call = await open_stream(env, "dp-orphans")
    first = await read(call)
    await answer(call, first)
    # Its workspace is missing: nothing data planes see changes, so nothing is sent.
    await env.put("workspaces/ghost/actors/casper", actor_bytes("workspaces/ghost/actors/casper"))
    revision = await env.put("workspaces/ghost", workspace_pb2.Workspace().SerializeToString())
    healed = await read(call)
    assert healed.WhichOneof("payload") == "delta"
    assert (healed.delta.base_revision, healed.delta.revision) == (
        first.snapshot.revision,
        revision,
    )
    assert [c.name for c in healed.delta.changes] == [
        "workspaces/ghost",
        "workspaces/ghost/actors/casper",
    ]
    call.cancel()


async def test_workspace_that_does_not_compile_is_held_back_and_others_flow(env: Env) -> None:
    call = await open_stream(env, "dp-hold")
    first = await read(call)
    await answer(call, first)
    bad = policy_pb2.Policy(name=f"{W}/policies/bad", target=W, allowed_models=["gpt-[4"])
    await env.put(bad.name, bad.SerializeToString())
    late_at = await env.put(f"{W}/actors/late", actor_bytes(f"{W}/actors/late"))

    async def held_at_late() -> HeldWorkspace:
        for _ in range(int(READ_TIMEOUT_S / 0.01)):  # the watch delivers asynchronously
            held = env.publisher.held()
            if held and held[0].failed_revision == late_at:
                return held[0]
            await asyncio.sleep(0.01)
        raise TimeoutError(f"not held at revision {late_at}: {env.publisher.held()}")

    held = await held_at_late()
    assert (held.workspace, held.held_revision) == (W, first.snapshot.revision)
    assert "gpt-[4" in held.error and len(env.publisher.held()) == 1

    # Another workspace's change goes out, and nothing of the held one with it.
    await env.put("workspaces/beta", workspace_pb2.Workspace().SerializeToString())
    other = await read(call)
    assert other.delta.base_revision == first.snapshot.revision
    assert [c.name for c in other.delta.changes] == ["workspaces/beta"]
    await answer(call, other)

    # Repaired: what changed meanwhile goes out, and the hold is lifted.
    repaired_at = await env.delete(bad.name)
    caught_up = await read(call)
    assert (caught_up.delta.base_revision, caught_up.delta.revision) == (
        other.delta.revision,
        repaired_at,
    )
    assert [c.name for c in caught_up.delta.changes] == [f"{W}/actors/late"]
    assert env.publisher.held() == []
    call.cancel()


async def test_stream_without_node_id_is_rejected(env: Env) -> None:
    call = env.stub.StreamConfig()
    await call.write(config_service_pb2.StreamConfigRequest())
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await asyncio.wait_for(call.read(), READ_TIMEOUT_S)
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT


def test_fake_cipher_round_trip(tmp_path: Path) -> None:
    assert FakeCipher().decrypt(FakeCipher.encrypt(b"x1")) == b"x1"
