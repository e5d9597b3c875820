"""QuotaAllocation: the allocator's runtime on one control plane — which process leads,
the rules in force, budget spend refreshed from the usage store, threshold crossings.

Thin I/O around the pure parts (allocator.py, spend.py). A fresh Allocator is made each
time this process becomes the leader, so its hand-over period (protocol item 13) starts
then; spend is read and crossings recorded only while leading.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Protocol

from controlplane.quota.allocator import (
    DEFAULT_NODE_EXPIRY_S,
    Allocator,
    Counter,
    Lease,
    Report,
    SpendRead,
)
from controlplane.quota.rules import RuleBook
from controlplane.quota.spend import SpendSource, crossings_due, read_spend
from controlplane.usage.budgets import Crossing
from controlplane.usage.errors import UsageStoreUnavailable
from oggy.contract.leases import DEFAULT_LEASE_TTL_S

log = logging.getLogger(__name__)

DEFAULT_SPEND_INTERVAL_S = 1.0


class Leadership(Protocol):
    @property
    def is_leader(self) -> bool: ...

    @property
    def leader_address(self) -> str: ...


class BudgetStore(SpendSource, Protocol):
    async def record_budget_crossings(self, crossings: Iterable[Crossing]) -> int: ...


class QuotaAllocation:
    def __init__(
        self,
        rules: RuleBook,
        usage: BudgetStore,
        *,
        lease_ttl: float = DEFAULT_LEASE_TTL_S,
        node_expiry: float = DEFAULT_NODE_EXPIRY_S,
        spend_interval: float = DEFAULT_SPEND_INTERVAL_S,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.rules = rules
        self._usage = usage
        self._lease_ttl = lease_ttl
        self._node_expiry = node_expiry
        self._spend_interval = spend_interval
        self._clock = clock
        self.leadership: Leadership | None = None
        self._allocator: Allocator | None = None
        self._spend: dict[tuple[str, int], SpendRead] = {}
        # Crossings this process recorded (the store ignores repeats anyway).
        self._recorded: set[tuple[str, str, int, int]] = set()
        self._task: asyncio.Task[None] | None = None
        self.leases_granted = 0

    # -- leadership ------------------------------------------------------------------

    @property
    def is_leader(self) -> bool:
        return self.leadership is not None and self.leadership.is_leader

    @property
    def leader_address(self) -> str:
        return self.leadership.leader_address if self.leadership is not None else ""

    def leadership_changed(self, leading: bool) -> None:
        """Election callback: a new term starts with a fresh allocator and no spend."""
        self._spend = {}
        self._allocator = (
            Allocator(self._clock(), lease_ttl=self._lease_ttl, node_expiry=self._node_expiry)
            if leading
            else None
        )

    def nodes_counted(self) -> int:
        if self._allocator is None or not self.is_leader:
            return 0
        return self._allocator.data_plane_count(self._clock())

    # -- the lease stream --------------------------------------------------------------

    def serve(
        self, node: str, applied_sequence: int, reports: Iterable[Report], sequence: int
    ) -> tuple[list[Lease], int] | None:
        """Leases for `node`'s reports and the data plane count; None when not leading."""
        allocator = self._allocator
        if allocator is None or not self.is_leader:
            return None
        now = self._clock()
        rules = self.rules.rules()
        windows = {name: rule.window(now).start for name, rule in rules.items()}
        allocator.report(node, now, applied_sequence, reports, windows)
        leases = allocator.allocate(node, now, sequence, rules, self._spend)
        self.leases_granted += len(leases)
        return leases, allocator.data_plane_count(now)

    def reserved(self, counter: Counter) -> int:
        """Headroom data planes hold beyond acknowledged spend; 0 unless leading (only
        the allocator knows)."""
        if self._allocator is None or not self.is_leader:
            return 0
        return self._allocator.reserved(counter)

    # -- spend and crossings -------------------------------------------------------------

    def start(self) -> None:
        self._task = asyncio.create_task(self._refresh_loop(), name="quota-spend")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _refresh_loop(self) -> None:
        while True:
            if self.is_leader:
                try:
                    await self.refresh()
                except UsageStoreUnavailable as exc:
                    # Budgets then get no new headroom: the last read ages into the past.
                    log.warning("budget spend not refreshed: %s", exc)
            await asyncio.sleep(self._spend_interval)

    async def refresh(self) -> None:
        """Read every budget's spend, then record the thresholds it crossed."""
        started = self._clock()
        budgets = [r for r in self.rules.rules().values() if r.is_budget]
        reads = await read_spend(self._usage, budgets, started, started)
        if not self.is_leader:
            return
        self._spend = reads
        await self._record(crossings_due(self.rules.rules(), reads, self._clock()))

    async def _record(self, crossings: list[Crossing]) -> None:
        new = [c for c in crossings if _crossing_key(c) not in self._recorded]
        if not new:
            return
        inserted = await self._usage.record_budget_crossings(new)
        self._recorded.update(_crossing_key(c) for c in new)
        if inserted:
            log.info("budget thresholds crossed: %d recorded", inserted)

    def spend_reads(self) -> Mapping[tuple[str, int], SpendRead]:
        return self._spend


def _crossing_key(c: Crossing) -> tuple[str, str, int, int]:
    return (c.budget, c.member, c.period_start_us, c.threshold_percent)
