"""EtcdStore: the Store on etcd v3 via `aetcd`. The only module that imports aetcd.

Writes go through etcd transactions (compare on mod/version revisions) so
concurrent writers cannot clobber each other. The watch talks to the raw Watch
stub because aetcd's helper hands out single events and hides the response
boundaries we need to group a revision's events into one ChangeBatch.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence

import aetcd
from aetcd import rpc
from aetcd.utils import prefix_range_end

from controlplane.store.base import (
    Change,
    ChangeBatch,
    Item,
    RevisionConflict,
    StoreError,
    StoreUnavailable,
    WatchCompacted,
)
from controlplane.store.endpoint import parse_endpoint
from controlplane.store.txn import (
    Absent,
    AtRevision,
    Condition,
    Delete,
    Op,
    Present,
    Put,
)

_UNAVAILABLE_CODES = {
    rpc.StatusCode.UNAVAILABLE,
    rpc.StatusCode.DEADLINE_EXCEEDED,
    rpc.StatusCode.CANCELLED,
}


def _wrap(exc: BaseException) -> StoreError:
    if isinstance(exc, StoreError):
        return exc
    if isinstance(exc, rpc.AioRpcError):
        if exc.code() in _UNAVAILABLE_CODES:
            return StoreUnavailable(f"etcd unavailable: {exc.code().name}")
        return StoreError(f"etcd error {exc.code().name}: {exc.details()}")
    if isinstance(exc, aetcd.ConnectionFailedError | aetcd.ConnectionTimeoutError):
        return StoreUnavailable(f"etcd unavailable: {exc}")
    if isinstance(exc, aetcd.RevisionCompactedError):
        return WatchCompacted(exc.compacted_revision)
    return StoreError(f"etcd error: {exc}")


MAX_RECEIVE_BYTES = 512 * 1024 * 1024


class EtcdStore:
    def __init__(self, endpoint: str, timeout: float = 5.0) -> None:
        host, port = parse_endpoint(endpoint)
        self.endpoint = endpoint
        # Every unary call is bounded so an unreachable etcd becomes StoreUnavailable.
        self._client = aetcd.Client(
            host=host,
            port=port,
            timeout=timeout,
            # A full read of a large workspace (100k keys ≈ 21 MB) exceeds gRPC's
            # default 4 MiB receive limit; startup and resync must still work.
            options={"grpc.max_receive_message_length": MAX_RECEIVE_BYTES},
        )
        self._timeout = timeout

    def __repr__(self) -> str:
        return f"EtcdStore({self.endpoint!r})"

    async def _kv(self) -> rpc.KVStub:
        await self._client.connect()
        return self._client.kvstub

    async def get(self, key: str) -> Item | None:
        try:
            result = await self._client.get(key.encode())
        except Exception as exc:
            raise _wrap(exc) from exc
        if result is None:
            return None
        return Item(key, result.value, result.mod_revision)

    async def list_prefix(self, prefix: str) -> tuple[list[Item], int]:
        try:
            result = await self._client.get_prefix(prefix.encode(), sort_order="ascend")
        except Exception as exc:
            raise _wrap(exc) from exc
        items = [Item(kv.key.decode(), kv.value, kv.mod_revision) for kv in result.kvs]
        return items, result.header.revision

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
        try:
            kv = await self._kv()
            response = await kv.Txn(request, timeout=self._timeout, metadata=self._client.metadata)
        except Exception as exc:
            raise _wrap(exc) from exc
        if not response.succeeded:
            raise RevisionConflict("transaction condition failed")
        return response.header.revision

    async def compact(self, revision: int) -> None:
        try:
            await self._client.compact(revision, physical=True)
        except Exception as exc:
            raise _wrap(exc) from exc

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
            raise _wrap(exc) from exc
        try:
            async for response in call:
                if response.compact_revision:
                    raise WatchCompacted(response.compact_revision)
                if response.canceled:
                    raise StoreUnavailable(f"etcd cancelled the watch: {response.cancel_reason}")
                for batch in _group_by_revision(response.events):
                    yield batch
            raise StoreUnavailable("etcd watch stream ended")
        except rpc.AioRpcError as exc:
            raise _wrap(exc) from exc
        finally:
            done.set()
            call.cancel()

    async def close(self) -> None:
        await self._client.close()


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
