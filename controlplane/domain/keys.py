"""Gateway key text `oggy_<env>_<keyid>_<secret>` and the hash we store instead of it.

The data plane parses the text, looks the key id up, and compares SHA-256 of the
secret with `hmac.compare_digest`; only that hash ever reaches etcd.
"""

from __future__ import annotations

import hashlib
import re
import string
from dataclasses import dataclass, field

from controlplane.domain.errors import InvalidArgument
from controlplane.domain.ids import KEY_ID_PATTERN, RandomSource

KEY_TEXT_PREFIX = "oggy"
DEFAULT_ENVIRONMENT = "live"
ENV_PATTERN = re.compile(r"[a-z]{1,16}")
SECRET_LENGTH = 43  # 62**43 > 2**256, so 256 random bits always fit
_BASE62 = string.digits + string.ascii_uppercase + string.ascii_lowercase
_SECRET_PATTERN = re.compile(rf"[0-9A-Za-z]{{{SECRET_LENGTH}}}")


@dataclass(frozen=True, slots=True)
class ParsedKey:
    environment: str
    key_id: str
    secret: str = field(repr=False)

    @property
    def prefix(self) -> str:
        return key_prefix(self.environment, self.key_id)

    def __repr__(self) -> str:  # the secret never appears in logs or tracebacks
        return f"ParsedKey(environment={self.environment!r}, key_id={self.key_id!r}, secret=***)"


def validate_environment(environment: str) -> str:
    if not ENV_PATTERN.fullmatch(environment):
        raise InvalidArgument(f"environment must match [a-z]{{1,16}}, got {environment!r}")
    return environment


def validate_key_id(key_id: str) -> str:
    if not KEY_ID_PATTERN.fullmatch(key_id):
        raise InvalidArgument("key_id must be 16 characters [a-z0-9] starting with a letter")
    return key_id


def new_secret(rng: RandomSource) -> str:
    """43 base62 characters carrying 256 random bits."""
    n = rng.getrandbits(256)
    chars = []
    for _ in range(SECRET_LENGTH):
        n, r = divmod(n, 62)
        chars.append(_BASE62[r])
    return "".join(reversed(chars))


def key_prefix(environment: str, key_id: str) -> str:
    return f"{KEY_TEXT_PREFIX}_{environment}_{key_id}"


def format_key_text(environment: str, key_id: str, secret: str) -> str:
    return f"{key_prefix(environment, key_id)}_{secret}"


def parse_key_text(text: str) -> ParsedKey | None:
    """The parts of a well-formed key text, or None (never raises, never echoes the text)."""
    parts = text.split("_")
    if len(parts) != 4 or parts[0] != KEY_TEXT_PREFIX:
        return None
    _, environment, key_id, secret = parts
    if not (
        ENV_PATTERN.fullmatch(environment)
        and KEY_ID_PATTERN.fullmatch(key_id)
        and _SECRET_PATTERN.fullmatch(secret)
    ):
        return None
    return ParsedKey(environment, key_id, secret)


def hash_secret(secret: str) -> bytes:
    return hashlib.sha256(secret.encode("utf-8")).digest()
