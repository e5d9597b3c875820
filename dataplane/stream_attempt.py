"""One attempt of a long-lived stream to the control plane, shared by config and usage.

However an attempt ends, the client hears it once as `disconnected(code, detail)`, then
waits out its backoff; the caller's loop decides when to try again.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

import grpc

from dataplane.backoff import Backoff


class StreamFailed(Exception):
    """The stream ended without a gRPC error status; `code` says how (EOF, NOT_STORED…)."""

    def __init__(self, code: str, detail: str) -> None:
        super().__init__(f"{code}: {detail}")
        self.code = code
        self.detail = detail


async def attempt_stream(
    stream_once: Callable[[], Awaitable[None]],
    disconnected: Callable[[str, str], None],
    backoff: Backoff,
    log: logging.Logger,
    what: str,
) -> None:
    """Run one stream; report how it ended to `disconnected`, then sleep the backoff."""
    try:
        await stream_once()
    except grpc.aio.AioRpcError as e:
        disconnected(e.code().name, e.details() or "")
    except StreamFailed as e:
        disconnected(e.code, e.detail)
    except Exception:
        # A bug must not stop the stream for the life of the process.
        log.exception("%s stream failed unexpectedly", what)
        disconnected("INTERNAL", "see the traceback above")
    await asyncio.sleep(backoff.next_delay())


class StateLog:
    """Logs a stream's state once per change, so retries against a dead server log once.

    Keyed by status code: a new kind of failure (say UNAUTHENTICATED after
    UNAVAILABLE) logs again.
    """

    def __init__(self, log: logging.Logger) -> None:
        self._log = log
        self._logged: tuple[str, str] | None = None

    def connected(self, message: str, *args: object) -> None:
        if self._logged != ("connected", ""):
            self._logged = ("connected", "")
            self._log.info(message, *args)

    def disconnected(self, code: str, message: str, *args: object) -> None:
        if self._logged != ("disconnected", code):
            self._logged = ("disconnected", code)
            self._log.warning(message, *args)
