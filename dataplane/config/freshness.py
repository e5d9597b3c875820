"""How old the served config may get: the bound on static stability (`--max-config-age`).

A data plane keeps serving its last config while no control plane answers
(DESIGN invariant 2) — which also means a key revoked meanwhile keeps working.
With a maximum age set, it fails closed instead once it has heard from no
control plane for that long: every request gets 503 `config_stale` (and a
usage event saying so) until the config stream is back.

"Heard from" is the config stream being up: a message arrived on it and it
has not failed since. gRPC keepalive (`--keepalive-time` + `--keepalive-timeout`)
bounds how long a dead stream passes for a live one. A data plane that starts
from its snapshot file counts from the file's last write (every ACKed config,
including the full snapshot sent on each reconnect).

The stream client reports `heard` and `quiet`; they set the holder's
`stale_after` deadline, so a request pays one float comparison. Crossing half
the maximum, the maximum, and recovering are each logged once, with the age.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Callable
from enum import Enum

from dataplane.config.holder import ConfigHolder

log = logging.getLogger(__name__)

Clock = Callable[[], float]
# (delay in seconds, callback) → something with cancel(): loop.call_later by default.
Schedule = Callable[[float, Callable[[], None]], asyncio.TimerHandle]


class Currency(Enum):
    FRESH = "fresh"
    AGING = "aging"  # past half the maximum age
    STALE = "stale"  # past it: requests are refused


class ConfigFreshness:
    def __init__(
        self,
        holder: ConfigHolder,
        max_age_s: float | None,
        *,
        clock: Clock = time.perf_counter,
        schedule: Schedule | None = None,
    ) -> None:
        self._holder = holder
        self.max_age_s = max_age_s
        self._clock = clock
        self._schedule = schedule
        self._timers: list[asyncio.TimerHandle] = []
        self.state = Currency.FRESH

    def heard(self) -> None:
        """A message (or a live stream) from a control plane: the config is current."""
        h = self._holder
        if h.quiet_since is None:
            return
        age = h.config_age_s(self._clock())
        if self.state is not Currency.FRESH:
            log.warning("control plane heard again; config age was %.1f s, serving again", age)
        h.quiet_since = None
        h.stale_after = math.inf
        self.state = Currency.FRESH
        self._cancel_timers()

    def quiet(self, age_s: float = 0.0) -> None:
        """No control plane since `age_s` ago (the stream failed, or the snapshot file's age).

        Repeated calls (retries against a dead control plane) keep the first instant.
        """
        h = self._holder
        if h.quiet_since is not None:
            return
        now = self._clock()
        h.quiet_since = now - max(0.0, age_s)
        if self.max_age_s is None:
            return
        h.stale_after = h.quiet_since + self.max_age_s
        self.check()
        schedule = self._schedule or asyncio.get_running_loop().call_later
        for fraction in (0.5, 1.0):
            at = h.quiet_since + self.max_age_s * fraction
            if at > now:
                self._timers.append(schedule(at - now, self.check))

    def check(self) -> Currency:
        """The currency now; a change is logged once (timers call this at each threshold)."""
        h = self._holder
        now = self._clock()
        age = h.config_age_s(now)
        state = Currency.FRESH
        if self.max_age_s is not None and h.quiet_since is not None:
            if now >= h.stale_after:
                state = Currency.STALE
            elif age > self.max_age_s / 2:
                state = Currency.AGING
        if state is not self.state:
            self.state = state
            if state is Currency.AGING:
                log.warning(
                    "config is %.1f s old (no control plane heard); requests will be refused"
                    " at --max-config-age %g s",
                    age,
                    self.max_age_s,
                )
            elif state is Currency.STALE:
                log.error(
                    "config is %.1f s old, over --max-config-age %g s: refusing requests"
                    " (503 config_stale) until a control plane is heard",
                    age,
                    self.max_age_s,
                )
        return state

    def _cancel_timers(self) -> None:
        for timer in self._timers:
            timer.cancel()
        self._timers.clear()
