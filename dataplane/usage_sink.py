"""The UsageSink role: where the HTTP layer hands each request's usage event.

The HTTP layer emits exactly one event per request. `emit` is called on the
event loop in the request's path, so it must not block and must not raise
(a sink that cannot deliver now spools; usage is never dropped to protect
latency). The reporter in dataplane/usage/ implements it.
"""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Protocol

from oggy.v1 import usage_pb2


class UsageSink(Protocol):
    def emit(self, event: usage_pb2.UsageEvent) -> Awaitable[None] | None:
        """Take ownership of `event`; never blocks, never raises.

        What it returns, unless None, is done once the event would survive a crash of
        this process (journaled): the HTTP layer awaits it before the client has its
        final answer, while other requests keep running."""
        ...

    def note(self, event: usage_pb2.UsageEvent) -> Awaitable[None] | None:
        """Journal the provisional event of a request still open (never sent; the
        request's own event, same event id, supersedes it); never blocks, never raises.

        Should this process die before that event is journaled, the next start emits
        the latest note instead. What it returns, unless None, is done once the note
        is journaled (the HTTP layer awaits it before going upstream)."""
        ...

    def queue_depth(self) -> int:
        """Events accepted but not yet acknowledged by the control plane (for /metrics)."""
        ...
