"""Gateway key text: `oggy_<env>_<keyid>_<secret>` — format, parse, hash. The control
plane mints key text with it; the data plane parses and compares with it.

Parsing is a split and a few cheap checks (no regex on the hot path); the
secret is only ever compared as a SHA-256 digest with `hmac.compare_digest`,
so the check takes the same time whether or not the key id was guessed.
"""

from __future__ import annotations

import hashlib
from typing import NamedTuple

PREFIX = "oggy"
MAX_KEY_TEXT = 256
_LOWER = frozenset("abcdefghijklmnopqrstuvwxyz")
_KEY_ID_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789-")
_SECRET_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789")


class ParsedKey(NamedTuple):
    environment: str
    key_id: str
    secret: str

    def __repr__(self) -> str:  # the secret never reaches a log line
        return f"ParsedKey(environment={self.environment!r}, key_id={self.key_id!r}, secret=***)"


def parse_key(text: str) -> ParsedKey | None:
    """Return the key's parts, or None when `text` is not shaped like a gateway key."""
    if len(text) > MAX_KEY_TEXT:
        return None
    parts = text.split("_")
    if len(parts) != 4 or parts[0] != PREFIX:
        return None
    _, env, key_id, secret = parts
    if not (1 <= len(env) <= 16) or not _LOWER.issuperset(env):
        return None
    # Resource ids: `[a-z][a-z0-9-]{0,62}`.
    if not (1 <= len(key_id) <= 63) or key_id[0] not in _LOWER:
        return None
    if not _KEY_ID_CHARS.issuperset(key_id):
        return None
    if not (16 <= len(secret) <= 128) or not _SECRET_CHARS.issuperset(secret):
        return None
    return ParsedKey(env, key_id, secret)


def hash_secret(secret: str) -> bytes:
    return hashlib.sha256(secret.encode()).digest()


def key_prefix(environment: str, key_id: str) -> str:
    """The key's public part, `oggy_<env>_<keyid>` (shown in listings)."""
    return f"{PREFIX}_{environment}_{key_id}"


def format_key_text(environment: str, key_id: str, secret: str) -> str:
    return f"{key_prefix(environment, key_id)}_{secret}"
