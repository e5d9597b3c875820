"""EtcdStore: the Store on etcd v3 via `aetcd`. The only module that imports aetcd.

Writes go through etcd transactions (compare on mod/version revisions) so
concurrent writers cannot clobber each other. The watch talks to the raw Watch
stub because aetcd's helper hands out single events and hides the response
boundaries we need to group a revision's events into one ChangeBatch.

Every call is bounded (`timeout`), so a dead or frozen etcd fails admin calls fast
with StoreUnavailable; large reads are paged so each page fits that bound. aetcd
only builds the channel, with our reconnect and keepalive options; calls go to the
stubs directly, so every error passes through one mapping (`_wrap`). How calls go
is reported to a StoreHealth, which decides what to log (once per episode) and what
the metrics show.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from typing import Any, TypeVar

import aetcd
from aetcd import rpc
from aetcd.utils import prefix_range_end

from controlplane.store.base import (
    STORE_MESSAGE_PREFIX,
    Change,
    ChangeBatch,
    Item,
    RevisionConflict,
    StoreError,
    StoreOutOfSpace,
    StoreUnavailable,
    WatchCompacted,
)
from controlplane.store.endpoint import parse_endpoint
from controlplane.store.health import NOSPACE, AlarmChange, StoreHealth
from controlplane.store.txn import (
    Absent,
    AtRevision,
    Condition,
    Delete,
    Op,
    Present,
    Put,
)

log = logging.getLogger(__name__)

R = TypeVar("R")

# What an operator can do about NOSPACE; in the error callers get and in the log.
OUT_OF_SPACE_ADVICE = (
    "free space with `etcdctl compact <revision>` and `etcdctl defrag`, then "
    "`etcdctl alarm disarm`; or restart etcd with a larger --quota-backend-bytes"
)
OUT_OF_SPACE = (
    f"{STORE_MESSAGE_PREFIX} (etcd) is out of space: its NOSPACE alarm is raised and it refuses "
    f"writes (reads still work); {OUT_OF_SPACE_ADVICE}"
)
# etcd's error for a write over --quota-backend-bytes, and for any write while NOSPACE is up.
_SPACE_EXCEEDED = "database space exceeded"
# No answer from etcd (as opposed to an answer that is an error).
_NO_ANSWER = {rpc.StatusCode.UNAVAILABLE, rpc.StatusCode.DEADLINE_EXCEEDED}

MAX_RECEIVE_BYTES = 512 * 1024 * 1024
# Keys per Range call of a prefix read: with resource values of ~200 B, a page is a few
# hundred KB, well within the per-call deadline even for 100k-key workspaces.
PAGE_SIZE = 2000
# A paged read is pinned to the revision of its first page; if etcd compacts that
# revision meanwhile, the read starts over (a few times at most).
_LIST_ATTEMPTS = 3


def channel_options(retry_max_s: float) -> dict[str, int]:
    """gRPC options of the etcd channel."""
    return {
        # One watch response carries all events of a revision: a big transaction (a bulk
        # import of keys) can exceed gRPC's default 4 MiB receive limit.
        "grpc.max_receive_message_length": MAX_RECEIVE_BYTES,
        # gRPC's default reconnect backoff grows from 1 s to 120 s: after an outage the
        # control plane could keep failing for a minute or more after etcd is back.
        "grpc.initial_reconnect_backoff_ms": 100,
        "grpc.max_reconnect_backoff_ms": int(retry_max_s * 1000),
        # (gRPC core uses this one as the least time it gives a connection attempt.)
        "grpc.min_reconnect_backoff_ms": 1000,
        # A watch on an etcd that died without closing the connection (host lost,
        # network partition) never errors by itself; pings find out. etcd refuses pings
        # more often than its --grpc-keepalive-min-time (5 s) and pings on a connection
        # without calls, hence 10 s and only with calls active (the publisher's watch is).
        "grpc.keepalive_time_ms": 10_000,
        "grpc.keepalive_timeout_ms": 5_000,
        # gRPC 1.85 times a keepalive ping out after this one, not keepalive_timeout_ms.
        "grpc.http2.ping_timeout_ms": 5_000,
        "grpc.http2.max_pings_without_data": 0,
    }


def _wrap(exc: BaseException, timeout_s: float, *, write: bool = False) -> StoreError:
    if isinstance(exc, StoreError):
        return exc
    if isinstance(exc, rpc.AioRpcError):
        code, details = exc.code(), exc.details() or ""
        if code == rpc.StatusCode.DEADLINE_EXCEEDED:
            # The request may be sitting in a frozen etcd's socket buffer: on a write,
            # say that it may yet be applied.
            maybe = "; the write may still be applied" if write else ""
            return StoreUnavailable(
                f"{STORE_MESSAGE_PREFIX} (etcd) did not answer within {timeout_s:g}s{maybe}"
            )
        if code in (rpc.StatusCode.UNAVAILABLE, rpc.StatusCode.CANCELLED):
            return StoreUnavailable(f"{STORE_MESSAGE_PREFIX} (etcd) is unreachable")
        if _SPACE_EXCEEDED in details:
            return StoreOutOfSpace(OUT_OF_SPACE)
        if code == rpc.StatusCode.OUT_OF_RANGE and "compacted" in details:
            return WatchCompacted(0)  # a read at a revision etcd no longer keeps
        if code == rpc.StatusCode.RESOURCE_EXHAUSTED:  # "etcdserver: too many requests"
            return StoreUnavailable(f"{STORE_MESSAGE_PREFIX} (etcd) is overloaded: {details}")
        return StoreError(f"etcd error {code.name}: {details}")
    if isinstance(exc, aetcd.ConnectionFailedError | aetcd.ConnectionTimeoutError):
        return StoreUnavailable(f"{STORE_MESSAGE_PREFIX} (etcd) is unreachable")
    return StoreError(f"etcd error: {exc}")


class _ReadCompacted(Exception):
    """The revision a paged read is pinned to was compacted: start over."""


class EtcdStore:
    def __init__(
        self,
        endpoint: str,
        timeout: float = 1.5,
        *,
        retry_max: float = 1.0,
        page_size: int = PAGE_SIZE,
        health: StoreHealth | None = None,
    ) -> None:
        host, port = parse_endpoint(endpoint)
        self.endpoint = endpoint
        self.health = health or StoreHealth()
        self._client = aetcd.Client(host=host, port=port, options=channel_options(retry_max))
        self._timeout = timeout
        self._page_size = page_size
        self._health_task: asyncio.Task[None] | None = None

    def __repr__(self) -> str:
        return f"EtcdStore({self.endpoint!r})"

    # -- calls ---------------------------------------------------------------------------

    async def _rpc(
        self, call: Callable[[dict[str, Any]], Awaitable[R]], *, write: bool = False
    ) -> R:
        """One bounded unary call: `call(kwargs)` once connected; errors mapped, health noted."""
        try:
            await self._client.connect()
            response = await call({"timeout": self._timeout, "metadata": self._client.metadata})
        except Exception as exc:
            raise self._failed(exc, write=write) from exc
        self._answered()
        return response

    def _failed(self, exc: BaseException, *, write: bool = False) -> StoreError:
        error = _wrap(exc, self._timeout, write=write)
        if isinstance(exc, rpc.AioRpcError) and exc.code() in _NO_ANSWER:
            if self.health.unanswered():
                log.warning(
                    "etcd at %s is not answering (%s); admin calls fail with UNAVAILABLE, "
                    "data planes keep serving their last config",
                    self.endpoint,
                    exc.code().name,
                )
        elif isinstance(exc, rpc.AioRpcError) and exc.code() != rpc.StatusCode.CANCELLED:
            self._answered()  # with an error, but etcd is there
        if isinstance(error, StoreOutOfSpace):
            self._note_alarms(self.health.raise_alarm(NOSPACE))
        return error

    def _answered(self) -> None:
        outage = self.health.answered()
        if outage is not None:
            log.info("etcd at %s answers again, after %.1fs", self.endpoint, outage)

    def _note_alarms(self, change: AlarmChange) -> None:
        for alarm in sorted(change.raised):
            if alarm == NOSPACE:
                log.error(
                    "etcd is out of space (NOSPACE alarm): writes fail with "
                    "RESOURCE_EXHAUSTED until an operator acts: %s",
                    OUT_OF_SPACE_ADVICE,
                )
            else:
                log.error("etcd raised its %s alarm; see etcd's own logs", alarm)
        for alarm, lasted in change.cleared:
            if alarm == NOSPACE:
                log.warning("etcd has space again; writes accepted after %.1fs", lasted)
            else:
                log.warning("etcd's %s alarm cleared after %.1fs", alarm, lasted)

    # -- Store -----------------------------------------------------------------------------

    async def get(self, key: str) -> Item | None:
        request = rpc.RangeRequest(key=key.encode())
        response = await self._rpc(lambda kw: self._client.kvstub.Range(request, **kw))
        if not response.kvs:
            return None
        kv = response.kvs[0]
        return Item(key, kv.value, kv.mod_revision)

    async def list_prefix(self, prefix: str) -> tuple[list[Item], int]:
        for _ in range(_LIST_ATTEMPTS):
            try:
                return await self._read_pages(prefix.encode())
            except _ReadCompacted:
                continue
        raise StoreUnavailable(f"{STORE_MESSAGE_PREFIX} (etcd) kept compacting away a paged read")

    async def _read_pages(self, prefix: bytes) -> tuple[list[Item], int]:
        """All of `prefix`, a page per call, every page at the first page's revision."""
        end = prefix_range_end(prefix)
        items: list[Item] = []
        start, revision = prefix, 0
        while True:
            # No sort order: etcd returns keys in key order, and an explicit one would
            # make it read the whole range for every page before cutting it.
            request = rpc.RangeRequest(
                key=start, range_end=end, limit=self._page_size, revision=revision
            )
            try:
                response = await self._rpc(lambda kw, r=request: self._client.kvstub.Range(r, **kw))
            except WatchCompacted:
                raise _ReadCompacted from None
            revision = revision or response.header.revision
            items.extend(
                Item(kv.key.decode(), kv.value, kv.mod_revision, kv.create_revision)
                for kv in response.kvs
            )
            if not response.more:
                return items, revision
            start = response.kvs[-1].key + b"\x00"

    async def ping(self) -> int:
        """The current revision; raises StoreUnavailable when etcd cannot be reached."""
        _, revision = await self.list_prefix("\x00ping")
        return revision

    async def create(self, key: str, value: bytes) -> int:
        return await self.commit([Absent(key)], [Put(key, value)])

    async def update(self, key: str, value: bytes, expected_revision: int) -> int:
        cond = AtRevision(key, expected_revision) if expected_revision else Present(key)
        try:
            return await self.commit([cond], [Put(key, value)])
        except RevisionConflict:
            if await self.get(key) is None:
                raise KeyError(key) from None
            raise

    async def put(self, key: str, value: bytes) -> int:
        return await self.commit([], [Put(key, value)])

    async def delete(self, key: str, expected_revision: int = 0) -> int:
        cond = AtRevision(key, expected_revision) if expected_revision else Present(key)
        try:
            return await self.commit([cond], [Delete(key)])
        except RevisionConflict:
            if await self.get(key) is None:
                raise KeyError(key) from None
            raise

    async def commit(self, conditions: Sequence[Condition], ops: Sequence[Op]) -> int:
        request = rpc.TxnRequest(
            compare=[_compare(c) for c in conditions],
            success=[_request_op(op) for op in ops],
        )
        response = await self._rpc(lambda kw: self._client.kvstub.Txn(request, **kw), write=True)
        if any(isinstance(op, Put) for op in ops):
            # etcd takes no put while out of space (a delete-only txn does not tell).
            self._note_alarms(self.health.clear_alarm(NOSPACE))
        if not response.succeeded:
            raise RevisionConflict("transaction condition failed")
        return response.header.revision

    # -- leases (LeaseStore) ------------------------------------------------------------

    async def grant_lease(self, ttl_s: int) -> int:
        request = rpc.LeaseGrantRequest(TTL=ttl_s)
        response = await self._rpc(lambda kw: self._client.leasestub.LeaseGrant(request, **kw))
        return int(response.ID)

    async def keep_alive(self, lease_id: int) -> int:
        async def renew(kw: dict[str, Any]) -> int:
            # One request on etcd's keep-alive stream, one answer: bounded like any call.
            stream = self._client.leasestub.LeaseKeepAlive(
                iter([rpc.LeaseKeepAliveRequest(ID=lease_id)]), **kw
            )
            async for response in stream:
                return int(response.TTL)
            return 0

        return await self._rpc(renew)

    async def revoke_lease(self, lease_id: int) -> None:
        request = rpc.LeaseRevokeRequest(ID=lease_id)
        try:
            await self._rpc(lambda kw: self._client.leasestub.LeaseRevoke(request, **kw))
        except StoreError as exc:
            if "lease not found" not in str(exc):
                raise

    async def put_with_lease(self, key: str, value: bytes, lease_id: int) -> int:
        request = rpc.PutRequest(key=key.encode(), value=value, lease=lease_id)
        response = await self._rpc(lambda kw: self._client.kvstub.Put(request, **kw), write=True)
        return int(response.header.revision)

    async def compact(self, revision: int) -> None:
        request = rpc.CompactionRequest(revision=revision, physical=True)
        await self._rpc(lambda kw: self._client.kvstub.Compact(request, **kw))

    async def watch_prefix(self, prefix: str, start_revision: int) -> AsyncIterator[ChangeBatch]:
        key = prefix.encode()
        create = rpc.WatchCreateRequest(key=key, range_end=prefix_range_end(key))
        if start_revision > 0:
            create.start_revision = start_revision
        done = asyncio.Event()

        async def requests() -> AsyncIterator[rpc.WatchRequest]:
            yield rpc.WatchRequest(create_request=create)
            # Keep the request side open: a half-closed stream may end the watch.
            await done.wait()

        try:
            await self._client.connect()
            stub = rpc.WatchStub(self._client.channel)
            call = stub.Watch(requests(), metadata=self._client.metadata)
        except Exception as exc:
            raise self._failed(exc) from exc
        try:
            async for response in call:
                self._answered()
                if response.compact_revision:
                    raise WatchCompacted(response.compact_revision)
                if response.canceled:
                    raise StoreUnavailable(f"etcd cancelled the watch: {response.cancel_reason}")
                for batch in _group_by_revision(response.events):
                    yield batch
            raise StoreUnavailable("etcd watch stream ended")
        except rpc.AioRpcError as exc:
            raise self._failed(exc) from exc
        finally:
            done.set()
            call.cancel()

    # -- health ------------------------------------------------------------------------------

    async def check_health(self) -> None:
        """Read etcd's alarms and database size into `health` (raises StoreError)."""
        alarms = await self._rpc(
            lambda kw: self._client.maintenancestub.Alarm(
                rpc.AlarmRequest(action=rpc.AlarmRequest.GET), **kw
            )
        )
        status = await self._rpc(
            lambda kw: self._client.maintenancestub.Status(rpc.StatusRequest(), **kw)
        )
        self.health.db_size_bytes = status.dbSize
        self._note_alarms(self.health.set_alarms(_alarm_names(alarms.alarms)))

    def start_health_checks(self, interval_s: float) -> None:
        """Check health every `interval_s` until close(): alarms show without a failed write."""

        async def loop() -> None:
            while True:
                # A failure is already noted (and logged once) by the call itself.
                with contextlib.suppress(StoreError):
                    await self.check_health()
                await asyncio.sleep(interval_s)

        self._health_task = asyncio.create_task(loop(), name="etcd-health")

    async def close(self) -> None:
        if self._health_task is not None:
            self._health_task.cancel()
            await asyncio.gather(self._health_task, return_exceptions=True)
            self._health_task = None
        await self._client.close()


def _alarm_names(alarms: Iterable[rpc.AlarmMember]) -> set[str]:
    return {rpc.AlarmType.Name(a.alarm) for a in alarms}


def _group_by_revision(events: Sequence[rpc.Event]) -> list[ChangeBatch]:
    # etcd sends all events of one revision in one response (we never ask for
    # fragments), possibly several revisions per response, in order.
    batches: list[ChangeBatch] = []
    current: list[Change] = []
    revision = 0
    for event in events:
        kv = event.kv
        if current and kv.mod_revision != revision:
            batches.append(ChangeBatch(revision, tuple(current)))
            current = []
        revision = kv.mod_revision
        value = None if event.type == rpc.Event.EventType.DELETE else kv.value
        current.append(Change(kv.key.decode(), value, kv.mod_revision))
    if current:
        batches.append(ChangeBatch(revision, tuple(current)))
    return batches


def _compare(cond: Condition) -> rpc.Compare:
    if isinstance(cond, (Absent, Present)):
        # A key that does not exist has version 0.
        return rpc.Compare(
            key=cond.key.encode(),
            target=rpc.Compare.VERSION,
            result=rpc.Compare.EQUAL if isinstance(cond, Absent) else rpc.Compare.GREATER,
            version=0,
        )
    if isinstance(cond, AtRevision):
        return rpc.Compare(
            key=cond.key.encode(),
            target=rpc.Compare.MOD,
            result=rpc.Compare.EQUAL,
            mod_revision=cond.mod_revision,
        )
    # A range compare holds for every key in the range; on an empty range etcd
    # compares against a zero key, so "version == 0" means "no key has this prefix".
    key = cond.prefix.encode()
    return rpc.Compare(
        key=key,
        range_end=prefix_range_end(key),
        target=rpc.Compare.VERSION,
        result=rpc.Compare.EQUAL,
        version=0,
    )


def _request_op(op: Op) -> rpc.RequestOp:
    if isinstance(op, Put):
        return rpc.RequestOp(request_put=rpc.PutRequest(key=op.key.encode(), value=op.value))
    assert isinstance(op, Delete)
    return rpc.RequestOp(request_delete_range=rpc.DeleteRangeRequest(key=op.key.encode()))
