"""Jittered exponential backoff for reconnect loops, randomness injected for tests."""

from __future__ import annotations

import random
from collections.abc import Callable


class Backoff:
    """Delays grow initial → maximum (doubling); each is jittered into [cap/2, cap].

    Half-fixed jitter keeps a floor (no hot loop against a dead server) while
    spreading many data planes that lost the control plane at the same moment.
    """

    def __init__(
        self,
        initial: float = 0.1,
        maximum: float = 5.0,
        *,
        multiplier: float = 2.0,
        rand: Callable[[], float] = random.random,
    ) -> None:
        if not 0 < initial <= maximum:
            raise ValueError("need 0 < initial <= maximum")
        self._initial = initial
        self._maximum = maximum
        self._multiplier = multiplier
        self._rand = rand
        self._attempt = 0

    def next_delay(self) -> float:
        cap = min(self._maximum, self._initial * self._multiplier**self._attempt)
        if cap < self._maximum:
            self._attempt += 1
        return cap / 2 + self._rand() * cap / 2

    def reset(self) -> None:
        self._attempt = 0
