"""UsageService.ReportUsage over a real grpc.aio server and client on loopback."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

import grpc
import pytest
from google.protobuf.timestamp_pb2 import Timestamp

from controlplane.usage import SqliteUsageStore, UsageIngestServicer, UsageStore
from controlplane.usage.ingest import STORE_FAILED_DETAIL
from oggy.v1 import admin_service_pb2, usage_pb2, usage_service_pb2, usage_service_pb2_grpc

W = "workspaces/acme"


class GatedStore:
    """Wraps a real store; `insert` waits for the test to open the gate, can fail on demand."""

    def __init__(self, inner: UsageStore) -> None:
        self.inner = inner
        self.entered = asyncio.Event()
        self.gate = asyncio.Event()
        self.gate.set()
        self.fail_next = False
        self.committed: list[str] = []

    async def insert(self, events: Sequence[usage_pb2.UsageEvent]) -> tuple[int, int]:
        self.entered.set()
        await self.gate.wait()
        if self.fail_next:
            self.fail_next = False
            raise OSError("disk I/O error at /secret/path/usage.db")
        result = await self.inner.insert(events)
        self.committed += [e.event_id for e in events]
        return result

    async def list_events(self, *args: object) -> object:
        return await self.inner.list_events(*args)  # type: ignore[arg-type]

    async def summarize(self, *args: object) -> object:
        return await self.inner.summarize(*args)  # type: ignore[arg-type]

    async def close(self) -> None:
        await self.inner.close()


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[GatedStore]:
    gated = GatedStore(SqliteUsageStore(tmp_path / "usage.db"))
    yield gated
    await gated.close()


@pytest.fixture
async def stub(store: GatedStore) -> AsyncIterator[usage_service_pb2_grpc.UsageServiceStub]:
    server = grpc.aio.server()
    usage_service_pb2_grpc.add_UsageServiceServicer_to_server(UsageIngestServicer(store), server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{port}")
    try:
        yield usage_service_pb2_grpc.UsageServiceStub(channel)
    finally:
        await channel.close()
        await server.stop(grace=None)


def batch(batch_id: str, *event_ids: str) -> usage_service_pb2.ReportUsageRequest:
    return usage_service_pb2.ReportUsageRequest(
        batch_id=batch_id,
        dataplane_id="dp-1",
        events=[
            usage_pb2.UsageEvent(
                event_id=e,
                workspace=W,
                model="gpt-4o-mini",
                prompt_tokens=3,
                start_time=Timestamp(seconds=1_700_000_000 + i),
            )
            for i, e in enumerate(event_ids)
        ],
    )


async def test_batches_are_acked_with_counts_and_duplicates(
    stub: usage_service_pb2_grpc.UsageServiceStub, store: GatedStore
) -> None:
    call = stub.ReportUsage()
    await call.write(batch("b1", "e1", "e2", "e3"))
    first = await call.read()
    # The data plane replays a batch it had no ack for (e.g. after a restart).
    await call.write(batch("b1-replay", "e1", "e2", "e3"))
    replay = await call.read()
    await call.write(batch("b2", "e3", "e4"))
    mixed = await call.read()
    await call.done_writing()
    assert await call.read() == grpc.aio.EOF
    assert (first.batch_id, first.stored, first.inserted, first.duplicates) == ("b1", True, 3, 0)
    assert (replay.batch_id, replay.stored, replay.inserted, replay.duplicates) == (
        "b1-replay",
        True,
        0,
        3,
    )
    assert (mixed.stored, mixed.inserted, mixed.duplicates) == (True, 1, 1)
    events, _ = await store.list_events(admin_service_pb2.UsageFilter(workspace=W), 10, "")
    assert sorted(e.event_id for e in events) == ["e1", "e2", "e3", "e4"]


async def test_ack_only_after_commit(
    stub: usage_service_pb2_grpc.UsageServiceStub, store: GatedStore, tmp_path: Path
) -> None:
    store.gate.clear()
    call = stub.ReportUsage()
    await call.write(batch("b1", "e1", "e2"))
    reply = asyncio.ensure_future(call.read())
    await store.entered.wait()
    # The store is holding the commit: the ack must not have been sent.
    done, _ = await asyncio.wait({reply}, timeout=0.2)
    assert not done
    assert store.committed == []
    store.gate.set()
    response = await reply
    assert response.stored and response.inserted == 2
    # When the ack arrives the events are already readable by an independent connection.
    reader = SqliteUsageStore(tmp_path / "usage.db")
    try:
        events, _ = await reader.list_events(admin_service_pb2.UsageFilter(workspace=W), 10, "")
    finally:
        await reader.close()
    assert sorted(e.event_id for e in events) == ["e1", "e2"]
    call.cancel()


async def test_store_failure_answers_not_stored_and_keeps_stream(
    stub: usage_service_pb2_grpc.UsageServiceStub,
    store: GatedStore,
    caplog: pytest.LogCaptureFixture,
) -> None:
    store.fail_next = True
    call = stub.ReportUsage()
    await call.write(batch("b1", "e1"))
    failed = await call.read()
    assert (failed.batch_id, failed.stored) == ("b1", False)
    assert failed.error_detail == STORE_FAILED_DETAIL  # generic: no paths, no internals
    assert "/secret/path" not in failed.error_detail
    # The data plane resends on the same stream and it goes through.
    await call.write(batch("b1-retry", "e1"))
    retried = await call.read()
    assert (retried.stored, retried.inserted, retried.duplicates) == (True, 1, 0)
    await call.done_writing()
    assert await call.read() == grpc.aio.EOF


async def test_malformed_batch_is_rejected_not_fatal(
    stub: usage_service_pb2_grpc.UsageServiceStub, store: GatedStore
) -> None:
    call = stub.ReportUsage()
    await call.write(batch("bad", "e1", ""))
    rejected = await call.read()
    assert (rejected.batch_id, rejected.stored) == ("bad", False)
    assert "event_id" in rejected.error_detail
    assert store.committed == []  # nothing of a rejected batch is stored
    await call.write(batch("good", "e1"))
    accepted = await call.read()
    assert (accepted.stored, accepted.inserted) == (True, 1)
    await call.write(usage_service_pb2.ReportUsageRequest(batch_id="empty"))
    empty = await call.read()
    assert (empty.batch_id, empty.stored, empty.inserted, empty.duplicates) == (
        "empty",
        True,
        0,
        0,
    )
    await call.done_writing()
    assert await call.read() == grpc.aio.EOF


async def test_drain_ends_an_idle_stream_at_a_batch_boundary(store: GatedStore) -> None:
    # Shutdown must not wait out the server's grace on streams that idle between batches.
    servicer = UsageIngestServicer(store)
    server = grpc.aio.server()
    usage_service_pb2_grpc.add_UsageServiceServicer_to_server(servicer, server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            call = usage_service_pb2_grpc.UsageServiceStub(channel).ReportUsage()
            await call.write(batch("b1", "d1"))
            assert (await call.read()).stored
            servicer.drain()
            assert await call.read() == grpc.aio.EOF
            assert await call.code() == grpc.StatusCode.OK
    finally:
        await server.stop(grace=None)
    events, _ = await store.list_events(admin_service_pb2.UsageFilter(workspace=W), 10, "")
    assert [e.event_id for e in events] == ["d1"]
