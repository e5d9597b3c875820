"""Small stand-ins for the control plane's config and usage services, for data plane tests.

Real grpc.aio servicers (subclasses of the generated ones), so the data plane's
clients are exercised over real HTTP/2 on loopback without the control plane code.
"""

from __future__ import annotations

import asyncio
import socket
from collections import Counter

import grpc

from dataplane.backoff import Backoff
from oggy.v1 import (
    config_service_pb2,
    config_service_pb2_grpc,
    usage_pb2,
    usage_service_pb2,
    usage_service_pb2_grpc,
)

TOKEN = "node-token-for-tests"


class CountingBackoff(Backoff):
    """Fast backoff that lets a test await "the client has retried n times"."""

    def __init__(self) -> None:
        super().__init__(0.01, 0.05)
        self.retries = 0
        self._waiters: list[tuple[int, asyncio.Event]] = []

    def next_delay(self) -> float:
        self.retries += 1
        for n, event in self._waiters:
            if self.retries >= n:
                event.set()
        return super().next_delay()

    async def retried(self, n: int) -> None:
        """Wait for n more retries."""
        await self.reached(self.retries + n)

    async def reached(self, n: int) -> None:
        """Wait until there have been n retries in all."""
        event = asyncio.Event()
        self._waiters.append((n, event))
        if self.retries >= n:
            event.set()
        await event.wait()


class FakeConfigServicer(config_service_pb2_grpc.ConfigDiscoveryServiceServicer):
    """Sends whatever the test puts in `outbox`; records hellos and ACK/NACKs."""

    def __init__(self) -> None:
        self.outbox: asyncio.Queue[config_service_pb2.StreamConfigResponse] = asyncio.Queue()
        self.hellos: asyncio.Queue[tuple[config_service_pb2.StreamConfigRequest, str]] = (
            asyncio.Queue()
        )
        self.answers: asyncio.Queue[config_service_pb2.StreamConfigRequest] = asyncio.Queue()

    async def StreamConfig(self, request_iterator, context):
        auth = dict(context.invocation_metadata()).get("authorization", "")
        if auth != f"Bearer {TOKEN}":
            await context.abort(grpc.StatusCode.UNAUTHENTICATED, "bad node token")
        hello = await context.read()
        self.hellos.put_nowait((hello, auth))

        async def read_answers() -> None:
            while (msg := await context.read()) is not grpc.aio.EOF:
                self.answers.put_nowait(msg)

        reader = asyncio.create_task(read_answers())
        try:
            while True:
                await context.write(await self.outbox.get())
        finally:
            reader.cancel()


class FakeStore:
    """Idempotent on event_id, like the real usage store."""

    def __init__(self) -> None:
        self.events: dict[str, usage_pb2.UsageEvent] = {}
        self.inserts: Counter[str] = Counter()
        self.changed = asyncio.Event()

    def insert(self, events) -> tuple[int, int]:
        inserted = 0
        for e in events:
            self.inserts[e.event_id] += 1
            if e.event_id not in self.events:
                self.events[e.event_id] = e
                inserted += 1
        self.changed.set()
        return inserted, len(events) - inserted


class FakeUsageServicer(usage_service_pb2_grpc.UsageServiceServicer):
    def __init__(self, store: FakeStore, *, reject: int = 0) -> None:
        self.store = store
        self.reject = reject  # answer stored=false to this many batches first
        self.batches: list[usage_service_pb2.ReportUsageRequest] = []

    async def ReportUsage(self, request_iterator, context):
        if dict(context.invocation_metadata()).get("authorization") != f"Bearer {TOKEN}":
            await context.abort(grpc.StatusCode.UNAUTHENTICATED, "bad node token")
        async for req in request_iterator:
            self.batches.append(req)
            if self.reject > 0:
                self.reject -= 1
                yield usage_service_pb2.ReportUsageResponse(
                    batch_id=req.batch_id, stored=False, error_detail="store busy"
                )
                continue
            inserted, duplicates = self.store.insert(req.events)
            yield usage_service_pb2.ReportUsageResponse(
                batch_id=req.batch_id, stored=True, inserted=inserted, duplicates=duplicates
            )


async def start_server(
    *, config: FakeConfigServicer | None = None, usage: FakeUsageServicer | None = None, port=0
) -> tuple[grpc.aio.Server, int]:
    server = grpc.aio.server()
    if config is not None:
        config_service_pb2_grpc.add_ConfigDiscoveryServiceServicer_to_server(config, server)
    if usage is not None:
        usage_service_pb2_grpc.add_UsageServiceServicer_to_server(usage, server)
    port = server.add_insecure_port(f"127.0.0.1:{port}")
    await server.start()
    return server, port


def free_port() -> int:
    """A port nothing listens on (a control plane that is down)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
