"""One suite, every Store: InMemoryStore and EtcdStore (against a real etcd)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from controlplane.store.base import ChangeBatch, RevisionConflict, WatchCompacted
from controlplane.store.etcd import EtcdStore
from controlplane.store.memory import InMemoryStore
from controlplane.store.txn import Absent, AtRevision, Delete, PrefixEmpty, Present, Put, TxnStore
from tests.support.etcd import etcd_endpoint_fixture, unique_prefix  # noqa: F401

WAIT_S = 10.0


@pytest.fixture(params=["memory", "etcd"])
async def store(request: pytest.FixtureRequest) -> AsyncIterator[TxnStore]:
    if request.param == "memory":
        s: TxnStore = InMemoryStore()
    else:
        s = EtcdStore(request.getfixturevalue("etcd_endpoint"))
    try:
        yield s
    finally:
        await s.close()


@pytest.fixture
def p() -> str:
    return unique_prefix()


async def next_batch(it: AsyncIterator[ChangeBatch]) -> ChangeBatch:
    return await asyncio.wait_for(anext(it), WAIT_S)


async def test_get_missing_is_none(store: TxnStore, p: str) -> None:
    assert await store.get(p + "nope") is None


async def test_create_then_get_and_duplicate_create_conflicts(store: TxnStore, p: str) -> None:
    rev = await store.create(p + "a", b"1")
    item = await store.get(p + "a")
    assert item is not None
    assert (item.key, item.value, item.mod_revision) == (p + "a", b"1", rev)
    with pytest.raises(RevisionConflict):
        await store.create(p + "a", b"2")
    assert (await store.get(p + "a")).value == b"1"  # type: ignore[union-attr]


async def test_revisions_increase_per_write(store: TxnStore, p: str) -> None:
    r1 = await store.put(p + "a", b"1")
    r2 = await store.put(p + "b", b"2")
    r3 = await store.put(p + "a", b"3")
    assert r1 < r2 < r3


async def test_update_is_compare_and_set(store: TxnStore, p: str) -> None:
    rev = await store.create(p + "a", b"1")
    rev2 = await store.update(p + "a", b"2", rev)
    assert rev2 > rev
    with pytest.raises(RevisionConflict):
        await store.update(p + "a", b"3", rev)  # stale
    assert (await store.get(p + "a")).value == b"2"  # type: ignore[union-attr]
    rev3 = await store.update(p + "a", b"4", 0)  # any existing revision
    assert rev3 > rev2
    with pytest.raises(KeyError):
        await store.update(p + "missing", b"x", 0)
    with pytest.raises(KeyError):
        await store.update(p + "missing", b"x", rev)


async def test_delete(store: TxnStore, p: str) -> None:
    with pytest.raises(KeyError):
        await store.delete(p + "a")
    rev = await store.create(p + "a", b"1")
    await store.put(p + "a", b"2")
    with pytest.raises(RevisionConflict):
        await store.delete(p + "a", rev)
    item = await store.get(p + "a")
    assert item is not None
    await store.delete(p + "a", item.mod_revision)
    assert await store.get(p + "a") is None
    await store.put(p + "b", b"1")
    await store.delete(p + "b")
    assert await store.get(p + "b") is None


async def test_list_prefix_in_key_order_with_read_revision(store: TxnStore, p: str) -> None:
    await store.put(p + "x/b", b"2")
    await store.put(p + "x/a", b"1")
    last = await store.put(p + "x/c", b"3")
    await store.put(p + "y/a", b"other")
    items, revision = await store.list_prefix(p + "x/")
    assert [(i.key, i.value) for i in items] == [
        (p + "x/a", b"1"),
        (p + "x/b", b"2"),
        (p + "x/c", b"3"),
    ]
    assert revision >= last + 1
    assert (await store.list_prefix(p + "z/"))[0] == []


async def test_commit_is_all_or_nothing(store: TxnStore, p: str) -> None:
    rev = await store.commit(
        [Absent(p + "a"), Absent(p + "b")], [Put(p + "a", b"1"), Put(p + "b", b"2")]
    )
    assert (await store.get(p + "a")).mod_revision == rev  # type: ignore[union-attr]
    assert (await store.get(p + "b")).mod_revision == rev  # type: ignore[union-attr]
    with pytest.raises(RevisionConflict):
        await store.commit([Absent(p + "c"), Absent(p + "a")], [Put(p + "c", b"3")])
    assert await store.get(p + "c") is None
    rev2 = await store.commit(
        [Present(p + "a"), AtRevision(p + "b", rev)], [Delete(p + "a"), Put(p + "b", b"22")]
    )
    assert rev2 == rev + 1
    assert await store.get(p + "a") is None
    with pytest.raises(RevisionConflict):
        await store.commit([AtRevision(p + "b", rev)], [Delete(p + "b")])
    with pytest.raises(RevisionConflict):
        await store.commit([Present(p + "a")], [Put(p + "z", b"")])


async def test_prefix_empty_condition(store: TxnStore, p: str) -> None:
    await store.commit([PrefixEmpty(p + "ws/a/")], [Put(p + "ws/a", b"w")])  # the parent itself
    await store.put(p + "ws/ab/keys/k", b"k")  # a sibling whose name extends "a"
    await store.commit([PrefixEmpty(p + "ws/a/")], [Put(p + "ok", b"")])
    await store.put(p + "ws/a/keys/k", b"k")
    with pytest.raises(RevisionConflict):
        await store.commit([PrefixEmpty(p + "ws/a/")], [Delete(p + "ws/a")])
    assert await store.get(p + "ws/a") is not None


async def test_watch_groups_one_revision_and_filters_prefix(store: TxnStore, p: str) -> None:
    await store.put(p + "w/seed", b"0")
    _, start = await store.list_prefix(p + "w/")
    it = aiter(store.watch_prefix(p + "w/", start + 1))
    try:
        rev1 = await store.commit(
            [], [Put(p + "w/a", b"1"), Put(p + "w/b", b"2"), Put(p + "o", b"x")]
        )
        await store.put(p + "other", b"ignored")
        rev2 = await store.delete(p + "w/a")
        b1 = await next_batch(it)
        assert b1.revision == rev1
        assert [(c.key, c.value, c.mod_revision) for c in b1.changes] == [
            (p + "w/a", b"1", rev1),
            (p + "w/b", b"2", rev1),
        ]
        b2 = await next_batch(it)
        assert b2.revision == rev2
        assert [(c.key, c.value) for c in b2.changes] == [(p + "w/a", None)]
    finally:
        await it.aclose()


async def test_watch_replays_history_from_start_revision(store: TxnStore, p: str) -> None:
    r1 = await store.put(p + "h/a", b"1")
    r2 = await store.put(p + "h/a", b"2")
    it = aiter(store.watch_prefix(p + "h/", r1))
    try:
        assert [
            (b.revision, b.changes[0].value) for b in [await next_batch(it), await next_batch(it)]
        ] == [
            (r1, b"1"),
            (r2, b"2"),
        ]
    finally:
        await it.aclose()


async def test_watch_from_compacted_revision_raises(store: TxnStore, p: str) -> None:
    r1 = await store.put(p + "c/a", b"1")
    await store.put(p + "c/a", b"2")
    r3 = await store.put(p + "c/a", b"3")
    await store.compact(r3)
    it = aiter(store.watch_prefix(p + "c/", r1))
    try:
        with pytest.raises(WatchCompacted) as info:
            await next_batch(it)
        assert info.value.compact_revision >= r3
    finally:
        await it.aclose()


async def test_concurrent_cas_writers_one_wins(store: TxnStore, p: str) -> None:
    rev = await store.create(p + "cas", b"0")
    results = await asyncio.gather(
        *(store.update(p + "cas", str(i).encode(), rev) for i in range(5)), return_exceptions=True
    )
    assert sum(not isinstance(r, BaseException) for r in results) == 1
    assert all(isinstance(r, RevisionConflict) for r in results if isinstance(r, BaseException))


async def test_a_read_larger_than_grpc_default_message_limit_works(store: TxnStore, p: str) -> None:
    # 100k gateway keys make a ~21 MB workspace read; gRPC's default cap is 4 MiB.
    value = b"x" * (1024 * 1024)
    for i in range(6):
        await store.put(f"{p}big/{i}", value)
    items, _ = await store.list_prefix(f"{p}big/")
    assert len(items) == 6 and all(item.value == value for item in items)
