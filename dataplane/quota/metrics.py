"""The quota table as Prometheus series, read at scrape time (nothing per request).

Per rule (bounded by config): requests admitted, refused and shadow-refused while
counting against it; what this node holds and has used in the rule's current windows.
Per process: seconds since the last lease response, and whether fallback is on.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from dataplane.quota.table import QuotaTable


class QuotaCollector(Collector):
    def __init__(self, table: QuotaTable, clock: Callable[[], float] = time.time) -> None:
        self._table = table
        self._clock = clock

    def collect(self) -> Iterator[Metric]:
        table = self._table
        now = self._clock()
        rule = ["rule"]
        admitted = CounterMetricFamily(
            "oggy_quota_admitted", "Requests admitted counting against a rule.", labels=rule
        )
        limited = CounterMetricFamily("oggy_quota_limited", "Requests a rule refused.", labels=rule)
        shadowed = CounterMetricFamily(
            "oggy_quota_shadow_limited", "Requests a shadow rule would have refused.", labels=rule
        )
        held = GaugeMetricFamily(
            "oggy_quota_held", "What this node holds in a rule's current windows.", labels=rule
        )
        used = GaugeMetricFamily(
            "oggy_quota_used", "What this node used in a rule's current windows.", labels=rule
        )
        totals: dict[str, list[int]] = {}
        for c in table.current(now):
            figures = totals.setdefault(c.plan.name, [0, 0])
            figures[0] += c.held
            figures[1] += c.used
        for plan in table.plans():
            admitted.add_metric([plan.name], plan.admitted)
            limited.add_metric([plan.name], plan.limited)
            shadowed.add_metric([plan.name], plan.shadowed)
            h, u = totals.get(plan.name, (0, 0))
            held.add_metric([plan.name], h)
            used.add_metric([plan.name], u)
        since = -1.0 if table.last_lease_at is None else max(0.0, now - table.last_lease_at)
        yield from (admitted, limited, shadowed, held, used)
        yield GaugeMetricFamily(
            "oggy_quota_seconds_since_lease",
            "Seconds since the last lease response (-1: none yet).",
            value=since,
        )
        yield GaugeMetricFamily(
            "oggy_quota_fallback_active",
            "1 while leases have expired and the node admits on its fallback share.",
            value=1.0 if table.fallback_active(now) else 0.0,
        )
