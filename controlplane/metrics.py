"""The control plane's Prometheus endpoint (`--metrics HOST:PORT`): GET /metrics.

Values are read at scrape time from the state their owners keep (the store's health),
so nothing is updated per call for the metrics' sake.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Protocol

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from controlplane.store.health import NOSPACE, StoreHealth


class StoreHealthCollector(Collector):
    def __init__(self, health: StoreHealth) -> None:
        self._health = health

    def collect(self) -> Iterator[Metric]:
        health = self._health
        yield GaugeMetricFamily(
            "oggy_etcd_up",
            "1 if etcd answered the control plane's last call, 0 while it does not.",
            value=int(health.reachable),
        )
        alarms = GaugeMetricFamily(
            "oggy_etcd_alarm",
            "1 while etcd has this alarm raised. NOSPACE: out of space, writes refused "
            "(compact, defrag and disarm, or raise --quota-backend-bytes).",
            labels=["alarm"],
        )
        # NOSPACE is always exported, so an alert on it has a series to watch.
        for alarm in sorted(health.alarms | {NOSPACE}):
            alarms.add_metric([alarm], int(alarm in health.alarms))
        yield alarms
        yield GaugeMetricFamily(
            "oggy_etcd_db_size_bytes",
            "Size of etcd's database file, as last checked (compare with its quota).",
            value=health.db_size_bytes,
        )


class QuotaState(Protocol):
    """What the metrics show of controlplane.quota.leader.QuotaAllocation."""

    @property
    def is_leader(self) -> bool: ...

    @property
    def leases_granted(self) -> int: ...

    def nodes_counted(self) -> int: ...


class QuotaCollector(Collector):
    def __init__(self, quota: QuotaState) -> None:
        self._quota = quota

    def collect(self) -> Iterator[Metric]:
        quota = self._quota
        yield GaugeMetricFamily(
            "oggy_quota_allocator_leader",
            "1 while this control plane is the elected quota allocator.",
            value=int(quota.is_leader),
        )
        yield CounterMetricFamily(
            "oggy_quota_leases_granted",
            "Quota leases sent to data planes by this control plane.",
            value=quota.leases_granted,
        )
        yield GaugeMetricFamily(
            "oggy_quota_data_planes",
            "Data planes the allocator counts (the divisor of their fallback share).",
            value=quota.nodes_counted(),
        )


async def start_metrics_server(
    host: str, port: int, health: StoreHealth, quota: QuotaState | None = None
) -> web.AppRunner:
    """Serve /metrics on host:port (0 picks a port: see `bound_port`)."""
    registry = CollectorRegistry()
    registry.register(StoreHealthCollector(health))
    if quota is not None:
        registry.register(QuotaCollector(quota))

    async def metrics(_: web.Request) -> web.Response:
        return web.Response(
            body=generate_latest(registry), headers={"Content-Type": CONTENT_TYPE_LATEST}
        )

    app = web.Application()
    app.router.add_get("/metrics", metrics)
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    try:
        await web.TCPSite(runner, host, port).start()
    except BaseException:
        await runner.cleanup()
        raise
    return runner


def bound_port(runner: web.AppRunner) -> int:
    return int(runner.addresses[0][1])
