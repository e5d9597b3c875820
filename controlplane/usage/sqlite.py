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
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

from controlplane.usage.dialect import SQLITE
from controlplane.usage.errors import UsageStoreUnavailable
from controlplane.usage.migrations import LATEST, migrate
from controlplane.usage.sqlstore import INSERT_EVENTS_SQL, INSERT_PROMPTS_SQL, Row, SqlUsageStore

log = logging.getLogger(__name__)

T = TypeVar("T")


class SqliteUsageStore(SqlUsageStore):
    dialect = SQLITE

    def __init__(
        self,
        path: str | Path,
        *,
        clock: Callable[[], float] = time.time,
        schema_version: int = LATEST,
    ) -> None:
        """Open (creating if needed) and migrate the database; raises if it cannot.

        `schema_version` below the latest is for upgrade tests only.
        """
        super().__init__(clock=clock)
        self._path = str(path)
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="usage-sqlite")
        self._conn: sqlite3.Connection | None = None
        self._closed = False
        try:
            # Startup only: waiting here keeps construction usable from sync and
            # async callers alike, and fails fast on a bad path.
            self._executor.submit(self._open, schema_version).result()
        except BaseException:
            self._executor.shutdown(wait=True)
            raise

    def __repr__(self) -> str:
        return f"SqliteUsageStore({self._path!r})"

    # -- worker-thread side ----------------------------------------------------------

    def _open(self, schema_version: int) -> None:
        if self._path != ":memory:":
            Path(self._path).parent.mkdir(parents=True, exist_ok=True)
        # isolation_level=None: we issue BEGIN/COMMIT ourselves, so a batch is exactly
        # one transaction.
        conn = sqlite3.connect(self._path, isolation_level=None, check_same_thread=True)
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=FULL")
            conn.execute("PRAGMA busy_timeout=5000")
            # Purged prompt text must not linger in freed pages.
            conn.execute("PRAGMA secure_delete=ON")
            migrate(conn, SQLITE, schema_version)
        except BaseException:
            conn.close()
            raise
        self._conn = conn

    def _db(self) -> sqlite3.Connection:
        if self._conn is None:
            raise UsageStoreUnavailable("usage store is closed")
        return self._conn

    def _in_transaction(self, work: Callable[[sqlite3.Connection], T]) -> T:
        conn = self._db()
        conn.execute("BEGIN IMMEDIATE")
        try:
            result = work(conn)
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:  # SQLite may already have rolled back (e.g. disk full)
                conn.execute("ROLLBACK")
            raise
        return result

    def _insert_rows(self, event_rows: list[Row], prompt_rows: list[Row]) -> int:
        def work(conn: sqlite3.Connection) -> int:
            before = conn.total_changes
            conn.executemany(INSERT_EVENTS_SQL, event_rows)
            inserted = conn.total_changes - before
            if prompt_rows:
                conn.executemany(INSERT_PROMPTS_SQL, prompt_rows)
            return inserted

        return self._in_transaction(work)

    def _write(self, sql: str, params: Sequence[Any]) -> int:
        return self._in_transaction(lambda conn: conn.execute(sql, tuple(params)).rowcount)

    def _select(self, sql: str, params: Sequence[Any]) -> list[Row]:
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

    # -- SqlUsageStore I/O -------------------------------------------------------------

    async def _fetch(self, sql: str, params: Sequence[Any]) -> list[Row]:
        return await self._run(self._select, sql, params)

    async def _execute(self, sql: str, params: Sequence[Any]) -> int:
        return await self._run(self._write, sql, params)

    async def _write_batch(self, event_rows: list[Row], prompt_rows: list[Row]) -> int:
        return await self._run(self._insert_rows, event_rows, prompt_rows)

    async def purge_expired(self, now_us: int) -> int:
        purged = await super().purge_expired(now_us)
        if purged:
            # The deleted rows' pages still sit in the WAL until a checkpoint;
            # fold them into the (securely overwritten) main file and truncate it.
            await self._run(self._checkpoint)
        return purged

    def _checkpoint(self) -> None:
        self._db().execute("PRAGMA wal_checkpoint(TRUNCATE)")

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(self._executor, self._close)
        self._executor.shutdown(wait=False)
