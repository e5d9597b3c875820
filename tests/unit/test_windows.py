"""contract/windows.py: fixed epoch-aligned windows, UTC calendar periods, reset text."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from oggy.contract.windows import (
    NO_WINDOW,
    Period,
    Window,
    calendar_window,
    fixed_window,
    reset_text,
)


def ts(*args: int) -> int:
    return int(datetime(*args, tzinfo=UTC).timestamp())  # type: ignore[misc]


@pytest.mark.parametrize(
    ("now", "seconds", "start", "reset"),
    [
        (0, 60, 0, 60),
        (59.999, 60, 0, 60),
        (60, 60, 60, 120),
        (ts(2025, 1, 1, 12, 0, 30), 60, ts(2025, 1, 1, 12, 0), ts(2025, 1, 1, 12, 1)),
        (ts(2025, 1, 1, 12, 59, 59), 3600, ts(2025, 1, 1, 12), ts(2025, 1, 1, 13)),
        (ts(2025, 1, 1, 23, 59, 59), 86_400, ts(2025, 1, 1), ts(2025, 1, 2)),
        (1.5, 1, 1, 2),
        (100, 7, 98, 105),  # windows that do not divide a minute still align to the epoch
    ],
)
def test_fixed_window(now: float, seconds: int, start: int, reset: int) -> None:
    assert fixed_window(now, seconds) == Window(start, reset)


@pytest.mark.parametrize(
    ("now", "period", "start", "reset"),
    [
        # Days: 00:00 UTC to 00:00 UTC.
        (ts(2025, 3, 14, 15, 9), Period.DAY, ts(2025, 3, 14), ts(2025, 3, 15)),
        (ts(2025, 3, 14), Period.DAY, ts(2025, 3, 14), ts(2025, 3, 15)),
        (ts(2025, 12, 31, 23, 59, 59), Period.DAY, ts(2025, 12, 31), ts(2026, 1, 1)),
        # Weeks start on Monday: 2025-03-10 is a Monday.
        (ts(2025, 3, 10), Period.WEEK, ts(2025, 3, 10), ts(2025, 3, 17)),
        (ts(2025, 3, 16, 23, 59), Period.WEEK, ts(2025, 3, 10), ts(2025, 3, 17)),
        (ts(2025, 3, 14, 12), Period.WEEK, ts(2025, 3, 10), ts(2025, 3, 17)),
        (ts(2026, 1, 1), Period.WEEK, ts(2025, 12, 29), ts(2026, 1, 5)),  # across a year
        # Months: the 1st to the 1st, whatever the month's length.
        (ts(2025, 1, 31, 23), Period.MONTH, ts(2025, 1, 1), ts(2025, 2, 1)),
        (ts(2025, 2, 28, 23, 59), Period.MONTH, ts(2025, 2, 1), ts(2025, 3, 1)),
        (ts(2024, 2, 29, 12), Period.MONTH, ts(2024, 2, 1), ts(2024, 3, 1)),  # leap year
        (ts(2000, 2, 29), Period.MONTH, ts(2000, 2, 1), ts(2000, 3, 1)),  # leap century
        (ts(2025, 4, 30, 23, 59, 59), Period.MONTH, ts(2025, 4, 1), ts(2025, 5, 1)),
        (ts(2025, 12, 15), Period.MONTH, ts(2025, 12, 1), ts(2026, 1, 1)),
        (ts(2025, 3, 1), Period.MONTH, ts(2025, 3, 1), ts(2025, 4, 1)),
    ],
)
def test_calendar_window(now: int, period: Period, start: int, reset: int) -> None:
    assert calendar_window(now, period) == Window(start, reset)


def test_total_never_resets() -> None:
    window = calendar_window(ts(2025, 3, 14), Period.TOTAL)
    assert window == NO_WINDOW == Window(0, None)
    assert window.seconds_left(1e12) == float("inf")


def test_seconds_left() -> None:
    assert Window(0, 60).seconds_left(59.5) == 0.5
    assert Window(0, 60).seconds_left(61) == 0.0


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0, "0ms"),
        (0.02, "20ms"),
        (0.0004, "0ms"),
        (0.9994, "999ms"),
        (-1, "0ms"),
        (1, "1s"),
        (1.2, "2s"),  # rounded up: a client that waits the text is never early
        (59, "59s"),
        (60, "1m0s"),
        (360, "6m0s"),
        (361.5, "6m2s"),
        (3600, "1h0m0s"),
        (86_399, "23h59m59s"),
    ],
)
def test_reset_text_like_openai(seconds: float, text: str) -> None:
    assert reset_text(seconds) == text
