from dataplane.http.metrics import Metrics


def test_spool_pressure_is_visible_in_metrics_before_the_cap() -> None:
    metrics = Metrics(
        gauges={
            "queue_depth": lambda: 12,
            "spool_bytes": lambda: 858_993_459,
            "spool_usage_ratio": lambda: 0.8,
        }
    )
    text = metrics.render()
    assert "oggy_usage_queue_depth 12" in text
    assert "oggy_usage_spool_bytes 858993459" in text
    assert "oggy_usage_spool_usage_ratio 0.8" in text


def test_a_failing_gauge_does_not_break_the_scrape() -> None:
    def broken() -> float:
        raise RuntimeError("sink is gone")

    assert "oggy_usage_spool_bytes -1" in Metrics(gauges={"spool_bytes": broken}).render()
