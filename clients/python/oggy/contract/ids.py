"""UUIDv7 strings (RFC 9562): time-ordered ids for usage events and requests.

48 bits of Unix milliseconds, then randomness. Within one millisecond the
12-bit `rand_a` field is a counter seeded randomly, so ids from one generator
sort in creation order; clock and randomness are injected for tests.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


class Uuid7:
    __slots__ = ("_counter", "_last_ms", "_now_ms", "_pool", "_pool_pos", "_random")

    def __init__(
        self,
        now_ms: Callable[[], int] = _now_ms,
        random: Callable[[int], bytes] = os.urandom,
    ) -> None:
        self._now_ms = now_ms
        self._random = random
        self._last_ms = -1
        self._counter = 0
        # Randomness is fetched in blocks: one getrandom() call per 256 ids, not per id.
        self._pool = b""
        self._pool_pos = 0

    def __call__(self) -> str:
        ms = self._now_ms()
        pos = self._pool_pos
        if pos + 10 > len(self._pool):
            self._pool = self._random(2560)
            pos = 0
        self._pool_pos = pos + 10
        rand = int.from_bytes(self._pool[pos : pos + 10], "big")
        if ms > self._last_ms:
            self._last_ms = ms
            self._counter = rand >> 68  # random 12-bit start
        else:
            # Same ms (or the clock stepped back): keep ordering with the counter.
            ms = self._last_ms
            self._counter += 1
            if self._counter > 0xFFF:
                ms = self._last_ms = ms + 1
                self._counter = 0
        value = (
            (ms & 0xFFFF_FFFF_FFFF) << 80
            | 0x7 << 76
            | self._counter << 64
            | 0b10 << 62
            | (rand & 0x3FFF_FFFF_FFFF_FFFF)
        )
        h = value.to_bytes(16, "big").hex()
        return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


uuid7 = Uuid7()
