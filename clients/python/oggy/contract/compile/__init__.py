"""Snapshot → CompiledConfig: validation and every index the hot path needs.

A request does a dict lookup for its key id, a memoised policy decision and a
memoised route; everything else (glob compilation, policy merging, URL
parsing, the auth headers of each provider) happens here, once per config
change. Each workspace compiles on its own (compile/workspace.py), from its own
resources and the catalog prices, so:

- `compile_snapshot(snapshot)` is all or nothing: it raises `ConfigError` when
  anything is invalid or inconsistent. The data plane NACKs and keeps serving
  the previous config; the control plane validates a write with it.
- `compile_snapshot_lenient(snapshot)` holds back only the workspaces that fail:
  they are absent from the config (their keys are not served) and reported with
  their ConfigError (instead of their warnings); every other workspace serves.
  A problem that is no single workspace's (a negative revision, an invalid
  catalog price `prices/{p}`, a resource whose name places it under no
  workspace) still raises ConfigError.

To validate one workspace, compile a snapshot holding it, its resources and the
catalog prices: only that workspace (and the catalog) is compiled, with the
result it has inside the full snapshot. Pass `replay_caches=ReplayCaches()` to
leave the process's actor-token replay caches alone. One check needs every
workspace: a key id is unique across workspaces (the control plane's key index
guarantees it; a full compile refuses every workspace sharing one).

Dangling references that can legitimately appear while an operator edits
config (a policy targeting a deleted key, an actor listing a deleted team, a
route target whose provider is gone) are warnings rather than errors:
rejecting them would wedge every later update.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import NamedTuple

from oggy.contract.compile.model import (
    CompiledConfig,
    CompiledKey,
    CompiledProvider,
    CompiledWorkspace,
    CompileWarning,
    ConfigError,
)
from oggy.contract.compile.partition import partition
from oggy.contract.compile.workspace import WorkspaceOutput, compile_workspace
from oggy.contract.identity import PROCESS_REPLAY_CACHES, ReplayCaches
from oggy.contract.price_book import compile_catalog
from oggy.v1 import snapshot_pb2

__all__ = [
    "CompileWarning",
    "CompiledConfig",
    "CompiledKey",
    "CompiledProvider",
    "CompiledWorkspace",
    "ConfigError",
    "LenientCompile",
    "compile_snapshot",
    "compile_snapshot_lenient",
]


class LenientCompile(NamedTuple):
    config: CompiledConfig
    # Workspaces held back: name → why (never a secret).
    errors: Mapping[str, ConfigError]


def compile_snapshot(
    snapshot: snapshot_pb2.Snapshot, *, replay_caches: ReplayCaches | None = None
) -> CompiledConfig:
    """`replay_caches`: seen actor-token ids, kept across compiles (default: the process's)."""
    return _compile(snapshot, replay_caches, strict=True).config


def compile_snapshot_lenient(
    snapshot: snapshot_pb2.Snapshot, *, replay_caches: ReplayCaches | None = None
) -> LenientCompile:
    """Every workspace that compiles, and why each other one does not (module docstring)."""
    return _compile(snapshot, replay_caches, strict=False)


def _compile(
    snapshot: snapshot_pb2.Snapshot, replay_caches: ReplayCaches | None, *, strict: bool
) -> LenientCompile:
    if snapshot.revision < 0:
        raise ConfigError(f"snapshot revision {snapshot.revision} is negative")
    parts = partition(snapshot)
    catalog = compile_catalog(parts.catalog, ConfigError)
    caches = replay_caches or PROCESS_REPLAY_CACHES
    # A held-back workspace keeps its seen token ids for when it is fixed.
    caches.retain(parts.workspaces)
    outputs: dict[str, WorkspaceOutput] = {}
    errors: dict[str, ConfigError] = {}
    for name, ws in parts.workspaces.items():
        try:
            outputs[name] = compile_workspace(ws, catalog, caches.get(name))
        except ConfigError as e:
            if strict:
                raise
            errors[name] = e
    for name, e in _key_id_clashes(outputs).items():
        if strict:
            raise e
        errors[name] = e
        del outputs[name]
    return LenientCompile(_assemble(snapshot.revision, outputs), MappingProxyType(errors))


def _key_id_clashes(outputs: Mapping[str, WorkspaceOutput]) -> dict[str, ConfigError]:
    """Workspaces sharing a key id, each with the error: a key's text carries only its
    id, so no workspace can be trusted to own it."""
    seen: set[str] = set()
    for out in outputs.values():
        if not seen.isdisjoint(out.keys):
            break
        seen.update(out.keys)
    else:
        return {}  # the usual case, checked without a loop over every key in Python
    owners: dict[str, list[CompiledKey]] = {}
    for out in outputs.values():
        for key_id, key in out.keys.items():
            owners.setdefault(key_id, []).append(key)
    errors: dict[str, ConfigError] = {}
    for key_id, keys in owners.items():
        if len(keys) > 1:
            used_by = " and ".join(k.name for k in keys)
            e = ConfigError(f"key id {key_id!r} is used by both {used_by}")
            for key in keys:
                errors.setdefault(key.workspace_name, e)
    return dict(sorted(errors.items()))


def _assemble(revision: int, outputs: Mapping[str, WorkspaceOutput]) -> CompiledConfig:
    keys_by_id = {k: v for out in outputs.values() for k, v in out.keys.items()}
    return CompiledConfig(
        revision=revision,
        keys_by_id=MappingProxyType(keys_by_id),
        workspaces=MappingProxyType({n: out.workspace for n, out in outputs.items()}),
        identities=MappingProxyType({n: out.identity for n, out in outputs.items()}),
        compile_warnings=tuple(w for out in outputs.values() for w in out.warnings),
    )
