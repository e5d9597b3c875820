"""Who allocates quota: leader election through etcd (protocol item 12).

The etcd election recipe, through the Store layer (etcd.py stays the only module that
imports the etcd client, and the in-memory store runs the same code in tests), rather
than etcd's v3election gRPC-gateway JSON API: that would be a second etcd client, with
its own endpoint, errors and health reporting beside EtcdStore's.

Recipe: grant a lease (TTL a few seconds) and keep it alive; put
`{prefix}election/quota/{lease id}` = our advertised gRPC address with that lease; the
candidate with the lowest create revision leads. Each candidate watches the election
prefix — not only its predecessor, as the pure recipe does — because followers must
know the leader's address at all times to redirect data planes; with a handful of
control planes the extra wake-ups cost nothing.

Losing etcd ends leadership at once: `is_leader` is true only until the time the last
successful keep-alive was sent plus the lease's TTL (minus a margin), the latest etcd
could still consider us the owner. So when etcd is unreachable the allocator stops
before another candidate can take over, and data planes fall back to their safe share.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable

from controlplane.store.base import LeaseStore, StoreError

log = logging.getLogger(__name__)

DEFAULT_ELECTION_TTL_S = 5
# Of the lease's TTL: renew this often, and stop leading this long before it could lapse.
_RENEW_FRACTION = 1 / 3
_MARGIN_S = 0.5


class Election:
    def __init__(
        self,
        store: LeaseStore,
        prefix: str,
        address: str,
        *,
        ttl_s: int = DEFAULT_ELECTION_TTL_S,
        clock: Callable[[], float] = time.monotonic,
        on_change: Callable[[bool], None] | None = None,
    ) -> None:
        self._store = store
        self._prefix = f"{prefix}election/quota/"
        self._address = address
        self._ttl_s = ttl_s
        self._clock = clock
        self._on_change = on_change
        self._lease = 0
        self._leading = False
        self._valid_until = 0.0
        self.leader_address = ""
        self._task: asyncio.Task[None] | None = None

    @property
    def is_leader(self) -> bool:
        return self._leading and self._clock() < self._valid_until

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="quota-election")

    async def stop(self) -> None:
        """Resign: revoke the lease so another candidate leads at once."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        self._set_leading(False)
        if self._lease:
            with contextlib.suppress(StoreError):
                await self._store.revoke_lease(self._lease)
            self._lease = 0

    async def _run(self) -> None:
        while True:
            try:
                await self._campaign()
            except asyncio.CancelledError:
                raise
            except StoreError as exc:
                log.warning("quota election: %s; campaigning again", exc)
            self._set_leading(False)
            self.leader_address = ""
            await asyncio.sleep(1.0)

    async def _campaign(self) -> None:
        sent = self._clock()
        self._lease = await self._store.grant_lease(self._ttl_s)
        self._renewed(sent, self._ttl_s)
        key = f"{self._prefix}{self._lease:016x}"
        await self._store.put_with_lease(key, self._address.encode(), self._lease)
        keeper = asyncio.create_task(self._keep_alive())
        try:
            while True:
                items, revision = await self._store.list_prefix(self._prefix)
                if key not in {i.key for i in items}:
                    raise StoreError("our election key is gone (lease expired)")
                leader = min(items, key=lambda i: i.create_revision)
                self.leader_address = leader.value.decode()
                self._set_leading(leader.key == key)
                await self._next_change(revision, keeper)
        finally:
            keeper.cancel()
            with contextlib.suppress(asyncio.CancelledError, StoreError):
                await keeper

    async def _next_change(self, revision: int, keeper: asyncio.Task[None]) -> None:
        """Return at the next change under the prefix; raise if the keep-alive failed."""
        watch = self._store.watch_prefix(self._prefix, revision + 1)
        change = asyncio.ensure_future(anext(aiter(watch)))
        try:
            await asyncio.wait({change, keeper}, return_when=asyncio.FIRST_COMPLETED)
            if keeper.done():
                keeper.result()  # raises the keep-alive's error
                raise StoreError("keep-alive ended")
            change.result()
        finally:
            change.cancel()
            with contextlib.suppress(BaseException):
                await change
            with contextlib.suppress(Exception):
                await watch.aclose()  # type: ignore[attr-defined]

    async def _keep_alive(self) -> None:
        while True:
            await asyncio.sleep(self._ttl_s * _RENEW_FRACTION)
            sent = self._clock()
            try:
                ttl = await self._store.keep_alive(self._lease)
            except StoreError:
                if not self.is_leader and self._leading:
                    self._set_leading(False)
                if self._clock() >= self._valid_until:
                    raise
                continue  # a blip: try again while the lease may still be ours
            if ttl <= 0:
                raise StoreError("election lease expired")
            self._renewed(sent, ttl)

    def _renewed(self, sent: float, ttl: int) -> None:
        self._valid_until = sent + ttl - _MARGIN_S

    def _set_leading(self, leading: bool) -> None:
        if leading != self._leading:
            log.info("quota allocator: %s", "leading" if leading else "following")
            self._leading = leading
            if self._on_change is not None:
                self._on_change(leading)
