from prometheus_client.parser import text_string_to_metric_families

from dataplane.http.metrics import Metrics


def samples(metrics: Metrics) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of the exposition, parsed the way Prometheus would."""
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(metrics.render())
        for s in family.samples
    }


def test_spool_pressure_is_visible_in_metrics_before_the_cap() -> None:
    metrics = Metrics(
        gauges={
            "queue_depth": lambda: 12,
            "spool_bytes": lambda: 858_993_459,
            "spool_usage_ratio": lambda: 0.8,
        }
    )
    got = samples(metrics)
    assert got["oggy_usage_queue_depth", ()] == 12
    assert got["oggy_usage_spool_bytes", ()] == 858_993_459
    assert got["oggy_usage_spool_usage_ratio", ()] == 0.8


def test_a_failing_gauge_does_not_break_the_scrape() -> None:
    def broken() -> float:
        raise RuntimeError("sink is gone")

    assert samples(Metrics(gauges={"spool_bytes": broken}))["oggy_usage_spool_bytes", ()] == -1


def test_names_labels_and_buckets_dashboards_rely_on() -> None:
    metrics = Metrics()
    metrics.observe("/v1/chat/completions", 200, 0.02)
    metrics.observe("/v1/chat/completions", 200, 7.0)
    metrics.observe("/v1/chat/completions", 429, 0.001)
    metrics.upstream_error("timeout")
    metrics.shadow_denial("model_not_allowed")
    got = samples(metrics)
    chat = ("endpoint", "/v1/chat/completions")
    assert got["oggy_requests_total", (chat, ("status", "200"))] == 2
    assert got["oggy_requests_total", (chat, ("status", "429"))] == 1
    assert got["oggy_request_duration_seconds_bucket", (chat, ("le", "0.005"))] == 1
    assert got["oggy_request_duration_seconds_bucket", (chat, ("le", "0.025"))] == 2
    assert got["oggy_request_duration_seconds_bucket", (chat, ("le", "+Inf"))] == 3
    assert got["oggy_request_duration_seconds_count", (chat,)] == 3
    assert abs(got["oggy_request_duration_seconds_sum", (chat,)] - 7.021) < 1e-9
    assert got["oggy_upstream_errors_total", (("kind", "timeout"),)] == 1
    assert got["oggy_shadow_denials_total", (("reason", "model_not_allowed"),)] == 1
    # No `_created` series: the exposition carries what it carried before.
    assert not any(name.endswith("_created") for name, _ in got)


def test_each_metrics_object_has_its_own_registry() -> None:
    first, second = Metrics(), Metrics()
    first.upstream_error("broken")
    assert ("oggy_upstream_errors_total", (("kind", "broken"),)) not in samples(second)


def test_usage_anomalies_are_counted_by_kind() -> None:
    m = Metrics()
    m.usage_anomalies(["usage_malformed", "value_out_of_range"])
    m.usage_anomalies(["usage_malformed"])
    text = m.render()
    assert 'oggy_usage_anomalies_total{kind="usage_malformed"} 2.0' in text
    assert 'oggy_usage_anomalies_total{kind="value_out_of_range"} 1.0' in text
