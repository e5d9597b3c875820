"""The compiled config the data plane serves right now, and until when it may.

Swapping `current` is one attribute assignment, so a request that already
read it keeps a consistent config to the end, and no lock is needed on the
event loop. `stale_after` and `quiet_since` are kept by config/freshness.py
(on the `time.perf_counter` clock, the one RequestRecord.start_mono reads), so
a request's currency check is one float comparison.
"""

from __future__ import annotations

import math
import time

from oggy.contract.compile import CompiledConfig


class ConfigHolder:
    __slots__ = ("current", "quiet_since", "stale_after")

    def __init__(self, initial: CompiledConfig | None = None) -> None:
        self.current: CompiledConfig | None = initial
        # Refuse requests from this instant on (inf: never; --max-config-age unset
        # or the control plane's stream is up).
        self.stale_after = math.inf
        # Since when no control plane has been heard from; None while its stream is up.
        self.quiet_since: float | None = None

    def apply(self, cfg: CompiledConfig) -> None:
        self.current = cfg

    @property
    def revision(self) -> int | None:
        return None if self.current is None else self.current.revision

    def config_age_s(self, now: float | None = None) -> float:
        """Seconds since a control plane was last heard from (0 while it is)."""
        if self.quiet_since is None:
            return 0.0
        return max(0.0, (time.perf_counter() if now is None else now) - self.quiet_since)
