"""Wakes the requests waiting for the next lease response (see QuotaTable.worth_waiting)."""

from __future__ import annotations

import asyncio

# How long, at most, a refused request waits for leases that may lift the refusal. Quota
# another node holds comes back once that node's demand has faded (its last ~2 s) and two
# report rounds have passed; on a busy host that took longer than 2 s (a CI run refused a
# team member while a third of the pool sat unused on the other node). Only a fleet with
# room waits: a spent budget or limit is refused at once.
LEASE_WAIT_S = 5.0


class LeaseSignal:
    """One future shared by every waiter until the next lease response resolves it."""

    __slots__ = ("_next",)

    def __init__(self) -> None:
        self._next: asyncio.Future[None] | None = None

    def notify(self) -> None:
        waiting, self._next = self._next, None
        if waiting is not None and not waiting.done():
            waiting.set_result(None)

    async def next_lease(self, wait_s: float = LEASE_WAIT_S) -> bool:
        """True when a lease response was applied within `wait_s`."""
        if self._next is None:
            self._next = asyncio.get_running_loop().create_future()
        try:
            async with asyncio.timeout(wait_s):
                await asyncio.shield(self._next)
        except TimeoutError:
            return False
        return True
