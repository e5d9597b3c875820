"""SqliteUsageStore: usage events in one SQLite file (WAL, durable commits).

All sqlite3 calls run on one dedicated worker thread that owns the connection,
so the event loop never blocks on disk and the connection is never shared
across threads. `synchronous=FULL` makes each commit durable before `insert`
returns, which is what lets the ingest stream acknowledge a batch.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar

from controlplane.usage import query
from controlplane.usage.errors import UsageStoreUnavailable
from controlplane.usage.migrations import migrate
from oggy.v1 import admin_service_pb2, usage_pb2

log = logging.getLogger(__name__)

T = TypeVar("T")

# UTC day; floor to whole seconds first so pre-1970 times round down, not toward zero.
_DAY_SQL = (
    "strftime('%Y-%m-%d', "
    "(start_us - (((start_us % 1000000) + 1000000) % 1000000)) / 1000000, 'unixepoch')"
)
_INSERT_SQL = (
    f"INSERT INTO usage_events ({', '.join(query.COLUMNS)}) "
    f"VALUES ({', '.join('?' * len(query.COLUMNS))}) "
    "ON CONFLICT (event_id) DO NOTHING"
)


class SqliteUsageStore:
    def __init__(self, path: str | Path) -> None:
        """Open (creating if needed) and migrate the database; raises if it cannot."""
        self._path = str(path)
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="usage-sqlite")
        self._conn: sqlite3.Connection | None = None
        self._closed = False
        try:
            # Startup only: waiting here keeps construction usable from sync and
            # async callers alike, and fails fast on a bad path.
            self._executor.submit(self._open).result()
        except BaseException:
            self._executor.shutdown(wait=True)
            raise

    def __repr__(self) -> str:
        return f"SqliteUsageStore({self._path!r})"

    # -- worker-thread side ----------------------------------------------------------

    def _open(self) -> None:
        if self._path != ":memory:":
            Path(self._path).parent.mkdir(parents=True, exist_ok=True)
        # isolation_level=None: we issue BEGIN/COMMIT ourselves, so a batch is exactly
        # one transaction.
        conn = sqlite3.connect(self._path, isolation_level=None, check_same_thread=True)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=FULL")
        conn.execute("PRAGMA busy_timeout=5000")
        migrate(conn)
        self._conn = conn

    def _db(self) -> sqlite3.Connection:
        if self._conn is None:
            raise UsageStoreUnavailable("usage store is closed")
        return self._conn

    def _insert(self, rows: list[tuple[object, ...]]) -> tuple[int, int]:
        conn = self._db()
        before = conn.total_changes
        conn.execute("BEGIN IMMEDIATE")
        try:
            conn.executemany(_INSERT_SQL, rows)
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:  # SQLite may already have rolled back (e.g. disk full)
                conn.execute("ROLLBACK")
            raise
        inserted = conn.total_changes - before
        return inserted, len(rows) - inserted

    def _select(self, sql: str, params: Sequence[object]) -> list[tuple[object, ...]]:
        return self._db().execute(sql, tuple(params)).fetchall()

    def _close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    async def _run(self, fn: Callable[..., T], *args: object) -> T:
        if self._closed:
            raise UsageStoreUnavailable("usage store is closed")
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(self._executor, fn, *args)
        except sqlite3.Error as exc:
            raise UsageStoreUnavailable(f"usage store error: {exc}") from exc

    # -- UsageStore ------------------------------------------------------------------

    async def insert(self, events: Sequence[usage_pb2.UsageEvent]) -> tuple[int, int]:
        if not events:
            return 0, 0
        rows = [query.event_to_row(e) for e in events]
        return await self._run(self._insert, rows)

    async def list_events(
        self, filter: admin_service_pb2.UsageFilter, page_size: int, page_token: str
    ) -> tuple[list[usage_pb2.UsageEvent], str]:
        where = query.where_clause(filter)
        size = query.page_size(page_size)
        after = query.after_clause(query.decode_page_token(filter, page_token))
        sql = f"SELECT {', '.join(query.COLUMNS)} FROM usage_events WHERE {where.sql}"
        params = list(where.params)
        if after is not None:
            sql += f" AND {after.sql}"
            params += after.params
        # One extra row tells whether another page exists without a COUNT.
        sql += " ORDER BY start_us DESC, event_id DESC LIMIT ?"
        params.append(size + 1)
        rows = await self._run(self._select, sql, params)
        events = [query.row_to_event(r) for r in rows[:size]]
        token = ""
        if len(rows) > size:
            last = events[-1]
            token = query.encode_page_token(
                filter, query.timestamp_to_us(last.start_time), last.event_id
            )
        return events, token

    async def summarize(
        self, filter: admin_service_pb2.UsageFilter, group_by: Sequence[int]
    ) -> list[usage_pb2.UsageSummaryRow]:
        where = query.where_clause(filter)
        groups = query.group_columns(group_by, _DAY_SQL)
        select = ", ".join([*groups, *query.SUMMARY_AGGREGATES])
        sql = f"SELECT {select} FROM usage_events WHERE {where.sql}"
        if groups:
            positions = ", ".join(str(i + 1) for i in range(len(groups)))
            sql += f" GROUP BY {positions} ORDER BY {positions}"
        rows = await self._run(self._select, sql, where.params)
        return [query.summary_row(len(groups), r) for r in rows]

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(self._executor, self._close)
        self._executor.shutdown(wait=False)
