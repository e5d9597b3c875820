"""PostgresUsageStore against a real PostgreSQL: ingest over gRPC, outages, reconnects.

Each test uses its own schema (tests.support.postgres.temp_schema) and its own
application_name, so terminating "our" backends never touches another run.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Iterator

import grpc
import pytest
from google.protobuf.timestamp_pb2 import Timestamp

from controlplane.usage import UsageIngestServicer, UsageStoreUnavailable
from controlplane.usage.ingest import STORE_FAILED_DETAIL
from controlplane.usage.postgres import PostgresUsageStore
from oggy.v1 import admin_service_pb2, usage_pb2, usage_service_pb2, usage_service_pb2_grpc
from tests.support import postgres

W = "workspaces/acme"


def ev(event_id: str, *, text: str | None = None) -> usage_pb2.UsageEvent:
    e = usage_pb2.UsageEvent(
        event_id=event_id,
        workspace=W,
        model="gpt-4o-mini",
        prompt_tokens=3,
        total_tokens=3,
        start_time=Timestamp(seconds=1_700_000_000),
    )
    if text is not None:
        e.prompt_text.request_text = text
        e.prompt_text.expire_time.seconds = 4_000_000_000
    return e


def batch(batch_id: str, *events: usage_pb2.UsageEvent) -> usage_service_pb2.ReportUsageRequest:
    return usage_service_pb2.ReportUsageRequest(batch_id=batch_id, dataplane_id="dp", events=events)


@pytest.fixture
def schema() -> Iterator[str]:
    with postgres.temp_schema() as name:
        yield name


@pytest.fixture
def app_name() -> str:
    return f"oggy-test-{uuid.uuid4().hex[:12]}"


async def ids(store: PostgresUsageStore) -> list[str]:
    events, _ = await store.list_events(admin_service_pb2.UsageFilter(workspace=W), 1000, "")
    return sorted(e.event_id for e in events)


@contextlib.asynccontextmanager
async def usage_stub(store: object) -> AsyncIterator[usage_service_pb2_grpc.UsageServiceStub]:
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


async def test_ingest_over_grpc_is_idempotent_and_stores_text_apart(
    schema: str, app_name: str
) -> None:
    store = PostgresUsageStore(postgres.POSTGRES_URL, schema=schema, application_name=app_name)
    try:
        async with usage_stub(store) as stub:
            call = stub.ReportUsage()
            await call.write(batch("b1", ev("e1", text="hello [REDACTED:email]"), ev("e2")))
            first = await call.read()
            await call.write(batch("b1-replay", ev("e1", text="hello"), ev("e2"), ev("e3")))
            replay = await call.read()
            await call.done_writing()
            assert await call.read() == grpc.aio.EOF
        assert (first.stored, first.inserted, first.duplicates) == (True, 2, 0)
        assert (replay.stored, replay.inserted, replay.duplicates) == (True, 1, 2)
        assert await ids(store) == ["e1", "e2", "e3"]
        with postgres.connect() as conn:
            conn.execute(f"SET search_path TO {schema}")
            texts = conn.execute("SELECT event_id, request_text FROM prompt_logs").fetchall()
        assert texts == [("e1", "hello [REDACTED:email]")]
    finally:
        await store.close()


async def test_recovers_after_backends_are_terminated(schema: str, app_name: str) -> None:
    store = PostgresUsageStore(
        postgres.POSTGRES_URL, schema=schema, application_name=app_name, max_connections=3
    )
    try:
        # Fill the pool with several idle connections.
        await asyncio.gather(*(store.insert([ev(f"warm{i}")]) for i in range(3)))
        assert postgres.terminate_backends(app_name) >= 1
        # Every pooled connection is dead now; the next calls reconnect by themselves.
        assert await store.insert([ev("after")]) == (1, 0)
        assert "after" in await ids(store)
        assert postgres.terminate_backends(app_name) >= 1
        (row,) = await store.summarize(admin_service_pb2.UsageFilter(workspace=W), [])
        assert row.requests == 4
    finally:
        await store.close()


class TcpProxy:
    """Loopback TCP forwarder to PostgreSQL that the test can take down and bring back."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.port = 0
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    async def up(self) -> None:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", self.port)
        self.port = self._server.sockets[0].getsockname()[1]

    async def down(self) -> None:
        assert self._server is not None
        self._server.close()
        for writer in list(self._writers):
            writer.transport.abort()
        await self._server.wait_closed()
        self._server = None

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(ConnectionError, OSError):
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        writer.transport.abort()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection(*self.target)
        self._writers |= {writer, up_writer}
        try:
            await asyncio.gather(self._pipe(reader, up_writer), self._pipe(up_reader, writer))
        finally:
            self._writers -= {writer, up_writer}


async def test_store_down_answers_not_stored_then_recovers(schema: str, app_name: str) -> None:
    postgres.require_postgres()
    proxy = TcpProxy(postgres.server_address())
    await proxy.up()
    url = postgres.via("127.0.0.1", proxy.port)
    # The constructor connects synchronously; off the loop, since the loop runs the proxy.
    # While the database is down a call waits up to connect_timeout_s for a connection.
    store = await asyncio.to_thread(
        PostgresUsageStore, url, schema=schema, application_name=app_name, connect_timeout_s=2
    )
    try:
        async with usage_stub(store) as stub:
            call = stub.ReportUsage()
            await call.write(batch("b1", ev("e1")))
            assert (await call.read()).stored
            await proxy.down()
            # The database is unreachable: the batch is refused, the stream stays open.
            await call.write(batch("b2", ev("e2"), ev("e3")))
            refused = await call.read()
            assert (refused.stored, refused.error_detail) == (False, STORE_FAILED_DETAIL)
            with pytest.raises(UsageStoreUnavailable):
                await store.list_events(admin_service_pb2.UsageFilter(workspace=W), 10, "")
            await proxy.up()  # same port
            await call.write(batch("b2-resend", ev("e2"), ev("e3")))
            resent = await call.read()
            assert (resent.stored, resent.inserted, resent.duplicates) == (True, 2, 0)
            await call.done_writing()
            assert await call.read() == grpc.aio.EOF
        assert await ids(store) == ["e1", "e2", "e3"]
    finally:
        await store.close()
        with contextlib.suppress(AssertionError):
            await proxy.down()
