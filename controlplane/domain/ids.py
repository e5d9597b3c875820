"""Server-generated ids. The random source is passed in so tests are deterministic."""

from __future__ import annotations

import re
import string
from typing import Protocol

_LETTERS = string.ascii_lowercase
_ALNUM = string.ascii_lowercase + string.digits

KEY_ID_LENGTH = 16
# Key ids appear inside `oggy_<env>_<keyid>_<secret>`, so no `-` or `_` here.
KEY_ID_PATTERN = re.compile(rf"[a-z][a-z0-9]{{{KEY_ID_LENGTH - 1}}}")


class RandomSource(Protocol):
    """What we need from `secrets.SystemRandom` (or `random.Random` in tests)."""

    def choice(self, seq: str) -> str: ...

    def getrandbits(self, k: int) -> int: ...


def new_id(rng: RandomSource, length: int = KEY_ID_LENGTH) -> str:
    """`[a-z][a-z0-9]{length-1}`: valid as a resource id and as a key id."""
    return rng.choice(_LETTERS) + "".join(rng.choice(_ALNUM) for _ in range(length - 1))
