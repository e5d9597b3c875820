"""The usage RPCs of AdminService (controlplane.api.usage_queries) over real gRPC, and
the prompt-log RetentionJob."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import grpc
import pytest
from google.protobuf.timestamp_pb2 import Timestamp

from controlplane.api.admin_servicer import AdminServicer
from controlplane.api.usage_queries import UsageQueries
from controlplane.store.memory import InMemoryStore
from controlplane.usage import RetentionJob, SqliteUsageStore
from oggy.v1 import admin_service_pb2 as pb
from oggy.v1 import admin_service_pb2_grpc, usage_pb2
from tests.support.clock import Clock

W = "workspaces/acme"
NOW = 1_700_000_000


class UsageOnlyAdmin(admin_service_pb2_grpc.AdminServiceServicer):
    """Delegates the usage RPCs the way AdminServicer does."""

    def __init__(self, queries: UsageQueries) -> None:
        q = queries
        self.ListUsageEvents = q.ListUsageEvents
        self.SummarizeUsage = q.SummarizeUsage
        self.ListUnpricedModels = q.ListUnpricedModels
        self.ListPromptLogs = q.ListPromptLogs
        self.PurgePromptLogs = q.PurgePromptLogs


def ev(event_id: str, *, seconds: int, cost: int | None, expire: int | None = None):
    e = usage_pb2.UsageEvent(
        event_id=event_id,
        workspace=W,
        model="m-" + ("priced" if cost is not None else "unpriced"),
        provider=f"{W}/providers/p",
        total_tokens=10,
        start_time=Timestamp(seconds=seconds),
    )
    if cost is not None:
        e.cost_micro_usd = cost
    if expire is not None:
        e.prompt_text.request_text = f"text of {event_id}"
        e.prompt_text.expire_time.seconds = expire
    return e


@pytest.fixture
def clock() -> Clock:
    return Clock(NOW)


@pytest.fixture
async def store(tmp_path: Path, clock: Clock) -> AsyncIterator[SqliteUsageStore]:
    s = SqliteUsageStore(tmp_path / "usage.db", clock=clock)
    await s.insert(
        [
            ev("a", seconds=NOW - 30, cost=5, expire=NOW + 10),
            ev("b", seconds=NOW - 20, cost=None, expire=NOW + 100),
            ev("c", seconds=NOW - 10, cost=None),
        ]
    )
    yield s
    await s.close()


async def _stub(queries: UsageQueries) -> tuple[grpc.aio.Server, grpc.aio.Channel, object]:
    server = grpc.aio.server()
    admin_service_pb2_grpc.add_AdminServiceServicer_to_server(UsageOnlyAdmin(queries), server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{port}")
    return server, channel, admin_service_pb2_grpc.AdminServiceStub(channel)


@pytest.fixture
async def stub(store: SqliteUsageStore, clock: Clock) -> AsyncIterator:
    server, channel, stub = await _stub(UsageQueries(store, clock=clock))
    yield stub
    await channel.close()
    await server.stop(grace=None)


async def test_summaries_unpriced_and_prompt_logs(stub, clock: Clock) -> None:
    flt = pb.UsageFilter(workspace=W)
    summary = await stub.SummarizeUsage(
        pb.SummarizeUsageRequest(filter=flt, group_by=[usage_pb2.USAGE_GROUP_BY_MODEL])
    )
    assert [(list(r.group), r.cost_micro_usd, r.unpriced_requests) for r in summary.rows] == [
        (["m-priced"], 5, 0),
        (["m-unpriced"], 0, 2),
    ]
    unpriced = await stub.ListUnpricedModels(pb.ListUnpricedModelsRequest(filter=flt))
    assert [(m.model, m.requests, m.total_tokens) for m in unpriced.models] == [
        ("m-unpriced", 2, 20)
    ]
    first = await stub.ListPromptLogs(pb.ListPromptLogsRequest(filter=flt, page_size=1))
    second = await stub.ListPromptLogs(
        pb.ListPromptLogsRequest(filter=flt, page_size=1, page_token=first.next_page_token)
    )
    assert [p.text.request_text for p in [*first.prompt_logs, *second.prompt_logs]] == [
        "text of b",
        "text of a",
    ]
    assert second.next_page_token == ""
    clock.now = NOW + 50
    purged = await stub.PurgePromptLogs(pb.PurgePromptLogsRequest())
    assert purged.purged == 1 and purged.purge_time.seconds == NOW + 50
    left = await stub.ListPromptLogs(pb.ListPromptLogsRequest(filter=flt))
    assert [p.event_id for p in left.prompt_logs] == ["b"]
    # Usage events themselves never carry the text.
    events = await stub.ListUsageEvents(pb.ListUsageEventsRequest(filter=flt))
    assert len(events.usage_events) == 3
    assert not any(e.HasField("prompt_text") for e in events.usage_events)


@pytest.mark.parametrize(
    "call",
    [
        lambda s: s.ListUsageEvents(pb.ListUsageEventsRequest()),
        lambda s: s.ListPromptLogs(pb.ListPromptLogsRequest(filter=pb.UsageFilter(workspace="x"))),
        lambda s: s.ListUnpricedModels(pb.ListUnpricedModelsRequest()),
        lambda s: s.SummarizeUsage(
            pb.SummarizeUsageRequest(filter=pb.UsageFilter(workspace=W), group_by=[0])
        ),
        lambda s: s.ListPromptLogs(
            pb.ListPromptLogsRequest(filter=pb.UsageFilter(workspace=W), page_token="garbage")
        ),
        lambda s: s.ListUsageEvents(
            pb.ListUsageEventsRequest(
                filter=pb.UsageFilter(
                    workspace=W, start_time=Timestamp(seconds=5), end_time=Timestamp(seconds=4)
                )
            )
        ),
    ],
)
async def test_bad_requests_are_invalid_argument(stub, call) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await call(stub)
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT


async def test_no_usage_store_is_unavailable() -> None:
    server, channel, stub = await _stub(UsageQueries(None))
    try:
        with pytest.raises(grpc.aio.AioRpcError) as info:
            await stub.PurgePromptLogs(pb.PurgePromptLogsRequest())
        assert info.value.code() == grpc.StatusCode.UNAVAILABLE
        assert await UsageQueries(None).key_activity([f"{W}/keys/k"]) == {}
    finally:
        await channel.close()
        await server.stop(grace=None)


class RecordingStore:
    def __init__(self, fail_first: bool) -> None:
        self.calls: list[int] = []
        self.fail_first = fail_first
        self.purged = asyncio.Queue[int]()

    async def purge_expired(self, now_us: int) -> int:
        self.calls.append(now_us)
        if self.fail_first and len(self.calls) == 1:
            raise OSError("store down")
        await self.purged.put(now_us)
        return 2


async def test_retention_job_runs_periodically_survives_errors_and_stops(clock: Clock) -> None:
    store = RecordingStore(fail_first=True)
    job = RetentionJob(store, interval_s=0.01, clock=clock)
    job.start()
    try:
        # The first run failed; the job keeps going and purges on the next tick.
        assert await asyncio.wait_for(store.purged.get(), 5) == NOW * 1_000_000
        clock.now = NOW + 1
        assert await asyncio.wait_for(store.purged.get(), 5) == (NOW + 1) * 1_000_000
    finally:
        await job.stop()
    runs = len(store.calls)
    assert job.runs >= 2
    await asyncio.sleep(0)  # let any stray callback run: nothing may purge after stop
    assert len(store.calls) == runs
    await job.stop()  # idempotent


async def test_purge_rpc_goes_through_the_retention_job(store: SqliteUsageStore, clock) -> None:
    job = RetentionJob(store, interval_s=3600, clock=clock)
    queries = UsageQueries(store, retention=job, clock=clock)
    clock.now = NOW + 1000
    server, channel, stub = await _stub(queries)
    try:
        reply = await stub.PurgePromptLogs(pb.PurgePromptLogsRequest())
    finally:
        await channel.close()
        await server.stop(grace=None)
    assert reply.purged == 2 and job.runs == 1
    assert await queries.key_activity([""]) == {}


@pytest.fixture
async def admin_stub(store: SqliteUsageStore, clock: Clock) -> AsyncIterator:
    """The real AdminServicer, given UsageQueries the way the server wires it, with
    workspace W."""
    admin = AdminServicer(
        InMemoryStore(),
        cipher=None,  # type: ignore[arg-type]  # no provider RPCs here
        usage_store=store,
        usage_queries=UsageQueries(store, clock=clock),
        clock=clock,
    )
    server = grpc.aio.server()
    admin_service_pb2_grpc.add_AdminServiceServicer_to_server(admin, server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{port}")
    stub = admin_service_pb2_grpc.AdminServiceStub(channel)
    # Usage queries answer only for a workspace that exists.
    await stub.CreateWorkspace(pb.CreateWorkspaceRequest(workspace_id=W.split("/")[1]))
    yield stub
    await channel.close()
    await server.stop(grace=None)


async def test_admin_servicer_forwards_to_usage_queries(admin_stub, clock: Clock) -> None:
    stub = admin_stub
    flt = pb.UsageFilter(workspace=W)
    logs = await stub.ListPromptLogs(pb.ListPromptLogsRequest(filter=flt))
    unpriced = await stub.ListUnpricedModels(pb.ListUnpricedModelsRequest(filter=flt))
    clock.now = NOW + 1000
    purged = await stub.PurgePromptLogs(pb.PurgePromptLogsRequest())
    summary = await stub.SummarizeUsage(
        pb.SummarizeUsageRequest(filter=flt, group_by=[usage_pb2.USAGE_GROUP_BY_TEAM])
    )
    assert [p.event_id for p in logs.prompt_logs] == ["b", "a"]
    assert [m.requests for m in unpriced.models] == [2]
    assert purged.purged == 2
    assert [(list(r.group), r.unpriced_requests) for r in summary.rows] == [([""], 2)]


async def test_admin_servicer_refuses_a_filter_ending_before_it_starts(admin_stub) -> None:
    """ListUsageEvents and SummarizeUsage on the real AdminServicer check the filter as
    UsageQueries does (they used to answer an empty page from a copy of their own)."""
    backwards = pb.UsageFilter(
        workspace=W, start_time=Timestamp(seconds=NOW), end_time=Timestamp(seconds=NOW - 60)
    )
    for call in (
        admin_stub.ListUsageEvents(pb.ListUsageEventsRequest(filter=backwards)),
        admin_stub.SummarizeUsage(pb.SummarizeUsageRequest(filter=backwards)),
    ):
        with pytest.raises(grpc.aio.AioRpcError) as info:
            await call
        assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert "end_time is before" in (info.value.details() or "")
