"""StoreHealth episodes, etcd error mapping, and what the metrics endpoint exports."""

from __future__ import annotations

import grpc
import pytest
from prometheus_client import CollectorRegistry, generate_latest

from controlplane.api.status import to_status
from controlplane.metrics import StoreHealthCollector
from controlplane.settings import Settings, SettingsError
from controlplane.store.base import StoreOutOfSpace, StoreUnavailable, WatchCompacted
from controlplane.store.etcd import OUT_OF_SPACE, _wrap, channel_options
from controlplane.store.health import NOSPACE, AlarmChange, StoreHealth


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_an_outage_starts_once_and_ends_with_its_length() -> None:
    clock = Clock()
    health = StoreHealth(clock)
    assert health.reachable and health.answered() is None
    assert health.unanswered() is True
    clock.now += 3
    assert health.unanswered() is False  # the same outage: not logged again
    assert not health.reachable
    clock.now += 4.5
    assert health.answered() == 7.5
    assert health.reachable and health.answered() is None


def test_an_alarm_is_raised_once_and_cleared_once() -> None:
    clock = Clock()
    health = StoreHealth(clock)
    assert health.raise_alarm(NOSPACE) == AlarmChange(raised=frozenset({NOSPACE}))
    clock.now += 2
    # Every further refused write, and a check that lists it: the same episode.
    assert health.raise_alarm(NOSPACE) == AlarmChange()
    assert health.set_alarms([NOSPACE]) == AlarmChange()
    assert health.alarms == {NOSPACE}
    clock.now += 40
    assert health.clear_alarm(NOSPACE) == AlarmChange(cleared=((NOSPACE, 42.0),))
    assert health.clear_alarm(NOSPACE) == AlarmChange()
    assert health.set_alarms(["CORRUPT"]) == AlarmChange(raised=frozenset({"CORRUPT"}))


def rpc_error(code: grpc.StatusCode, details: str = "") -> grpc.aio.AioRpcError:
    return grpc.aio.AioRpcError(code, grpc.aio.Metadata(), grpc.aio.Metadata(), details)


@pytest.mark.parametrize(
    ("error", "write", "expected", "text"),
    [
        (
            rpc_error(
                grpc.StatusCode.RESOURCE_EXHAUSTED, "etcdserver: mvcc: database space exceeded"
            ),
            True,
            StoreOutOfSpace,
            "out of space",
        ),
        (rpc_error(grpc.StatusCode.DEADLINE_EXCEEDED), False, StoreUnavailable, "within 1.5s"),
        (rpc_error(grpc.StatusCode.DEADLINE_EXCEEDED), True, StoreUnavailable, "may still be"),
        (
            rpc_error(grpc.StatusCode.UNAVAILABLE, "connect failed"),
            False,
            StoreUnavailable,
            "unreachable",
        ),
        (
            rpc_error(grpc.StatusCode.RESOURCE_EXHAUSTED, "etcdserver: too many requests"),
            True,
            StoreUnavailable,
            "overloaded",
        ),
        (
            rpc_error(
                grpc.StatusCode.OUT_OF_RANGE,
                "etcdserver: mvcc: required revision has been compacted",
            ),
            False,
            WatchCompacted,
            "compacted",
        ),
    ],
)
def test_etcd_errors_map_to_store_errors(
    error: grpc.aio.AioRpcError, write: bool, expected: type[Exception], text: str
) -> None:
    wrapped = _wrap(error, 1.5, write=write)
    assert type(wrapped) is expected
    assert text in str(wrapped)


def test_out_of_space_is_resource_exhausted_and_says_what_to_do() -> None:
    code, message = to_status(StoreOutOfSpace(OUT_OF_SPACE))
    assert code == grpc.StatusCode.RESOURCE_EXHAUSTED
    for advice in ("compact", "defrag", "alarm disarm", "--quota-backend-bytes"):
        assert advice in message
    assert to_status(StoreUnavailable("x"))[0] == grpc.StatusCode.UNAVAILABLE


def test_etcd_channel_reconnects_fast_and_pings_no_faster_than_etcd_allows() -> None:
    options = channel_options(retry_max_s=1.0)
    assert options["grpc.max_reconnect_backoff_ms"] == 1000  # gRPC's default: 120 s
    # etcd's --grpc-keepalive-min-time defaults to 5 s; faster pings get GOAWAY.
    assert options["grpc.keepalive_time_ms"] >= 5000
    assert "grpc.keepalive_permit_without_calls" not in options
    assert options["grpc.http2.ping_timeout_ms"] == options["grpc.keepalive_timeout_ms"]


def test_default_etcd_timeout_fails_calls_on_a_frozen_etcd_within_2s(tmp_path) -> None:
    assert Settings(state_dir=tmp_path).etcd_timeout_s <= 2.0
    with pytest.raises(SettingsError, match="--etcd-timeout"):
        Settings(state_dir=tmp_path, etcd_timeout_s=0)
    with pytest.raises(SettingsError, match="--metrics"):
        Settings(state_dir=tmp_path, metrics_address="9100")
    s = Settings.from_flags(state_dir=tmp_path, etcd_timeout_s=0.5, metrics="127.0.0.1:0")
    assert (s.etcd_timeout_s, s.metrics_address) == (0.5, "127.0.0.1:0")


def scrape(health: StoreHealth) -> list[str]:
    registry = CollectorRegistry()
    registry.register(StoreHealthCollector(health))
    return [line for line in generate_latest(registry).decode().splitlines() if line[:1] != "#"]


def test_metrics_export_reachability_alarms_and_size() -> None:
    health = StoreHealth(Clock())
    assert scrape(health) == [
        "oggy_etcd_up 1.0",
        'oggy_etcd_alarm{alarm="NOSPACE"} 0.0',
        "oggy_etcd_db_size_bytes 0.0",
    ]
    health.raise_alarm(NOSPACE)
    health.set_alarms([NOSPACE, "CORRUPT"])
    health.unanswered()
    health.db_size_bytes = 2_147_483_648
    assert scrape(health) == [
        "oggy_etcd_up 0.0",
        'oggy_etcd_alarm{alarm="CORRUPT"} 1.0',
        'oggy_etcd_alarm{alarm="NOSPACE"} 1.0',
        "oggy_etcd_db_size_bytes 2.147483648e+09",
    ]
