"""What the control plane knows about its store's health, for logs and metrics.

Pure: the store reports how its calls went and what its periodic check found; this keeps
the state and says when an episode (an outage, an alarm) starts or ends, so the store
logs each episode once rather than every failing call. The clock is injected.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

NOSPACE = "NOSPACE"


@dataclass(frozen=True, slots=True)
class AlarmChange:
    """Alarms that went up, and those that went down with how long they had been up (s)."""

    raised: frozenset[str] = frozenset()
    cleared: tuple[tuple[str, float], ...] = ()


class StoreHealth:
    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._alarm_since: dict[str, float] = {}
        self._unreachable_since: float | None = None
        # Bytes of the store's database file, as last checked (0: not checked yet).
        self.db_size_bytes = 0

    @property
    def reachable(self) -> bool:
        return self._unreachable_since is None

    @property
    def alarms(self) -> frozenset[str]:
        return frozenset(self._alarm_since)

    def answered(self) -> float | None:
        """The store answered (even with an error); the outage it ends lasted this long."""
        if self._unreachable_since is None:
            return None
        lasted = self._clock() - self._unreachable_since
        self._unreachable_since = None
        return lasted

    def unanswered(self) -> bool:
        """A call got no answer in time; True when that starts an outage."""
        if self._unreachable_since is not None:
            return False
        self._unreachable_since = self._clock()
        return True

    def set_alarms(self, active: Iterable[str]) -> AlarmChange:
        """The full set of active alarms, as the store lists them."""
        now = self._clock()
        active = frozenset(active)
        raised = active - self._alarm_since.keys()
        cleared = tuple(
            (alarm, now - since)
            for alarm, since in sorted(self._alarm_since.items())
            if alarm not in active
        )
        for alarm, _ in cleared:
            del self._alarm_since[alarm]
        for alarm in raised:
            self._alarm_since[alarm] = now
        return AlarmChange(frozenset(raised), cleared)

    def raise_alarm(self, alarm: str) -> AlarmChange:
        """A call failed the way `alarm` makes it fail (e.g. a write refused for space)."""
        return self.set_alarms(self.alarms | {alarm})

    def clear_alarm(self, alarm: str) -> AlarmChange:
        """A call succeeded that `alarm` would have refused."""
        return self.set_alarms(self.alarms - {alarm})
