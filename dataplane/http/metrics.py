"""Prometheus metrics, hand-written: a few dicts updated per request, rendered on scrape.

Labels are bounded by construction (endpoint is a route constant, status an
HTTP code, upstream error kind one of a handful), so the dicts cannot grow
with traffic.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Callable

# Seconds; spans a fast cached completion to a long reasoning stream.
BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0)


class _Histogram:
    __slots__ = ("count", "counts", "sum")

    def __init__(self) -> None:
        self.counts = [0] * (len(BUCKETS) + 1)  # last slot is +Inf only
        self.sum = 0.0
        self.count = 0


# Gauges read from the usage sink at scrape time: name → help text.
SINK_GAUGES = {
    "queue_depth": ("oggy_usage_queue_depth", "Usage events not yet acknowledged."),
    "spool_bytes": ("oggy_usage_spool_bytes", "Bytes of unacknowledged usage spooled on disk."),
    "spool_usage_ratio": (
        "oggy_usage_spool_usage_ratio",
        "Spool size over its cap; past 0.8 the data plane also logs a warning.",
    ),
}


class Metrics:
    def __init__(
        self,
        queue_depth: Callable[[], int] | None = None,
        gauges: dict[str, Callable[[], float]] | None = None,
    ) -> None:
        self.requests: dict[tuple[str, int], int] = {}
        self.durations: dict[str, _Histogram] = {}
        self.upstream_errors: dict[str, int] = {}
        # Bounded: reasons are policy error codes (POLICY_REASONS).
        self.shadow_denials: dict[str, int] = {}
        self._gauges = dict(gauges or {})
        if queue_depth is not None:
            self._gauges.setdefault("queue_depth", queue_depth)

    def observe(self, endpoint: str, status: int, seconds: float) -> None:
        key = (endpoint, status)
        self.requests[key] = self.requests.get(key, 0) + 1
        h = self.durations.get(endpoint)
        if h is None:
            h = self.durations[endpoint] = _Histogram()
        h.counts[bisect_left(BUCKETS, seconds)] += 1
        h.sum += seconds
        h.count += 1

    def upstream_error(self, kind: str) -> None:
        self.upstream_errors[kind] = self.upstream_errors.get(kind, 0) + 1

    def shadow_denial(self, reason: str) -> None:
        """A shadow policy would have blocked a request for `reason` (it was served)."""
        self.shadow_denials[reason] = self.shadow_denials.get(reason, 0) + 1

    def render(self) -> str:
        out = [
            "# HELP oggy_requests_total Requests handled, by endpoint and HTTP status.",
            "# TYPE oggy_requests_total counter",
        ]
        for (endpoint, status), n in sorted(self.requests.items()):
            out.append(f'oggy_requests_total{{endpoint="{endpoint}",status="{status}"}} {n}')
        out += [
            "# HELP oggy_request_duration_seconds Time from request arrival to the last byte.",
            "# TYPE oggy_request_duration_seconds histogram",
        ]
        for endpoint, h in sorted(self.durations.items()):
            cumulative = 0
            for le, n in zip(BUCKETS, h.counts, strict=False):
                cumulative += n
                out.append(
                    f'oggy_request_duration_seconds_bucket{{endpoint="{endpoint}",le="{le}"}} '
                    f"{cumulative}"
                )
            out.append(
                f'oggy_request_duration_seconds_bucket{{endpoint="{endpoint}",le="+Inf"}} {h.count}'
            )
            out.append(f'oggy_request_duration_seconds_sum{{endpoint="{endpoint}"}} {h.sum}')
            out.append(f'oggy_request_duration_seconds_count{{endpoint="{endpoint}"}} {h.count}')
        out += [
            "# HELP oggy_upstream_errors_total Upstream failures, by kind.",
            "# TYPE oggy_upstream_errors_total counter",
        ]
        for kind, n in sorted(self.upstream_errors.items()):
            out.append(f'oggy_upstream_errors_total{{kind="{kind}"}} {n}')
        out += [
            "# HELP oggy_shadow_denials_total Requests a shadow policy would have blocked.",
            "# TYPE oggy_shadow_denials_total counter",
        ]
        for reason, n in sorted(self.shadow_denials.items()):
            out.append(f'oggy_shadow_denials_total{{reason="{reason}"}} {n}')
        for key, (name, help_text) in SINK_GAUGES.items():
            read = self._gauges.get(key)
            if read is None:
                continue
            try:
                value: float = read()
            except Exception:  # a scrape must not fail because the sink misbehaves
                value = -1
            out += [
                f"# HELP {name} {help_text}",
                f"# TYPE {name} gauge",
                f"{name} {_number(value)}",
            ]
        return "\n".join(out) + "\n"


def _number(value: float) -> str:
    # Byte counts stay exact integers; ratios keep their decimals.
    return str(int(value)) if float(value).is_integer() else repr(float(value))
