"""Minting gateway keys: environment and key id checks, and the random secret.

The text's format and its hash (`oggy.contract.key_text`) are the data plane's too: it
parses the text, looks the key id up, and compares SHA-256 of the secret with
`hmac.compare_digest`; only that hash ever reaches etcd.
"""

from __future__ import annotations

import re
import string

from controlplane.domain.errors import InvalidArgument
from controlplane.domain.ids import KEY_ID_PATTERN, RandomSource

DEFAULT_ENVIRONMENT = "live"
ENV_PATTERN = re.compile(r"[a-z]{1,16}")
SECRET_LENGTH = 43  # 62**43 > 2**256, so 256 random bits always fit
_BASE62 = string.digits + string.ascii_uppercase + string.ascii_lowercase


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
