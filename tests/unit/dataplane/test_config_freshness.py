"""The maximum config age, on a hand-set clock: the deadline a request compares with,
the age the gauge shows, and one log line per threshold crossed."""

from __future__ import annotations

import logging
import math

import pytest

from dataplane.config.freshness import ConfigFreshness, Currency
from dataplane.config.holder import ConfigHolder
from dataplane.core.admission import refuse_stale
from oggy.contract import errors
from tests.support.clock import Clock


class Timers:
    """`schedule` fake: the delays asked for; nothing runs by itself."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    def __call__(self, delay, callback):
        self.delays.append(delay)
        return self

    def cancel(self) -> None:
        pass


def tracker(max_age_s: float | None) -> tuple[ConfigHolder, ConfigFreshness, Clock, Timers]:
    holder, clock, timers = ConfigHolder(), Clock(100.0), Timers()
    return holder, ConfigFreshness(holder, max_age_s, clock=clock, schedule=timers), clock, timers


def test_a_live_stream_never_goes_stale() -> None:
    holder, freshness, _, _ = tracker(60.0)
    freshness.heard()
    assert holder.stale_after == math.inf and holder.config_age_s(1e9) == 0.0


def test_quiet_sets_the_deadline_once_and_logs_each_threshold_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    holder, freshness, clock, timers = tracker(60.0)
    caplog.set_level(logging.INFO, logger="dataplane.config.freshness")
    freshness.quiet()
    assert holder.stale_after == 160.0  # a request compares its start with this
    assert timers.delays == [30.0, 60.0]  # half the maximum, the maximum
    clock.now = 140.0
    freshness.quiet()  # a retry against a dead control plane does not restart the count
    assert holder.stale_after == 160.0 and holder.config_age_s(clock.now) == 40.0
    assert freshness.check() is Currency.AGING
    assert freshness.check() is Currency.AGING
    clock.now = 160.0
    assert freshness.check() is Currency.STALE
    freshness.check()
    clock.now = 175.0
    freshness.heard()
    assert holder.stale_after == math.inf and holder.config_age_s(clock.now) == 0.0
    assert [r.getMessage() for r in caplog.records] == [
        "config is 40.0 s old (no control plane heard); requests will be refused"
        " at --max-config-age 60 s",
        "config is 60.0 s old, over --max-config-age 60 s: refusing requests"
        " (503 config_stale) until a control plane is heard",
        "control plane heard again; config age was 75.0 s, serving again",
    ]


def test_a_snapshot_file_counts_from_its_last_write() -> None:
    holder, freshness, _, timers = tracker(60.0)
    freshness.quiet(age_s=45.0)  # loaded from a file written 45 s ago
    assert holder.stale_after == 115.0
    assert freshness.state is Currency.AGING and timers.delays == [15.0]
    _, freshness, _, _ = tracker(60.0)
    freshness.quiet(age_s=600.0)
    assert freshness.state is Currency.STALE


def test_without_a_maximum_the_age_is_shown_but_nothing_is_refused() -> None:
    holder, freshness, clock, timers = tracker(None)
    freshness.quiet()
    clock.now = 1e6
    assert holder.stale_after == math.inf and holder.config_age_s(clock.now) == 1e6 - 100.0
    assert freshness.check() is Currency.FRESH and timers.delays == []


def test_a_stale_refusal_is_503_and_attributed_only_to_an_authenticated_key() -> None:
    unknown = errors.InvalidApiKey()
    verdict = refuse_stale(unknown, "10.0.0.1", 75.4)
    assert isinstance(verdict.error, errors.ConfigStale) and verdict.error.status == 503
    assert verdict.key is None and verdict.client_ip == "10.0.0.1"
    assert "75 s" in verdict.error.message
