"""EtcdStore on a real etcd: paged prefix reads at one revision, and an unreachable etcd
failing calls fast, logged once per outage."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from typing import Any

import pytest

from controlplane.store.base import StoreUnavailable
from controlplane.store.etcd import EtcdStore
from tests.support.etcd import etcd_endpoint_fixture, unique_prefix  # noqa: F401
from tests.support.processes import free_port


@pytest.fixture
async def store(etcd_endpoint: str) -> AsyncIterator[EtcdStore]:
    s = EtcdStore(etcd_endpoint, page_size=3)
    yield s
    await s.close()


class WritesBetweenPages:
    """Wraps the KV stub: after the first page of a read, a writer changes the prefix."""

    def __init__(self, kv: Any, write: Any) -> None:
        self._kv = kv
        self._write = write
        self.pages = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self._kv, name)

    async def Range(self, request: Any, **kwargs: Any) -> Any:
        response = await self._kv.Range(request, **kwargs)
        self.pages += 1
        if self.pages == 1:
            await self._write()
        return response


async def test_a_prefix_is_read_in_pages_as_of_its_first_page(store: EtcdStore) -> None:
    prefix = unique_prefix()
    names = [f"{prefix}k{i:02d}" for i in range(10)]
    for name in names:
        await store.put(name, name.encode())
    await store.put(unique_prefix(), b"another prefix")

    async def write() -> None:
        await store.put(f"{prefix}k99", b"later")
        await store.delete(f"{prefix}k09")

    await store.ping()  # connected, so the stub exists
    kv = store._client.kvstub
    store._client.kvstub = spy = WritesBetweenPages(kv, write)
    try:
        items, revision = await store.list_prefix(prefix)
    finally:
        store._client.kvstub = kv
    assert spy.pages == 4  # 3 + 3 + 3 + 1
    # The state of the first page's revision: k09 still there, k99 not yet.
    assert [i.key for i in items] == names
    assert [i.value for i in items] == [n.encode() for n in names]
    assert revision < (await store.list_prefix(prefix))[1]


async def test_unreachable_etcd_fails_fast_and_is_logged_once(caplog: Any) -> None:
    store = EtcdStore(f"http://127.0.0.1:{free_port()}", timeout=0.5)
    try:
        with caplog.at_level(logging.INFO, logger="controlplane.store.etcd"):
            for _ in range(3):
                with pytest.raises(StoreUnavailable, match="etcd"):
                    await store.get("/x")
        assert not store.health.reachable
        assert sum("not answering" in r.getMessage() for r in caplog.records) == 1
    finally:
        await store.close()
