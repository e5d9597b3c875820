"""ConfigPublisher: store watch → versioned snapshot → fan-out to data plane streams.

Thin I/O runner around the pure logic in `oggy.contract.snapshot` and `holdback.py`:
  full read (`workspaces/` at revision R, then `prices/`) → the store's state at R
  watch the whole prefix from R+1, one ChangeBatch → apply to that state
  (keys outside the resource shapes — secrets/, requests/, index/, audit/ — are skipped)
  → compile the changed workspaces (HoldBack) → publish the difference as one delta
  watch compacted / lost → re-read everything → full Snapshot to every subscriber
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Callable, Iterable

from google.protobuf.message import Message

from controlplane.publisher.decode import strip_prefix
from controlplane.publisher.fanout import Subscription
from controlplane.publisher.holdback import HeldWorkspace, HoldBack
from controlplane.publisher.loader import ResourceLoader, SecretCipher
from controlplane.publisher.nodes import NodeRegistry, NodeStatus
from controlplane.store.base import ChangeBatch, Store, WatchCompacted
from oggy.contract.snapshot import (
    apply_delta,
    build_snapshot,
    check_consistency,
    diff,
    make_change,
    make_delta,
    parse_name,
    prune_orphans,
    workspace_of,
)
from oggy.v1 import snapshot_pb2

log = logging.getLogger(__name__)


class ConfigPublisher:
    def __init__(
        self,
        store: Store,
        cipher: SecretCipher,
        prefix: str = "/oggy/",
        *,
        max_pending: int = 256,
        retry_initial: float = 0.1,
        retry_max: float = 5.0,
        rng: Callable[[], float] = random.random,
        hold_back: HoldBack | None = None,
    ) -> None:
        self._store = store
        self._loader = ResourceLoader(cipher, prefix)
        self._prefix = prefix
        self._ws_prefix = f"{prefix}workspaces/"
        self._prices_prefix = f"{prefix}prices/"
        self._max_pending = max_pending
        self._retry_initial = retry_initial
        self._retry_max = retry_max
        self._rng = rng
        # `_truth` mirrors the store; `_published` is what subscribers are given: the
        # truth minus held-back workspaces (their last good state instead) and orphans.
        self._truth: snapshot_pb2.Snapshot | None = None
        self._published: snapshot_pb2.Snapshot | None = None
        self._hold_back = hold_back or HoldBack()
        # Whether `_published` had orphans pruned from what HoldBack admitted.
        self._pruned = False
        self._subscribers: set[Subscription] = set()
        self._task: asyncio.Task[None] | None = None
        self._resyncs = 0
        self.node_registry = NodeRegistry()

    # -- lifecycle ---------------------------------------------------------------

    async def start(self) -> None:
        """Read the whole config once (raises if the store is unreachable), then watch."""
        await self._reload()
        self._task = asyncio.create_task(self._run(), name="config-publisher")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        for sub in list(self._subscribers):
            sub.close()
        self._subscribers.clear()

    # -- what streams and the admin side use ---------------------------------------

    def subscribe(self) -> Subscription:
        """A subscription whose first update is the current full snapshot."""
        sub = Subscription(lambda: self._published, self._max_pending)
        self._subscribers.add(sub)
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        self._subscribers.discard(sub)
        sub.close()

    @property
    def snapshot(self) -> snapshot_pb2.Snapshot | None:
        """The snapshot currently given to data planes (None before start)."""
        return self._published

    @property
    def resyncs(self) -> int:
        """Full re-reads after the initial one (compaction, watch loss)."""
        return self._resyncs

    def nodes(self) -> list[NodeStatus]:
        return self.node_registry.snapshot()

    def held(self) -> list[HeldWorkspace]:
        """Workspaces published at their last good state because the stored one does
        not compile."""
        return self._hold_back.held()

    # -- internals -----------------------------------------------------------------

    async def _run(self) -> None:
        failures = 0
        reload = False
        while True:
            try:
                if reload:
                    await self._reload()
                    self._resyncs += 1
                    reload = False
                assert self._truth is not None
                start = self._truth.revision + 1
                # One watch on the whole prefix: a single stream keeps revisions in order
                # across workspaces/ and prices/.
                watch = self._store.watch_prefix(self._prefix, start)
                try:
                    async for batch in watch:
                        await self._apply_batch(batch)
                        failures = 0
                finally:
                    # Release the store's watch (an async generator is not closed by GC
                    # promptly, and would keep an etcd watch open).
                    aclose = getattr(watch, "aclose", None)
                    if aclose is not None:
                        with contextlib.suppress(Exception):
                            await aclose()
                raise ConnectionError("watch stream ended")
            except asyncio.CancelledError:
                raise
            except WatchCompacted as exc:
                # Nothing is wrong with the store: re-read right away.
                log.warning("config watch compacted (%s); resyncing from a full read", exc)
                reload = True
            except Exception as exc:
                task = asyncio.current_task()
                if task is not None and task.cancelling():
                    # A store's cleanup replaced our CancelledError; stopping wins.
                    raise asyncio.CancelledError from exc
                failures += 1
                delay = self._backoff(failures)
                # Retries come every second or so during a store outage (the store logs
                # the outage itself): warn about the first only.
                log.log(
                    logging.WARNING if failures == 1 else logging.DEBUG,
                    "config watch failed (%s: %s); full resync in %.2fs (attempt %d)",
                    type(exc).__name__,
                    exc,
                    delay,
                    failures,
                )
                reload = True
                await asyncio.sleep(delay)

    def _backoff(self, failures: int) -> float:
        base = min(self._retry_max, self._retry_initial * 2 ** (failures - 1))
        return base * (0.5 + self._rng() / 2)  # jitter: data planes' peers restart together

    async def _reload(self) -> None:
        # Two reads (the Store reads one prefix at a time). The snapshot is labelled
        # with the first read's revision R; the watch then replays every change after
        # R, which re-applies price changes the second read already saw: upserts and
        # deletes by name are idempotent, so the snapshot converges exactly.
        items, revision = await self._store.list_prefix(self._ws_prefix)
        price_items, _ = await self._store.list_prefix(self._prices_prefix)
        resources = []
        for item in (*items, *price_items):
            resource = await self._resource(item.key, item.value, item.mod_revision)
            if resource is not None:
                resources.append(resource)
        truth = build_snapshot(revision, resources)
        self._truth = truth
        self._admit(truth, None)
        published = self._published
        assert published is not None
        log.info(
            "config snapshot at revision %d: %d workspaces, %d keys, %d providers, "
            "%d routes, %d signing keys, %d prices",
            published.revision,
            len(published.workspaces),
            len(published.keys),
            len(published.providers),
            len(published.routes),
            len(published.signing_keys),
            len(published.prices),
        )
        for sub in self._subscribers:
            sub.request_full()

    async def _apply_batch(self, batch: ChangeBatch) -> None:
        assert self._truth is not None
        changes = []
        for change in batch.changes:
            name = strip_prefix(change.key, self._prefix)
            if parse_name(name) is None:
                continue  # not a resource the data plane needs
            if change.value is None:
                changes.append(make_change(name, None))
                continue
            resource = await self._resource(change.key, change.value, change.mod_revision)
            # An undecodable value removes the resource rather than keeping a stale one.
            changes.append(make_change(name, resource))
        if not changes:
            return
        self._truth = apply_delta(
            self._truth, make_delta(self._truth.revision, batch.revision, changes)
        )
        delta = self._admit(self._truth, {workspace_of(c.name) for c in changes})
        if delta is None:
            return  # e.g. the change was to a held-back workspace: nothing to send
        for sub in self._subscribers:
            sub.push_delta(delta)

    def _admit(
        self, truth: snapshot_pb2.Snapshot, workspaces: Iterable[str] | None
    ) -> snapshot_pb2.SnapshotDelta | None:
        """Compile `workspaces` of `truth` (None: all) again and update what is published.
        Returns the delta from what was published before; None if nothing changed (or
        nothing was published yet)."""
        before = {h.workspace: h.error for h in self._hold_back.held()}
        admitted, changes = self._hold_back.admit(truth, workspaces)
        after = self._hold_back.held()
        for held in after:
            if before.get(held.workspace) != held.error:
                log.error(
                    "holding back %s (%s): revision %d does not compile: %s",
                    held.workspace,
                    f"at revision {held.held_revision}" if held.held_revision else "left out",
                    held.failed_revision,
                    held.error,
                )
        for workspace in before.keys() - {h.workspace for h in after}:
            log.info("%s is no longer held back (revision %d)", workspace, truth.revision)
        problems = check_consistency(admitted)
        if problems:
            self._log_inconsistent(truth.revision, problems)
        published = prune_orphans(admitted) if problems else admitted
        previous = self._published
        was_pruned, self._pruned = self._pruned, bool(problems)
        if previous is not None and (problems or was_pruned):
            # `changes` lead from the previous admitted snapshot, which is not what
            # subscribers hold when either side was pruned.
            changes = diff(previous, published)
        if previous is not None and not changes:
            return None
        self._published = published
        if previous is None:
            return None
        return make_delta(previous.revision, published.revision, changes)

    async def _resource(self, key: str, value: bytes, mod_revision: int) -> Message | None:
        return await self._loader.load(key, value, mod_revision, self._store.get)

    @staticmethod
    def _log_inconsistent(revision: int, problems: list[str]) -> None:
        log.warning(
            "config at revision %d is inconsistent (%d problems, first: %s); "
            "publishing it without the orphaned resources",
            revision,
            len(problems),
            problems[0],
        )
