"""The UsageStore role: durable, idempotent storage of usage events and queries on them."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from controlplane.usage.budgets import Crossing, ScopeSpend
from oggy.v1 import admin_service_pb2, usage_pb2


class UsageStore(Protocol):
    async def insert(self, events: Sequence[usage_pb2.UsageEvent]) -> tuple[int, int]:
        """Store `events` atomically and durably; returns (inserted, duplicates).

        Idempotent on event_id: an event already stored (or repeated in the batch)
        counts as a duplicate. An event's `prompt_text` goes to the prompt log in
        the same transaction, never into the usage row. Returns only once the
        write is committed.
        """
        ...

    async def list_events(
        self, filter: admin_service_pb2.UsageFilter, page_size: int, page_token: str
    ) -> tuple[list[usage_pb2.UsageEvent], str]:
        """Matching events newest first (without prompt text), and the next page token
        ("" on the last page)."""
        ...

    async def summarize(
        self, filter: admin_service_pb2.UsageFilter, group_by: Sequence[int]
    ) -> list[usage_pb2.UsageSummaryRow]:
        """Totals of matching events grouped by UsageGroupBy values, in the order given."""
        ...

    async def list_unpriced_models(
        self, filter: admin_service_pb2.UsageFilter
    ) -> list[admin_service_pb2.UnpricedModel]:
        """(provider, model) pairs with requests that used tokens but have no cost."""
        ...

    async def list_prompt_logs(
        self, filter: admin_service_pb2.UsageFilter, page_size: int, page_token: str
    ) -> tuple[list[admin_service_pb2.PromptLog], str]:
        """Stored prompt text of matching events, newest first, and the next page token."""
        ...

    async def purge_expired(self, now_us: int) -> int:
        """Delete prompt text whose expire time is at or before `now_us`; returns the count."""
        ...

    async def key_activity(self, key_names: Sequence[str]) -> dict[str, tuple[int, int]]:
        """Key name → (last used, as unix µs of the latest start time; request count)."""
        ...

    async def scope_spend(
        self, workspace: str, start_us: int, end_us: int | None
    ) -> list[ScopeSpend]:
        """Priced cost of `workspace` in [start, end) (end None: no end) grouped by team,
        actor, key, app, environment, workflow, model (as requested) and provider."""
        ...

    async def record_budget_crossings(self, crossings: Sequence[Crossing]) -> int:
        """Insert the crossings not recorded yet (unique by budget, member, period start
        and threshold); returns how many were new."""
        ...

    async def list_budget_crossings(
        self,
        workspace: str,
        budget: str,
        page_size: int,
        page_token: str,
        *,
        member: str | None = None,
        period_start_us: int | None = None,
    ) -> tuple[list[Crossing], str]:
        """Crossings newest first (of `budget` only unless ""), and the next page token."""
        ...

    async def close(self) -> None: ...
