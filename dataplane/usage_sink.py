"""The UsageSink role: where the HTTP layer hands each request's usage event.

The HTTP layer emits exactly one event per request. `emit` is called on the
event loop in the request's path, so it must not block and must not raise
(a sink that cannot deliver now spools; usage is never dropped to protect
latency). The reporter in dataplane/usage/ implements it.
"""

from __future__ import annotations

from typing import Protocol

from oggy.v1 import usage_pb2


class UsageSink(Protocol):
    def emit(self, event: usage_pb2.UsageEvent) -> None:
        """Take ownership of `event`; never blocks, never raises."""
        ...

    def queue_depth(self) -> int:
        """Events accepted but not yet acknowledged by the control plane (for /metrics)."""
        ...
