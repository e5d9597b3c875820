"""Limits, budgets and leases for data plane quota tests: a workspace snapshot with the
rules a test names, and the real app in front of the mock provider with a QuotaTable."""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

import aiohttp
import anthropic
import openai
from google.protobuf.duration_pb2 import Duration
from google.protobuf.timestamp_pb2 import Timestamp

from controlplane.devtools.mock_provider import start_mock_provider
from dataplane.config.holder import ConfigHolder
from dataplane.http import create_app
from dataplane.quota.table import QuotaTable
from oggy.contract.compile import compile_snapshot
from oggy.contract.compile.quota import QuotaRule
from oggy.v1 import budget_pb2, limit_pb2, quota_service_pb2, scope_pb2, snapshot_pb2
from tests.integration.test_dataplane_endpoints import KEY, OPTIONS, WS, build_snapshot
from tests.integration.test_dataplane_http import ListSink, serve

Limit = limit_pb2.Limit
Budget = budget_pb2.Budget
DAY_S = 86_400
LONG_TTL_S = 3600.0  # leases that outlive any test: no fallback mid-test


def limit(
    name: str, metric: int, capacity: int, *, window_s: int = DAY_S, **kw: object
) -> limit_pb2.Limit:
    """Day-long windows by default: a test never straddles a window's end."""
    extra = (
        {} if metric == Limit.METRIC_CONCURRENT_REQUESTS else {"window": Duration(seconds=window_s)}
    )
    return Limit(
        name=f"{WS}/limits/{name}",
        metric=metric,  # type: ignore[arg-type]
        capacity=capacity,
        counted_per=scope_pb2.COUNTED_PER_SCOPE,
        **extra,  # type: ignore[arg-type]
        **kw,  # type: ignore[arg-type]
    )


def budget(name: str, micro_usd: int, **kw: object) -> budget_pb2.Budget:
    return Budget(
        name=f"{WS}/budgets/{name}",
        amount_micro_usd=micro_usd,
        period=Budget.PERIOD_DAY,
        enforcement=kw.pop("enforcement", Budget.ENFORCEMENT_HARD),  # type: ignore[arg-type]
        counted_per=scope_pb2.COUNTED_PER_SCOPE,
        **kw,  # type: ignore[arg-type]
    )


def full_leases(
    rules: tuple[QuotaRule, ...], now: float, ttl_s: float = LONG_TTL_S
) -> list[quota_service_pb2.QuotaLease]:
    """Each rule's whole capacity, for the window of `now` and the next one."""
    out = []
    for r in rules:
        window = r.window(now)
        starts = {window.start} | ({window.reset} if window.reset is not None else set())
        for start in starts:
            out.append(
                quota_service_pb2.QuotaLease(
                    counter=quota_service_pb2.QuotaCounter(rule=r.name, window_start=start),
                    granted=r.capacity,
                    expire_time=Timestamp(seconds=int(now + ttl_s)),
                )
            )
    return out


@dataclass
class QuotaEnv:
    base: str
    mock: str
    sink: ListSink
    holder: ConfigHolder
    table: QuotaTable
    http: aiohttp.ClientSession
    closers: list

    @property
    def rules(self) -> tuple[QuotaRule, ...]:
        cfg = self.holder.current
        assert cfg is not None
        return cfg.workspaces[WS].quota.rules

    def lease_everything(self) -> None:
        now = time.time()
        self.table.sync(self.rules)
        self.table.apply(full_leases(self.rules, now), 1, now, LONG_TTL_S)

    def openai(self) -> openai.AsyncOpenAI:
        c = openai.AsyncOpenAI(base_url=self.base + "/v1", api_key=KEY, max_retries=0)
        self.closers.append(c)
        return c

    def anthropic(self) -> anthropic.AsyncAnthropic:
        c = anthropic.AsyncAnthropic(base_url=self.base, api_key=KEY, max_retries=0)
        self.closers.append(c)
        return c

    async def recorded(self) -> list[dict]:
        async with self.http.get(self.mock + "/_mock/requests") as r:
            return await r.json()


@contextlib.asynccontextmanager
async def quota_app(
    edit: Callable[[snapshot_pb2.Snapshot], None], *, lease: bool = True
) -> AsyncIterator[QuotaEnv]:
    """The app, its quota table, one mock provider serving both plain and backup targets."""
    runner_mock, port = await start_mock_provider()
    mock = f"http://127.0.0.1:{port}"
    snapshot = build_snapshot(mock, mock)
    edit(snapshot)
    holder = ConfigHolder(compile_snapshot(snapshot))
    table = QuotaTable()
    sink = ListSink()
    runner, base = await serve(create_app(holder, sink, OPTIONS, quota=table))
    env = QuotaEnv(base, mock, sink, holder, table, aiohttp.ClientSession(), [])
    if lease:
        env.lease_everything()
    try:
        yield env
    finally:
        for c in env.closers:
            await c.close()
        await env.http.close()
        await runner.cleanup()
        await runner_mock.cleanup()
