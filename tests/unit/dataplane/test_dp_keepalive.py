"""Keepalive and reconnect settings of the data plane's channel to the control plane."""

from __future__ import annotations

import argparse

import pytest

from dataplane.grpc_client import channel_options
from dataplane.settings import Settings, SettingsError, add_arguments, from_args


def parse(*argv: str) -> Settings:
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    return from_args(parser.parse_args(list(argv)), env={"OGGY_NODE_TOKEN": "t"})


def test_defaults_notice_a_dead_connection_within_15s_and_reconnect_within_5s() -> None:
    options = dict(channel_options(parse()))
    # A silent connection is closed after at most one ping interval plus its timeout.
    assert options["grpc.keepalive_time_ms"] + options["grpc.keepalive_timeout_ms"] <= 15_000
    # gRPC 1.85 times keepalive pings out with ping_timeout_ms (default 1 min).
    assert options["grpc.http2.ping_timeout_ms"] == options["grpc.keepalive_timeout_ms"]
    # The config stream is idle between changes: ping without calls and without data.
    assert options["grpc.keepalive_permit_without_calls"] == 1
    assert options["grpc.http2.max_pings_without_data"] == 0
    # The one backoff once the network heals (x1.2 jitter), with room to reopen streams.
    assert options["grpc.max_reconnect_backoff_ms"] * 1.2 <= 3_000


def test_flags_shorten_keepalive_and_backoff() -> None:
    s = parse("--keepalive-time=1", "--keepalive-timeout=0.5", "--reconnect-backoff-max=0.2")
    options = dict(channel_options(s))
    assert options["grpc.keepalive_time_ms"] == 1000
    assert options["grpc.keepalive_timeout_ms"] == options["grpc.http2.ping_timeout_ms"] == 500
    assert options["grpc.max_reconnect_backoff_ms"] == 200


@pytest.mark.parametrize(
    ("field", "value", "flag"),
    [
        # The control plane answers pings more often than every 0.5 s with GOAWAY.
        ("keepalive_time_s", 0.5, "--keepalive-time"),
        ("keepalive_timeout_s", 0, "--keepalive-timeout"),
        ("reconnect_backoff_max_s", 0.01, "--reconnect-backoff-max"),
    ],
)
def test_invalid_values_are_refused(field: str, value: float, flag: str) -> None:
    with pytest.raises(SettingsError, match=flag):
        Settings(node_token="t", **{field: value})
