"""Hold back a workspace whose config does not compile, so the others keep flowing.

A snapshot spans every workspace, and a data plane rejects a snapshot whole when
any part of it fails to compile: one bad policy would stop config for everyone,
and a key revoked elsewhere would keep working. So before publishing, each
workspace is compiled on its own with the data plane's compiler. One that
compiles is published as stored; one that does not keeps its last good
resources (or is left out if it never compiled) and is reported as held back;
only its gateway keys' revocations and deletions still go out.

Admin writes are refused when they would not compile, so a held-back workspace
comes from data written around the API (etcdctl, another version). Pure: the
caller passes in the store's state and publishes what comes back.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from oggy.contract.compile import ConfigError, compile_snapshot
from oggy.contract.identity import ReplayCaches
from oggy.contract.snapshot import (
    apply_delta,
    build_snapshot,
    changes_between,
    make_delta,
    name_of,
    resources_by_workspace,
)
from oggy.v1 import key_pb2, snapshot_pb2, workspace_pb2

# The group of catalog-wide prices (`prices/{id}`), and how it is reported.
CATALOG = ""
CATALOG_LABEL = "prices"

CompileError = Callable[[snapshot_pb2.Snapshot], str | None]
REVOKED = key_pb2.GatewayKey.STATE_REVOKED


@dataclass(frozen=True, slots=True)
class HeldWorkspace:
    workspace: str  # `workspaces/{w}`, or CATALOG_LABEL
    held_revision: int  # what is published is from this revision; 0: never compiled, left out
    failed_revision: int  # the latest revision that does not compile
    error: str
    since: float  # when it was first held back (unix seconds)


def compile_error(snapshot: snapshot_pb2.Snapshot) -> str | None:
    """Why a data plane would reject `snapshot` (its compiler's message), or None."""
    try:
        # Fresh replay caches: the process-wide ones belong to request handling.
        compile_snapshot(snapshot, replay_caches=ReplayCaches())
    except ConfigError as exc:
        return str(exc)
    except Exception as exc:
        # A data plane rejects a snapshot its compiler fails on in any way.
        return f"{type(exc).__name__}: {exc}"
    return None


class HoldBack:
    def __init__(
        self, compile_error: CompileError = compile_error, clock: Callable[[], float] = time.time
    ) -> None:
        self._compile_error = compile_error
        self._clock = clock
        # Per group (a workspace name, or CATALOG): its resources last published, by name,
        # copied (a protobuf element would keep its whole snapshot alive), and their revision.
        self._good: dict[str, dict[str, object]] = {}
        self._good_revision: dict[str, int] = {}
        self._held: dict[str, HeldWorkspace] = {}
        # Gateway key ids are unique across workspaces (a data plane indexes keys by
        # id): key id → the group whose published keys use it.
        self._key_owner: dict[str, str] = {}
        # What `admit` last returned; it only ever changes by the changes it returns.
        self._out = build_snapshot(0, [])

    def held(self) -> list[HeldWorkspace]:
        return [self._held[g] for g in sorted(self._held)]

    def admit(
        self, truth: snapshot_pb2.Snapshot, groups: Iterable[str] | None = None
    ) -> tuple[snapshot_pb2.Snapshot, list[snapshot_pb2.ResourceChange]]:
        """The snapshot to publish for the store state `truth`, after compiling `groups`
        (workspace names, CATALOG for the catalog prices; None: every one) again, and the
        changes from the snapshot returned before. No changes: that one is returned again.

        Groups not named keep what they had: a change elsewhere cannot break them.
        Held-back groups are always tried again: a key id another workspace let go of,
        for one, can make them fit.
        """
        wanted = None if groups is None else {*groups, *self._held}
        by_group = resources_by_workspace(truth, wanted)
        todo = {*by_group, *self._good, *self._held} if wanted is None else wanted
        changes: list[snapshot_pb2.ResourceChange] = []
        # The catalog first: workspaces compile with the catalog prices being published.
        for group in sorted(todo, key=lambda g: (g != CATALOG, g)):
            before = self._good.get(group, {})
            resources = by_group.get(group, [])
            if group == CATALOG or any(isinstance(r, workspace_pb2.Workspace) for r in resources):
                self._admit(group, truth.revision, resources)
            else:
                # The workspace is gone (or never was): nothing of it is published.
                self._forget(group)
            changes += changes_between(before, self._good.get(group, {}))
        if changes:
            changes.sort(key=lambda c: c.name)
            self._out = apply_delta(
                self._out, make_delta(self._out.revision, truth.revision, changes)
            )
        return self._out, changes

    def _admit(self, group: str, revision: int, resources: Sequence[object]) -> None:
        catalog = [] if group == CATALOG else list(self._good.get(CATALOG, {}).values())
        error = self._compile_error(build_snapshot(revision, [*resources, *catalog]))
        if error is None:
            error = self._key_id_clash(group, resources)
        if error is None:
            self._set_good(group, revision, resources)
            self._held.pop(group, None)
            return
        previous = self._held.get(group)
        self._held[group] = HeldWorkspace(
            workspace=group or CATALOG_LABEL,
            held_revision=self._good_revision.get(group, 0),
            failed_revision=revision,
            error=error,
            since=previous.since if previous is not None else self._clock(),
        )
        self._revoke_while_held(group, revision, resources, catalog)

    def _revoke_while_held(
        self, group: str, revision: int, resources: Sequence[object], catalog: list[object]
    ) -> None:
        """Keys revoked or deleted since the group's last good state stop working anyway:
        a held-back workspace may keep old config, never access that was taken away."""
        good = self._good.get(group)
        if good is None:
            return
        narrowed = _without_revoked_keys(good, resources)
        if narrowed == good:
            return
        if self._compile_error(build_snapshot(revision, [*narrowed.values(), *catalog])) is None:
            self._set_good(group, self._good_revision[group], list(narrowed.values()))

    def _key_id_clash(self, group: str, resources: Iterable[object]) -> str | None:
        for key_id, name in _key_ids(resources):
            owner = self._key_owner.get(key_id, group)
            if owner != group:
                return f"key {name}: key id {key_id!r} is already used in {owner}"
        return None

    def _set_good(self, group: str, revision: int, resources: Sequence[object]) -> None:
        self._drop_key_ids(group)
        self._good[group] = {name_of(r): _copy(r) for r in resources}
        self._good_revision[group] = revision
        for key_id, _ in _key_ids(resources):
            self._key_owner[key_id] = group

    def _forget(self, group: str) -> None:
        self._drop_key_ids(group)
        self._good.pop(group, None)
        self._good_revision.pop(group, None)
        self._held.pop(group, None)

    def _drop_key_ids(self, group: str) -> None:
        for key_id, _ in _key_ids(self._good.get(group, {}).values()):
            if self._key_owner.get(key_id) == group:
                del self._key_owner[key_id]


def _without_revoked_keys(
    good: dict[str, object], resources: Sequence[object]
) -> dict[str, object]:
    """`good` without the gateway keys gone from `resources`, and with the ones revoked
    there revoked."""
    now = {name_of(r): r for r in resources if isinstance(r, snapshot_pb2.KeyMaterial)}
    out: dict[str, object] = {}
    for name, resource in good.items():
        if isinstance(resource, snapshot_pb2.KeyMaterial):
            current = now.get(name)
            if current is None:
                continue
            if current.key.state == REVOKED and resource.key.state != REVOKED:
                revoked = _copy(resource)
                revoked.key.state = REVOKED  # type: ignore[attr-defined]
                revoked.key.revoke_time.CopyFrom(current.key.revoke_time)  # type: ignore[attr-defined]
                resource = revoked
        out[name] = resource
    return out


def _key_ids(resources: Iterable[object]) -> list[tuple[str, str]]:
    """(key id, key name) of every gateway key among `resources`."""
    return [
        (r.key.name.rsplit("/", 1)[1], r.key.name)
        for r in resources
        if isinstance(r, snapshot_pb2.KeyMaterial)
    ]


def _copy(resource: object) -> object:
    copy = type(resource)()
    copy.CopyFrom(resource)  # type: ignore[attr-defined]
    return copy
