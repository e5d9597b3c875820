"""The windows limits and budgets count over. Pure; time comes in as Unix seconds.

Both planes must cut time the same way: a data plane counts a request in the window
its clock says, the control plane leases quota per window and reads a budget's spend
per period, and a blocked caller is told when its window resets. So the one
definition lives here.

- Rate limits: fixed windows of `seconds`, aligned to the Unix epoch (a 60 s window
  starts on the minute, UTC), like OpenAI's and envoyproxy/ratelimit's per-unit
  windows. A window is named by its start.
- Budgets: UTC calendar periods. Days start at 00:00 UTC, weeks on Monday 00:00
  UTC, months on the 1st; a `TOTAL` budget has one period that never resets
  (it starts at the epoch and its reset is None).
- Concurrency limits have no window (start 0, reset None).
"""

from __future__ import annotations

import calendar
from datetime import UTC, datetime, timedelta
from enum import Enum
from typing import NamedTuple


class Period(Enum):
    DAY = "day"
    WEEK = "week"
    MONTH = "month"
    TOTAL = "total"


class Window(NamedTuple):
    start: int  # Unix seconds
    reset: int | None  # when the next window starts; None: never

    def seconds_left(self, now: float) -> float:
        return float("inf") if self.reset is None else max(0.0, self.reset - now)


NO_WINDOW = Window(0, None)
MIN_WINDOW_S = 1
MAX_WINDOW_S = 86_400


def fixed_window(now: float, seconds: int) -> Window:
    """The epoch-aligned window of `seconds` holding `now`."""
    start = int(now // seconds) * seconds
    return Window(start, start + seconds)


def calendar_window(now: float, period: Period) -> Window:
    """The UTC calendar period holding `now`."""
    if period is Period.TOTAL:
        return Window(0, None)
    day = datetime.fromtimestamp(now, UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    if period is Period.DAY:
        start, end = day, day + timedelta(days=1)
    elif period is Period.WEEK:
        start = day - timedelta(days=day.weekday())
        end = start + timedelta(days=7)
    else:
        start = day.replace(day=1)
        days = calendar.monthrange(start.year, start.month)[1]
        end = start + timedelta(days=days)
    return Window(int(start.timestamp()), int(end.timestamp()))


def reset_text(seconds: float) -> str:
    """A duration as OpenAI's `x-ratelimit-reset-*` headers write it: `1s`, `6m0s`, `20ms`."""
    if seconds < 1:
        return f"{max(0, round(seconds * 1000))}ms"
    whole = int(seconds + 0.999)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h{minutes}m{secs}s"
    if minutes:
        return f"{minutes}m{secs}s"
    return f"{secs}s"
