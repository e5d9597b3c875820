"""PostgresUsageStore: usage events in PostgreSQL (psycopg 3, asyncio).

Same schema, migrations and queries as SQLite (controlplane.usage.sqlstore);
a batch is one transaction of pipelined `INSERT .. ON CONFLICT DO NOTHING`
statements, and `insert` returns only after COMMIT. Connections come from a
psycopg_pool AsyncConnectionPool (opened on first use, on the running loop).
An operation whose connection turns out dead makes the pool test its idle
connections and replace the broken ones, then is retried once (safe: writes are
idempotent on event_id), so the store recovers by itself after a database
restart. While the database is unreachable every call raises
UsageStoreUnavailable (after at most `connect_timeout_s`) and the ingest stream
answers `stored = false`.

psycopg and psycopg_pool come with the `postgres` extra (`pip install
'oggy[postgres]'`); only this module imports them, and only a postgresql:// URL
imports this module.
"""

from __future__ import annotations

import functools
import logging
import re
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar

import psycopg
from psycopg import conninfo as pg_conninfo
from psycopg_pool import AsyncConnectionPool, PoolTimeout

from controlplane.usage import rows
from controlplane.usage.dialect import POSTGRES
from controlplane.usage.errors import UsageStoreUnavailable
from controlplane.usage.migrations import LATEST, migrate
from controlplane.usage.sqlstore import Row, SqlUsageStore

log = logging.getLogger(__name__)

T = TypeVar("T")

DEFAULT_APPLICATION_NAME = "oggy-controlplane"
_SCHEMA_NAME = re.compile(r"[a-z_][a-z0-9_]{0,62}")


@functools.lru_cache(maxsize=4)
def _insert_sql(table: str, columns: tuple[str, ...]) -> str:
    return (
        f"INSERT INTO {table} ({', '.join(columns)}) "
        f"VALUES ({', '.join(['%s'] * len(columns))}) ON CONFLICT (event_id) DO NOTHING"
    )


async def _insert_rows(
    cur: psycopg.AsyncCursor[Any], table: str, columns: tuple[str, ...], data: list[Row]
) -> int:
    # executemany pipelines the statements (one round trip per batch, not per row);
    # measured ~7x faster than one multi-row VALUES statement; rowcount is the sum.
    if not data:
        return 0
    await cur.executemany(_insert_sql(table, columns), data)
    return max(cur.rowcount, 0)


def _describe(url: str) -> str:
    """host:port/dbname of a conninfo, without user or password."""
    try:
        info = pg_conninfo.conninfo_to_dict(url)
    except psycopg.ProgrammingError:
        return "postgresql://?"
    return f"postgresql://{info.get('host', '')}:{info.get('port', '')}/{info.get('dbname', '')}"


class PostgresUsageStore(SqlUsageStore):
    dialect = POSTGRES

    def __init__(
        self,
        url: str,
        *,
        schema: str | None = None,
        application_name: str = DEFAULT_APPLICATION_NAME,
        max_connections: int = 4,
        connect_timeout_s: int = 5,
        clock: Callable[[], float] = time.time,
        schema_version: int = LATEST,
    ) -> None:
        """Connect once and migrate the schema (startup: blocking, fails fast).

        `schema` puts the tables in that PostgreSQL schema (created if missing) via
        search_path; `schema_version` below the latest is for upgrade tests only.
        """
        if schema is not None and not _SCHEMA_NAME.fullmatch(schema):
            raise ValueError("schema must match [a-z_][a-z0-9_]{0,62}")
        super().__init__(clock=clock)
        self._where = _describe(url)
        self._schema = schema
        kwargs: dict[str, Any] = {
            "application_name": application_name,
            "connect_timeout": connect_timeout_s,
        }
        if schema is not None:
            kwargs["options"] = f"-c search_path={schema}"
        with psycopg.connect(url, autocommit=True, **kwargs) as conn:
            if schema is not None:
                conn.execute(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
            migrate(conn, POSTGRES, schema_version)
        self._pool: AsyncConnectionPool[psycopg.AsyncConnection[Any]] = AsyncConnectionPool(
            url,
            kwargs={**kwargs, "autocommit": True},
            min_size=1,
            max_size=max_connections,
            open=False,  # opened by the first operation, on the loop that runs it
            timeout=connect_timeout_s,
            # Give up a reconnect loop as soon as a waiting caller would: its backoff then
            # stays short, and the next caller starts a fresh attempt at once.
            reconnect_timeout=connect_timeout_s,
            name="oggy-usage",
        )
        self._closed = False

    def __repr__(self) -> str:
        return f"PostgresUsageStore({self._where!r}, schema={self._schema!r})"

    async def _run(self, work: Callable[[psycopg.AsyncConnection[Any]], Awaitable[T]]) -> T:
        if self._closed:
            raise UsageStoreUnavailable("usage store is closed")
        for attempt in (1, 2):
            try:
                if self._pool.closed:  # not opened yet (close() sets self._closed first)
                    await self._pool.open()
                async with self._pool.connection() as conn:
                    return await work(conn)
            except (psycopg.OperationalError, psycopg.InterfaceError) as exc:
                # A pool timeout already waited for a connection: the server is down.
                if attempt == 2 or self._closed or isinstance(exc, PoolTimeout):
                    log.warning(
                        "usage database %s unavailable: %s", self._where, type(exc).__name__
                    )
                    raise UsageStoreUnavailable("usage database unavailable") from exc
                # Typically a connection that died while idle (server restart): its idle
                # siblings most likely died too, so the pool tests them all and replaces
                # the dead ones before the one retry.
                log.info("usage database connection lost (%s); reconnecting", type(exc).__name__)
                await self._pool.check()
            except psycopg.Error as exc:
                log.warning("usage database %s error: %s", self._where, type(exc).__name__)
                raise UsageStoreUnavailable("usage database error") from exc
        raise AssertionError("unreachable")

    # -- SqlUsageStore I/O -------------------------------------------------------------

    async def _fetch(self, sql: str, params: Sequence[Any]) -> list[Row]:
        statement = POSTGRES.sql(sql)

        async def work(conn: psycopg.AsyncConnection[Any]) -> list[Row]:
            cur = await conn.execute(statement, list(params))
            return await cur.fetchall()

        return await self._run(work)

    async def _execute(self, sql: str, params: Sequence[Any]) -> int:
        statement = POSTGRES.sql(sql)

        async def work(conn: psycopg.AsyncConnection[Any]) -> int:
            async with conn.transaction():
                cur = await conn.execute(statement, list(params))
                return max(cur.rowcount, 0)

        return await self._run(work)

    async def _write_batch(self, event_rows: list[Row], prompt_rows: list[Row]) -> int:
        async def work(conn: psycopg.AsyncConnection[Any]) -> int:
            async with conn.transaction(), conn.cursor() as cur:
                inserted = await _insert_rows(cur, "usage_events", rows.COLUMNS, event_rows)
                await _insert_rows(cur, "prompt_logs", rows.PROMPT_LOG_COLUMNS, prompt_rows)
            return inserted  # the transaction block exited: committed

        return await self._run(work)

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        await self._pool.close()
