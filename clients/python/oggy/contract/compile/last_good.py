"""Compile a snapshot, keeping each workspace that fails at its last good version.

A data plane must not stop taking every workspace's updates because one of them no
longer compiles (e.g. a control plane newer than the data plane): the failing
workspace keeps serving the resources it had in the last snapshot served, with a
warning that says so, and every other workspace moves on. A workspace that never
compiled is left out (its keys are not served: fail closed). The control plane's
publisher holds such workspaces back too, so this is the second line of defence.
"""

from __future__ import annotations

from dataclasses import replace
from typing import NamedTuple

from oggy.contract.compile import (
    CompiledConfig,
    CompileWarning,
    compile_snapshot,
    compile_snapshot_lenient,
)
from oggy.contract.identity import ReplayCaches
from oggy.contract.snapshot import build_snapshot, resources_by_workspace
from oggy.v1 import snapshot_pb2


class Served(NamedTuple):
    config: CompiledConfig
    # What is served: the snapshot with each held workspace at its last good version.
    snapshot: snapshot_pb2.Snapshot


def compile_keeping_last_good(
    snapshot: snapshot_pb2.Snapshot,
    last_served: snapshot_pb2.Snapshot | None,
    *,
    replay_caches: ReplayCaches | None = None,
) -> Served:
    """Raises ConfigError only when what would be served does not compile either."""
    lenient = compile_snapshot_lenient(snapshot, replay_caches=replay_caches)
    if not lenient.errors:
        return Served(lenient.config, snapshot)
    held = set(lenient.errors)
    resources = [
        resource
        for workspace, group in resources_by_workspace(snapshot).items()
        if workspace not in held
        for resource in group
    ]
    if last_served is not None:
        for group in resources_by_workspace(last_served, held).values():
            resources.extend(group)
    served = build_snapshot(snapshot.revision, resources)
    served.schema_version = snapshot.schema_version
    config = compile_snapshot(served, replay_caches=replay_caches)
    kept = {w for w in held if w in config.workspaces}
    holds = tuple(
        CompileWarning(
            workspace,
            f"does not compile at revision {snapshot.revision}, "
            + ("still serving its last good version" if workspace in kept else "not served")
            + f": {error}",
        )
        for workspace, error in sorted(lenient.errors.items())
    )
    return Served(replace(config, compile_warnings=config.compile_warnings + holds), served)
