"""Wakes the requests waiting for the next lease response (see QuotaTable.worth_waiting)."""

from __future__ import annotations

import asyncio

# How long, at most, a refused request waits for leases that may lift the refusal: a
# few report rounds (quota given back by one node reaches another in two of them).
LEASE_WAIT_S = 2.0


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
