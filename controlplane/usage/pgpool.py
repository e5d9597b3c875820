"""A small asyncio pool of psycopg connections that drops broken ones.

Connections are opened lazily (at most `max_size` at once) and reused. A
connection that broke (server restart, `pg_terminate_backend`, network loss)
is closed, and so is every idle one, since they most likely died the same way;
the next checkout connects afresh. Callers retry once on such errors.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import psycopg
from psycopg import pq

log = logging.getLogger(__name__)


class PgPool:
    def __init__(self, conninfo: str, *, max_size: int = 4, **connect_kwargs: Any) -> None:
        if max_size < 1:
            raise ValueError("max_size must be at least 1")
        self._conninfo = conninfo
        self._kwargs = connect_kwargs
        self._slots = asyncio.Semaphore(max_size)
        self._idle: list[psycopg.AsyncConnection[Any]] = []
        self._closed = False

    def __repr__(self) -> str:
        return f"PgPool(idle={len(self._idle)})"  # the conninfo may hold a password

    async def _connect(self) -> psycopg.AsyncConnection[Any]:
        return await psycopg.AsyncConnection.connect(
            self._conninfo, autocommit=True, **self._kwargs
        )

    @asynccontextmanager
    async def connection(self) -> AsyncIterator[psycopg.AsyncConnection[Any]]:
        """An autocommit connection for the duration of the block."""
        if self._closed:
            raise psycopg.InterfaceError("the pool is closed")
        async with self._slots:
            conn = self._idle.pop() if self._idle else await self._connect()
            try:
                yield conn
            except BaseException:
                await self._release(conn, failed=True)
                raise
            await self._release(conn, failed=False)

    async def _release(self, conn: psycopg.AsyncConnection[Any], *, failed: bool) -> None:
        if conn.broken or conn.closed:
            await conn.close()
            await self.discard_idle()
            return
        status = conn.info.transaction_status
        if status != pq.TransactionStatus.IDLE:
            if failed and status == pq.TransactionStatus.INERROR:
                try:
                    await conn.rollback()
                except psycopg.Error:
                    await conn.close()
                    return
            else:
                await conn.close()
                return
        if self._closed:
            await conn.close()
        else:
            self._idle.append(conn)

    async def discard_idle(self) -> None:
        idle, self._idle = self._idle, []
        for conn in idle:
            await conn.close()

    async def close(self) -> None:
        self._closed = True
        await self.discard_idle()
