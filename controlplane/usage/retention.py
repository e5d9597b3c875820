"""RetentionJob: purge prompt text past its expire time, periodically and on demand.

    job = RetentionJob(store, interval_s=300)
    job.start()          # from inside the running event loop
    ...
    await job.stop()

The first purge runs right after start. A failed purge (store down) is logged
and retried at the next interval; the job never dies of it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from typing import Protocol

log = logging.getLogger(__name__)

DEFAULT_INTERVAL_S = 300.0


class Purgeable(Protocol):
    async def purge_expired(self, now_us: int) -> int: ...


class RetentionJob:
    def __init__(
        self,
        store: Purgeable,
        interval_s: float = DEFAULT_INTERVAL_S,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if interval_s <= 0:
            raise ValueError("interval_s must be positive")
        self._store = store
        self._interval_s = interval_s
        self._clock = clock
        self._task: asyncio.Task[None] | None = None
        self._stopping = asyncio.Event()
        self.runs = 0  # completed purges, for tests and metrics

    def __repr__(self) -> str:
        return f"RetentionJob(interval_s={self._interval_s})"

    async def run_once(self) -> int:
        """Purge now; returns how many prompt logs were deleted."""
        purged = await self._store.purge_expired(int(self._clock() * 1_000_000))
        self.runs += 1
        if purged:
            log.info("purged %d expired prompt logs", purged)
        return purged

    def start(self) -> None:
        if self._task is not None:
            raise RuntimeError("retention job already started")
        self._stopping.clear()
        self._task = asyncio.get_running_loop().create_task(self._loop(), name="usage-retention")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is None:
            return
        self._stopping.set()
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    async def _loop(self) -> None:
        while not self._stopping.is_set():
            try:
                await self.run_once()
            except Exception as exc:
                log.warning("prompt log purge failed (%s); retrying later", type(exc).__name__)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), self._interval_s)
