"""How a long-running process of ours learns it should stop: SIGINT or SIGTERM."""

from __future__ import annotations

import asyncio
import signal


async def until_stop_signal() -> None:
    """Return once SIGINT (Ctrl-C) or SIGTERM (a supervisor) arrives."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
