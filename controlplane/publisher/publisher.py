"""ConfigPublisher: store watch → versioned snapshot → fan-out to data plane streams.

Thin I/O runner around the pure logic in `snapshot.py` and `decode.py`:
  full read (`workspaces/` at revision R, then `prices/`) → Snapshot(R)
  watch the whole prefix from R+1, one ChangeBatch → one SnapshotDelta → apply → publish
  (keys outside the resource shapes — secrets/, requests/, index/, audit/ — are skipped)
  watch compacted / lost → re-read everything → full Snapshot to every subscriber
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Callable
from typing import Protocol

from google.protobuf.message import Message

from controlplane.publisher.decode import (
    UndecodableResource,
    decode_resource,
    provider_material,
    signing_key_material,
    strip_prefix,
)
from controlplane.publisher.fanout import Subscription
from controlplane.publisher.nodes import NodeRegistry, NodeStatus
from controlplane.store.base import ChangeBatch, Store, WatchCompacted
from oggy.contract.snapshot import (
    apply_delta,
    build_snapshot,
    check_consistency,
    make_change,
    make_delta,
    parse_name,
    prune_orphans,
)
from oggy.v1 import provider_pb2, signing_key_pb2, snapshot_pb2

log = logging.getLogger(__name__)


class SecretCipher(Protocol):
    """What the publisher needs of controlplane.secrets.EnvelopeCipher."""

    def decrypt(self, blob: bytes) -> bytes: ...


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
    ) -> None:
        self._store = store
        self._cipher = cipher
        self._prefix = prefix
        self._ws_prefix = f"{prefix}workspaces/"
        self._prices_prefix = f"{prefix}prices/"
        self._secrets_prefix = f"{prefix}secrets/"
        self._max_pending = max_pending
        self._retry_initial = retry_initial
        self._retry_max = retry_max
        self._rng = rng
        # `_truth` mirrors the store; `_published` is what subscribers are given. They
        # differ only while the store is inconsistent (orphans are pruned from the latter).
        self._truth: snapshot_pb2.Snapshot | None = None
        self._published: snapshot_pb2.Snapshot | None = None
        self._diverged = False
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
        problems = check_consistency(truth)
        self._diverged = bool(problems)
        if problems:
            self._log_inconsistent(truth.revision, problems)
        log.info(
            "config snapshot at revision %d: %d workspaces, %d keys, %d providers, "
            "%d routes, %d signing keys, %d prices",
            truth.revision,
            len(truth.workspaces),
            len(truth.keys),
            len(truth.providers),
            len(truth.routes),
            len(truth.signing_keys),
            len(truth.prices),
        )
        self._publish_full(prune_orphans(truth) if problems else truth)

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
        delta = make_delta(self._truth.revision, batch.revision, changes)
        truth = apply_delta(self._truth, delta)
        self._truth = truth
        problems = check_consistency(truth)
        if problems:
            self._log_inconsistent(truth.revision, problems)
            self._diverged = True
            self._publish_full(prune_orphans(truth))
        elif self._diverged:
            # Subscribers hold a pruned view; a delta from the truth would not fit it.
            self._diverged = False
            self._publish_full(truth)
        else:
            self._published = truth
            for sub in self._subscribers:
                sub.push_delta(delta)

    def _publish_full(self, snapshot: snapshot_pb2.Snapshot) -> None:
        self._published = snapshot
        for sub in self._subscribers:
            sub.request_full()

    async def _resource(self, key: str, value: bytes, mod_revision: int) -> Message | None:
        name = strip_prefix(key, self._prefix)
        try:
            resource = decode_resource(name, value, mod_revision)
        except UndecodableResource as exc:
            log.warning("skipping undecodable config value: %s", exc)
            return None
        if isinstance(resource, provider_pb2.ProviderCredential):
            api_key = await self._secret(name, "provider")
            return provider_material(resource, api_key.decode() if api_key else "")
        if isinstance(resource, signing_key_pb2.SigningKey):
            if resource.algorithm != signing_key_pb2.SigningKey.ALGORITHM_HS256:
                return signing_key_material(resource, b"")
            secret = await self._secret(name, "signing key")
            if not secret:
                # Fail closed: an HS256 key without its secret must not reach a data plane.
                log.warning("leaving signing key %s out: its secret is unavailable", name)
                return None
            return signing_key_material(resource, secret)
        return resource

    async def _secret(self, name: str, what: str) -> bytes | None:
        """The decrypted secret of `name`, or None (logged) when missing or undecryptable."""
        item = await self._store.get(self._secrets_prefix + name)
        if item is None:
            log.warning("%s %s has no stored secret", what, name)
            return None
        try:
            return self._cipher.decrypt(item.value)
        except Exception as exc:
            # Only the exception type: a message could echo key material.
            log.error("cannot decrypt the secret of %s %s (%s)", what, name, type(exc).__name__)
            return None

    @staticmethod
    def _log_inconsistent(revision: int, problems: list[str]) -> None:
        log.warning(
            "config at revision %d is inconsistent (%d problems, first: %s); "
            "publishing it without the orphaned resources",
            revision,
            len(problems),
            problems[0],
        )
