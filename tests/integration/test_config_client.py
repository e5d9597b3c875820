"""ConfigStreamClient against a real grpc.aio server with a scripted fake servicer."""

from __future__ import annotations

import asyncio
import logging
import stat
from collections.abc import AsyncIterator
from pathlib import Path

import grpc
import pytest

from dataplane.backoff import Backoff
from dataplane.config.client import ConfigStreamClient
from dataplane.config.snapshot_file import read_snapshot_file
from dataplane.settings import Settings
from oggy.contract.compile import ConfigError
from oggy.contract.snapshot import SCHEMA_VERSION
from oggy.v1 import (
    config_service_pb2,
    provider_pb2,
    snapshot_pb2,
    workspace_pb2,
)
from tests.integration.dataplane_fakes import (
    TOKEN,
    CountingBackoff,
    FakeConfigServicer,
    free_port,
    start_server,
)

BAD = "workspaces/bad"


def fake_compile(snapshot: snapshot_pb2.Snapshot) -> tuple[int, tuple[str, ...]]:
    names = tuple(w.name for w in snapshot.workspaces)
    if BAD in names:
        raise ConfigError(f"{BAD} is not valid")
    return snapshot.revision, names


class FakeHolder:
    def __init__(self) -> None:
        self.current: tuple[int, tuple[str, ...]] | None = None
        self.applied: asyncio.Queue[tuple[int, tuple[str, ...]]] = asyncio.Queue()

    def apply(self, cfg: tuple[int, tuple[str, ...]]) -> None:
        self.current = cfg
        self.applied.put_nowait(cfg)


def snapshot(revision: int, *workspaces: str) -> config_service_pb2.StreamConfigResponse:
    return config_service_pb2.StreamConfigResponse(
        nonce=f"n{revision}",
        snapshot=snapshot_pb2.Snapshot(
            revision=revision,
            workspaces=[workspace_pb2.Workspace(name=w) for w in workspaces],
            providers=[
                snapshot_pb2.ProviderMaterial(
                    provider=provider_pb2.ProviderCredential(name="workspaces/w1/providers/p"),
                    api_key="sk-secret",
                )
            ],
        ),
    )


def add_workspace(base: int, revision: int, name: str) -> config_service_pb2.StreamConfigResponse:
    return config_service_pb2.StreamConfigResponse(
        nonce=f"n{revision}",
        delta=snapshot_pb2.SnapshotDelta(
            base_revision=base,
            revision=revision,
            changes=[
                snapshot_pb2.ResourceChange(name=name, workspace=workspace_pb2.Workspace(name=name))
            ],
        ),
    )


def settings(port: int, tmp_path: Path, **kw) -> Settings:
    return Settings(
        control_plane=f"127.0.0.1:{port}",
        node_token=TOKEN,
        node_id="dp-test",
        spool_dir=tmp_path / "spool",
        **kw,
    )


@pytest.fixture
async def cp() -> AsyncIterator[tuple[FakeConfigServicer, grpc.aio.Server, int]]:
    servicer = FakeConfigServicer()
    server, port = await start_server(config=servicer)
    yield servicer, server, port
    await server.stop(0)


async def started(
    s: Settings, holder: FakeHolder, backoff: Backoff | None = None
) -> ConfigStreamClient:
    client = ConfigStreamClient(s, holder, fake_compile, backoff=backoff or Backoff(0.01, 0.05))
    await client.start()
    return client


async def test_snapshot_then_delta_are_applied_and_acked(cp, tmp_path) -> None:
    servicer, _, port = cp
    holder = FakeHolder()
    client = await started(settings(port, tmp_path), holder)
    try:
        hello, auth = await servicer.hellos.get()
        assert auth == f"Bearer {TOKEN}"
        assert hello.node.id == "dp-test"
        assert hello.node.hostname
        assert hello.serving_revision == 0

        servicer.outbox.put_nowait(snapshot(5, "workspaces/w1"))
        assert await holder.applied.get() == (5, ("workspaces/w1",))
        ack = await servicer.answers.get()
        assert (ack.response_nonce, ack.error_detail) == ("n5", "")

        servicer.outbox.put_nowait(add_workspace(5, 6, "workspaces/w2"))
        assert await holder.applied.get() == (6, ("workspaces/w1", "workspaces/w2"))
        ack = await servicer.answers.get()
        assert (ack.response_nonce, ack.error_detail) == ("n6", "")
        assert client.serving_revision == 6
        assert client.connected
    finally:
        await client.stop()


async def test_nack_keeps_old_config(cp, tmp_path) -> None:
    servicer, _, port = cp
    holder = FakeHolder()
    client = await started(settings(port, tmp_path), holder)
    try:
        await servicer.hellos.get()
        servicer.outbox.put_nowait(snapshot(5, "workspaces/w1"))
        await holder.applied.get()
        await servicer.answers.get()

        # A snapshot that fails to compile.
        servicer.outbox.put_nowait(snapshot(6, "workspaces/w1", BAD))
        nack = await servicer.answers.get()
        assert nack.response_nonce == "n6"
        assert "workspaces/bad is not valid" in nack.error_detail
        # A delta that fails to compile.
        servicer.outbox.put_nowait(add_workspace(5, 7, BAD))
        nack = await servicer.answers.get()
        assert (nack.response_nonce, "not valid" in nack.error_detail) == ("n7", True)
        # A delta from a revision that is not the one being served.
        servicer.outbox.put_nowait(add_workspace(6, 8, "workspaces/w3"))
        nack = await servicer.answers.get()
        assert nack.response_nonce == "n8"
        assert "base revision 6" in nack.error_detail

        assert holder.current == (5, ("workspaces/w1",))
        assert holder.applied.empty()
        assert client.serving_revision == 5

        # The old config is still the base for the next good delta.
        servicer.outbox.put_nowait(add_workspace(5, 9, "workspaces/w2"))
        assert await holder.applied.get() == (9, ("workspaces/w1", "workspaces/w2"))
        assert (await servicer.answers.get()).error_detail == ""
    finally:
        await client.stop()


async def test_newer_schema_version_is_nacked_and_old_config_kept(cp, tmp_path) -> None:
    servicer, _, port = cp
    holder = FakeHolder()
    client = await started(settings(port, tmp_path), holder)
    try:
        await servicer.hellos.get()
        servicer.outbox.put_nowait(snapshot(5, "workspaces/w1"))
        await holder.applied.get()
        await servicer.answers.get()

        newer = snapshot(6, "workspaces/w1", "workspaces/w2")
        newer.snapshot.schema_version = SCHEMA_VERSION + 1
        servicer.outbox.put_nowait(newer)
        nack = await servicer.answers.get()
        assert nack.response_nonce == "n6"
        assert f"schema version {SCHEMA_VERSION + 1} is newer" in nack.error_detail
        delta = add_workspace(5, 7, "workspaces/w2")
        delta.delta.schema_version = SCHEMA_VERSION + 1
        servicer.outbox.put_nowait(delta)
        assert "upgrade the data plane" in (await servicer.answers.get()).error_detail
        assert holder.current == (5, ("workspaces/w1",)) and holder.applied.empty()

        # Its own version (and 0, from an older control plane) is served.
        current = add_workspace(5, 8, "workspaces/w2")
        current.delta.schema_version = SCHEMA_VERSION
        servicer.outbox.put_nowait(current)
        assert await holder.applied.get() == (8, ("workspaces/w1", "workspaces/w2"))
        assert (await servicer.answers.get()).error_detail == ""
    finally:
        await client.stop()


class Compiled:
    def __init__(self, snapshot: snapshot_pb2.Snapshot) -> None:
        self.warnings = tuple(f"{w.name} is served partially" for w in snapshot.workspaces)


async def test_acks_carry_the_compilers_warnings(cp, tmp_path) -> None:
    servicer, _, port = cp
    client = ConfigStreamClient(
        settings(port, tmp_path), FakeHolder(), Compiled, backoff=Backoff(0.01, 0.05)
    )
    await client.start()
    try:
        await servicer.hellos.get()
        servicer.outbox.put_nowait(snapshot(5, "workspaces/w1"))
        ack = await servicer.answers.get()
        assert list(ack.compile_warnings) == ["workspaces/w1 is served partially"]
        servicer.outbox.put_nowait(add_workspace(4, 6, "workspaces/w2"))  # wrong base: NACK
        nack = await servicer.answers.get()
        assert nack.error_detail and not nack.compile_warnings
    finally:
        await client.stop()


async def test_reconnects_after_control_plane_restart_and_keeps_serving(tmp_path, caplog) -> None:
    servicer = FakeConfigServicer()
    server, port = await start_server(config=servicer)
    holder = FakeHolder()
    backoff = CountingBackoff()
    client = await started(settings(port, tmp_path), holder, backoff)
    try:
        await servicer.hellos.get()
        servicer.outbox.put_nowait(snapshot(5, "workspaces/w1"))
        await holder.applied.get()
        await servicer.answers.get()

        with caplog.at_level(logging.WARNING, logger="dataplane.config.client"):
            await server.stop(0)
            # The stream failed once (perhaps while stop() was still running)...
            await asyncio.wait_for(backoff.reached(1), 10)
            # ...and the new call waits for the channel to reconnect: its reconnect
            # backoff is the only one while the port is dead, none of ours on top.
            await asyncio.sleep(0.5)
            assert backoff.retries == 1
            assert holder.current == (5, ("workspaces/w1",))

            servicer = FakeConfigServicer()
            server, _ = await start_server(config=servicer, port=port)
            hello, _ = await asyncio.wait_for(servicer.hellos.get(), 10)
        assert hello.serving_revision == 5
        # One log line for the outage.
        assert sum("down" in r.getMessage() for r in caplog.records) == 1

        servicer.outbox.put_nowait(add_workspace(5, 6, "workspaces/w2"))
        assert await holder.applied.get() == (6, ("workspaces/w1", "workspaces/w2"))
    finally:
        await client.stop()
        await server.stop(0)


async def test_snapshot_file_lets_a_data_plane_start_without_control_plane(cp, tmp_path) -> None:
    servicer, _, port = cp
    snap_file = tmp_path / "state" / "snapshot.bin"
    holder = FakeHolder()
    client = await started(settings(port, tmp_path, snapshot_file=snap_file), holder)
    try:
        await servicer.hellos.get()
        servicer.outbox.put_nowait(snapshot(5, "workspaces/w1"))
        await servicer.answers.get()  # written before the ACK
    finally:
        await client.stop()
    assert stat.S_IMODE(snap_file.stat().st_mode) == 0o600
    stored = read_snapshot_file(snap_file, TOKEN)
    assert stored is not None and stored.revision == 5

    # No control plane at all: the config comes from the file, before any connection.
    holder2 = FakeHolder()
    client2 = await started(settings(free_port(), tmp_path, snapshot_file=snap_file), holder2)
    try:
        assert holder2.current == (5, ("workspaces/w1",))
        assert client2.serving_revision == 5
        assert not client2.connected
    finally:
        await client2.stop()


async def test_damaged_snapshot_file_is_ignored(tmp_path, caplog) -> None:
    snap_file = tmp_path / "snapshot.bin"
    snap_file.write_bytes(b"not a snapshot")
    holder = FakeHolder()
    with caplog.at_level(logging.WARNING):
        client = await started(settings(free_port(), tmp_path, snapshot_file=snap_file), holder)
        await client.stop()
    assert holder.current is None
    assert "ignoring snapshot file" in caplog.text


async def test_secrets_and_token_never_logged(cp, tmp_path, caplog) -> None:
    servicer, _, port = cp
    holder = FakeHolder()
    with caplog.at_level(logging.DEBUG):
        client = await started(settings(port, tmp_path), holder)
        await servicer.hellos.get()
        servicer.outbox.put_nowait(snapshot(5, "workspaces/w1"))
        await servicer.answers.get()
        await client.stop()
    assert "sk-secret" not in caplog.text
    assert TOKEN not in caplog.text
    assert TOKEN not in repr(settings(port, tmp_path))


async def test_wrong_token_keeps_retrying_without_crashing(cp, tmp_path, caplog) -> None:
    servicer, _, port = cp
    s = Settings(control_plane=f"127.0.0.1:{port}", node_token="wrong", spool_dir=tmp_path)
    backoff = CountingBackoff()
    client = ConfigStreamClient(s, FakeHolder(), fake_compile, backoff=backoff)
    with caplog.at_level(logging.WARNING):
        await client.start()
        await asyncio.wait_for(backoff.retried(3), 10)
        await client.stop()
    assert servicer.hellos.empty()
    assert sum("UNAUTHENTICATED" in r.getMessage() for r in caplog.records) == 1
