"""A provider credential's upstream timeouts: checked once (oggy.contract.timeouts), compiled
onto the CompiledProvider, and passed by `oggy up` to the data plane it starts."""

from __future__ import annotations

import argparse

import pytest

from controlplane.cli import main, up
from dataplane import settings
from oggy.contract.compile import ConfigError, compile_snapshot
from oggy.contract.timeouts import (
    DEFAULT_TIMEOUTS,
    NO_TIMEOUTS,
    TimeoutsError,
    UpstreamTimeouts,
    provider_timeouts,
)
from oggy.v1 import provider_pb2, snapshot_pb2, workspace_pb2

WS = "workspaces/acme"


def credential(**durations: tuple[int, int]) -> provider_pb2.ProviderCredential:
    p = provider_pb2.ProviderCredential(
        name=f"{WS}/providers/p",
        kind=provider_pb2.ProviderCredential.KIND_OPENAI,
        base_url="https://api.example.com/v1",
        models=["gpt-*"],
    )
    for field, (seconds, nanos) in durations.items():
        d = getattr(p.timeouts, field)
        d.seconds, d.nanos = seconds, nanos
    return p


def test_unset_and_zero_mean_the_data_planes_default() -> None:
    assert provider_timeouts(credential()) is NO_TIMEOUTS
    t = provider_timeouts(credential(connect=(0, 0), first_byte=(300, 0), idle=(0, 500_000_000)))
    assert t == UpstreamTimeouts(None, 300.0, 0.5)
    assert t.over(DEFAULT_TIMEOUTS) == UpstreamTimeouts(5.0, 300.0, 0.5)


@pytest.mark.parametrize(
    "durations", [{"connect": (-1, 0)}, {"idle": (0, -1)}, {"first_byte": (3601, 0)}]
)
def test_bad_timeouts_are_refused(durations: dict[str, tuple[int, int]]) -> None:
    with pytest.raises(TimeoutsError, match=rf"timeouts\.{next(iter(durations))}"):
        provider_timeouts(credential(**durations))


def snapshot(p: provider_pb2.ProviderCredential) -> snapshot_pb2.Snapshot:
    return snapshot_pb2.Snapshot(
        revision=1,
        workspaces=[workspace_pb2.Workspace(name=WS)],
        providers=[snapshot_pb2.ProviderMaterial(provider=p, api_key="sk-x")],
    )


def test_the_compiler_carries_them_and_refuses_bad_ones() -> None:
    cfg = compile_snapshot(snapshot(credential(first_byte=(300, 0))))
    [provider] = cfg.workspaces[WS].providers
    assert provider.timeouts == UpstreamTimeouts(first_byte_s=300.0)
    with pytest.raises(ConfigError, match=r"providers/p: timeouts\.connect"):
        compile_snapshot(snapshot(credential(connect=(-5, 0))))


def test_oggy_up_passes_given_dataplane_flags_only() -> None:
    def up_args(*argv: str) -> argparse.Namespace:
        return main.build_parser().parse_args(["up", *argv])

    assert up.dataplane_flags(up_args()) == ()
    flags = up.dataplane_flags(
        up_args("--upstream-first-byte-timeout", "300", "--max-config-age", "0.5")
    )
    assert flags == ("--upstream-first-byte-timeout", "300", "--max-config-age", "0.5")
    # ... and `oggy dataplane` takes them.
    parser = argparse.ArgumentParser()
    settings.add_arguments(parser)
    s = settings.from_args(parser.parse_args(list(flags)), env={"OGGY_NODE_TOKEN": "t"})
    assert (s.upstream_first_byte_timeout_s, s.max_config_age_s) == (300.0, 0.5)
    with pytest.raises(SystemExit):
        up_args("--upstream-connect-timeout", "0")
