"""The real AdminService for CLI tests, in-process: AdminServicer on an InMemoryStore and a
SQLite usage store, behind the real token interceptor, on grpc.aio at 127.0.0.1 port 0.

The CLI is synchronous (a blocking channel), so the server runs on an event loop in a
background thread and tests stay plain functions. The wiring follows
controlplane/server.py's `create_server`, minus etcd, the publisher and the other
services. A recording interceptor keeps every request the server received, so tests can
check what the CLI sent (filters, masks, names) as well as what the server made of it.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Awaitable, Callable, Coroutine, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cached_property
from pathlib import Path
from typing import Any, TypeVar

import grpc
import pytest
from google.protobuf.message import Message
from google.protobuf.timestamp_pb2 import Timestamp

from controlplane.api.admin_servicer import AdminServicer
from controlplane.api.auth import TokenAuthInterceptor
from controlplane.api.usage_queries import UsageQueries
from controlplane.cli import main
from controlplane.cli.admin_client import AdminClient
from controlplane.keyring import keyring_source
from controlplane.secrets import EnvelopeCipher
from controlplane.statefiles import ensure_private_dir, load_token
from controlplane.store.memory import InMemoryStore
from controlplane.usage import SqliteUsageStore
from oggy.v1 import admin_service_pb2_grpc, usage_pb2
from tests.support.clock import Clock

T = TypeVar("T")

# The server's clock: fixed, so times it stamps (rotation deadlines, purges) are exact.
NOW = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)
START_TIMEOUT_S = 30.0


class _Recorder(grpc.aio.ServerInterceptor):
    """Appends (method, request) for every unary call that reaches a servicer."""

    def __init__(self, requests: list[tuple[str, Message]]) -> None:
        self._requests = requests

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        handler = await continuation(handler_call_details)
        if handler is None or handler.unary_unary is None:
            return handler
        method = handler_call_details.method.rsplit("/", 1)[-1]
        inner = handler.unary_unary

        async def record(request: Message, context: grpc.aio.ServicerContext) -> Any:
            self._requests.append((method, request))
            return await inner(request, context)

        return grpc.unary_unary_rpc_method_handler(
            record,
            request_deserializer=handler.request_deserializer,
            response_serializer=handler.response_serializer,
        )


@dataclass
class AdminServer:
    """A running server, and the handles tests use to seed and inspect it."""

    address: str
    token: str = field(repr=False)
    clock: Clock
    usage: SqliteUsageStore
    requests: list[tuple[str, Message]]
    _loop: asyncio.AbstractEventLoop

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run `coro` on the server's loop (where its stores live) and wait for it."""
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(START_TIMEOUT_S)

    @cached_property
    def client(self) -> AdminClient:
        """An authenticated client for assertions on the server's state."""
        return AdminClient(self.address, self.token)

    def insert_usage(self, events: Sequence[usage_pb2.UsageEvent]) -> None:
        self.run(self.usage.insert(events))

    def last(self, method: str) -> Any:
        """The latest request the server received for `method`."""
        return next(r for m, r in reversed(self.requests) if m == method)

    def calls(self, method: str) -> list[Any]:
        return [r for m, r in self.requests if m == method]

    def env(self, **extra: str) -> dict[str, str]:
        """The environment that points the CLI at this server."""
        return {"OGGY_ADMIN_ADDRESS": self.address, "OGGY_ADMIN_TOKEN": self.token, **extra}


async def _start(state_dir: Path, loop: asyncio.AbstractEventLoop) -> tuple[AdminServer, Any]:
    ensure_private_dir(state_dir)
    admin_token = load_token(state_dir / "admin_token", None)
    node_token = load_token(state_dir / "node_token", None)
    cipher = EnvelopeCipher(keyring_source(state_dir, environ={}).load())
    clock = Clock(NOW.timestamp())
    usage = SqliteUsageStore(state_dir / "usage.db", clock=clock)
    requests: list[tuple[str, Message]] = []
    server = grpc.aio.server(
        interceptors=[TokenAuthInterceptor(admin_token, node_token), _Recorder(requests)]
    )
    # Not seeded with the shipped prices: the price tests start from an empty catalog.
    servicer = AdminServicer(
        InMemoryStore(),
        cipher,
        usage_store=usage,
        usage_queries=UsageQueries(usage, clock=clock),
        clock=clock,
    )
    admin_service_pb2_grpc.add_AdminServiceServicer_to_server(servicer, server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    admin = AdminServer(f"127.0.0.1:{port}", admin_token, clock, usage, requests, loop)
    return admin, server


@contextmanager
def serve_admin(state_dir: Path) -> Iterator[AdminServer]:
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="admin-server", daemon=True)
    thread.start()
    try:
        future = asyncio.run_coroutine_threadsafe(_start(state_dir, loop), loop)
        admin, server = future.result(START_TIMEOUT_S)
        try:
            yield admin
        finally:
            if "client" in admin.__dict__:
                admin.client.close()
            admin.run(server.stop(None))
            admin.run(admin.usage.close())
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(START_TIMEOUT_S)
        loop.close()


@pytest.fixture(name="admin")
def admin_fixture(tmp_path: Path) -> Iterator[AdminServer]:
    """An empty control plane (no workspace)."""
    with serve_admin(tmp_path / "state") as server:
        yield server


@pytest.fixture(name="demo_cli")
def demo_cli_fixture(admin: AdminServer) -> tuple[AdminServer, dict[str, str]]:
    """The control plane with workspace `demo`, and the env that points the CLI at it."""
    env = admin.env(OGGY_WORKSPACE="demo")
    assert main.run(["workspace", "create", "demo"], env=env) == 0
    return admin, env


def oggy(env: dict[str, str], *argv: str) -> int:
    return main.run(list(argv), env=env)


def usage_event(event_id: str, age_s: float, **fields: Any) -> usage_pb2.UsageEvent:
    """A usage event of workspace demo that started `age_s` seconds ago.

    Real time, not the server's clock: the CLI computes `--since` from real time.
    """
    start = Timestamp()
    start.FromNanoseconds(int((time.time() - age_s) * 1e9))
    return usage_pb2.UsageEvent(
        event_id=event_id, workspace="workspaces/demo", start_time=start, **fields
    )
