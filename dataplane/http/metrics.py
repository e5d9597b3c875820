"""Prometheus metrics on `prometheus_client`, one CollectorRegistry per app.

Labels are bounded by construction (endpoint is a route constant, status an
HTTP code, upstream error kind one of a handful, shadow reasons policy error
codes, usage anomalies settlement's fixed kinds), so the series cannot grow
with traffic. Each label set's child is looked up once and cached, so a
request pays a dict hit and an `inc`/`observe` (a lock and an add), not a
`labels()` lookup.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import prometheus_client
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.registry import Collector

# Seconds; spans a fast cached completion to a long reasoning stream.
BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0)

# Gauges read from the usage sink at scrape time: name → help text.
SINK_GAUGES = {
    "queue_depth": ("oggy_usage_queue_depth", "Usage events not yet acknowledged."),
    "spool_bytes": ("oggy_usage_spool_bytes", "Bytes of unacknowledged usage spooled on disk."),
    "spool_usage_ratio": (
        "oggy_usage_spool_usage_ratio",
        "Spool size over its cap; past 0.8 the data plane also logs a warning.",
    ),
}

# The exposition is what it was before prometheus_client: no `_created` series.
prometheus_client.disable_created_metrics()


def _never_failing(read: Callable[[], float]) -> Callable[[], float]:
    def value() -> float:
        try:
            return read()
        except Exception:  # a scrape must not fail because the sink misbehaves
            return -1

    return value


class _Children(dict):
    """A metric family's children by label values: `labels()` runs once per label set."""

    def __init__(self, family: Counter | Histogram) -> None:
        super().__init__()
        self._family = family

    def __missing__(self, values: tuple[object, ...]) -> Counter | Histogram:
        child = self[values] = self._family.labels(*values)
        return child


class Metrics:
    def __init__(
        self,
        queue_depth: Callable[[], int] | None = None,
        gauges: dict[str, Callable[[], float]] | None = None,
        config_age: Callable[[], float] | None = None,
        collectors: Iterable[Collector] = (),
    ) -> None:
        self.registry = CollectorRegistry(auto_describe=False)
        for collector in collectors:  # read at scrape time (the quota table's)
            self.registry.register(collector)
        labelled = {"registry": self.registry}
        self._requests = _Children(
            Counter(
                "oggy_requests_total",
                "Requests handled, by endpoint and HTTP status.",
                ("endpoint", "status"),
                **labelled,
            )
        )
        self._durations = _Children(
            Histogram(
                "oggy_request_duration_seconds",
                "Time from request arrival to the last byte.",
                ("endpoint",),
                buckets=BUCKETS,
                **labelled,
            )
        )
        self._upstream_errors = _Children(
            Counter(
                "oggy_upstream_errors_total", "Upstream failures, by kind.", ("kind",), **labelled
            )
        )
        self._shadow_denials = _Children(
            Counter(
                "oggy_shadow_denials_total",
                "Requests a shadow policy would have blocked.",
                ("reason",),
                **labelled,
            )
        )
        self._usage_anomalies = _Children(
            Counter(
                "oggy_usage_anomalies_total",
                "Usage events recorded with something wrong in what they were built from "
                "(UsageEvent.anomalies), by kind.",
                ("kind",),
                **labelled,
            )
        )
        reads = dict(gauges or {})
        if queue_depth is not None:
            reads.setdefault("queue_depth", queue_depth)
        for key, (name, help_text) in SINK_GAUGES.items():
            if (read := reads.get(key)) is not None:
                Gauge(name, help_text, registry=self.registry).set_function(_never_failing(read))
        if config_age is not None:
            Gauge(
                "oggy_config_age_seconds",
                "Seconds since a control plane was last heard from (0 while its stream is up).",
                registry=self.registry,
            ).set_function(_never_failing(config_age))

    def observe(self, endpoint: str, status: int, seconds: float) -> None:
        self._requests[endpoint, status].inc()
        self._durations[(endpoint,)].observe(seconds)

    def upstream_error(self, kind: str) -> None:
        self._upstream_errors[(kind,)].inc()

    def shadow_denial(self, reason: str) -> None:
        """A shadow policy would have blocked a request for `reason` (it was served)."""
        self._shadow_denials[(reason,)].inc()

    def usage_anomalies(self, kinds: Iterable[str]) -> None:
        """An event's anomalies (a small fixed set of kinds, settlement's)."""
        for kind in kinds:
            self._usage_anomalies[(kind,)].inc()

    def exposition(self) -> bytes:
        """The registry in the Prometheus text format (served as CONTENT_TYPE)."""
        return prometheus_client.generate_latest(self.registry)

    def render(self) -> str:
        return self.exposition().decode()


CONTENT_TYPE = prometheus_client.CONTENT_TYPE_LATEST
