"""SqlUsageStore: every UsageStore query, written once for SQLite and PostgreSQL.

A subclass supplies the I/O (`_fetch`, `_execute`, `_write_batch`) and a
Dialect; everything else (filters, keyset paging, summaries, prompt logs,
retention) lives here so both stores answer identically — the contract suite
in tests/contract checks that.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from controlplane.usage import budgets, query, rows
from controlplane.usage.dialect import Dialect
from oggy.v1 import admin_service_pb2, usage_pb2

Row = tuple[Any, ...]
T = TypeVar("T")

INSERT_EVENTS_SQL = (
    f"INSERT INTO usage_events ({', '.join(rows.COLUMNS)}) VALUES "
    f"({', '.join('?' * len(rows.COLUMNS))}) ON CONFLICT (event_id) DO NOTHING"
)
INSERT_PROMPTS_SQL = (
    f"INSERT INTO prompt_logs ({', '.join(rows.PROMPT_LOG_COLUMNS)}) VALUES "
    f"({', '.join('?' * len(rows.PROMPT_LOG_COLUMNS))}) ON CONFLICT (event_id) DO NOTHING"
)
_KEY_ACTIVITY_CHUNK = 500

# prompt_logs (alias p) joined with usage_events (alias u): columns the prompt log
# has are read from it, so the (workspace, time_us) index drives the listing.
_PROMPT_OWN = {"workspace", "key", "actor", "model", "event_id"}


def _prompt_column(name: str) -> str:
    if name == "start_us":
        return "p.time_us"
    return f"p.{name}" if name in _PROMPT_OWN else f"u.{name}"


@dataclass(frozen=True, slots=True)
class _Listing(Generic[T]):
    """A keyset-paged listing, newest first by (time, event id)."""

    kind: str  # the page tokens' scope
    select: str
    order: str
    column: query.ColumnMap
    from_row: Callable[[Row], T]
    # The (time in µs, event id) of an item: where the next page starts.
    cursor: Callable[[T], tuple[int, str]]


_EVENTS: _Listing[usage_pb2.UsageEvent] = _Listing(
    "events",
    f"SELECT {', '.join(rows.COLUMNS)} FROM usage_events",
    "start_us DESC, event_id DESC",
    query.plain_column,
    rows.row_to_event,
    lambda e: (rows.timestamp_to_us(e.start_time), e.event_id),
)
_PROMPTS: _Listing[admin_service_pb2.PromptLog] = _Listing(
    "prompts",
    f"SELECT {', '.join('p.' + c for c in rows.PROMPT_LOG_COLUMNS)} "
    "FROM prompt_logs p JOIN usage_events u ON u.event_id = p.event_id",
    "p.time_us DESC, p.event_id DESC",
    _prompt_column,
    rows.row_to_prompt_log,
    lambda log: (rows.timestamp_to_us(log.time), log.event_id),
)


class SqlUsageStore:
    dialect: Dialect

    def __init__(self, *, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock

    # -- I/O supplied by the subclass (SQL in shared `?` form) -------------------------

    async def _fetch(self, sql: str, params: Sequence[Any]) -> list[Row]:
        raise NotImplementedError

    async def _execute(self, sql: str, params: Sequence[Any]) -> int:
        """Run one write statement in its own transaction; returns the affected row count."""
        raise NotImplementedError

    async def _write_batch(self, event_rows: list[Row], prompt_rows: list[Row]) -> int:
        """Insert both row sets in one committed transaction; returns usage rows inserted."""
        raise NotImplementedError

    async def close(self) -> None:
        raise NotImplementedError

    # -- UsageStore --------------------------------------------------------------------

    def _now_us(self) -> int:
        return int(self._clock() * 1_000_000)

    async def insert(self, events: Sequence[usage_pb2.UsageEvent]) -> tuple[int, int]:
        if not events:
            return 0, 0
        event_rows = [rows.event_to_row(e) for e in events]
        # Text already past retention is not stored, so a batch replayed after a
        # purge cannot bring purged text back.
        now_us = self._now_us()
        prompt_rows = [
            r
            for r in (rows.prompt_log_row(e) for e in events)
            if r is not None and (r[-1] is None or r[-1] > now_us)
        ]
        if self.dialect.strip_nul:
            event_rows = [rows.strip_nul(r) for r in event_rows]
            prompt_rows = [rows.strip_nul(r) for r in prompt_rows]
        inserted = await self._write_batch(event_rows, prompt_rows)
        return inserted, len(event_rows) - inserted

    async def _list(
        self,
        listing: _Listing[T],
        filter: admin_service_pb2.UsageFilter,
        page_size: int,
        page_token: str,
    ) -> tuple[list[T], str]:
        """One page of `listing`, newest first, and the token of the next ("" if none)."""
        where = query.where_clause(filter, listing.column)
        size = query.page_size(page_size)
        after = query.after_clause(
            query.decode_page_token(filter, page_token, kind=listing.kind), listing.column
        )
        sql = f"{listing.select} WHERE {where.sql}"
        params = list(where.params)
        if after is not None:
            sql += f" AND {after.sql}"
            params += after.params
        # One extra row tells whether another page exists without a COUNT.
        sql += f" ORDER BY {listing.order} LIMIT ?"
        params.append(size + 1)
        found = await self._fetch(sql, params)
        items = [listing.from_row(r) for r in found[:size]]
        token = ""
        if len(found) > size:
            token = query.encode_page_token(filter, *listing.cursor(items[-1]), kind=listing.kind)
        return items, token

    async def list_events(
        self, filter: admin_service_pb2.UsageFilter, page_size: int, page_token: str
    ) -> tuple[list[usage_pb2.UsageEvent], str]:
        return await self._list(_EVENTS, filter, page_size, page_token)

    async def summarize(
        self, filter: admin_service_pb2.UsageFilter, group_by: Sequence[int]
    ) -> list[usage_pb2.UsageSummaryRow]:
        where = query.where_clause(filter)
        groups = query.group_columns(group_by, self.dialect.day_sql)
        select = ", ".join([*groups, *query.SUMMARY_AGGREGATES])
        sql = f"SELECT {select} FROM usage_events WHERE {where.sql}"
        if groups:
            positions = ", ".join(str(i + 1) for i in range(len(groups)))
            sql += f" GROUP BY {positions} ORDER BY {positions}"
        found = await self._fetch(sql, where.params)
        return [query.summary_row(len(groups), r) for r in found]

    async def list_unpriced_models(
        self, filter: admin_service_pb2.UsageFilter
    ) -> list[admin_service_pb2.UnpricedModel]:
        """Models with requests that used tokens but have no cost; most requests first."""
        where = query.where_clause(filter)
        sql = (
            "SELECT provider, model, COUNT(*), SUM(total_tokens) FROM usage_events "
            f"WHERE {where.sql} AND {query.UNPRICED_SQL} "
            "GROUP BY provider, model ORDER BY 3 DESC, 1, 2"
        )
        return [query.unpriced_model(r) for r in await self._fetch(sql, where.params)]

    async def list_prompt_logs(
        self, filter: admin_service_pb2.UsageFilter, page_size: int, page_token: str
    ) -> tuple[list[admin_service_pb2.PromptLog], str]:
        """Stored prompt text of matching events, newest first."""
        return await self._list(_PROMPTS, filter, page_size, page_token)

    async def purge_expired(self, now_us: int) -> int:
        """Delete prompt text whose retention ended at or before `now_us`; returns the count."""
        return await self._execute(
            "DELETE FROM prompt_logs WHERE expire_us IS NOT NULL AND expire_us <= ?", (now_us,)
        )

    async def key_activity(self, key_names: Sequence[str]) -> dict[str, tuple[int, int]]:
        """Key name → (last start time in unix µs, request count) for keys with usage."""
        by_workspace: dict[str, list[str]] = defaultdict(list)
        for name in dict.fromkeys(key_names):
            workspace = query.key_workspace(name)
            if workspace is not None:
                by_workspace[workspace].append(name)
        activity: dict[str, tuple[int, int]] = {}
        for workspace, names in by_workspace.items():
            for i in range(0, len(names), _KEY_ACTIVITY_CHUNK):
                chunk = names[i : i + _KEY_ACTIVITY_CHUNK]
                sql = (
                    "SELECT key, MAX(start_us), COUNT(*) FROM usage_events "
                    f"WHERE workspace = ? AND key IN ({', '.join('?' * len(chunk))}) "
                    "GROUP BY key"
                )
                for key, last_us, count in await self._fetch(sql, [workspace, *chunk]):
                    activity[key] = (int(last_us), int(count))
        return activity

    # -- budgets ---------------------------------------------------------------------

    async def scope_spend(
        self, workspace: str, start_us: int, end_us: int | None
    ) -> list[budgets.ScopeSpend]:
        """Priced cost in [start, end) grouped by every budget scope dimension."""
        params = [workspace, start_us, budgets.MAX_US if end_us is None else end_us]
        return [budgets.scope_spend(r) for r in await self._fetch(budgets.SPEND_SQL, params)]

    async def record_budget_crossings(self, crossings: Sequence[budgets.Crossing]) -> int:
        """Insert crossings not recorded yet (by budget, member, period, threshold)."""
        inserted = 0
        for c in crossings:
            inserted += await self._execute(budgets.INSERT_CROSSING_SQL, c.row())
        return inserted

    async def list_budget_crossings(
        self,
        workspace: str,
        budget: str,
        page_size: int,
        page_token: str,
        *,
        member: str | None = None,
        period_start_us: int | None = None,
    ) -> tuple[list[budgets.Crossing], str]:
        """Crossings of `workspace` (of `budget` only, unless ""), newest first."""
        clauses, params = ["workspace = ?"], [workspace]
        for column, value in (
            ("budget", budget or None),
            ("member", member),
            ("period_start_us", period_start_us),
        ):
            if value is not None:
                clauses.append(f"{column} = ?")
                params.append(value)
        scope = f"crossings:{workspace}:{budget}:{member}:{period_start_us}"
        cursor = budgets.decode_token(page_token, scope)
        if cursor is not None:
            # Row-value comparison, newest-first order (all columns descending).
            columns = ", ".join(budgets.CROSSING_ORDER)
            clauses.append(f"({columns}) < ({', '.join('?' * len(cursor))})")
            params += cursor
        size = query.page_size(page_size)
        order = ", ".join(f"{c} DESC" for c in budgets.CROSSING_ORDER)
        sql = (
            f"{budgets.SELECT_CROSSINGS_SQL} WHERE {' AND '.join(clauses)} ORDER BY {order} LIMIT ?"
        )
        found = [budgets.crossing(r) for r in await self._fetch(sql, [*params, size + 1])]
        token = budgets.encode_token(scope, found[size - 1].cursor()) if len(found) > size else ""
        return found[:size], token
